"""NumPy ``.npy`` arrays (alone or inside ``.npz``) read within the bytes the file really holds.

An ``.npy`` header declares a shape and a dtype; the array needs
``prod(shape) * itemsize`` bytes. That product is compared with the bytes that follow the
header *before* anything is allocated, so a 1 KB file declaring ``(3_000_000, 1000)`` is
refused at once instead of asking for 24 GB. Object arrays (pickles) are never read.
Inside an ``.npz`` archive a deflated member can hold at most
:data:`DEFLATE_MAX_RATIO` times its compressed size, which bounds it the same way.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from softmaxreg._atomic import open_regular_file
from softmaxreg.errors import DataError

DEFLATE_MAX_RATIO = 1032  # deflate's largest expansion: 258 bytes from about 2 bits
_READ_BYTES = 1 << 24


class NpyHeader:
    """What an ``.npy`` header declares: ``shape``, ``dtype``, ``fortran_order``, ``nbytes``."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, fortran_order: bool):
        self.shape, self.dtype, self.fortran_order = shape, dtype, fortran_order
        self.nbytes = math.prod(shape) * dtype.itemsize


def read_npy_header(handle: IO[bytes], where: str, available: int) -> NpyHeader:
    """Parse the header at ``handle``'s position; ``available``: the bytes from there on.

    Raises :class:`DataError` naming ``where`` for a file that is not ``.npy``, an object
    dtype, or a declared size larger than the bytes after the header (truncated or forged).
    """
    fmt = np.lib.format
    start = handle.tell()
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran_order, dtype = fmt.read_array_header_2_0(handle)
        else:
            raise DataError(f"{where}: .npy format version {version} is not supported (1.0, 2.0)")
    except (ValueError, EOFError, OSError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{where}: not a plain numeric .npy array ({error})") from None
    if dtype.hasobject:
        raise DataError(
            f"{where}: not a plain numeric .npy array: it holds Python objects (dtype "
            f"{dtype}), and pickles are never read"
        )
    header = NpyHeader(tuple(int(n) for n in shape), dtype, bool(fortran_order))
    data_bytes = available - (handle.tell() - start)
    if header.nbytes > data_bytes:
        raise DataError(
            f"{where}: the .npy header declares shape {header.shape} of {dtype} "
            f"({_size_text(header.nbytes)}) but only {_size_text(max(data_bytes, 0))} follow "
            "it (truncated or damaged file)"
        )
    return header


def read_npy_data(handle: IO[bytes], header: NpyHeader, where: str) -> np.ndarray:
    """The array whose header was just read, filled from ``handle`` (exactly ``nbytes``)."""
    try:
        array = np.empty(header.shape, header.dtype, order="F" if header.fortran_order else "C")
    except MemoryError:
        raise DataError(
            f"{where}: not enough memory for its array of shape {header.shape} "
            f"({_size_text(header.nbytes)})"
        ) from None
    view = memoryview(array.reshape(-1, order="A").view(np.uint8))
    done = 0
    while done < header.nbytes:
        count = handle.readinto(view[done : done + _READ_BYTES])
        if not count:
            raise DataError(
                f"{where}: the file ends after {done} of the {header.nbytes} data bytes "
                "its .npy header declares (truncated file)"
            )
        done += count
    return array


def load_npy_file(path: Path) -> np.ndarray:
    """The whole array of the regular ``.npy`` file at ``path``, bounded by its size."""
    with open_regular_file(path, "data file") as handle:
        size = _file_size(handle)
        header = read_npy_header(handle, str(path), size)
        return read_npy_data(handle, header, str(path))


def npy_file_header(path: Path) -> NpyHeader:
    """The checked header of the regular ``.npy`` file at ``path`` (nothing else is read)."""
    with open_regular_file(path, "data file") as handle:
        return read_npy_header(handle, str(path), _file_size(handle))


def read_npz(path: Path, choose: Callable[[list[str]], list[str]]) -> dict[str, np.ndarray]:
    """Arrays of the regular ``.npz`` file at ``path``: ``choose(keys)`` picks which to read.

    ``keys`` are the archive's array names as ``numpy.load(path).files`` lists them.
    """
    with open_regular_file(path, "data file") as handle:
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise DataError(f"{path}: not a readable .npz file ({error})") from None
        with archive:
            members = {_key(info.filename): info for info in archive.infolist()}
            return {
                name: _member_array(archive, members[name], path, name)
                for name in choose(list(members))
            }


def _member_array(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, name: str):
    where = f"{path} (array {name!r})"
    try:
        with archive.open(info) as member:
            header = read_npy_header(member, where, _member_bound(info))
            return read_npy_data(member, header, where)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as error:
        raise DataError(f"{where}: damaged .npz member ({error})") from None


def _key(name: str) -> str:
    return name[: -len(".npy")] if name.endswith(".npy") else name


def _member_bound(info: zipfile.ZipInfo) -> int:
    """Most bytes a member can yield: its declared size, capped by what compression allows."""
    if info.compress_type == zipfile.ZIP_STORED:
        return min(info.file_size, info.compress_size)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return min(info.file_size, info.compress_size * DEFLATE_MAX_RATIO + 1024)
    return info.file_size


def _file_size(handle: IO[bytes]) -> int:
    return os.fstat(handle.fileno()).st_size


def _size_text(n_bytes: int) -> str:
    if n_bytes < 2**20:
        return f"{n_bytes} bytes"
    return f"{n_bytes / 2**30:.3g} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.3g} MiB"
