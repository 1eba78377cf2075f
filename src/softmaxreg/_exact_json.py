"""JSON that gives back exactly what went in: Python and NumPy scalars and arrays, by type.

Plain JSON loses types (``np.int32(3)``, ``3`` and ``3.0`` look alike, tuples become lists,
dict keys become strings, ``nan`` is not JSON at all). A saved model's class labels must come
back with their original types, so values are written as plain JSON where that is exact and
as one-key tagged objects otherwise:

- ``None``, ``bool``, ``int``, ``str``, finite ``float``: themselves (Python's float repr is
  exact); non-finite floats: ``{"$float": "nan" | "inf" | "-inf"}``
- ``bytes``: ``{"$bytes": base64}``; ``tuple``: ``{"$tuple": [...]}``
- NumPy scalar: ``{"$numpy": [dtype, value]}`` e.g. ``{"$numpy": ["<i8", 3]}``
- NumPy array: ``{"$ndarray": [dtype, shape, [items...]]}`` (items encoded one by one, so
  object arrays of mixed labels survive)
- ``dict`` with string keys not starting with "$": itself; any other dict:
  ``{"$dict": [[key, value], ...]}``

Decoding builds only these types (no code is ever run; dtypes are limited to booleans,
numbers, strings, bytes and objects). Its memory is bounded by what the text holds, not by
what it declares: NumPy arrays and scalars are charged ``items x itemsize`` against a byte
budget (by default ``MIN_DECODE_BUDGET + DECODE_BYTES_PER_CHARACTER x`` the JSON size), so
a few kilobytes declaring wide string dtypes are refused at once instead of allocating
gigabytes. Values nested deeper than ``MAX_DEPTH`` are refused both ways (no
``RecursionError``), and so are strings that are not valid Unicode (lone surrogates).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

# NumPy dtype kinds a file may ask for: bool, int, uint, float, unicode, bytes, object
ALLOWED_DTYPE_KINDS = "biufUSO"
# a file cannot make decode allocate more than this for one array (e.g. "<U1000000000")
MAX_ITEM_BYTES = 1 << 20
MAX_ARRAY_BYTES = 1 << 28
MAX_DEPTH = 64
# what decoding may allocate for NumPy values: this much, plus this many bytes per JSON
# character (a legitimate array of short strings padded to its longest one stays far below)
MIN_DECODE_BUDGET = 1 << 26
DECODE_BYTES_PER_CHARACTER = 64
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class UnsupportedValueError(TypeError):
    """A value this encoding cannot write exactly (e.g. an arbitrary object)."""


def encode(value: Any, _depth: int = 0) -> Any:
    """Encode ``value`` into JSON-ready Python objects that :func:`decode` inverts exactly.

    Raises :class:`UnsupportedValueError` for other types, strings that are not valid
    Unicode, and containers nested more than ``MAX_DEPTH`` levels deep.
    """
    if _depth > MAX_DEPTH:
        raise UnsupportedValueError(f"the value is nested more than {MAX_DEPTH} levels deep")
    depth = _depth + 1
    if isinstance(value, str):
        _check_unicode(value)
    # NumPy first: np.str_ is a str and np.float64 a float, but they must come back as such
    if isinstance(value, np.ndarray):
        return _encode_array(value, depth)
    if isinstance(value, np.generic):
        return _encode_numpy_scalar(value, depth)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return {"$tuple": [encode(item, depth) for item in value]}
    if isinstance(value, list):
        return [encode(item, depth) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) and not key.startswith("$") for key in value):
            return {encode(key, depth): encode(item, depth) for key, item in value.items()}
        pairs = value.items()
        return {"$dict": [[encode(key, depth), encode(item, depth)] for key, item in pairs]}
    raise UnsupportedValueError(
        f"cannot store a value of type {type(value).__name__} ({value!r:.80}); accepted: None, "
        "bool, int, float, str, bytes, NumPy scalars and arrays of those, and lists, tuples "
        "and dicts of them"
    )


def plain_value(value: Any) -> Any:
    """A NumPy scalar as the matching Python value (``item()``); anything else as it is (a
    string held in an object array is already one)."""
    return value.item() if isinstance(value, np.generic) else value


def first_repeat(values: Iterable[Any]) -> Any:
    """The first value equal to an earlier one (Python equality, as ``np.unique``; a NumPy
    scalar as its Python value), or None."""
    seen: set = set()
    for value in map(plain_value, values):
        if value in seen:
            return value
        seen.add(value)
    return None


def unique_members(pairs: list[tuple[str, Any]], refuse) -> dict:
    """A JSON object's members as a dict (``json.loads``'s ``object_pairs_hook``), raising
    ``refuse(name)`` for the first name that appears twice (``json`` keeps the last value
    silently)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        raise refuse(first_repeat(key for key, _ in pairs))
    return result


def is_unicode(text: str) -> bool:
    """Whether ``text`` is valid Unicode (encodes as UTF-8: no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_unicode(text: str) -> None:
    if not is_unicode(text):
        raise UnsupportedValueError(
            f"the string {text!r:.80} is not valid Unicode (surrogates not allowed)"
        )


def _encode_numpy_scalar(value: np.generic, depth: int) -> dict:
    dtype = _checked_dtype(value.dtype.str)
    # a NumPy string scalar keeps trailing NUL characters that .item() would strip
    item = str.__str__(value) if isinstance(value, np.str_) else value.item()
    return {"$numpy": [dtype.str, encode(item, depth)]}


def _encode_array(array: np.ndarray, depth: int) -> dict:
    dtype = _checked_dtype(array.dtype.str)
    # object arrays give back their items as they are (NumPy scalars stay NumPy scalars),
    # other dtypes give the equivalent Python scalars, which the dtype restores exactly
    items = [encode(item, depth) for item in array.ravel().tolist()]
    return {"$ndarray": [dtype.str, list(array.shape), items]}


def decode(value: Any, max_bytes: int | DecodeBudget | None = None) -> Any:
    """Invert :func:`encode`; raises ValueError/TypeError/OverflowError on anything else.

    ``max_bytes`` bounds what the NumPy arrays and scalars in ``value`` may allocate in
    all (default: ``MIN_DECODE_BUDGET + DECODE_BYTES_PER_CHARACTER x`` its JSON length); a
    :class:`DecodeBudget` shares one bound between several calls.
    """
    if max_bytes is None:
        max_bytes = decode_budget(value)
    return _Decoder(max_bytes).decode(value, 0)


def decode_budget(*values: Any) -> int:
    """The default allocation budget for decoding ``values`` (see :func:`decode`)."""
    size = sum(len(json.dumps(value)) for value in values)
    return MIN_DECODE_BUDGET + DECODE_BYTES_PER_CHARACTER * size


class DecodeBudget:
    """Bytes that decoding may still allocate; shared by the fields of one file."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = self.left = max_bytes

    def charge(self, size: int, what: str) -> None:
        if size > self.left:
            raise ValueError(
                f"{what} would need {size} bytes, and the values declared so far already "
                f"take {self.max_bytes - self.left} of the {self.max_bytes} bytes this much "
                "text may decode to; the file declares far more than it holds"
            )
        self.left -= size


class _Decoder:
    def __init__(self, budget: int | DecodeBudget) -> None:
        self.budget = budget if isinstance(budget, DecodeBudget) else DecodeBudget(budget)

    def decode(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError(f"values are nested more than {MAX_DEPTH} levels deep")
        if value is None or isinstance(value, (bool, str, int, float)):
            return value
        if isinstance(value, list):
            return [self.decode(item, depth + 1) for item in value]
        if not isinstance(value, dict):
            raise TypeError(f"unexpected JSON value of type {type(value).__name__}")
        tags = [key for key in value if key.startswith("$")]
        if not tags:
            return {key: self.decode(item, depth + 1) for key, item in value.items()}
        if len(value) != 1:
            raise ValueError(f"a tagged value has exactly one key, got {sorted(value)}")
        return self.tagged(tags[0], value[tags[0]], depth + 1)

    def tagged(self, tag: str, payload: Any, depth: int) -> Any:
        if tag == "$float":
            if payload not in _NONFINITE:
                raise ValueError(f"$float must be 'nan', 'inf' or '-inf', got {payload!r:.80}")
            return _NONFINITE[payload]
        if tag == "$bytes":
            if not isinstance(payload, str):
                raise TypeError("$bytes holds a base64 string")
            try:
                return base64.b64decode(payload.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError) as error:
                raise ValueError(f"$bytes is not valid base64: {error}") from None
        if tag == "$tuple":
            return tuple(self.decode(item, depth) for item in _as_list(payload, "$tuple"))
        if tag == "$dict":
            pairs = _as_list(payload, "$dict")
            if not all(isinstance(pair, list) and len(pair) == 2 for pair in pairs):
                raise ValueError("$dict holds a list of [key, value] pairs")
            return {self.decode(key, depth): self.decode(item, depth) for key, item in pairs}
        if tag == "$numpy":
            dtype_text, item = _as_list(payload, "$numpy", length=2)
            dtype = _checked_dtype(dtype_text)
            self.budget.charge(dtype.itemsize, f"a NumPy scalar of dtype {dtype.str}")
            return _scalar(dtype, self.decode(item, depth))
        if tag == "$ndarray":
            dtype_text, shape, items = _as_list(payload, "$ndarray", length=3)
            return self.array(_checked_dtype(dtype_text), shape, _as_list(items, "items"), depth)
        raise ValueError(f"unknown tag {tag!r:.80}")

    def array(self, dtype: np.dtype, shape: Any, items: list, depth: int) -> np.ndarray:
        if not (isinstance(shape, list) and all(_is_size(size) for size in shape)):
            raise ValueError(f"an array shape is a list of non-negative ints, got {shape!r:.80}")
        if len(shape) > MAX_DEPTH:
            raise ValueError(f"an array has at most {MAX_DEPTH} dimensions, got {len(shape)}")
        if math.prod(shape) != len(items):
            raise ValueError(
                f"an array of shape {shape!r:.80} needs {math.prod(shape)} items, got {len(items)}"
            )
        size = len(items) * dtype.itemsize
        if size > MAX_ARRAY_BYTES:
            raise ValueError(f"an array of shape {shape} and dtype {dtype.str} is too large")
        self.budget.charge(size, f"an array of shape {shape} and dtype {dtype.str}")
        values = [self.decode(item, depth) for item in items]
        if dtype.kind == "O":
            array = np.empty(len(values), dtype=object)
            for position, item in enumerate(values):
                array[position] = item
        else:
            if any(isinstance(item, (list, dict, tuple)) or item is None for item in values):
                raise ValueError(f"an array of dtype {dtype.str} holds plain values only")
            try:
                array = np.array(values, dtype=dtype) if values else np.empty(0, dtype=dtype)
            except OverflowError:  # ("Python int too large to convert to C long")
                raise ValueError(
                    f"an array of dtype {dtype.str} holds a value outside its range"
                ) from None
        return array.reshape(shape)


def _as_list(payload: Any, what: str, length: int | None = None) -> list:
    if not isinstance(payload, list) or (length is not None and len(payload) != length):
        expected = "a list" if length is None else f"a list of {length} items"
        raise ValueError(f"{what} holds {expected}, got {payload!r:.80}")
    return payload


def _checked_dtype(text: Any) -> np.dtype:
    if not isinstance(text, str):
        raise TypeError(f"a dtype is written as a string, got {text!r:.80}")
    try:
        dtype = np.dtype(text)
    except TypeError as error:
        raise ValueError(f"unknown dtype {text!r:.80}: {error}") from None
    if dtype.kind not in ALLOWED_DTYPE_KINDS or dtype.fields is not None or dtype.subdtype:
        raise ValueError(
            f"dtype {text!r:.80} is not allowed; only booleans, numbers, strings, bytes and "
            "objects are stored"
        )
    if dtype.itemsize > MAX_ITEM_BYTES:
        raise ValueError(f"dtype {text!r:.80} is too wide ({dtype.itemsize} bytes per item)")
    return dtype


def _scalar(dtype: np.dtype, item: Any) -> np.generic:
    if dtype.kind == "O":
        raise ValueError("a NumPy scalar cannot have the object dtype")
    if isinstance(item, (list, dict, tuple)) or item is None:
        raise ValueError(f"a NumPy scalar of dtype {dtype.str} holds one value, got {item!r:.80}")
    if dtype.kind == "U" and isinstance(item, str):
        return np.str_(item)  # (through an array, trailing NUL characters would be lost)
    return np.array(item, dtype=dtype)[()]


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
