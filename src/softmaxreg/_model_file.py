"""The model file container: one safetensors file whose header also carries the metadata.

Layout (the safetensors format, https://github.com/huggingface/safetensors)::

    8 bytes      N, the header length, unsigned little-endian
    N bytes      JSON header: {"__metadata__": {"softmaxreg": "<metadata JSON>"},
                               "coef": {"dtype": "F64", "shape": [K, m],
                                        "data_offsets": [begin, end]}, ...}
    rest         the tensors' raw little-endian bytes, back to back

The metadata JSON holds ``format`` ("softmaxreg-model"), ``format_version``,
``library_version`` and ``weights_sha256``: the SHA-256 over, for each tensor in name
order, its UTF-8 name, its safetensors dtype, its shape and its little-endian C-order bytes
(each followed by one zero byte). Its last field, ``metadata_sha256``, is the SHA-256 of
the metadata JSON text written without that field, so together the two checksums cover
everything that is stored: the weights, their dtypes and shapes, and the metadata. One
file holds weights and metadata, so one atomic rename replaces both together.

Format version 1 (softmaxreg 0.1 before these checksums) hashed only names and bytes and
had no metadata checksum; such files are still read, with that weaker check.

Reading opens only regular files and validates every byte's place before anything is
decoded. It recognises its own format first (an 8-byte length, then a JSON object) and only
then looks for foreign formats, so a valid model whose header length happens to begin with
another format's marker bytes still loads. It refuses, with a
:class:`~softmaxreg.errors.ModelFileError` that names the file and says what is wrong, a
truncated file, a checksum mismatch, duplicate names, invalid Unicode, an unknown format
version, and pickles / ``torch.save`` archives (recognised by their first bytes and never
unpickled). Each tensor entry is checked before any tensor is decoded: its name is one of
:data:`TENSOR_DIMENSIONS` (``coef``, ``intercept``, ``loss_history``), it has that many
dimensions, its element count matches its byte span, and no dimension is larger than the
number of elements the file's weights could hold (so a zero-size tensor cannot declare a
shape such as ``[0, 2**64]``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from softmaxreg._atomic import read_regular_file, write_bytes_atomic
from softmaxreg._exact_json import unique_members
from softmaxreg.errors import DataError, ModelFileError

FORMAT_NAME = "softmaxreg-model"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
METADATA_KEY = "softmaxreg"
METADATA_CHECKSUM_KEY = "metadata_sha256"
SUFFIX = ".safetensors"
MODEL_FILE = "model.safetensors"  # the model's name inside a run folder

# safetensors dtype names this format writes, and their little-endian NumPy dtypes
TENSOR_DTYPES = {"F64": np.dtype("<f8"), "F32": np.dtype("<f4")}
# the safetensors reference implementation refuses headers above 100 MB; so do we
MAX_HEADER_BYTES = 100_000_000
# the tensors a model file holds, with their number of dimensions: W (K, m), b (K,) and
# the loss per iteration (n_iterations,); no other tensor is decoded
TENSOR_DIMENSIONS = {"coef": 2, "intercept": 1, "loss_history": 1}

_FOREIGN_FORMATS = (
    (
        lambda head: len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5,
        "is a Python pickle (pickle.dump, joblib or a legacy torch.save)",
    ),
    (lambda head: head.startswith(b"PK\x03\x04"), "is a ZIP archive (torch.save or np.savez)"),
    (lambda head: head.startswith(b"\x93NUMPY"), "is a NumPy .npy file"),
)


def weights_sha256(tensors: dict[str, np.ndarray], format_version: int = FORMAT_VERSION) -> str:
    """SHA-256 (hex) of the tensors, in name order.

    Version 2: ``name, 0, dtype ("F64"/"F32"), 0, shape ("3,4"), 0, bytes`` per tensor;
    version 1: ``name, 0, bytes``. Bytes are little-endian, C order.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = tensors[name]
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        digest.update(name.encode("utf-8") + b"\x00")
        if format_version >= 2:
            dtype_name = next(key for key, value in TENSOR_DTYPES.items() if value == little.dtype)
            shape = ",".join(str(size) for size in little.shape)
            digest.update(f"{dtype_name}\x00{shape}\x00".encode("ascii"))
        digest.update(little.tobytes())
    return digest.hexdigest()


def metadata_text(metadata: dict[str, Any]) -> str:
    """The metadata as the JSON text the file stores (compact, UTF-8, key order kept)."""
    return json.dumps(metadata, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def metadata_sha256(metadata: dict[str, Any]) -> str:
    """SHA-256 (hex) of :func:`metadata_text` of ``metadata`` without its own checksum."""
    unsigned = {key: value for key, value in metadata.items() if key != METADATA_CHECKSUM_KEY}
    return hashlib.sha256(metadata_text(unsigned).encode("utf-8")).hexdigest()


def encode_model_file(
    tensors: dict[str, np.ndarray], fields: dict[str, Any], library_version: str
) -> bytes:
    """The bytes of a model file holding ``tensors`` and the JSON-ready ``fields``."""
    from safetensors.numpy import save as safetensors_save

    for name, array in tensors.items():
        if array.dtype.newbyteorder("<") not in TENSOR_DTYPES.values():
            raise ModelFileError(
                f"cannot save tensor {name!r} of dtype {array.dtype}: model files store "
                "float32 or float64 weights"
            )
    little_endian = {
        name: np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        for name, array in tensors.items()
    }
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": library_version,
        "weights_sha256": weights_sha256(little_endian),
        **fields,
    }
    try:
        metadata[METADATA_CHECKSUM_KEY] = metadata_sha256(metadata)
        text = metadata_text(metadata)
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ModelFileError(
            f"cannot save the model: a text in its metadata is not valid Unicode ({error.reason}"
            f" at {error.object[error.start : error.end]!r}); use valid strings"
        ) from None
    except RecursionError:
        raise ModelFileError("cannot save the model: its metadata is nested too deeply") from None
    return safetensors_save(little_endian, metadata={METADATA_KEY: text})


def write_model_file(
    path: str | os.PathLike,
    tensors: dict[str, np.ndarray],
    fields: dict[str, Any],
    library_version: str,
) -> Path:
    """Write a model file atomically (temporary file, fsync, rename, fsync folder)."""
    return write_bytes_atomic(path, encode_model_file(tensors, fields, library_version))


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``(tensors, metadata)`` of the model file at ``path``, after every check above.

    ``path`` is the model file or a run folder holding ``model.safetensors`` (what
    ``softmaxreg train --out`` writes). Only regular files are read: a FIFO, a device
    (``/dev/zero``, also behind a symlink) or a socket is refused before a byte is read.
    """
    source = Path(path)
    if source.is_dir():
        inside = source / f"model{SUFFIX}"
        if not os.path.lexists(inside):
            raise ModelFileError(
                f"{str(source)!r} is a folder without a model{SUFFIX}; give the folder "
                f"`softmaxreg train --out` wrote, or a {SUFFIX} model file"
            )
        source = inside
    try:
        data = read_regular_file(source, "model file")
    except DataError as error:
        raise ModelFileError(str(error)) from None
    return decode_model_file(data, str(source))


def decode_model_file(data: bytes, source: str = "<bytes>") -> tuple[dict, dict]:
    """Validate and decode the bytes of a model file; ``source`` names it in errors."""
    where = repr(source)
    if not _starts_like_safetensors(data):
        _refuse_foreign_formats(data, where)
    header, body = _split_header(data, where)
    metadata = _parse_metadata(header, where)
    layout = _tensor_layout(header, len(body), where)
    tensors = _decode_tensors(body, layout)
    expected = metadata["weights_sha256"]
    actual = weights_sha256(tensors, metadata["format_version"])
    if actual != expected:
        raise ModelFileError(
            f"{where}: checksum mismatch, the weights are corrupted (SHA-256 {actual}, the "
            f"file records {expected}); restore the model from a good copy"
        )
    return tensors, metadata


def _starts_like_safetensors(data: bytes) -> bool:
    """An 8-byte header length in range, then a JSON object: our own format's start.

    Checked before any foreign marker: the length's first byte may be 0x80 (a pickle's
    first byte) or its bytes ``PK\x03\x04`` (a ZIP's) in a perfectly valid model file.
    """
    if len(data) < 9 or data[8:9] != b"{":
        return False
    (header_length,) = struct.unpack("<Q", data[:8])
    return 2 <= header_length <= MAX_HEADER_BYTES


def _refuse_foreign_formats(data: bytes, where: str) -> None:
    for matches, description in _FOREIGN_FORMATS:
        if matches(data[:8]):
            raise ModelFileError(
                f"{where} {description}, not a softmaxreg model. softmaxreg never unpickles "
                "files (loading a pickle can run arbitrary code); save the model with "
                "softmaxreg.save(model, path) and load that file"
            )


def _split_header(data: bytes, where: str) -> tuple[dict, bytes]:
    if len(data) < 8:
        state = "empty" if not data else f"only {len(data)} bytes long"
        raise ModelFileError(
            f"{where} is {state}: it is truncated or not a softmaxreg model file (a model "
            "file starts with an 8-byte header length and a JSON header)"
        )
    (header_length,) = struct.unpack("<Q", data[:8])
    if not _starts_like_safetensors(data):
        raise ModelFileError(
            f"{where} is not a softmaxreg model file: it does not start with a safetensors "
            "header (8-byte length, then a JSON object)"
        )
    if 8 + header_length > len(data):
        raise ModelFileError(
            f"{where} is truncated: its header announces {header_length} bytes but only "
            f"{len(data) - 8} bytes follow the length field"
        )
    try:
        text = data[8 : 8 + header_length].decode("utf-8")
    except UnicodeDecodeError as error:
        raise ModelFileError(
            f"{where} has a damaged header: it is not valid UTF-8 ({error.reason} at byte "
            f"{8 + error.start})"
        ) from None
    header = _strict_json(text, where, "header")
    if not isinstance(header, dict):
        raise ModelFileError(f"{where} has a damaged header: it is not a JSON object")
    return header, data[8 + header_length :]


def _strict_json(text: str, where: str, what: str) -> Any:
    """``json.loads`` that refuses duplicate names and escapes of lone surrogates."""

    def unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
        return unique_members(pairs, lambda name: ModelFileError(
            f"{where} has a damaged {what}: the name {name!r:.80} appears twice"
        ))

    try:
        value = json.loads(text, object_pairs_hook=unique_pairs)
    except (ValueError, RecursionError) as error:
        if isinstance(error, ModelFileError):
            raise
        problem = "nested too deeply" if isinstance(error, RecursionError) else error
        raise ModelFileError(f"{where} has a damaged {what}: not valid JSON ({problem})") from None
    try:  # a \ud800 escape decodes to a lone surrogate, which no UTF-8 text can hold
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ModelFileError(
            f"{where} has a damaged {what}: it holds a lone surrogate escape (invalid Unicode)"
        ) from None
    return value


def _parse_metadata(header: dict, where: str) -> dict:
    file_metadata = header.get("__metadata__")
    if not isinstance(file_metadata, dict) or not isinstance(file_metadata.get(METADATA_KEY), str):
        raise ModelFileError(
            f"{where} is a safetensors file but not a softmaxreg model: its header has no "
            f"'{METADATA_KEY}' metadata (only files written by softmaxreg.save can be loaded)"
        )
    metadata = _strict_json(file_metadata[METADATA_KEY], where, "metadata")
    recorded = metadata.get(METADATA_CHECKSUM_KEY) if isinstance(metadata, dict) else None
    if recorded is not None:
        actual = metadata_sha256(metadata)
        if recorded != actual:
            raise ModelFileError(
                f"{where}: checksum mismatch, the metadata is corrupted (SHA-256 {actual}, "
                f"the file records {recorded!r:.80}); restore the model from a good copy"
            )
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
        raise ModelFileError(
            f"{where} has damaged metadata: it does not name the format {FORMAT_NAME!r}"
        )
    version = metadata.get("format_version")
    if not _is_count(version) or version not in READABLE_VERSIONS:
        newer = _is_count(version) and version > FORMAT_VERSION
        advice = (
            "it was written by a newer softmaxreg; upgrade softmaxreg to load it"
            if newer
            else "this is not a format any softmaxreg version wrote"
        )
        raise ModelFileError(
            f"{where} has unknown format version {version!r}; this softmaxreg reads format "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}: {advice}"
        )
    if version >= 2 and recorded is None:
        raise ModelFileError(
            f"{where} has damaged metadata: format version {version} records the metadata's "
            f"checksum ({METADATA_CHECKSUM_KEY!r}) and this file has none"
        )
    checksum = metadata.get("weights_sha256")
    if not (isinstance(checksum, str) and len(checksum) == 64):
        raise ModelFileError(f"{where} has damaged metadata: no valid 'weights_sha256'")
    return metadata


def _tensor_layout(header: dict, body_length: int, where: str) -> list[tuple]:
    """``[(name, dtype, shape, begin, end)]`` after checking that the tensors tile the body."""
    layout = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not (
            isinstance(entry, dict)
            and entry.get("dtype") in TENSOR_DTYPES
            and isinstance(entry.get("shape"), list)
            and all(_is_count(size) for size in entry["shape"])
            and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2
            and all(_is_count(offset) for offset in entry["data_offsets"])
        ):
            raise ModelFileError(
                f"{where} has a damaged header: the entry of tensor {name!r:.80} is not a "
                "float32/float64 tensor with a shape and data offsets"
            )
        if name not in TENSOR_DIMENSIONS:
            raise ModelFileError(
                f"{where} has a damaged header: it holds a tensor named {name!r:.80}; a model "
                f"file holds only the tensors {', '.join(TENSOR_DIMENSIONS)}"
            )
        dtype, shape = TENSOR_DTYPES[entry["dtype"]], tuple(entry["shape"])
        if len(shape) != TENSOR_DIMENSIONS[name]:
            raise ModelFileError(
                f"{where} has a damaged header: tensor {name!r} has {len(shape)} dimensions, "
                f"a model's {name} has {TENSOR_DIMENSIONS[name]}"
            )
        begin, end = entry["data_offsets"]
        needed = math.prod(shape) * dtype.itemsize
        if end - begin != needed:
            raise ModelFileError(
                f"{where} has a damaged header: tensor {name!r} of shape {_shown(shape)} needs "
                f"{_shown(needed)} bytes, its offsets span {_shown(end - begin)}"
            )
        # the byte span bounds the dimensions of a tensor that holds values; those of an empty
        # one (a 0 in its shape) are bounded by what the body could hold, as any real model's
        largest = body_length // dtype.itemsize
        if needed == 0 and any(size > largest for size in shape):
            raise ModelFileError(
                f"{where} has a damaged header: the empty tensor {name!r} has shape "
                f"{_shown(shape)}, a dimension larger than the {largest} {entry['dtype']} "
                f"values its {body_length} bytes of weights could hold"
            )
        layout.append((name, dtype, shape, begin, end))
    layout.sort(key=lambda item: item[3])
    position = 0
    for name, _, _, begin, end in layout:
        if begin != position:
            raise ModelFileError(
                f"{where} has a damaged header: tensor {name!r:.80} starts at byte "
                f"{_shown(begin)}, expected {position} (tensors are stored back to back)"
            )
        position = end
    if position > body_length:
        raise ModelFileError(
            f"{where} is truncated: the weights need {_shown(position)} bytes after the header but "
            f"only {body_length} are present"
        )
    if position < body_length:
        raise ModelFileError(
            f"{where} is damaged: {body_length - position} unexpected bytes follow the weights"
        )
    return layout


def _decode_tensors(body: bytes, layout: list[tuple]) -> dict[str, np.ndarray]:
    tensors = {}
    for name, dtype, shape, begin, _end in layout:
        native = dtype.newbyteorder("=")
        if math.prod(shape) == 0:
            tensors[name] = np.zeros(shape, dtype=native)
            continue
        array = np.frombuffer(body, dtype=dtype, count=math.prod(shape), offset=begin)
        tensors[name] = array.reshape(shape).astype(native, copy=True)
    return tensors


def _shown(value: int | tuple[int, ...]) -> str:
    """A size or shape for a message, short whatever the file declares."""
    if isinstance(value, tuple):
        sizes = [_shown(size) for size in value]
        return "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"
    return str(value) if value < 10**30 else f"about 2**{value.bit_length() - 1}"


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
