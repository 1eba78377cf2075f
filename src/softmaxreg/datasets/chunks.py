"""Reading a tabular file in blocks of rows, in bounded memory, for streaming prediction.

CSV/TSV are parsed ``chunk_rows`` rows at a time (pandas ``chunksize``), Parquet one record
batch at a time (pyarrow ``iter_batches``, without pre-buffering) and NPY through a read-only
memory map, so memory stays proportional to ``chunk_rows`` whatever the number of rows.
NPZ and LIBSVM files cannot be read partially; they are loaded whole, then handed out in blocks.

Parquet caveat: a reader holds the current data page (and dictionary page) of every column,
so memory is also bounded by the file's layout. Big float files stream best when written
with moderate row groups and without dictionary encoding, e.g.
``pyarrow.parquet.write_table(table, path, row_group_size=50_000, use_dictionary=False)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse

from softmaxreg._atomic import open_regular_file
from softmaxreg.datasets._csv import csv_blocks, csv_feature_names
from softmaxreg.datasets._tabular_checks import (
    Target,
    check_finite,
    checked_file,
    file_format,
    target_column,
)
from softmaxreg.datasets.tabular import (
    load_npy,
    parquet_blocks,
    parquet_columns,
    parquet_file,
    read_tabular,
)
from softmaxreg.errors import DataError


def iter_tabular_chunks(
    path: str | Path,
    chunk_rows: int,
    target: Target | str = None,
    *,
    dtype=np.float64,
) -> Iterator[np.ndarray | scipy.sparse.csr_matrix]:
    """Yield the feature rows of ``path`` as consecutive blocks of at most ``chunk_rows`` rows.

    Concatenating the blocks gives ``read_tabular(path, target).X`` (cast to ``dtype``).
    ``target``: None (default) means every column is a feature (prediction input); a column
    name, an index or ``"auto"`` names a label column to leave out. Each block is checked like
    :func:`read_tabular` (numeric columns, no NaN/inf; rows are numbered from the file start).
    """
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)):
        raise DataError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
    if chunk_rows <= 0:
        raise DataError(f"chunk_rows must be a positive integer, got {chunk_rows}")
    path = checked_file(path)
    kind = file_format(path)
    if kind in ("csv", "tsv"):
        sep = "\t" if kind == "tsv" else ","
        yield from (block[0] for block in csv_blocks(path, sep, chunk_rows, target, dtype))
    elif kind == "parquet":
        yield from (block[0] for block in parquet_blocks(path, chunk_rows, target, dtype))
    elif kind == "npy":
        yield from _npy_chunks(path, chunk_rows, target, dtype)
    else:
        X = read_tabular(path, target).X
        X = X.astype(dtype) if scipy.sparse.issparse(X) else np.asarray(X, dtype=dtype)
        for start in range(0, X.shape[0], chunk_rows):
            yield X[start : start + chunk_rows]


def tabular_feature_names(path: str | Path, target: Target | str = None) -> list[str] | None:
    """Column names of the features in ``path`` (None for NumPy and LIBSVM files)."""
    path = checked_file(path)
    kind = file_format(path)
    if kind in ("csv", "tsv"):
        columns = csv_feature_names(path, "\t" if kind == "tsv" else ",")
    elif kind == "parquet":
        with open_regular_file(path, "data file") as handle, parquet_file(handle, path) as parquet:
            columns = parquet_columns(parquet)
    else:
        return None
    label = target_column(columns, target, path)
    return [str(c) for c in columns if c != label]


def _npy_chunks(path: Path, chunk_rows: int, target, dtype) -> Iterator[np.ndarray]:
    array = load_npy(path, mmap=True)
    columns = list(range(array.shape[1]))
    if isinstance(target, str) and target != "auto":
        raise DataError(f"{path}: a .npy file has no column names; give the target as an index")
    label = target_column(columns, target, path)
    keep = slice(None) if label is None else [c for c in columns if c != label]
    names = [str(c) for c in columns if c != label]
    for start, rows in _npy_row_blocks(path, array, chunk_rows):
        block = np.array(rows[:, keep], dtype=dtype)
        check_finite(block, path, columns=names, first_row=start + 1)
        yield block


def _npy_row_blocks(path: Path, array: np.ndarray, chunk_rows: int):
    """``(first row, rows)`` blocks of an .npy file's memory map.

    A C-ordered file is read block by block with plain file reads: pages touched through a
    memory map would stay in this process's resident memory (a 4 GB file would make a 4 GB
    process), while read() leaves them to the kernel's page cache.
    """
    n_rows, n_columns = array.shape
    if not isinstance(array, np.memmap) or not array.flags.c_contiguous:
        for start in range(0, n_rows, chunk_rows):
            yield start, array[start : start + chunk_rows]
        return
    row_bytes = n_columns * array.dtype.itemsize
    offset, dtype = array.offset, array.dtype
    del array  # unmap: from here on the file is only read
    with open_regular_file(path, "data file") as handle:
        handle.seek(offset)
        for start in range(0, n_rows, chunk_rows):
            count = min(chunk_rows, n_rows - start)
            data = handle.read(count * row_bytes)
            if len(data) != count * row_bytes:
                raise DataError(f"{path}: the file ends before row {start + count} (truncated)")
            yield start, np.frombuffer(data, dtype=dtype).reshape(count, n_columns)
