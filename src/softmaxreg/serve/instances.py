"""Turn the JSON body of a /predict request into the matrix ``X`` (n, m), or say what is wrong.

Accepted per row: a list of exactly ``m`` JSON numbers, or (for models with feature names)
an object with exactly those names as keys and numbers as values. Numbers must be finite
(no NaN, Infinity, or numbers too large for a float64); ``true``/``false`` and strings are
refused. The batch must hold between 1 and ``max_rows`` rows.

Work stays in proportion to what the model can use (:func:`body_bounds`): the body is
limited to the bytes ``max_rows`` rows of ``m`` features can need, and before it is decoded
its ``[``/``{`` and ``,`` bytes are counted, which bound the JSON values it holds (each value
but a container's first follows a comma), so a body of a million empty lists is refused
without building one. An integer longer than Python reads (4300 digits) is refused; the row
count and each row's width are checked before its values;
a keyed row costs time linear in its keys (at most ten unknown or missing names listed).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from softmaxreg._exact_json import unique_members

_NUMBER_TYPES = {int, float}
BYTES_PER_VALUE = 64  # "-1.2345678901234567e-300, " is 26: room for indentation and newlines
BYTES_PER_NAME_CHARACTER = 6  # a name character written as a JSON \u escape: six bytes
ENVELOPE_BYTES = 64 * 1024
ENVELOPE_VALUES = 1024  # room for other top-level keys beside "instances"
EXAMPLE = '{"instances": [[...], ...]}'


class InstancesError(ValueError):
    """A /predict body that cannot become a feature matrix; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BodyBounds:
    """The most a /predict body of ``max_rows`` rows of ``n_features`` numbers can need."""

    max_rows: int
    n_features: int
    max_bytes: int
    max_containers: int  # JSON lists and objects: "[" and "{" bytes
    max_commas: int


def body_bounds(
    n_features: int, feature_names: list[str] | None, max_rows: int, max_body_bytes: int
) -> BodyBounds:
    """Bounds for rows as lists or as objects keyed by ``feature_names``, in any layout.

    Bytes: ``max_body_bytes``, or less when the rows need less at ``BYTES_PER_VALUE`` per
    number, ``BYTES_PER_NAME_CHARACTER`` per name character, plus ``ENVELOPE_BYTES``.
    Containers: the body, ``instances`` and one per row (plus ``[``/``{`` inside names);
    commas: ``n_features`` per row (plus those inside names); each with ``ENVELOPE_VALUES``
    to spare.
    """
    names = feature_names or ()
    per_row = BYTES_PER_VALUE * n_features + sum(
        BYTES_PER_NAME_CHARACTER * len(name) + 4 for name in names
    )
    brackets = sum(name.count("[") + name.count("{") for name in names)
    commas = sum(name.count(",") for name in names)
    return BodyBounds(
        max_rows=max_rows,
        n_features=n_features,
        max_bytes=min(max_body_bytes, ENVELOPE_BYTES + max_rows * per_row),
        max_containers=2 + max_rows * (1 + brackets) + ENVELOPE_VALUES,
        max_commas=max_rows * (n_features + commas) + ENVELOPE_VALUES,
    )


def request_instances(body: bytes, bounds: BodyBounds) -> Any:
    """The ``instances`` of a /predict body (JSON, UTF-8), not yet checked.

    Raises ``InstancesError``: 413 for a body holding more JSON values than ``bounds``
    allow (counted before decoding), 400 for bytes that are not JSON (empty, not UTF-8, a
    syntax error, nesting too deep for the parser), 422 for JSON that is not an object with
    ``instances``, holds an integer too long to read or an object with a name twice.
    """
    if not body.strip():
        raise InstancesError(f"the body is empty; send a JSON object like {EXAMPLE}", status=400)
    containers = body.count(b"[") + body.count(b"{")
    commas = body.count(b",")
    if containers > bounds.max_containers or commas > bounds.max_commas:
        raise InstancesError(
            f"the body holds more JSON values than {bounds.max_rows} rows of "
            f"{bounds.n_features} numbers can ({containers} lists or objects and {commas} "
            f"commas; at most {bounds.max_containers} and {bounds.max_commas}); send at most "
            f"{bounds.max_rows} rows, each of {bounds.n_features} numbers",
            status=413,
        )
    try:
        document = json.loads(body, object_pairs_hook=_unique_names)
    except InstancesError:
        raise
    except UnicodeDecodeError as error:
        raise InstancesError(f"the body is not UTF-8 text ({error})", status=400) from None
    except json.JSONDecodeError as error:
        raise InstancesError(f"the body is not valid JSON ({error})", status=400) from None
    except ValueError:  # an integer past sys.get_int_max_str_digits()
        raise InstancesError(
            f"the body holds an integer of more than {sys.get_int_max_str_digits()} digits; "
            "features must be finite numbers (float64: up to about 1.8e308)"
        ) from None
    except RecursionError:
        raise InstancesError(
            "the body is not valid JSON here: its lists or objects are nested too deeply",
            status=400,
        ) from None
    if not isinstance(document, dict):
        raise InstancesError(
            f"the body must be a JSON object like {EXAMPLE}, got {_json_type(document)}"
        )
    if "instances" not in document:
        raise InstancesError(f"instances is required: send a JSON object like {EXAMPLE}")
    return document["instances"]


def _unique_names(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object's members as a dict; InstancesError (422) where a name appears twice
    (``json`` would keep the last silently: a row could be predicted from a value the
    client did not mean)."""
    return unique_members(pairs, lambda name: InstancesError(
        f"the name {name!r:.80} appears twice in one JSON object; send each feature (and "
        "'instances') once"
    ))


def instances_matrix(
    instances: Any, n_features: int, feature_names: list[str] | None, max_rows: int
) -> np.ndarray:
    """``X`` float64 (n, m) with ``X[i, j]`` = feature j of row i, checked as described above."""
    if not isinstance(instances, list):
        raise InstancesError(f"'instances' must be a list of rows, got {_json_type(instances)}")
    if not instances:
        raise InstancesError("'instances' is empty; send at least one row")
    if len(instances) > max_rows:
        raise InstancesError(
            f"too many rows: {len(instances)} in one request, at most {max_rows} are accepted; "
            "split the batch",
            status=413,
        )
    names = None if feature_names is None else frozenset(feature_names)
    X = np.empty((len(instances), n_features), dtype=np.float64)
    for i, row in enumerate(instances):
        X[i] = _row_values(row, i, n_features, feature_names, names)
    return X


def _row_values(
    row: Any, i: int, n_features: int, feature_names: list[str] | None, names: frozenset | None
) -> np.ndarray:
    if isinstance(row, dict):
        row = _named_row(row, i, feature_names, names)
    elif not isinstance(row, list):
        raise InstancesError(
            f"instances[{i}] is {_json_type(row)}; each row must be a list of {n_features} "
            "numbers" + (" or an object keyed by feature name" if feature_names else "")
        )
    if len(row) != n_features:
        raise InstancesError(
            f"instances[{i}] has {len(row)} values, but the model expects {n_features} features"
        )
    if not set(map(type, row)) <= _NUMBER_TYPES:
        j, value = next((j, v) for j, v in enumerate(row) if type(v) not in _NUMBER_TYPES)
        raise InstancesError(
            f"instances[{i}][{j}] is {_json_type(value)}; features must be numbers"
        )
    try:
        values = np.asarray(row, dtype=np.float64)
    except OverflowError:
        values = np.asarray([_to_float(v) for v in row])
    if not np.isfinite(values).all():
        j = int(np.flatnonzero(~np.isfinite(values))[0])
        what = "NaN" if np.isnan(values[j]) else "Infinity or beyond float64 (about 1.8e308)"
        raise InstancesError(
            f"instances[{i}][{j}] is {what}; features must be finite numbers (no NaN or Infinity)"
        )
    return values


def _to_float(value: float | int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _named_row(row: dict, i: int, feature_names: list[str] | None, names: frozenset | None) -> list:
    if feature_names is None or names is None:
        raise InstancesError(
            f"instances[{i}] is an object, but this model has no feature names; send each "
            "row as a list of numbers"
        )
    # at most 10 of each, each name looked up once: linear in the row, however many keys
    missing = list(itertools.islice((name for name in feature_names if name not in row), 10))
    unknown = list(itertools.islice((name for name in row if name not in names), 10))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        if unknown:
            parts.append(f"unknown {', '.join(map(repr, unknown))}")
        raise InstancesError(
            f"instances[{i}]: {'; '.join(parts)}; the model's features are "
            f"{', '.join(map(repr, feature_names[:20]))}"
            + (" ..." if len(feature_names) > 20 else "")
        )
    return [row[name] for name in feature_names]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a string ({_short(value)})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
