"""Match a data file's named columns to the features a model or a training file expects.

A model trained on named columns stores them (``feature_names_in_``). A file with a header
that holds exactly those names, in any order, is read in the model's order; a header with
other names is refused, naming what is missing and what is unexpected. Files without column
names (NPY, NPZ, LIBSVM, a CSV without header) and models without names are read by position.
"""

from __future__ import annotations

import re
from pathlib import Path

from softmaxreg.errors import DataError

SHOWN_NAMES = 10
# the names a CSV without header gets (x0, x1, ...): a model trained on one has no real names
_GENERATED_NAME = re.compile(r"x[0-9]+")


def file_feature_names(path: str | Path, target=None) -> list[str] | None:
    """The feature column names of a tabular file as its header gives them (the label column
    ``target`` left out); None when the file names no columns (NPY, NPZ, LIBSVM, a CSV
    without header)."""
    from softmaxreg.datasets._csv import csv_has_header
    from softmaxreg.datasets._tabular_checks import checked_file, file_format
    from softmaxreg.datasets.chunks import tabular_feature_names

    path = checked_file(path)
    kind = file_format(path)
    if kind in ("csv", "tsv") and not csv_has_header(path, "\t" if kind == "tsv" else ","):
        return None
    if kind not in ("csv", "tsv", "parquet"):
        return None
    return tabular_feature_names(path, target)


def model_feature_names(model) -> list[str] | None:
    """The model's feature names, or None when it has none."""
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def column_order(
    found: list[str] | None,
    expected: list[str] | None,
    where: str,
    hint: str = "",
    *,
    owner: str = "the model's features",
) -> list[int] | None:
    """Indices that put the columns ``found`` in the order ``expected``; None to read them as
    they are (same order, or names missing on either side).

    Raises :class:`DataError` naming the missing and unexpected columns when ``found`` is not
    ``expected`` in some order. ``where`` names the file; ``hint`` ends the message when
    only unexpected columns are the fault (e.g. how to name a label column).
    """
    if found is None or expected is None or found == expected:
        return None
    if sorted(found) == sorted(expected) and len(set(found)) == len(found):
        position = {name: index for index, name in enumerate(found)}
        return [position[name] for name in expected]
    if all(_GENERATED_NAME.fullmatch(name) for name in expected) and set(found) != set(expected):
        return None  # a model trained on a CSV without header: its names say nothing
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    parts = []
    if missing:
        parts.append(f"missing {_names(missing)}")
    if unexpected:
        parts.append(f"unexpected {_names(unexpected)}")
    if not parts:  # the same names, one of them twice
        parts.append(f"repeated {_names(sorted({n for n in found if found.count(n) > 1}))}")
    raise DataError(
        f"{where}: its columns do not match {owner}: {'; '.join(parts)}; "
        f"expected {_names(expected)}{'' if missing else hint}"
    )


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:SHOWN_NAMES])
    if len(names) > SHOWN_NAMES:
        shown += f", ... ({len(names)} in all)"
    return shown
