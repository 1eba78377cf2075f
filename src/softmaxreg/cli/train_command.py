"""``softmaxreg train DATASET``: fit a model, show progress, save it with its report.

With no options, ``softmaxreg train mnist`` is the lecture's model and recipe: softmax
regression, zero init, minibatch SGD with ``eta = 0.1``, batch size 256, 25 epochs, shuffled
each epoch, no penalty. ``--C`` adds scikit-learn's penalty ``0.5 * ||W||^2`` with weight
``C`` on the data term; ``--solver lbfgs`` (or newton-cg, gd) fits the same objective full batch.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from softmaxreg.cli.app import app
from softmaxreg.cli.console import error_console
from softmaxreg.cli.epoch_monitor import EpochHistory, EpochMonitor
from softmaxreg.cli.resume import (
    Checkpoint,
    check_resume_folder,
    check_same_data,
    check_same_run,
    read_checkpoint,
)
from softmaxreg.cli.run_directory import (
    CHECKPOINT_FILE,
    claimed_run_folder,
    is_shards_folder,
)
from softmaxreg.cli.run_outputs import finish_run
from softmaxreg.cli.training_data import parse_validation
from softmaxreg.errors import DataError

MINIBATCH_SOLVERS = ("sgd", "sample-sgd")
# every solver the estimator takes (softmaxreg._validation.SOLVERS), checked when the command
# line is parsed; not imported, to keep torch out of --help
SOLVERS = (
    "auto", "lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga", "gd", "sgd",
    "sample-sgd",
)  # fmt: skip
# the seeds the library takes (softmaxreg.solvers._common.MAX_SEED: NumPy's and scikit-learn's
# range), checked when the command line is parsed; not imported, to keep torch out of --help
MAX_SEED = 2**32 - 1
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
            "C": np.inf if self.C is None else self.C,  # scikit-learn 1.8+: C=inf, no penalty
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


def _check_positive(name: str, value: float | None, *, infinity: str | None = None) -> None:
    """Refuse, as the library would, a number that is not > 0: NaN too and, for floats,
    the infinities (unless ``infinity`` says what ``inf`` means for this option)."""
    if value is None:
        return
    if isinstance(value, int):  # --epochs, --batch-size: never NaN or infinite
        if value <= 0:
            raise typer.BadParameter(f"must be > 0, got {value}", param_hint=name)
        return
    if value > 0 and (math.isfinite(value) or (infinity is not None and value == math.inf)):
        return
    accepted = "must be > 0 and finite" if infinity is None else f"must be > 0 (or inf: {infinity})"
    raise typer.BadParameter(f"{accepted}, got {value}", param_hint=name)


def _check_tolerance(value: float | None) -> None:
    """``--tol``: what the library's ``check_parameters`` takes, a finite number >= 0."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be >= 0 and finite, got {value}", param_hint="--tol")


def _run_folder(value: str) -> Path:
    """``--out``: a path; an empty one (which would mean the current folder) is refused."""
    if not value.strip():
        raise typer.BadParameter(
            "must name a folder (an empty path would write into the current folder; "
            "give '.' for that)",
            param_hint="--out",
        )
    return Path(value)


@app.command(short_help="Fit a model; save it with metrics and a report.")
def train(
    ctx: typer.Context,
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
            help=(
                "sgd (the lecture's minibatch SGD), sample-sgd, gd, or scikit-learn's: auto, "
                "lbfgs, newton-cg, newton-cholesky, liblinear, sag, saga."
            )
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
    seed: Annotated[
        int,
        typer.Option(help="Seed of the shuffling and of the data split (0 to 2**32 - 1)."),
    ] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    multi_class: Annotated[str, typer.Option(help="auto, multinomial or ovr.")] = "auto",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Run folder for model, metrics and report.",
            show_default="runs/DATASET",
            parser=_run_folder,
            metavar="<path>",
        ),
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
        Path | None,
        typer.Option(
            help="Continue the run in this folder from its last checkpoint (or only write its "
            "results, when it stopped after its fit ended)."
        ),
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
    if solver not in SOLVERS:
        raise typer.BadParameter(
            f"must be one of {', '.join(SOLVERS)}; got {solver!r}", param_hint="--solver"
        )
    _check_positive("--epochs", epochs)
    _check_positive("--batch-size", batch_size)
    _check_positive("--lr", lr)
    _check_positive("--C", C, infinity="no penalty")  # the library's C: > 0, or np.inf
    if solver == "liblinear" and (C is None or math.isinf(C)):  # (the library: C=np.inf)
        raise typer.BadParameter(
            "liblinear fits penalised models only: give --C (e.g. --C 1), or another solver",
            param_hint="--solver",
        )
    _check_tolerance(tol)
    _check_positive("--timeout", timeout)
    parse_validation(validation)  # a fraction outside (0, 1): refused before any work
    if not 0 <= seed <= MAX_SEED:
        raise typer.BadParameter(
            f"must be an integer from 0 to 2**32 - 1 ({MAX_SEED}), got {seed}", param_hint="--seed"
        )
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
    if distributed:
        if resume is not None:
            raise typer.BadParameter(
                "--resume continues a one-process run; --distributed runs start anew",
                param_hint="--resume",
            )
        from softmaxreg.cli.scale_out import train_at_scale

        folder = Path(out or Path("runs") / Path(dataset).stem)
        # rank 0 alone writes: it holds the folder as a one-process run does (removed again
        # when the run fails before writing into it); the other ranks never touch it
        main = int(os.environ.get("RANK", "0")) == 0
        with claimed_run_folder(folder) if main else contextlib.nullcontext(folder) as folder:
            train_at_scale(
                options, folder, distributed=True, timeout_s=timeout, report=report, quiet=quiet
            )
        return
    if resume is not None:
        check_resume_folder(resume, out)
    folder = resume if resume is not None else Path(out or Path("runs") / Path(dataset).stem)
    # the folder is locked for the whole run (a second train to it is refused); a folder made
    # here is removed again when the run fails before anything is written into it
    flag = "--out" if resume is None else "--resume"
    with claimed_run_folder(folder, flag) as folder:
        checkpoint = None
        if resume is not None:
            checkpoint = read_checkpoint(folder)
            check_same_run(ctx, options, checkpoint.options, folder)
            options = checkpoint.options
        if is_shards_folder(options.dataset):
            from softmaxreg.cli.scale_out import train_at_scale

            train_at_scale(
                options, folder, distributed=False, timeout_s=timeout, report=report, quiet=quiet
            )
            return
        run_training(options, folder, checkpoint, report=report, quiet=quiet)


def run_training(
    options: TrainingOptions,
    folder: Path,
    checkpoint: Checkpoint | None = None,
    *,
    report: bool = True,
    quiet: bool = False,
):
    """Load data, fit with progress and checkpoints, save model, metrics and report.

    Resuming from ``checkpoint`` continues the fit after its epoch; a checkpoint of the last
    epoch (a run stopped between its last checkpoint and its final save) is finished
    without more training.
    """
    from softmaxreg import io
    from softmaxreg.cli.training_data import load_training_data
    from softmaxreg.estimator import LogisticRegression

    data = load_training_data(options)
    _check_test_labels(data.y_train, data.y_test)
    _check_one_problem(options, data.y_train)
    if checkpoint is not None:
        check_same_data(checkpoint, data, folder)
        ended = checkpoint.fit_done or checkpoint.epoch >= checkpoint.total_epochs
        error_console.print(
            f"resuming {folder} at epoch {checkpoint.epoch} of {checkpoint.total_epochs}"
            + ("; the fit had ended, writing its results" if ended else "")
        )
    params = options.estimator_params()
    minibatch = options.solver in MINIBATCH_SOLVERS
    total = params.get("max_iter") or LogisticRegression().max_iter
    first_epoch = 0 if checkpoint is None else checkpoint.epoch
    history = EpochHistory() if checkpoint is None else checkpoint.history

    def write_checkpoint(snapshot, epoch: int, epochs_so_far: EpochHistory, done=False) -> None:
        io.save(
            snapshot,
            folder / CHECKPOINT_FILE,
            preprocessing=data.preprocessing,
            metrics={
                "checkpoint_epoch": epoch,
                "options": options.__dict__,
                "history": epochs_so_far.as_dict(),
                "n_train": int(data.X_train.shape[0]),
                "fit_done": done,
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
    if checkpoint is not None and (checkpoint.fit_done or first_epoch >= total):
        model = checkpoint.model  # the fit had ended: only the final writes are missing
        model.n_iter_ = np.array([first_epoch], dtype=np.int32)
    else:
        model = LogisticRegression(**params)
        if checkpoint is not None:
            model.set_params(warm_start=True)
            model.classes_, model.kind_ = checkpoint.model.classes_, checkpoint.model.kind_
            model.coef_, model.intercept_ = checkpoint.model.coef_, checkpoint.model.intercept_
        with monitor:
            model.fit(
                data.X_train,
                data.y_train,
                callback=monitor,
                batch_callback=monitor.batch_done if minibatch else None,
                initial_epoch=first_epoch,
            )
        if options.checkpoint_every:
            # the fit has ended (early stopping included): a kill during the writes below
            # leaves a checkpoint that --resume finishes without training on
            write_checkpoint(model, int(model.n_iter_.max()), monitor.history, done=True)
    if checkpoint is not None:
        # the objective of every epoch, those before the interruption included (as the
        # uninterrupted run records it)
        model.loss_history_ = list(monitor.history.objective)
    seconds = time.perf_counter() - started

    # (removes the checkpoint as it puts the results in place)
    summary = finish_run(
        folder, model, data, monitor.history, unit=unit, seconds=seconds, report=report
    )
    return model, summary


def _check_test_labels(y_train: np.ndarray, y_test: np.ndarray) -> None:
    unseen = np.setdiff1d(np.unique(y_test), np.unique(y_train))
    if unseen.size:
        raise DataError(
            f"the test part has labels that never occur in the training part: "
            f"{unseen.tolist()[:10]}; use a larger training part or a stratified split"
        )


def _check_one_problem(options: TrainingOptions, y: np.ndarray) -> None:
    """Checkpoints hold one fit's epoch: refuse them where one-vs-rest fits K in turn."""
    if not options.checkpoint_every or options.multi_class != "ovr" or y.ndim != 1:
        return
    n_classes = len(np.unique(y))
    if n_classes > 2:
        raise DataError(
            f"--checkpoint-every with --multi-class ovr: the {n_classes} classes are fitted "
            "one after the other, which a checkpoint's single epoch cannot resume; use "
            "--multi-class multinomial or auto"
        )
