"""``softmaxreg train DATASET``: fit a model, show progress, save it with its report.

With no options, ``softmaxreg train mnist`` is the lecture's model and recipe: softmax
regression, zero init, minibatch SGD with ``eta = 0.1``, batch size 256, 25 epochs, shuffled
each epoch, no penalty. ``--C`` adds scikit-learn's penalty ``0.5 * ||W||^2`` with weight
``C`` on the data term; ``--solver lbfgs`` (or newton-cg, gd) fits the same objective full batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from softmaxreg.cli.app import app
from softmaxreg.cli.console import error_console
from softmaxreg.cli.epoch_monitor import EpochHistory, EpochMonitor
from softmaxreg.cli.run_directory import (
    CHECKPOINT_FILE,
    is_shards_folder,
    prepare_output_folder,
)
from softmaxreg.cli.run_outputs import finish_run
from softmaxreg.errors import DataError
from softmaxreg.io import MODEL_FILE

MINIBATCH_SOLVERS = ("sgd", "sample-sgd")
LECTURE_EPOCHS = 25


@dataclass(frozen=True)
class TrainingOptions:
    """Everything ``train`` was asked for, stored in checkpoints so ``--resume`` can continue."""

    dataset: str
    solver: str
    epochs: int | None
    batch_size: int
    learning_rate: float
    C: float | None
    seed: int
    device: str
    dtype: str
    target: str | None
    test_file: str | None
    multi_class: str
    checkpoint_every: int = 0
    tol: float | None = None
    validation: str | None = None

    def estimator_params(self) -> dict:
        minibatch = self.solver in MINIBATCH_SOLVERS
        params = {
            "solver": self.solver,
            "C": 1.0 if self.C is None else self.C,
            "penalty": None if self.C is None else "l2",
            "random_state": self.seed,
            "device": self.device,
            "dtype": self.dtype,
            "multi_class": self.multi_class,
        }
        if minibatch:
            params.update(
                max_iter=self.epochs or LECTURE_EPOCHS,
                tol=self.tol,
                batch_size=self.batch_size,
                learning_rate=self.learning_rate,
            )
        else:
            if self.epochs is not None:
                params["max_iter"] = self.epochs
            if self.tol is not None:
                params["tol"] = self.tol
            if self.solver == "gd":
                params["learning_rate"] = self.learning_rate
        return params


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise typer.BadParameter(f"must be > 0, got {value}", param_hint=name)


@app.command(short_help="Fit a model; save it with metrics and a report.")
def train(
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="DATASET",
            help="mnist, toy, iris, digits, breast_cancer, wine, or a CSV / Parquet / NPY / NPZ / "
            "LIBSVM file.",
        ),
    ],
    solver: Annotated[
        str,
        typer.Option(
            help="sgd (the lecture's minibatch SGD), sample-sgd, gd, lbfgs, newton-cg, auto."
        ),
    ] = "sgd",
    epochs: Annotated[
        int | None,
        typer.Option(help="Epochs for sgd (default 25); iteration limit for full-batch solvers."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Minibatch size for sgd.")] = 256,
    lr: Annotated[float, typer.Option(help="Learning rate eta for sgd / sample-sgd / gd.")] = 0.1,
    C: Annotated[
        float | None,
        typer.Option(
            "--C", help="Add the L2 penalty with inverse strength C (default: no penalty)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the shuffling and of the data split.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    multi_class: Annotated[str, typer.Option(help="auto, multinomial or ovr.")] = "auto",
    out: Annotated[
        Path | None,
        typer.Option(help="Run folder for model, metrics and report.", show_default="runs/DATASET"),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="Label column of a tabular file (name, or index: -1 is the last).",
            show_default="the one column named label, target, y or class",
        ),
    ] = None,
    validation: Annotated[
        str | None,
        typer.Option(
            help="Held-out part: a fraction (0.2) or a labelled file with the same columns; "
            "shards: whole shards (default one) or a file.",
            show_default="a seeded 25%; mnist, toy, iris: their own split",
            metavar="FRACTION|FILE",
        ),
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option(help="Write an atomic checkpoint every N epochs (minibatch solvers).")
    ] = 0,
    resume: Annotated[
        Path | None, typer.Option(help="Continue the run in this folder from its last checkpoint.")
    ] = None,
    report: Annotated[bool, typer.Option(help="Write the pictures and report.html.")] = True,
    tol: Annotated[
        float | None,
        typer.Option(help="Stopping tolerance (full batch: on the gradient; sgd: early stopping)."),
    ] = None,
    distributed: Annotated[
        bool, typer.Option(help="Data-parallel training under torchrun (gloo / NCCL).")
    ] = False,
    timeout: Annotated[
        float, typer.Option(help="--distributed: seconds a rank waits for the others.")
    ] = 300.0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress (bar or log lines).")
    ] = False,
) -> None:
    """Train a logistic / softmax regression model and save it with its report."""
    _check_positive("--epochs", epochs)
    _check_positive("--batch-size", batch_size)
    _check_positive("--lr", lr)
    _check_positive("--C", C)
    if checkpoint_every < 0:
        raise typer.BadParameter("must be >= 0", param_hint="--checkpoint-every")
    if checkpoint_every and solver not in MINIBATCH_SOLVERS:
        raise typer.BadParameter(
            f"checkpoints are for the minibatch solvers {', '.join(MINIBATCH_SOLVERS)}; "
            f"--solver {solver} runs full batch",
            param_hint="--checkpoint-every",
        )
    options = TrainingOptions(
        dataset,
        solver,
        epochs,
        batch_size,
        lr,
        C,
        seed,
        device,
        dtype,
        None if target is None else str(target),
        None,
        multi_class,
        checkpoint_every,
        tol,
        validation,
    )
    first_epoch, history, start = 0, EpochHistory(), None
    if resume is not None:
        options, first_epoch, history, start = _read_checkpoint(resume)
        out = resume
    folder = Path(out or Path("runs") / Path(dataset).stem)
    if distributed or is_shards_folder(dataset):
        from softmaxreg.cli.scale_out import train_at_scale

        train_at_scale(
            options, folder, distributed=distributed, timeout_s=timeout, report=report, quiet=quiet
        )
        return
    folder = prepare_output_folder(folder)
    run_training(options, folder, first_epoch, history, start, report=report, quiet=quiet)


def run_training(
    options: TrainingOptions,
    folder: Path,
    first_epoch: int = 0,
    history: EpochHistory | None = None,
    start=None,
    *,
    report: bool = True,
    quiet: bool = False,
):
    """Load data, fit with progress and checkpoints, save model, metrics and report."""
    from softmaxreg import io
    from softmaxreg.cli.training_data import load_training_data
    from softmaxreg.estimator import LogisticRegression

    data = load_training_data(options)
    _check_test_labels(data.y_train, data.y_test)
    params = options.estimator_params()
    minibatch = options.solver in MINIBATCH_SOLVERS
    total = params.get("max_iter") or LogisticRegression().max_iter
    if first_epoch >= total:
        raise DataError(
            f"the checkpoint in {str(folder)!r} is at epoch {first_epoch}, the run asked for "
            f"{total}: nothing is left to train"
        )
    model = LogisticRegression(**params)
    if start is not None:
        model.set_params(warm_start=True)
        model.classes_, model.kind_ = start.classes_, start.kind_
        model.coef_, model.intercept_ = start.coef_, start.intercept_

    def write_checkpoint(snapshot, epoch: int, epochs_so_far: EpochHistory) -> None:
        io.save(
            snapshot,
            folder / CHECKPOINT_FILE,
            preprocessing=data.preprocessing,
            metrics={
                "checkpoint_epoch": epoch,
                "options": options.__dict__,
                "history": epochs_so_far.as_dict(),
            },
        )

    unit = "epoch" if minibatch else "iteration"
    monitor = EpochMonitor(
        total_epochs=total,
        unit=unit,
        X_train=data.X_train,
        y_train=data.y_train,
        X_test=data.X_test,
        y_test=data.y_test,
        console=error_console,
        quiet=quiet,
        checkpoint_every=options.checkpoint_every,
        write_checkpoint=write_checkpoint,
        history=history,
        first_epoch=first_epoch,
    )
    started = time.perf_counter()
    with monitor:
        model.fit(
            data.X_train,
            data.y_train,
            callback=monitor,
            batch_callback=monitor.batch_done if minibatch else None,
            initial_epoch=first_epoch,
        )
    seconds = time.perf_counter() - started

    summary = finish_run(
        folder, model, data, monitor.history, unit=unit, seconds=seconds, report=report
    )
    (folder / CHECKPOINT_FILE).unlink(missing_ok=True)
    return model, summary


def _check_test_labels(y_train: np.ndarray, y_test: np.ndarray) -> None:
    unseen = np.setdiff1d(np.unique(y_test), np.unique(y_train))
    if unseen.size:
        raise DataError(
            f"the test part has labels that never occur in the training part: "
            f"{unseen.tolist()[:10]}; use a larger training part or a stratified split"
        )


def _read_checkpoint(folder: Path):
    from softmaxreg import io

    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        done = Path(folder) / MODEL_FILE
        hint = " (its run already finished)" if done.exists() else ""
        raise DataError(f"--resume {str(folder)!r}: there is no {CHECKPOINT_FILE}{hint}")
    checkpoint = io.load(path)
    saved = checkpoint.metrics_
    options = TrainingOptions(**saved["options"])
    history = EpochHistory.from_dict(saved["history"])
    return options, int(saved["checkpoint_epoch"]), history, checkpoint
