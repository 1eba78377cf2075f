"""Reading and writing IDX files, the format MNIST is distributed in (gzipped or raw).

Layout (big-endian): ``0x00 0x00 <type> <ndim>``, then ``ndim`` unsigned 32-bit sizes
``d_1 .. d_ndim``, then ``d_1 * ... * d_ndim`` items of the type, row-major.
Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from softmaxreg._atomic import open_regular_file, write_bytes_atomic
from softmaxreg.errors import DataError, DataNotFoundError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip detected from its first bytes) into a native-endian array.

    Only a regular file is opened (a FIFO or a device is refused). A raw file's declared
    size is compared with its real size before the body is read; a gzipped body is read in
    blocks up to the declared size, so memory follows the bytes really there.

    The array has shape ``(d_1, ..., d_ndim)`` and holds exactly the ``prod(d_k)`` items the
    header declares. Raises :class:`DataError` naming the file for a wrong magic number, an
    unknown type code, a truncated file or trailing bytes (dimensions inconsistent with the
    data), and a damaged gzip stream.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a directory; expected an IDX file (e.g. *-idx3-ubyte[.gz])")
    try:
        with open_regular_file(path, "IDX file") as raw:
            gzipped = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            if gzipped:
                with gzip.GzipFile(fileobj=raw) as stream:
                    return _parse(stream, path, size_limit=None)
            size = os.fstat(raw.fileno()).st_size
            return _parse(raw, path, size_limit=size)
    except DataNotFoundError:
        raise DataNotFoundError(f"IDX file not found: {path}") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DataError(f"{path}: damaged or truncated gzip stream ({error})") from error
    except OSError as error:
        raise DataError(f"{path}: cannot read the file ({error})") from error


def _parse(stream, path: Path, size_limit: int | None) -> np.ndarray:
    """Parse header and body from ``stream``; ``size_limit`` is the raw file size when known."""
    header = _read_exactly(stream, 4, path, "the 4-byte magic number")
    if header[0] != 0 or header[1] != 0 or header[2] not in IDX_TYPES or header[3] == 0:
        raise DataError(
            f"{path}: wrong magic number 0x{header.hex()}; an IDX file starts with "
            "0x0000 then a type code (08, 09, 0B, 0C, 0D or 0E) and a dimension count >= 1"
        )
    dtype = IDX_TYPES[header[2]]
    ndim = header[3]
    dims_bytes = _read_exactly(stream, 4 * ndim, path, f"{ndim} dimension sizes")
    shape = tuple(int(d) for d in np.frombuffer(dims_bytes, dtype=">u4"))
    expected = math.prod(shape) * dtype.itemsize
    if size_limit is not None:
        available = size_limit - 4 - 4 * ndim
        if available != expected:
            raise DataError(
                f"{path}: inconsistent dimensions: the header declares shape {shape} of "
                f"{dtype.name} ({expected} bytes) but the file holds {available} data bytes"
                + (" (truncated file)" if available < expected else "")
            )
    body = bytearray()
    while len(body) <= expected:
        chunk = stream.read(min(_CHUNK, expected + 1 - len(body)))
        if not chunk:
            break
        body += chunk
    if len(body) != expected:
        state = "truncated file" if len(body) < expected else "trailing bytes after the data"
        raise DataError(
            f"{path}: inconsistent dimensions: the header declares shape {shape} of "
            f"{dtype.name} ({expected} bytes) but the data holds "
            f"{len(body) if len(body) < expected else 'more'} bytes ({state})"
        )
    array = np.frombuffer(body, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=dtype.itemsize > 1)


def _read_exactly(stream, n: int, path: Path, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise DataError(f"{path}: truncated file: expected {what} ({n} bytes), got {len(data)}")
    return data


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically; gzip when ``compress`` or the name ends .gz.

    Inverse of :func:`read_idx`: ``read_idx(write_idx(p, a))`` equals ``a`` (same shape,
    values and dtype) for the six IDX types.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        accepted = ", ".join(sorted(dt.name for dt in codes))
        raise DataError(f"cannot write dtype {array.dtype} as IDX; accepted: {accepted}")
    if array.ndim == 0 or array.ndim > 255:
        raise DataError(f"IDX needs 1 to 255 dimensions, got an array with {array.ndim}")
    payload = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    )
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, payload)
    return path
