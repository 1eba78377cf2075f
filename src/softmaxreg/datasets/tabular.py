"""Reading a whole tabular file: CSV/TSV, Parquet, NPY/NPZ and LIBSVM/svmlight.

``read_tabular(path, target="auto")`` returns features ``X`` (float64, dense; CSR sparse for
LIBSVM), labels ``y`` (or None) and the column names. Every problem is a
:class:`~softmaxreg.errors.DataError` naming the file and, where it applies, the column and row.

Memory follows the data, never what a file declares: only regular files are opened (a FIFO
or ``/dev/zero`` is refused), CSV (gzipped too) and Parquet are parsed in blocks of
about 2**20 values straight into the growing float64 matrix, an ``.npy`` header's
shape is checked against the file's size before anything is allocated, and a LIBSVM file
stays sparse with its declared feature count checked against
:func:`~softmaxreg.datasets.limits.max_features`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse

from softmaxreg._atomic import open_regular_file
from softmaxreg.datasets._csv import csv_block_rows, csv_blocks, csv_text_size, not_utf8
from softmaxreg.datasets._npy import load_npy_file, npy_file_header, read_npz
from softmaxreg.datasets._tabular_checks import (
    Target,
    check_finite,
    checked_file,
    feature_matrix,
    file_format,
    rows_per_block,
    target_column,
    target_values,
)
from softmaxreg.datasets.limits import check_feature_count
from softmaxreg.errors import DataError

LIBSVM_MAX_INDEX = 2**31 - 1


@dataclass(frozen=True)
class TabularData:
    """Features, labels and names read from one file.

    ``X``: (n, m) float64 ndarray, or scipy.sparse CSR for LIBSVM; ``y``: (n,) labels or None
    when no target column was asked for; ``feature_names``: column names (None for NumPy
    and LIBSVM files); ``target_name``: the label column's name (None when not named).
    """

    X: np.ndarray | scipy.sparse.csr_matrix
    y: np.ndarray | None
    feature_names: list[str] | None
    target_name: str | None


def read_tabular(path: str | Path, target: Target | str = "auto") -> TabularData:
    """Read a whole data file into ``(X, y)``; the format follows the file extension.

    ``target``: ``"auto"`` (default) takes the one column named label, target, y or class
    (any case) and refuses, listing the candidate columns, when there is none or several;
    a column name or an index selects it; None reads every column as a feature.
    NPY: a 2-D numeric array, the target selected by index. NPZ: arrays ``X`` and (unless
    ``target`` is None) ``y``. LIBSVM: the label is always the first field of each line.
    """
    path = checked_file(path)
    kind = file_format(path)
    if kind in ("csv", "tsv"):
        sep = "\t" if kind == "tsv" else ","
        lines, size = csv_text_size(path)
        rows = csv_block_rows(path, sep, lines, size)
        return _stacked(csv_blocks(path, sep, rows, target, np.float64), path, lines)
    if kind == "parquet":
        blocks = parquet_blocks(path, None, target, np.float64)
        return _stacked(blocks, path, parquet_row_count(path))
    if kind == "npy":
        return _from_array(load_npy(path, mmap=False), path, target)
    if kind == "npz":
        return _from_npz(path, target)
    return _from_svmlight(path, target)


class RowStack:
    """Row blocks written into one array allocated for ``capacity`` rows (an upper bound).

    Pages of the array that are never written are never resident, and the unused tail is
    cut off at the end (a ``realloc`` that shrinks in place), so the peak memory is the
    final matrix plus one block, not the blocks plus their concatenation. More rows than
    ``capacity`` still work: the array is then copied into one twice as large.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.array: np.ndarray | None = None
        self.rows = 0

    def append(self, block: np.ndarray) -> None:
        need = self.rows + len(block)
        if self.array is None:
            self.array = _empty_rows(max(self.capacity, need), block)
        elif need > len(self.array):
            bigger = _empty_rows(max(need, 2 * len(self.array)), block)
            bigger[: self.rows] = self.array[: self.rows]
            self.array = bigger
        self.array[self.rows : need] = block
        self.rows = need

    def result(self) -> np.ndarray:
        self.array.resize((self.rows, self.array.shape[1]), refcheck=False)
        return self.array


def _empty_rows(rows: int, like: np.ndarray) -> np.ndarray:
    try:
        return np.empty((rows, like.shape[1]), dtype=like.dtype)
    except MemoryError:  # an upper bound too large to reserve: hold what is there so far
        return np.empty((len(like), like.shape[1]), dtype=like.dtype)


def _stacked(blocks: Iterable[tuple], path: Path, capacity: int) -> TabularData:
    """One TabularData from ``(X_block, labels, feature_names, target_name)`` blocks;
    ``capacity``: an upper bound on the number of rows."""
    stack = RowStack(capacity)
    labels: list[pd.Series] = []
    names = label = None
    for X, y, block_names, block_label in blocks:
        stack.append(X)
        names, label = block_names, block_label
        if y is not None:
            labels.append(y)
    y = target_values(pd.concat(labels, ignore_index=True), path) if labels else None
    return TabularData(stack.result(), y, [str(c) for c in names], label)


def parquet_file(handle, path: Path):
    """A pyarrow ParquetFile over an open regular file (no pre-buffering of row groups)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(handle, pre_buffer=False)
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error})") from None


def parquet_row_count(path: Path) -> int:
    """The number of rows a Parquet file's footer declares."""
    with open_regular_file(path, "data file") as handle, parquet_file(handle, path) as parquet:
        return parquet.metadata.num_rows


def parquet_columns(parquet) -> list[str]:
    """The data columns of a ParquetFile (a stored pandas index is not one)."""
    metadata = parquet.schema_arrow.pandas_metadata or {}
    index = {name for name in metadata.get("index_columns", []) if isinstance(name, str)}
    return [str(name) for name in parquet.schema_arrow.names if name not in index]


def parquet_blocks(
    path: Path, chunk_rows: int | None, target, dtype
) -> Iterator[tuple[np.ndarray, pd.Series | None, list[str], str | None]]:
    """``(X_block, labels, feature_names, target_name)`` for record batches of a Parquet file.

    One batch of at most ``chunk_rows`` rows is decoded at a time (None: about
    ``BLOCK_VALUES`` values; see :func:`softmaxreg.datasets.iter_tabular_chunks` for the
    row-group caveat).
    """
    import pyarrow as pa

    with open_regular_file(path, "data file") as handle, parquet_file(handle, path) as parquet:
        columns = parquet_columns(parquet)
        label = target_column(columns, target, path)
        names = [c for c in columns if c != label]
        if not names:
            raise DataError(f"{path}: no feature columns besides the target {label!r}")
        if parquet.metadata.num_rows == 0:
            raise DataError(f"{path} holds no rows")
        first_row = 1
        batch_rows = chunk_rows or rows_per_block(len(columns))
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
                frame = batch.to_pandas()
                X = feature_matrix(frame[names], path, first_row=first_row, dtype=dtype)
                yield X, (frame[label] if label is not None else None), names, label
                first_row += batch.num_rows
        except pa.ArrowException as error:
            where = f"after row {first_row - 1}"
            raise DataError(f"{path}: damaged Parquet data {where} ({error})") from None


def load_npy(path: Path, *, mmap: bool) -> np.ndarray:
    """A 2-D numeric array from an .npy file (never unpickles; memory-mapped when ``mmap``).

    The header's shape is checked against the file's size first, so a file declaring more
    than it holds is refused before any allocation or mapping.
    """
    if not mmap:
        return checked_array(load_npy_file(path), path, "array")
    npy_file_header(path)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DataError(f"{path}: not a plain numeric .npy array ({error})") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npy file ({error})") from None
    return checked_array(array, path, "array")


def checked_array(array: np.ndarray, path: Path, name: str) -> np.ndarray:
    """Refuse non-numeric, empty, or not 2-D arrays with a message naming the array."""
    if array.dtype.kind not in "biuf":
        raise DataError(f"{path}: {name} has dtype {array.dtype}; expected numbers")
    if array.ndim != 2:
        raise DataError(f"{path}: {name} has shape {array.shape}; expected 2-D (rows, columns)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"{path}: {name} is empty (shape {array.shape})")
    return array


def _from_array(array: np.ndarray, path: Path, target) -> TabularData:
    columns = list(range(array.shape[1]))
    if isinstance(target, str) and target != "auto":
        raise DataError(f"{path}: a .npy file has no column names; give the target as an index")
    label = target_column(columns, target, path)
    keep = [c for c in columns if c != label]
    if not keep:
        raise DataError(f"{path}: no feature columns besides the target column {label}")
    X = np.asarray(array[:, keep], dtype=np.float64)
    check_finite(X, path, columns=[str(c) for c in keep])
    y = None if label is None else target_values(pd.Series(array[:, label], name=label), path)
    return TabularData(X, y, None, None)


def _from_npz(path: Path, target) -> TabularData:
    y_key = "y" if target in ("auto", 0) or target is None else target

    def choose(keys: list[str]) -> list[str]:
        if "X" not in keys:
            raise DataError(f"{path}: an .npz file needs an array named 'X'; found {keys}")
        if target is not None and y_key not in keys:
            raise DataError(
                f"{path}: no label array {y_key!r} in the .npz file; found {keys} "
                "(store labels as 'y', or pass target=None for features only)"
            )
        return ["X"] if target is None else ["X", y_key]

    arrays = read_npz(path, choose)
    X = np.asarray(checked_array(arrays["X"], path, "array 'X'"), dtype=np.float64)
    check_finite(X, path)
    y = arrays.get(y_key) if target is not None else None
    if y is not None:
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DataError(
                f"{path}: 'y' has shape {y.shape}; expected ({X.shape[0]},) to match 'X'"
            )
        y = target_values(pd.Series(y, name=y_key), path)
    return TabularData(X, y, None, None if y is None else y_key)


def _from_svmlight(path: Path, target) -> TabularData:
    """A LIBSVM file as CSR; its feature count (largest index + 1) is checked, never densified."""
    from sklearn.datasets import load_svmlight_file

    if target not in ("auto", 0, None):
        raise DataError(
            f"{path}: in LIBSVM files the label is the first field; got target={target!r}"
        )
    try:
        with open_regular_file(path, "data file") as handle:
            X, y = load_svmlight_file(handle, dtype=np.float64)
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    except OverflowError:
        raise DataError(
            f"{path}: a feature index is larger than {LIBSVM_MAX_INDEX:,}, the largest a "
            "LIBSVM file may use"
        ) from None
    except (ValueError, RuntimeError) as error:
        raise DataError(f"{path}: malformed LIBSVM/svmlight file ({error})") from None
    if X.shape[0] == 0:
        raise DataError(f"{path} is empty: no data rows")
    claim = f"{path}: its largest feature index makes {X.shape[1]:,} features"
    check_feature_count(X.shape[1], claim)
    X = X.tocsr()
    if not np.isfinite(X.data).all():
        bad = int(np.argmax(~np.isfinite(X.data)))
        row = int(np.searchsorted(X.indptr, bad, side="right"))
        feature = X.indices[bad]
        raise DataError(f"{path}: NaN or infinite value in data row {row}, feature {feature}")
    labels = target_values(pd.Series(y, name="label"), path) if target is not None else None
    return TabularData(X, labels, None, None)
