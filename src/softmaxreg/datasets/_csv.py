"""CSV/TSV files (optionally gzipped), read block by block in memory bounded by the block.

Every read opens the file with :func:`softmaxreg._atomic.open_regular_file` (a FIFO or a
device is refused before a byte is read) and decompresses ``.gz`` files as a stream, so a
small gzip of a large CSV costs the parsed rows, never a decompressed copy of the file. The
first line is counted before pandas sees it: a header declaring more columns than
:func:`~softmaxreg.datasets.limits.max_features` allows is refused with a one-line error.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from softmaxreg._atomic import open_regular_file
from softmaxreg._exact_json import first_repeat
from softmaxreg.datasets._tabular_checks import feature_matrix, rows_per_block, target_column
from softmaxreg.datasets.limits import check_feature_count
from softmaxreg.errors import DataError

_LINE_READ = 1 << 16
BLOCK_BYTES = 1 << 23
_COUNT_READ = 1 << 22


@contextlib.contextmanager
def open_csv(path: Path) -> Iterator[IO[bytes]]:
    """The bytes of a regular CSV file, gunzipped on the fly when its name ends in ``.gz``."""
    with open_regular_file(path, "data file") as raw:
        if path.suffix.lower() != ".gz":
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
            yield stream


def not_utf8(path: Path, error: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{path} is not UTF-8 text ({error.reason} at byte {error.start}); "
        "save the file as UTF-8 (e.g. 'iconv -f latin1 -t utf-8')"
    )


def first_line(path: Path, sep: str) -> bytes | None:
    """The first non-empty line (bytes), read in blocks; refused when it has too many fields.

    Separators are counted as the blocks arrive, so a line of a billion fields is refused
    once it passes the limit, before it is held in memory; so is a line longer than its
    fields can be (each at most ``csv.field_size_limit()`` characters, as :mod:`csv` reads).
    """
    separator = sep.encode()
    parts: list[bytes] = []
    fields = 1
    length = 0
    try:
        with open_csv(path) as handle:
            while block := handle.read(_LINE_READ):
                end = block.find(b"\n")
                while end >= 0 and not parts and not block[:end].strip(b"\r"):
                    block = block[end + 1 :]  # an empty line before the first row
                    end = block.find(b"\n")
                piece = block if end < 0 else block[: end + 1]
                fields += piece.count(separator)
                check_feature_count(fields, f"{path}: its first line has {fields:,}+ fields")
                if piece:
                    parts.append(piece)
                length += len(piece)
                if length > fields * csv.field_size_limit():
                    raise DataError(
                        f"{path}: its first line holds a field longer than "
                        f"{csv.field_size_limit():,} characters; is it a CSV file?"
                    )
                if end >= 0:
                    break
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None
    line = b"".join(parts)
    return line if line.strip(b"\r\n") else None


def csv_first_row(path: Path, sep: str) -> list[str]:
    """The fields of the first non-blank line (see :func:`first_line`)."""
    line = first_line(path, sep)
    if line is None:
        raise DataError(f"{path} is empty: no header and no data rows")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise not_utf8(path, error) from None
    try:
        return next(csv.reader(io.StringIO(text), delimiter=sep), [])
    except csv.Error as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None


def csv_text_size(path: Path) -> tuple[int, int]:
    """``(lines, bytes)`` of the (decompressed) text, read in blocks; ``lines`` (newlines
    plus one) is at least the number of data rows."""
    lines, size = 1, 0
    try:
        with open_csv(path) as handle:
            while block := handle.read(_COUNT_READ):
                lines += block.count(b"\n")
                size += len(block)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"cannot read {path} as CSV: {error}") from None
    return lines, size


def csv_block_rows(path: Path, sep: str, lines: int, size: int) -> int:
    """Rows per block: about :data:`BLOCK_VALUES` fields and at most :data:`BLOCK_BYTES`
    of text (pandas holds a block's text while it parses it)."""
    by_text = BLOCK_BYTES * lines // max(size, 1)
    return max(1, min(rows_per_block(len(csv_first_row(path, sep))), by_text))


def csv_has_header(path: Path, sep: str) -> bool:
    """True unless every field of the first non-blank line parses as a number."""
    try:
        [float(field) for field in csv_first_row(path, sep)]
    except ValueError:
        return True
    return False


def csv_reader_options(path: Path, sep: str) -> dict:
    """Keyword arguments for pandas.read_csv: separator, header or generated names.

    A header that names a column twice is refused (pandas would read the second ``f1`` as
    ``f1.1``, a name that is not in the file)."""
    header = csv_has_header(path, sep)
    options: dict = {"sep": sep, "encoding": "utf-8", "skip_blank_lines": True}
    if header:
        header_names(path, sep)
    else:
        options["header"] = None
    return options


def header_names(path: Path, sep: str) -> list[str]:
    """The column names of a file's header line as pandas names them (an empty name is
    ``Unnamed: K``, K its 0-based position; a UTF-8 byte-order mark is not part of the
    first), read with :mod:`csv` from the first line alone: a header of 300,000 names costs
    milliseconds, not pandas' seconds and gigabytes. Raises ``DataError`` for a name given
    twice."""
    names = csv_first_row(path, sep)
    if names:
        names[0] = names[0].removeprefix("\ufeff")
    names = [name if name else f"Unnamed: {k}" for k, name in enumerate(names)]
    repeated = first_repeat(names)
    if repeated is not None:
        raise DataError(
            f"{path}: its header names the column {repeated!r:.80} more than once; each "
            "column needs its own name"
        )
    return names


def csv_columns(frame: pd.DataFrame, options: dict) -> list[str]:
    """Column names: the header's, or ``x0, x1, ...`` for a file without one."""
    if "header" in options:
        return [f"x{k}" for k in range(frame.shape[1])]
    return [str(c) for c in frame.columns]


def csv_feature_names(path: Path, sep: str) -> list[str]:
    """Every column name of the file (the header, or generated names)."""
    options = csv_reader_options(path, sep)
    if "header" not in options:
        return header_names(path, sep)
    with open_csv(path) as handle, csv_errors(path, sep, header=False):
        head = pd.read_csv(handle, nrows=1, **options)
    return csv_columns(head, options)


def csv_blocks(
    path: Path, sep: str, chunk_rows: int, target, dtype
) -> Iterator[tuple[np.ndarray, pd.Series | None, list[str], str | None]]:
    """``(X_block, labels, feature_names, target_name)`` for blocks of ``chunk_rows`` rows.

    ``X_block`` is the checked numeric feature matrix (rows numbered from the file start in
    errors); ``labels`` the raw label column of the block (None when ``target`` is None).
    """
    options = csv_reader_options(path, sep)
    header = "header" not in options
    first_row = 1
    label = names = None
    with (
        open_csv(path) as handle,
        csv_errors(path, sep, header=header),
        pd.read_csv(handle, chunksize=chunk_rows, **options) as reader,
    ):
        for chunk in reader:
            if chunk.shape[0] == 0:
                continue
            chunk.columns = csv_columns(chunk, options)
            if first_row == 1:
                label = target_column(list(chunk.columns), target, path)
                names = [c for c in chunk.columns if c != label]
                if not names:
                    raise DataError(f"{path}: no feature columns besides the target {label!r}")
            check_short_rows(chunk, path, sep, header=header)
            X = feature_matrix(chunk[names], path, first_row=first_row, dtype=dtype)
            yield X, (chunk[label] if label is not None else None), names, label
            first_row += chunk.shape[0]
    if first_row == 1:
        raise DataError(f"{path} has a header but no data rows")


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


def short_csv_row(path: Path, sep: str, n_fields: int, header: bool) -> tuple[int, int] | None:
    """First (data row, field count) with fewer than ``n_fields`` fields, or None."""
    with open_csv(path) as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        rows = (row for row in csv.reader(handle, delimiter=sep) if row)
        if header:
            next(rows, None)
        for number, row in enumerate(rows, start=1):
            if len(row) < n_fields:
                return number, len(row)
    return None


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
        if isinstance(error, (OSError, EOFError, zlib.error)):
            raise DataError(f"cannot read {path}: {error}") from None
        return False
