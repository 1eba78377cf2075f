"""What ``softmaxreg train`` fits on: the data set, its held-out part and its label column.

``--validation`` is a fraction (``0.2``: a seeded, stratified 20% of the rows held out) or a
labelled file with the same columns. The named sets with their own split (mnist, toy, iris)
keep it. The label column is said out loud: which column, and by which rule.
"""

from __future__ import annotations

from pathlib import Path

import typer

from softmaxreg.cli.console import error_console
from softmaxreg.errors import DataError

OWN_SPLIT = ("mnist", "toy", "iris")
DEFAULT_VALIDATION = 0.25


def parse_validation(value: str | None) -> float | Path | None:
    """``--validation``: a fraction in (0, 1), or a file path; None keeps the default.

    A string that reads as a number is a fraction; one outside (0, 1) is a usage error
    (``typer.BadParameter``), which ``train`` raises while it checks its options."""
    if value is None:
        return None
    try:
        fraction = float(value)
    except ValueError:
        return Path(value)
    if not 0.0 < fraction < 1.0:
        raise typer.BadParameter(
            f"a fraction must lie in (0, 1), e.g. 0.2; got {value}", param_hint="--validation"
        )
    return fraction


def load_training_data(options, *, announce: bool = True):
    """The ``Dataset`` to fit (labels named as the data set names them), announced on stderr."""
    from softmaxreg.datasets import load_dataset

    validation = parse_validation(options.validation) or options.test_file
    if validation is not None and options.dataset in OWN_SPLIT:
        raise DataError(
            f"{options.dataset} has its own test split; --validation is for files, shards "
            "and the sets split at random (digits, breast_cancer, wine)"
        )
    data = load_dataset(
        options.dataset,
        target=parse_target(options.target),
        test_file=validation if isinstance(validation, (str, Path)) else None,
        test_size=validation if isinstance(validation, float) else DEFAULT_VALIDATION,
        seed=options.seed,
    )
    if announce:
        announce_target(data.target_name, options.target, data.name)
    return data.with_named_classes()


def parse_target(target: str | None):
    """``--target``: None means the naming rule ("auto"); digits (and -1) are an index."""
    if target is None:
        return "auto"
    return int(target) if target.lstrip("-").isdigit() else target


def announce_target(
    column: str | None, asked: str | None, dataset: str, how: str | None = None
) -> None:
    """Print which column holds the labels and why (files and shards only)."""
    if column is None and asked is None:
        return
    from softmaxreg.datasets._tabular_checks import TARGET_NAMES

    shown = repr(column) if column is not None else f"index {asked}"
    rule = f"named {'/'.join(TARGET_NAMES)}; --target picks another"
    how = how or ("--target" if asked is not None else rule)
    error_console.print(f"{dataset}: labels from column {shown} ({how})")
