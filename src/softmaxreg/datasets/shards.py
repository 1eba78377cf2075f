"""A data set bigger than memory: a directory of shards with a small JSON manifest.

Layout of a shards directory (written by :func:`write_shards`)::

    manifest.json                 format, dtype, n_rows, n_features, shard list, classes ...
    shard-00000.X.npy  shard-00000.y.npy     (format "npy": features memory-mapped)
    shard-00001.X.npy  ...
    or shard-00000.parquet ...               (format "parquet": features + label column)

Labels are stored as written (integers, floats or strings); ``classes`` in the manifest is
their sorted set, and readers hand out class indices ``t_i`` with ``classes[t_i] = y_i``.
Rows are numbered globally in shard order, so a row range ``[start, stop)`` (one rank's
part of the data) maps to pieces of consecutive shards.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from softmaxreg._atomic import (
    fsync_folder,
    named_as_final,
    open_regular_file,
    read_regular_file,
    remove_stale_temporaries,
    write_destination,
)
from softmaxreg._exact_json import plain_value
from softmaxreg.datasets._npy import load_npy_file, npy_file_header
from softmaxreg.errors import DataError, DataNotFoundError

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
SHARD_FORMATS = ("npy", "parquet")
FEATURE_DTYPES = ("float32", "float64")
READ_BLOCK_ROWS = 65_536


class Shards:
    """A read-only view of a shards directory.

    ``n_rows`` rows ``x_i`` (``n_features`` numbers each, ``dtype``) with labels ``y_i`` in
    ``classes``; shard ``s`` holds the global rows ``[offsets[s], offsets[s + 1])``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).expanduser()
        manifest_path = self.path / MANIFEST_NAME
        if not self.path.is_dir():
            raise DataNotFoundError(f"shards directory not found: {self.path}")
        if not manifest_path.is_file():
            raise DataError(
                f"{self.path} is not a shards directory: it has no {MANIFEST_NAME} "
                "(write one with softmaxreg.datasets.write_shards or `softmaxreg shard`)"
            )
        try:
            manifest = json.loads(read_regular_file(manifest_path, "shards manifest"))
        except (ValueError, UnicodeDecodeError) as error:
            if isinstance(error, DataError):
                raise
            raise DataError(f"{manifest_path}: not valid JSON ({error})") from None
        self.manifest = _checked_manifest(manifest, manifest_path)
        self.format = manifest["format"]
        self.dtype = np.dtype(manifest["dtype"])
        self.n_features = int(manifest["n_features"])
        self.label_column = manifest["label_column"]
        self.feature_names = manifest.get("feature_names")
        self.classes = np.asarray(manifest["classes"])
        self.shard_rows = [int(entry["rows"]) for entry in manifest["shards"]]
        self.offsets = np.concatenate([[0], np.cumsum(self.shard_rows)]).astype(np.int64)
        self.n_rows = int(self.offsets[-1])
        for shard, entry in enumerate(manifest["shards"]):
            self._check_shard_files(shard, entry)

    def __len__(self) -> int:
        return self.n_rows

    def __repr__(self) -> str:
        return (
            f"Shards({str(self.path)!r}, n_rows={self.n_rows}, n_features={self.n_features}, "
            f"n_shards={self.n_shards}, format={self.format!r}, dtype={self.dtype.name})"
        )

    @property
    def n_shards(self) -> int:
        return len(self.shard_rows)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    # ------------------------------------------------------------------ reading
    def shard_features(self, shard: int) -> np.ndarray:
        """Features of one shard, ``(rows, m)``: a read-only memory map for NPY shards."""
        entry = self._entry(shard)
        if self.format == "npy":
            from softmaxreg.datasets.tabular import load_npy

            X = load_npy(self.path / entry["features"], mmap=True)
        else:
            X = self._parquet_table(entry, features=True)
        if X.shape != (entry["rows"], self.n_features) or X.dtype != self.dtype:
            raise DataError(
                f"{self.path}: shard {shard} has features of shape {X.shape} and dtype {X.dtype}; "
                f"the manifest says ({entry['rows']}, {self.n_features}) {self.dtype.name}"
            )
        return X

    def shard_targets(self, shard: int) -> np.ndarray:
        """Class indices ``t_i`` (int64) of one shard's rows: ``classes[t_i] = y_i``."""
        entry = self._entry(shard)
        if self.format == "npy":
            labels = load_npy_file(self.path / entry["labels"])
        else:
            labels = self._parquet_table(entry, features=False)
        if labels.shape != (entry["rows"],):
            raise DataError(
                f"{self.path}: shard {shard} has {labels.shape} labels, "
                f"the manifest says {entry['rows']}"
            )
        return encode_with_classes(labels, self.classes, f"{self.path} shard {shard}")

    def iter_blocks(
        self, start: int = 0, stop: int | None = None, block_rows: int = READ_BLOCK_ROWS
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(first_row, X_block, t_block)`` for the global rows ``[start, stop)`` in order.

        Blocks never span two shards and hold at most ``block_rows`` rows; ``X_block`` is a
        slice of the shard's memory map (read on use), released when the shard is done.
        """
        start, stop = self._checked_range(start, stop)
        for shard in range(self.n_shards):
            lo, hi = int(self.offsets[shard]), int(self.offsets[shard + 1])
            a, b = max(lo, start), min(hi, stop)
            if a >= b:
                continue
            X, t = self.shard_features(shard), self.shard_targets(shard)
            for first in range(a, b, block_rows):
                last = min(first + block_rows, b)
                yield first, X[first - lo : last - lo], t[first - lo : last - lo]
            del X

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``X[rows]`` and ``t[rows]`` (global indices, any order) in memory."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(
                f"row indices must lie in [0, {self.n_rows}), got {rows.min()}..{rows.max()}"
            )
        X = np.empty((rows.size, self.n_features), dtype=self.dtype)
        t = np.empty(rows.size, dtype=np.int64)
        shard_of = np.searchsorted(self.offsets, rows, side="right") - 1
        for shard in np.unique(shard_of):
            where = np.flatnonzero(shard_of == shard)
            local = rows[where] - self.offsets[shard]
            X[where] = self.shard_features(int(shard))[local]
            t[where] = self.shard_targets(int(shard))[local]
        return X, t

    def read_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every row in memory: ``X`` (n, m) and class indices ``t`` (n,); for small sets."""
        return self.read_rows(0, self.n_rows)

    def read_rows(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The global rows ``[start, stop)`` in memory."""
        start, stop = self._checked_range(start, stop)
        X = np.empty((stop - start, self.n_features), dtype=self.dtype)
        t = np.empty(stop - start, dtype=np.int64)
        for first, X_block, t_block in self.iter_blocks(start, stop):
            X[first - start : first - start + len(t_block)] = X_block
            t[first - start : first - start + len(t_block)] = t_block
        return X, t

    def labels(self, t: np.ndarray) -> np.ndarray:
        """Original labels ``classes[t]`` of class indices ``t``."""
        return self.classes[np.asarray(t, dtype=np.int64)]

    def row_range(self, rank: int, world_size: int) -> tuple[int, int]:
        """Rank ``r``'s contiguous rows ``[floor(r n / P), floor((r + 1) n / P))``."""
        return row_range(self.n_rows, rank, world_size)

    # ------------------------------------------------------------------ helpers
    def _check_shard_files(self, shard: int, entry: dict) -> None:
        """Refuse a shard whose files are missing or hold another shape than the manifest says.

        Only headers are read (an .npy header checked against the file's size, a Parquet
        footer), so every later allocation of ``rows x n_features`` is backed by real bytes.
        """
        for name in _entry_files(entry):
            if not (self.path / name).is_file():
                raise DataError(
                    f"{self.path}: shard file {name!r} named in the manifest is "
                    "missing; the directory is incomplete, write it again"
                )
        rows = entry["rows"]
        if self.format == "npy":
            features = npy_file_header(self.path / entry["features"])
            labels = npy_file_header(self.path / entry["labels"])
            found = (features.shape, features.dtype.newbyteorder("="), labels.shape)
        else:
            from softmaxreg.datasets.tabular import parquet_columns

            with self._parquet(entry) as parquet:
                columns = [c for c in parquet_columns(parquet) if c != str(self.label_column)]
                found = ((parquet.metadata.num_rows, len(columns)), self.dtype, (rows,))
        if found != ((rows, self.n_features), self.dtype, (rows,)):
            raise DataError(
                f"{self.path}: shard {shard} holds features of shape {found[0]} ({found[1]}) "
                f"and labels of shape {found[2]}; the manifest says ({rows}, "
                f"{self.n_features}) {self.dtype.name} and ({rows},)"
            )

    @contextlib.contextmanager
    def _parquet(self, entry: dict):
        """The shard's ParquetFile, over the regular file (a FIFO or device is refused)."""
        from softmaxreg.datasets.tabular import parquet_file

        path = self.path / entry["file"]
        with open_regular_file(path, "shard file") as handle, parquet_file(handle, path) as file:
            yield file

    def _entry(self, shard: int) -> dict:
        if not 0 <= shard < self.n_shards:
            raise IndexError(f"shard index must lie in [0, {self.n_shards}), got {shard}")
        return self.manifest["shards"][shard]

    def _checked_range(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.n_rows if stop is None else int(stop)
        start = int(start)
        if not 0 <= start <= stop <= self.n_rows:
            raise IndexError(f"row range [{start}, {stop}) is not inside [0, {self.n_rows})")
        return start, stop

    def _parquet_table(self, entry: dict, *, features: bool) -> np.ndarray:
        import pyarrow as pa

        from softmaxreg.datasets.tabular import parquet_columns

        label = str(self.label_column)
        try:
            with self._parquet(entry) as parquet:
                if not features:
                    return parquet.read(columns=[label]).column(label).to_numpy()
                columns = [name for name in parquet_columns(parquet) if name != label]
                table = parquet.read(columns=columns)
        except pa.ArrowException as error:
            where = self.path / entry["file"]
            raise DataError(f"{where}: damaged Parquet shard ({error})") from None
        return np.column_stack([table.column(name).to_numpy() for name in columns]).astype(
            self.dtype, copy=False
        )


def row_range(n_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rows ``[floor(r n / P), floor((r + 1) n / P))`` of rank ``r`` out of ``P``."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(
            f"rank must lie in [0, world_size), got rank={rank}, world_size={world_size}"
        )
    return n_rows * rank // world_size, n_rows * (rank + 1) // world_size


def encode_with_classes(labels: np.ndarray, classes: np.ndarray, where: str) -> np.ndarray:
    """Class indices ``t`` with ``classes[t] = labels`` (``classes`` sorted), or a DataError."""
    labels = np.asarray(labels)
    if labels.dtype.kind in "OUS":
        labels, classes = labels.astype(str), classes.astype(str)
    t = np.searchsorted(classes, labels)
    t_clipped = np.minimum(t, len(classes) - 1)
    bad = classes[t_clipped] != labels
    if bad.any():
        raise DataError(
            f"{where}: label {labels[np.argmax(bad)]!r} is not among the manifest's "
            f"classes {classes.tolist()}"
        )
    return t_clipped.astype(np.int64)


def _entry_files(entry: dict) -> list[str]:
    return [entry[key] for key in ("features", "labels", "file") if key in entry]


def _checked_manifest(manifest, where: Path) -> dict:
    required = (
        "format_version",
        "format",
        "dtype",
        "n_rows",
        "n_features",
        "label_column",
        "classes",
        "shards",
    )
    if not isinstance(manifest, dict) or any(key not in manifest for key in required):
        raise DataError(f"{where}: a shards manifest needs the keys {list(required)}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise DataError(
            f"{where}: format_version {manifest['format_version']!r} is not "
            f"supported (this softmaxreg reads version {FORMAT_VERSION})"
        )
    if manifest["format"] not in SHARD_FORMATS:
        raise DataError(
            f"{where}: format must be one of {SHARD_FORMATS}, got {manifest['format']!r}"
        )
    if manifest["dtype"] not in FEATURE_DTYPES:
        raise DataError(
            f"{where}: dtype must be one of {FEATURE_DTYPES}, got {manifest['dtype']!r}"
        )
    rows = [entry.get("rows") for entry in manifest["shards"]]
    if any(not isinstance(r, int) or r < 1 for r in rows) or sum(rows) != manifest["n_rows"]:
        raise DataError(
            f"{where}: shard row counts {rows} do not add up to n_rows = {manifest['n_rows']}"
        )
    if len(manifest["classes"]) < 1:
        raise DataError(f"{where}: the manifest lists no classes")
    return manifest


# ---------------------------------------------------------------------------------- writing
def write_shards(
    source,
    out_dir: str | os.PathLike,
    rows_per_shard: int,
    *,
    target="auto",
    format: str = "npy",  # noqa: A002 (the user-facing name of the option)
    dtype: str = "float32",
    overwrite: bool = False,
    read_rows: int = READ_BLOCK_ROWS,
) -> Shards:
    """Split ``source`` into shards of ``rows_per_shard`` rows under ``out_dir``; return them.

    ``source``: a CSV/TSV, Parquet or NPY file (``target`` names the label column as in
    :func:`softmaxreg.datasets.read_tabular`), an ``(X, y)`` pair of arrays, or an iterable
    of ``(X_block, y_block)`` pairs (e.g. a generator, for data made on the fly). Memory
    holds one shard plus one read block; everything is written into a temporary directory
    beside ``out_dir``, the manifest last, and renamed into place only when complete. An
    ``out_dir`` that is a symlink is written through: the folder it points to is written or
    replaced, the link stays (as for files, ``softmaxreg._atomic``).
    """
    if (
        isinstance(rows_per_shard, bool)
        or not isinstance(rows_per_shard, (int, np.integer))
        or rows_per_shard < 1
    ):
        raise DataError(f"rows_per_shard must be an integer >= 1, got {rows_per_shard!r}")
    if format not in SHARD_FORMATS:
        raise DataError(f"format must be one of {SHARD_FORMATS}, got {format!r}")
    if dtype not in FEATURE_DTYPES:
        raise DataError(f"dtype must be one of {FEATURE_DTYPES}, got {dtype!r}")
    given = Path(out_dir).expanduser()
    # a symlink is written through: the folder it points to is replaced, the link stays
    out_dir = write_destination(given)
    shown = str(given) if out_dir == given else f"{given} (a symlink to {out_dir})"
    if out_dir.exists() and not overwrite:
        if out_dir.is_dir() and (out_dir / MANIFEST_NAME).is_file():
            hint = "choose a new directory or pass overwrite=True (--overwrite) to replace it"
        else:  # (overwrite would be refused: check_replaceable)
            hint = "it is not a shards folder, so it is never replaced; choose a new directory"
        raise DataError(f"{shown} already exists; {hint}")
    if not out_dir.parent.is_dir():
        raise DataNotFoundError(
            f"cannot write shards to {out_dir}: the folder {out_dir.parent} does not exist"
        )
    if out_dir.exists():
        check_replaceable(out_dir, source)
    blocks, label_column, feature_names = _source_blocks(source, target, read_rows, dtype)
    remove_stale_temporaries(out_dir.parent, out_dir.name)  # what killed runs left beside it
    temporary = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with named_as_final(temporary, out_dir):  # errors name the shards folder, not this one
        temporary.mkdir()
    try:
        writer = _ShardWriter(
            temporary,
            int(rows_per_shard),
            format,
            np.dtype(dtype),
            str(label_column),
            feature_names,
        )
        for X_block, y_block in blocks:  # (reading errors are the input's: not renamed)
            with named_as_final(temporary, out_dir):
                writer.add(X_block, y_block)
        with named_as_final(temporary, out_dir):
            manifest = writer.finish()
            _write_json_durably(temporary / MANIFEST_NAME, manifest)
            _replace_directory(temporary, out_dir)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return Shards(given)


class _ShardWriter:
    """Collects rows until a shard is full, then writes it (NPY pair or one Parquet file)."""

    def __init__(
        self,
        folder: Path,
        rows_per_shard: int,
        fmt: str,
        dtype: np.dtype,
        label_column: str,
        feature_names: list[str] | None,
    ):
        self.folder, self.rows_per_shard = folder, rows_per_shard
        self.format, self.dtype = fmt, dtype
        self.label_column, self.feature_names = label_column, feature_names
        self.pending_X: list[np.ndarray] = []
        self.pending_y: list[np.ndarray] = []
        self.pending_rows = 0
        self.entries: list[dict] = []
        self.classes: set = set()
        self.label_kind: str | None = None
        self.n_features: int | None = None

    def add(self, X: np.ndarray, y: np.ndarray) -> None:
        X, y = self._checked_block(X, y)
        while len(y):
            take = min(len(y), self.rows_per_shard - self.pending_rows)
            self.pending_X.append(X[:take])
            self.pending_y.append(y[:take])
            self.pending_rows += take
            X, y = X[take:], y[take:]
            if self.pending_rows == self.rows_per_shard:
                self._flush()

    def finish(self) -> dict:
        if self.pending_rows:
            self._flush()
        if not self.entries:
            raise DataError("the input holds no rows; nothing to shard")
        classes = sorted(self.classes)
        return {
            "format_version": FORMAT_VERSION,
            "format": self.format,
            "dtype": self.dtype.name,
            "n_rows": sum(entry["rows"] for entry in self.entries),
            "n_features": self.n_features,
            "label_column": self.label_column,
            "label_kind": self.label_kind,
            "feature_names": self.feature_names,
            "classes": [plain_value(value) for value in classes],
            "shards": self.entries,
        }

    def _checked_block(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise DataError(
                f"each block needs X of shape (rows, m) and y of shape (rows,); "
                f"got {X.shape} and {y.shape}"
            )
        if X.dtype.kind not in "biuf":
            raise DataError(f"features must be numbers, got dtype {X.dtype}")
        if self.n_features is None:
            self.n_features = X.shape[1]
        elif X.shape[1] != self.n_features:
            raise DataError(
                f"blocks disagree on the number of features: {self.n_features} then {X.shape[1]}"
            )
        X = X.astype(self.dtype, copy=False)
        if not np.isfinite(X).all():
            row = int(np.argwhere(~np.isfinite(X))[0][0])
            raise DataError(
                f"non-finite feature value in row {self._rows_seen() + row + 1}; "
                "remove or impute it before sharding"
            )
        kind = "str" if y.dtype.kind in "OUS" else ("int" if y.dtype.kind in "biu" else "float")
        if kind == "float" and np.all(y == np.round(y)) and np.isfinite(y).all():
            kind, y = "int", y.astype(np.int64)
        if self.label_kind is None:
            self.label_kind = kind
        elif kind != self.label_kind and {kind, self.label_kind} != {"int", "float"}:
            raise DataError(f"labels change type between blocks ({self.label_kind} then {kind})")
        elif {kind, self.label_kind} == {"int", "float"}:
            self.label_kind = "float"
        y = y.astype(str) if kind == "str" else y
        self.classes.update(np.unique(y).tolist())
        return X, y

    def _rows_seen(self) -> int:
        return sum(entry["rows"] for entry in self.entries) + self.pending_rows

    def _flush(self) -> None:
        index = len(self.entries)
        y = np.concatenate(self.pending_y)
        if self.label_kind == "float":
            y = y.astype(np.float64)
        stem = f"shard-{index:05d}"
        if self.format == "npy":
            entry = {"features": f"{stem}.X.npy", "labels": f"{stem}.y.npy", "rows": len(y)}
            _write_npy_pieces(self.folder / entry["features"], self.pending_X, self.dtype)
            _write_npy_pieces(self.folder / entry["labels"], [y], y.dtype)
        else:
            entry = {"file": f"{stem}.parquet", "rows": len(y)}
            self._write_parquet(self.folder / entry["file"], y)
        self.entries.append(entry)
        self.pending_X, self.pending_y, self.pending_rows = [], [], 0

    def _write_parquet(self, path: Path, y: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = self.feature_names or [f"x{j}" for j in range(self.n_features)]
        X = np.concatenate(self.pending_X)
        columns = {name: pa.array(X[:, j]) for j, name in enumerate(names)}
        columns[self.label_column] = pa.array(y)
        with open(path, "wb") as handle:
            pq.write_table(pa.table(columns), handle, use_dictionary=False)
            handle.flush()
            os.fsync(handle.fileno())


def _write_npy_pieces(path: Path, pieces: list[np.ndarray], dtype: np.dtype) -> None:
    """One ``.npy`` file from row blocks, written piece by piece (no concatenated copy)."""
    rows = sum(piece.shape[0] for piece in pieces)
    shape = (rows, *pieces[0].shape[1:])
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": shape,
    }
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for piece in pieces:
            handle.write(np.ascontiguousarray(piece, dtype=dtype).tobytes())
        handle.flush()
        os.fsync(handle.fileno())


def _write_json_durably(path: Path, content: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())


def check_replaceable(out_dir: Path, source=None) -> None:
    """Refuse to replace ``out_dir`` unless it is a shards directory named by its name (not
    ``.``, ``..`` or ``/``) holding nothing but its manifest and the shard files it lists
    (so replacing it loses no other file), and ``source``, where it is a path, does not lie
    inside it. Raises ``DataError``."""
    refusal = f"refusing to replace {out_dir}"
    if out_dir.name in ("", ".", ".."):  # written beside its target, then renamed to it
        raise DataError(
            f"refusing to replace {str(out_dir)!r}: the shards folder must be given by its "
            "name (not '.', '..' or '/'), e.g. ../shards"
        )
    if not out_dir.is_dir() or not (out_dir / MANIFEST_NAME).is_file():
        raise DataError(f"{refusal}: it is not a shards directory (no {MANIFEST_NAME})")
    if isinstance(source, (str, os.PathLike)):
        inside = Path(source).expanduser().resolve()
        if out_dir.resolve() in inside.parents:
            raise DataError(f"{refusal}: the input {source} lies inside it")
    try:
        shards = Shards(out_dir)
    except DataError as error:
        raise DataError(f"{refusal}: it is not a valid shards directory ({error})") from None
    listed = {MANIFEST_NAME}
    for entry in shards.manifest["shards"]:
        listed.update(str(entry[key]) for key in ("features", "labels", "file") if key in entry)
    others = sorted(entry.name for entry in out_dir.iterdir() if entry.name not in listed)
    if others:
        shown = ", ".join(others[:5]) + (f", ... ({len(others)} in all)" if len(others) > 5 else "")
        raise DataError(
            f"{refusal}: it holds files that are not its shards ({shown}); move them away "
            "or choose another folder"
        )


def _replace_directory(temporary: Path, out_dir: Path) -> None:
    """Rename the finished ``temporary`` directory to ``out_dir`` (replacing an old one)."""
    fsync_folder(temporary)
    old = None
    if out_dir.exists():
        check_replaceable(out_dir)  # again: it may have changed while the shards were written
        old = out_dir.with_name(f".{out_dir.name}.{secrets.token_hex(4)}.old")
        os.replace(out_dir, old)
    os.replace(temporary, out_dir)
    fsync_folder(out_dir.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------- sources
def _source_blocks(source, target, read_rows: int, dtype: str):
    """``(blocks, label_column, feature_names)`` for a file, an ``(X, y)`` pair or blocks."""
    if isinstance(source, (str, os.PathLike)):
        return _file_blocks(Path(source), target, read_rows, dtype)
    if isinstance(source, tuple) and len(source) == 2:
        X, y = np.asarray(source[0]), np.asarray(source[1])
        if X.ndim != 2 or y.shape != (X.shape[0],):
            raise DataError(f"(X, y) must have shapes (n, m) and (n,), got {X.shape} and {y.shape}")
        blocks = (
            (X[a : a + read_rows], y[a : a + read_rows]) for a in range(0, X.shape[0], read_rows)
        )
        return blocks, "label", None
    if isinstance(source, Iterable):
        return iter(source), "label", None
    raise DataError(
        "source must be a file path (CSV, TSV, Parquet, NPY), an (X, y) pair of "
        f"arrays or an iterable of (X_block, y_block) pairs; got {type(source)}"
    )


def _file_blocks(path: Path, target, read_rows: int, dtype: str):
    from softmaxreg.datasets._tabular_checks import checked_file, file_format, target_values
    from softmaxreg.datasets.chunks import iter_tabular_chunks, tabular_feature_names
    from softmaxreg.datasets.tabular import load_npy

    path = checked_file(path)
    kind = file_format(path)
    if kind not in ("csv", "tsv", "parquet", "npy"):
        raise DataError(
            f"{path}: sharding reads CSV, TSV, Parquet or NPY files in bounded "
            f"memory; {kind} files are not supported (convert them first)"
        )
    if target is None:
        raise DataError(
            "sharding needs a label column: give target= a column name, an index or 'auto'"
        )
    features = iter_tabular_chunks(path, read_rows, target, dtype=np.dtype(dtype))
    if kind == "npy":
        array = load_npy(path, mmap=True)
        from softmaxreg.datasets._tabular_checks import target_column

        columns = list(range(array.shape[1]))
        label = target_column(columns, target, path)
        names = None

        def labels():
            import pandas as pd

            for a in range(0, array.shape[0], read_rows):
                column = pd.Series(np.asarray(array[a : a + read_rows, label]), name=label)
                yield target_values(column, path, first_row=a + 1)
    else:
        names = tabular_feature_names(path, target)
        every = tabular_feature_names(path, None)
        label = next(name for name in every if name not in names)
        labels = _label_reader(path, kind, every.index(label), label, read_rows, target_values)
    return zip(features, labels(), strict=True), label, names


def _label_reader(path: Path, kind: str, position: int, label: str, read_rows: int, target_values):
    from softmaxreg.datasets._csv import csv_reader_options, open_csv
    from softmaxreg.datasets.tabular import parquet_file

    def labels():
        if kind == "parquet":
            with open_regular_file(path, "data file") as handle, parquet_file(handle, path) as file:
                first = 1
                for batch in file.iter_batches(batch_size=read_rows, columns=[label]):
                    yield target_values(batch.to_pandas()[label], path, first_row=first)
                    first += batch.num_rows
            return
        import pandas as pd

        options = csv_reader_options(path, "\t" if kind == "tsv" else ",")
        first = 1
        with open_csv(path) as handle:
            for chunk in pd.read_csv(handle, chunksize=read_rows, usecols=[position], **options):
                yield target_values(chunk.iloc[:, 0].rename(label), path, first_row=first)
                first += chunk.shape[0]

    return labels
