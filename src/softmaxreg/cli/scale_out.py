"""``softmaxreg train`` beyond one process's memory: shards folders and ``--distributed``.

- ``softmaxreg train SHARDS_DIR``: one process, the objective summed shard by shard
  (full-batch solvers) or minibatches streamed in shuffled shard order (sgd), bounded memory.
- ``torchrun --nproc-per-node P -m softmaxreg train DATA --distributed``: data-parallel on
  torch.distributed; every rank fits on its rows, sums are all-reduced, rank 0 alone writes.

Both write the run folder every ``train`` writes (model, metrics.json, report.html and its
pictures) with held-out scores: for shards, whole held-out shards (one by default,
``--validation FRACTION`` for more, or ``--validation FILE``); otherwise the data set's split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from softmaxreg.cli.console import error_console
from softmaxreg.cli.epoch_monitor import EpochMonitor
from softmaxreg.cli.run_directory import is_shards_folder
from softmaxreg.cli.run_outputs import finish_run
from softmaxreg.cli.training_data import announce_target, load_training_data, parse_validation
from softmaxreg.errors import DataError


def train_at_scale(
    options, folder: Path, *, distributed: bool, timeout_s: float, report: bool, quiet: bool
):
    """Fit on a shards folder (in one process) or under torchrun; rank 0 writes the run into
    ``folder``, which the caller has created and claimed (``claimed_run_folder``)."""
    from softmaxreg.distributed import fit_sharded, run_distributed_training
    from softmaxreg.estimator import LogisticRegression
    from softmaxreg.solvers import MINIBATCH_SOLVERS

    main = int(os.environ.get("RANK", "0")) == 0
    params = options.estimator_params()
    if is_shards_folder(options.dataset):
        training, data, n_train = _shards_parts(options)
        stream = training
    else:
        data = load_training_data(options, announce=main)
        training, n_train, stream = (data.X_train, data.y_train), None, None
    unit = "epoch" if params["solver"] in MINIBATCH_SOLVERS else "iteration"
    monitor = EpochMonitor(
        total_epochs=params.get("max_iter") or LogisticRegression().max_iter,
        unit=unit,
        X_train=None if stream is not None else data.X_train,
        y_train=None if stream is not None else data.y_train,
        X_test=data.X_test,
        y_test=data.y_test,
        console=error_console,
        quiet=quiet or not main,
    )
    with monitor:
        if distributed:
            run = run_distributed_training(
                training, params, timeout_s=timeout_s, callback=monitor if main else None
            )
            model, seconds = run.model, run.seconds
            extra = {
                "world_size": run.world_size,
                "backend": run.backend,
                "weights_identical_on_all_ranks": True,
            }
        else:
            model = fit_sharded(training, callback=monitor, **params)
            seconds, extra = monitor.seconds, {}
    if not main:
        return model
    scores = None if stream is None else _streamed_scores(model, stream)
    finish_run(
        folder,
        model,
        data,
        monitor.history,
        unit=unit,
        seconds=seconds,
        report=report,
        train_scores=scores,
        n_train=n_train,
        extra=extra,
    )
    return model


def _shards_parts(options):
    """``(training shards, held-out Dataset, training rows)`` of a shards folder."""
    from softmaxreg.datasets import Shards
    from softmaxreg.datasets.registry import Dataset
    from softmaxreg.distributed.train import split_shards

    shards = Shards(options.dataset)
    if options.target is not None and options.target != shards.label_column:
        raise DataError(
            f"--target {options.target}: the shards {shards.path} hold their labels in "
            f"{shards.label_column!r} (chosen when they were written); leave --target out "
            f"or give {shards.label_column!r}"
        )
    validation = parse_validation(options.validation)
    if isinstance(validation, Path):
        training = shards
        X_test, y_test = _held_out_file(validation, shards, options.target)
    else:
        training, held_out = split_shards(shards, validation, options.seed)
        X_test, t = held_out.read_all()
        y_test = held_out.labels(t)
    if int(os.environ.get("RANK", "0")) == 0:
        announce_target(shards.label_column, None, shards.path.name, "as the shards were written")
    data = Dataset(
        shards.path.name,
        None,
        None,
        X_test,
        y_test,
        shards.feature_names,
        None,
        None,
        None,
        shards.label_column,
    )
    return training, data, training.n_rows


def _held_out_file(path: Path, shards, target):
    """A labelled file with the shards' columns, as ``(X, y)``."""
    from softmaxreg.datasets import read_tabular

    table = read_tabular(path, target if target is not None else "auto")
    if table.X.shape[1] != shards.n_features:
        raise DataError(
            f"--validation {path}: has {table.X.shape[1]} feature columns, the shards "
            f"{shards.path} have {shards.n_features}; both need the same columns"
        )
    from softmaxreg.datasets.columns import column_order, file_feature_names

    label = target if target is not None else "auto"
    order = column_order(
        file_feature_names(path, label),
        shards.feature_names,
        f"--validation {str(path)!r}",
        owner="the shards' columns",
    )
    X = table.X if order is None else table.X[:, order]
    return np.asarray(X, dtype=shards.dtype), table.y


def _streamed_scores(model, source) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over every training row, one block at a time."""
    loss, correct = 0.0, 0
    for _, X, t in source.iter_blocks(0, source.n_rows):
        log_probabilities = model.predict_log_proba(X)
        loss -= float(log_probabilities[np.arange(len(t)), t].sum())
        correct += int(np.sum(np.argmax(log_probabilities, axis=1) == t))
    return loss / source.n_rows, correct / source.n_rows
