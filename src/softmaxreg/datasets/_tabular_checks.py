"""Checks shared by the tabular readers: file kind, target column, numeric and finite values."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from softmaxreg._atomic import open_regular_file
from softmaxreg.errors import DataError, DataNotFoundError

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npy": "npy",
    ".npz": "npz",
    ".svm": "svmlight",
    ".svmlight": "svmlight",
    ".libsvm": "svmlight",
}
COMPRESSED = (".gz",)
TARGET_NAMES = ("label", "target", "y", "class")
SHOWN_CANDIDATES = 12
ACCEPTED_TEXT = (
    "CSV (.csv, .tsv, optionally gzipped .gz), Parquet (.parquet, .pq), "
    "NumPy (.npy, .npz with arrays X and y), LIBSVM/svmlight (.svm, .svmlight, .libsvm)"
)

Target = str | int | None
BLOCK_VALUES = 2**20  # values parsed per block when a whole file is read


def rows_per_block(n_columns: int) -> int:
    """Rows of a block of about :data:`BLOCK_VALUES` values (at least one row)."""
    return max(1, BLOCK_VALUES // max(n_columns, 1))


def file_format(path: Path) -> str:
    """The reader to use for ``path``, from its extension (compressed CSV/TSV allowed)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED and len(suffixes) >= 2:
        kind = FORMATS.get(suffixes[-2])
        if kind in ("csv", "tsv"):
            return kind
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise DataError(
            f"{path}: unknown file extension {path.suffix or '(none)'!r}; accepted: {ACCEPTED_TEXT}"
        )
    return kind


def checked_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path after checking it is an existing, readable, regular file.

    A FIFO, a device (``/dev/zero``, also behind a symlink) or a socket is refused before a
    byte is read (see :func:`softmaxreg._atomic.open_regular_file`).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise DataError(f"{path} is a directory; expected a data file ({ACCEPTED_TEXT})")
    if not path.exists() and not path.is_symlink():
        raise DataNotFoundError(f"data file not found: {path}")
    with open_regular_file(path, "data file"):
        pass
    return path


def target_column(columns: list[str], target: Target | str, path: Path) -> str | None:
    """Resolve ``target`` against column names.

    ``"auto"``: the one column named label, target, y or class (any case); no such column,
    or more than one, is a DataError listing the candidates (nothing is guessed). A name:
    that column; an int: that position (negative counts from the end); None: no target.
    """
    if target is None:
        return None
    if target == "auto":
        return _named_target(columns, path)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -len(columns) <= target < len(columns):
            raise DataError(
                f"{path}: target column index {target} out of range for {len(columns)} columns"
            )
        return columns[int(target)]
    if isinstance(target, str):
        if target in columns:
            return target
        raise DataError(f"{path}: no target column {target!r}; columns are {list(columns)}")
    raise DataError(f"target must be a column name, an index, 'auto' or None; got {target!r}")


def _named_target(columns: list, path: Path):
    """The single column whose name is one of TARGET_NAMES, else a DataError with candidates."""
    if len(columns) < 2:
        raise DataError(
            f"{path}: needs at least two columns (features and a target), found {len(columns)}"
        )
    named = [c for c in columns if str(c).strip().lower() in TARGET_NAMES]
    if len(named) == 1:
        return named[0]
    how = (
        "name it with --target (target= in Python): a column name, or an index such as -1 "
        "for the last column"
    )
    if named:
        return _refuse(f"{path}: several columns could be the target", named, how)
    unnamed = all(isinstance(c, (int, np.integer)) for c in columns)
    reason = (
        "has no column names"
        if unnamed
        else (f"has no column named {', '.join(TARGET_NAMES[:-1])} or {TARGET_NAMES[-1]}")
    )
    return _refuse(f"{path} {reason}", columns, how)


def _refuse(problem: str, candidates: list, how: str):
    shown = [repr(c) if isinstance(c, str) else str(c) for c in candidates]
    if len(shown) > SHOWN_CANDIDATES:
        half = SHOWN_CANDIDATES // 2
        shown = [*shown[:half], "...", *shown[-half:]]
    raise DataError(f"{problem}; candidates ({len(candidates)}): {', '.join(shown)}; {how}")


def feature_matrix(
    frame: pd.DataFrame, path: Path, *, first_row: int = 1, dtype=np.float64
) -> np.ndarray:
    """Numeric, finite feature matrix of ``frame``; errors name columns and rows (1-based)."""
    bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)]
    if bad:
        raise DataError(
            f"{path}: non-numeric feature column(s) {bad}; features must be numbers "
            "(encode categories as numbers, or name the label column with target=)"
        )
    X = frame.to_numpy(dtype=dtype, na_value=np.nan)
    check_finite(X, path, columns=[str(c) for c in frame.columns], first_row=first_row)
    return X


def check_finite(
    X: np.ndarray, path: Path, *, columns: list[str] | None = None, first_row: int = 1
) -> None:
    """Raise a DataError naming the first NaN/inf (row and column) when ``X`` has any."""
    finite = np.isfinite(X)
    if finite.all():
        return
    row, col = (int(i) for i in np.argwhere(~finite)[0])
    value = X[row, col]
    column = repr(columns[col]) if columns else str(col)
    kind = "missing value (NaN)" if np.isnan(value) else f"infinite value ({value})"
    count = int((~finite).sum())
    raise DataError(
        f"{path}: {kind} in data row {first_row + row}, column {column} "
        f"({count} non-finite value{'s' if count > 1 else ''} in all); "
        "remove or impute them before training"
    )


def target_values(series: pd.Series, path: Path, *, first_row: int = 1) -> np.ndarray:
    """Labels as int64 when integral numbers, float64 when other numbers, else strings."""
    missing = series.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing)) + first_row
        raise DataError(f"{path}: missing label in data row {row} of column {series.name!r}")
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            row = int(np.argmax(~np.isfinite(values))) + first_row
            raise DataError(f"{path}: infinite label in data row {row}")
        if np.all(values == np.round(values)) and np.all(np.abs(values) < 2.0**63):
            return values.astype(np.int64)  # (integral values beyond int64 stay floats)
        return values
    return series.astype(str).to_numpy(dtype=object)
