"""Reading a whole tabular file: CSV/TSV, Parquet, NPY/NPZ and LIBSVM/svmlight.

``read_tabular(path, target="auto")`` returns features ``X`` (float64, dense; CSR sparse for
LIBSVM), labels ``y`` (or None) and the column names. Every problem is a
:class:`~softmaxreg.errors.DataError` naming the file and, where it applies, the column and row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse

from softmaxreg.datasets._tabular_checks import (
    Target,
    check_finite,
    checked_file,
    feature_matrix,
    file_format,
    short_csv_row,
    target_column,
    target_values,
)
from softmaxreg.errors import DataError


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
        frame = read_csv_frame(path, sep="\t" if kind == "tsv" else ",")
        return _from_frame(frame, path, target)
    if kind == "parquet":
        return _from_frame(read_parquet_frame(path), path, target)
    if kind == "npy":
        return _from_array(load_npy(path, mmap=False), path, target)
    if kind == "npz":
        return _from_npz(path, target)
    return _from_svmlight(path, target)


def csv_has_header(path: Path, sep: str) -> bool:
    """True unless every field of the first non-blank line parses as a number."""
    import csv
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", newline="") as handle:
            first = next((row for row in csv.reader(handle, delimiter=sep) if row), None)
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    except (OSError, EOFError, csv.Error) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None
    if first is None:
        raise DataError(f"{path} is empty: no header and no data rows")
    try:
        [float(field) for field in first]
    except ValueError:
        return True
    return False


def not_utf8(path: Path, error: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); "
        "save the file as UTF-8 (e.g. 'iconv -f latin1 -t utf-8')"
    )


def csv_reader_options(path: Path, sep: str) -> dict:
    """Keyword arguments for pandas.read_csv: separator, header or generated names."""
    header = csv_has_header(path, sep)
    options: dict = {"sep": sep, "encoding": "utf-8", "skip_blank_lines": True}
    if not header:
        options["header"] = None
    return options


def read_csv_frame(path: Path, sep: str) -> pd.DataFrame:
    """The whole CSV as a DataFrame, with ragged rows, encoding and emptiness diagnosed."""
    options = csv_reader_options(path, sep)
    with csv_errors(path, sep, header="header" not in options):
        frame = pd.read_csv(path, **options)
    if "header" in options:
        frame.columns = [f"x{k}" for k in range(frame.shape[1])]
    if frame.shape[0] == 0:
        raise DataError(f"{path} has a header but no data rows")
    check_short_rows(frame, path, sep, header="header" not in options)
    return frame


def check_short_rows(frame: pd.DataFrame, path: Path, sep: str, *, header: bool) -> None:
    """pandas fills short rows with NaN; when NaN appear, report a short row as ragged."""
    if not frame.isna().to_numpy().any():
        return
    short = short_csv_row(path, sep, frame.shape[1], header)
    if short is not None:
        row, fields = short
        raise DataError(
            f"{path}: ragged rows: data row {row} has {fields} fields, expected "
            f"{frame.shape[1]} like the {'header' if header else 'first row'}"
        )


class csv_errors:  # noqa: N801 (used as a context manager, reads like a function)
    """Turn pandas/IO exceptions raised while parsing CSV into DataErrors naming the file."""

    def __init__(self, path: Path, sep: str, *, header: bool):
        self.path, self.sep, self.header = path, sep, header

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None or isinstance(error, DataError):
            return False
        path = self.path
        if isinstance(error, UnicodeDecodeError):
            raise not_utf8(path, error) from None
        if isinstance(error, pd.errors.EmptyDataError):
            raise DataError(f"{path} is empty: no header and no data rows") from None
        if isinstance(error, pd.errors.ParserError):
            found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
            if found:
                expected, line, saw = found.groups()
                raise DataError(
                    f"{path}: ragged rows: line {line} has {saw} fields, expected {expected}"
                ) from None
            raise DataError(f"{path}: malformed CSV ({error})") from None
        if isinstance(error, (OSError, EOFError)):
            raise DataError(f"cannot read {path}: {error}") from None
        return False


def read_parquet_frame(path: Path) -> pd.DataFrame:
    """The whole Parquet file as a DataFrame; a damaged file is a DataError."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"{path}: not a readable Parquet file ({error})") from None
    if frame.shape[0] == 0:
        raise DataError(f"{path} holds no rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def load_npy(path: Path, *, mmap: bool) -> np.ndarray:
    """A 2-D numeric array from an .npy file (never unpickles; memory-mapped when ``mmap``)."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
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


def _from_frame(frame: pd.DataFrame, path: Path, target) -> TabularData:
    columns = list(frame.columns)
    label = target_column(columns, target, path)
    features = frame.drop(columns=[label]) if label is not None else frame
    if features.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides the target {label!r}")
    X = feature_matrix(features, path)
    y = target_values(frame[label], path) if label is not None else None
    names = [str(c) for c in features.columns]
    return TabularData(X, y, names, None if label is None else str(label))


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
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            if "X" not in keys:
                raise DataError(f"{path}: an .npz file needs an array named 'X'; found {keys}")
            y_key = "y" if target in ("auto", 0) or target is None else target
            if target is not None and y_key not in keys:
                raise DataError(
                    f"{path}: no label array {y_key!r} in the .npz file; found {keys} "
                    "(store labels as 'y', or pass target=None for features only)"
                )
            X = checked_array(archive["X"], path, "array 'X'")
            y = archive[y_key] if target is not None else None
    except DataError:
        raise
    except ValueError as error:
        raise DataError(f"{path}: not a plain numeric .npz archive ({error})") from None
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from None
    X = np.asarray(X, dtype=np.float64)
    check_finite(X, path)
    if y is not None:
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DataError(
                f"{path}: 'y' has shape {y.shape}; expected ({X.shape[0]},) to match 'X'"
            )
        y = target_values(pd.Series(y, name=y_key), path)
    return TabularData(X, y, None, None if y is None else y_key)


def _from_svmlight(path: Path, target) -> TabularData:
    from sklearn.datasets import load_svmlight_file

    if target not in ("auto", 0, None):
        raise DataError(
            f"{path}: in LIBSVM files the label is the first field; got target={target!r}"
        )
    try:
        X, y = load_svmlight_file(str(path), dtype=np.float64)
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    except (ValueError, RuntimeError) as error:
        raise DataError(f"{path}: malformed LIBSVM/svmlight file ({error})") from None
    if X.shape[0] == 0:
        raise DataError(f"{path} is empty: no data rows")
    X = X.tocsr()
    if not np.isfinite(X.data).all():
        bad = int(np.argmax(~np.isfinite(X.data)))
        row = int(np.searchsorted(X.indptr, bad, side="right"))
        feature = X.indices[bad]
        raise DataError(f"{path}: NaN or infinite value in data row {row}, feature {feature}")
    labels = target_values(pd.Series(y, name="label"), path) if target is not None else None
    return TabularData(X, labels, None, None)
