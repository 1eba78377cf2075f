"""The run folder every way of training writes (in memory, from shards, under torchrun).

``finish_run`` saves ``model.safetensors`` (with the feature names and the preprocessing),
``metrics.json`` (summary, the hyper-parameters used, per-epoch history) and, unless asked
not to, ``report.html`` with its pictures, all put in place together (see
``run_directory.staged_run_files``); then prints the summary table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from softmaxreg._model_file import MODEL_FILE
from softmaxreg.cli.console import console
from softmaxreg.cli.epoch_monitor import EpochHistory, loss_and_accuracy
from softmaxreg.cli.run_directory import CHECKPOINT_FILE, METRICS_FILE, staged_run_files


def hyperparameters_used(model: Any) -> dict[str, Any]:
    """The settings the fit really ran with (defaults resolved), for the report's table."""
    from softmaxreg._validation import resolve_penalty
    from softmaxreg.solvers import DEFAULT_SOLVER, MINIBATCH_SOLVERS

    params = model.get_params()
    solver = DEFAULT_SOLVER if params["solver"] == "auto" else params["solver"]
    minibatch = solver in MINIBATCH_SOLVERS
    used: dict[str, Any] = {"solver": solver + (" (auto)" if params["solver"] == "auto" else "")}
    used["epochs" if minibatch else "max_iter"] = params["max_iter"]
    used["epochs run" if minibatch else "iterations run"] = int(np.max(model.n_iter_))
    if minibatch:
        used["batch_size"] = params["batch_size"]
    if minibatch or solver == "gd":
        used["learning_rate"] = params["learning_rate"]
    penalty, _, C = resolve_penalty(model)
    used["penalty"] = "none" if penalty is None else penalty
    if penalty is not None:
        used["C"] = C
    used["tol"] = "none (every epoch runs)" if params["tol"] is None else params["tol"]
    used["multi_class"] = f"{params['multi_class']} ({model.kind_})"
    used["random_state"] = params["random_state"]
    used["device"] = params["device"]
    used["dtype"] = params["dtype"]
    return used


def keep_feature_names(model: Any, names: list[str] | None) -> None:
    """Give the model the data's column names (``/predict`` then takes named rows)."""
    if names is not None and len(names) == model.n_features_in_:
        model.feature_names_in_ = np.asarray([str(name) for name in names], dtype=object)


def finish_run(
    folder: Path,
    model: Any,
    data: Any,
    history: EpochHistory,
    *,
    unit: str,
    seconds: float,
    report: bool = True,
    train_scores: tuple[float, float] | None = None,
    n_train: int | None = None,
    extra: dict | None = None,
) -> dict:
    """Write the run folder for ``model`` fitted on ``data`` (a ``Dataset``); the summary.

    ``train_scores``/``n_train``: ``(log loss, accuracy)`` and row count of training data
    that is not in memory (shards); otherwise they are measured on ``data.X_train``.
    """
    from softmaxreg import io

    if train_scores is None:
        train_scores = loss_and_accuracy(model, data.X_train, data.y_train)
        n_train = int(data.X_train.shape[0])
    test_loss, test_accuracy = loss_and_accuracy(model, data.X_test, data.y_test)
    summary = {
        "dataset": data.name,
        "train_accuracy": train_scores[1],
        "test_accuracy": test_accuracy,
        "train_log_loss": train_scores[0],
        "test_log_loss": test_loss,
        "fit_seconds": seconds,
        "n_train": n_train,
        "n_test": int(data.X_test.shape[0]),
        "n_features": int(data.X_test.shape[1]),
        **(extra or {}),
    }
    used = hyperparameters_used(model)
    # written into a staging folder and moved into place together: a run stopped meanwhile
    # leaves no part of its results (a checkpoint, if any, stays for --resume); an earlier
    # run's pictures that this run does not draw (--no-report, sparse data) go with it
    from softmaxreg.report.file_names import FIGURE_FILES, REPORT_FILE

    earlier = (CHECKPOINT_FILE, REPORT_FILE, *FIGURE_FILES.values())
    with staged_run_files(folder, remove=earlier) as staging:
        if report:
            from softmaxreg.cli.report_writer import write_run_report

            write_run_report(staging, model, data, history, summary, used, unit)
        keep_feature_names(model, data.feature_names)
        io.save(model, staging / MODEL_FILE, preprocessing=data.preprocessing, metrics=summary)
        write_json(
            staging / METRICS_FILE,
            {"summary": summary, "hyperparameters": used, "history": history.as_dict()},
        )
    from softmaxreg.report import summary_table

    console.print(summary_table(summary))
    console.print(f"model: {folder / MODEL_FILE}")
    if report:
        console.print(f"report: {folder / 'report.html'}")
    return summary


def write_json(path: Path, values: dict) -> None:
    """``values`` as indented JSON at ``path``, written atomically."""
    from softmaxreg._atomic import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(values, handle, indent=2)
