"""Match a data file's named columns to the features a model or a training file expects.

A model trained on named columns stores them (``feature_names_in_``). A file with a header
that holds exactly those names, in any order, is read in the model's order; a header with
other names is refused, naming what is missing and what is unexpected. Files without column
names (NPY, NPZ, LIBSVM, a CSV without header) are read by position; so are named files for a
model without names, with a warning (as scikit-learn warns).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

from softmaxreg.errors import DataError

SHOWN_NAMES = 10
# the names a CSV without header gets (x0, x1, ...): a model trained on one has no real names
_GENERATED_NAME = re.compile(r"x[0-9]+")


def names_columns(path: str | Path) -> bool:
    """Whether a tabular file names its columns (a CSV/TSV header, Parquet); NPY, NPZ,
    LIBSVM and a CSV without header do not."""
    from softmaxreg.datasets._csv import csv_has_header
    from softmaxreg.datasets._tabular_checks import checked_file, file_format

    path = checked_file(path)
    kind = file_format(path)
    if kind in ("csv", "tsv"):
        return csv_has_header(path, "\t" if kind == "tsv" else ",")
    return kind == "parquet"


def file_feature_names(path: str | Path, target=None) -> list[str] | None:
    """The feature column names of a tabular file as its header gives them (the label column
    ``target`` left out); None when the file names no columns (:func:`names_columns`)."""
    from softmaxreg.datasets.chunks import tabular_feature_names

    return tabular_feature_names(path, target) if names_columns(path) else None


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
    they are (same order, or names missing on either side: a UserWarning when only
    ``found`` has them).

    Raises :class:`DataError` naming the missing and unexpected columns when ``found`` is not
    ``expected`` in some order. ``where`` names the file; ``hint`` ends the message when
    only unexpected columns are the fault (e.g. how to name a label column).
    """
    if found is None or found == expected:
        return None
    if expected is not None and sorted(found) == sorted(expected) and len(set(found)) == len(
        found
    ):
        position = {name: index for index, name in enumerate(found)}
        return [position[name] for name in expected]
    if expected is None or all(_GENERATED_NAME.fullmatch(name) for name in expected):
        # trained on data without names (a CSV without header: x0, x1, ...): as scikit-learn
        # does for a DataFrame given to a model fitted on an array, read by position, warned
        warnings.warn(
            f"{where}: its columns are named but {owner} are not (trained on data without "
            "column names); they are read by position",
            UserWarning,
            stacklevel=2,
        )
        return None
    found_set, expected_set = set(found), set(expected)  # (sets: wide files stay linear)
    missing = [name for name in expected if name not in found_set]
    unexpected = [name for name in found if name not in expected_set]
    parts = []
    if missing:
        parts.append(f"missing {_names(missing)}")
    if unexpected:
        parts.append(f"unexpected {_names(unexpected)}")
    if not parts:  # the same names, one of them twice
        counts = Counter(found)
        parts.append(f"repeated {_names(sorted(n for n, count in counts.items() if count > 1))}")
    raise DataError(
        f"{where}: its columns do not match {owner}: {'; '.join(parts)}; "
        f"expected {_names(expected)}{'' if missing else hint}"
    )


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:SHOWN_NAMES])
    if len(names) > SHOWN_NAMES:
        shown += f", ... ({len(names)} in all)"
    return shown
