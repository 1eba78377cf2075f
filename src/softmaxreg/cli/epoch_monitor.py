"""Watches training epoch by epoch: progress bar, train/test metrics, checkpoints.

The estimator calls :meth:`EpochMonitor.__call__` after every epoch (minibatch solvers) or
iteration (full-batch solvers) with the model holding the current ``W`` and ``b``. The
monitor records the mean cross-entropy ``-1/n sum_i log a_{y_i}`` and the accuracy on the
train and test parts (the loss curve of the report), moves the rich progress bar, and writes
an atomic checkpoint every ``checkpoint_every`` epochs.

When the console is not a terminal (a log file, CI), there is no bar: one plain line per
epoch, or per ``PLAIN_LINE_SECONDS`` for the full-batch solvers' iterations (and the last).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PLAIN_LINE_SECONDS = 5.0


@dataclass
class EpochHistory:
    """Per-epoch figures, in the order they were measured."""

    epoch: list[int] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, list]:
        return {name: list(values) for name, values in self.__dict__.items()}

    @classmethod
    def from_dict(cls, values: dict[str, list] | None) -> EpochHistory:
        history = cls()
        for name, column in (values or {}).items():
            if hasattr(history, name):
                getattr(history, name).extend(column)
        return history


def loss_and_accuracy(model: Any, X: Any, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy ``-1/n sum_i log P(y_i | x_i)`` and accuracy of ``model`` on X, y."""
    log_probabilities = model.predict_log_proba(X)
    true_columns = np.searchsorted(model.classes_, y)
    true_log_probabilities = log_probabilities[np.arange(len(y)), true_columns]
    accuracy = float(np.mean(np.argmax(log_probabilities, axis=1) == true_columns))
    return float(-true_log_probabilities.mean()), accuracy


class EpochMonitor:
    """The estimator's ``callback``: measures, shows progress, checkpoints."""

    def __init__(
        self,
        *,
        total_epochs: int,
        unit: str,
        X_train: Any,
        y_train: np.ndarray,
        X_test: Any,
        y_test: np.ndarray,
        console: Console,
        quiet: bool = False,
        checkpoint_every: int = 0,
        write_checkpoint: Callable[[Any, int, EpochHistory], None] | None = None,
        history: EpochHistory | None = None,
        first_epoch: int = 0,
    ):
        self.X_train, self.y_train = X_train, y_train
        self.X_test, self.y_test = X_test, y_test
        self.checkpoint_every = checkpoint_every
        self.write_checkpoint = write_checkpoint
        self.history = history if history is not None else EpochHistory()
        self.started = time.perf_counter()
        self.console, self.unit, self.total = console, unit, total_epochs
        self.plain = not quiet and not console.is_terminal
        self.plain_every_s = 0.0 if unit == "epoch" else PLAIN_LINE_SECONDS
        self.last_plain: tuple[int, float] | None = None
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet or self.plain,
            transient=False,
        )
        self.task = self.progress.add_task(
            unit, total=total_epochs, completed=first_epoch, status=""
        )

    def __enter__(self) -> EpochMonitor:
        self.progress.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.progress.stop()
        history = self.history
        if self.plain and history.epoch and (self.last_plain or (None,))[0] != history.epoch[-1]:
            self._plain_line()

    def _plain_line(self) -> None:
        """``epoch 3/25  loss 0.3012  train acc 91.20%  test acc 91.50%  4.1 s`` (no bar)."""
        history = self.history
        epoch, now = history.epoch[-1], time.perf_counter()
        self.console.print(
            f"{self.unit} {epoch}/{self.total}  {self._status()}  {now - self.started:.1f} s",
            markup=False,
            highlight=False,
        )
        self.last_plain = (epoch, now)

    def _status(self) -> str:
        history = self.history
        test = f"test acc {history.test_accuracy[-1]:.2%}"
        if not history.train_loss:  # shards: the objective stands in for the training loss
            return f"objective {history.objective[-1]:.6g}  {test}"
        return (
            f"loss {history.train_loss[-1]:.4f}  train acc {history.train_accuracy[-1]:.2%}  "
            + test
        )

    def batch_done(self, epoch: int, batch: int, n_batches: int, loss: float) -> None:
        """Per-batch progress inside (1-based) ``epoch`` (minibatch solvers)."""
        completed = epoch - 1 + batch / n_batches
        self.progress.update(
            self.task,
            completed=completed,
            status=f"batch {batch}/{n_batches}  loss {loss:.4f}",
        )

    def __call__(self, model: Any, iteration: int, objective: float) -> bool:
        from softmaxreg.cli.interruption import raise_if_interrupted

        raise_if_interrupted()  # a signal whose exception Python discarded stops here
        epoch = iteration  # the solvers number a resumed run's epochs from where it stopped
        history = self.history
        history.epoch.append(epoch)
        history.objective.append(float(objective))
        if self.X_train is not None:  # training rows in memory (not shards)
            train_loss, train_accuracy = loss_and_accuracy(model, self.X_train, self.y_train)
            history.train_loss.append(train_loss)
            history.train_accuracy.append(train_accuracy)
        test_loss, test_accuracy = loss_and_accuracy(model, self.X_test, self.y_test)
        history.test_loss.append(test_loss)
        history.test_accuracy.append(test_accuracy)
        self.progress.update(self.task, completed=epoch, status=self._status())
        due = self.last_plain is None or time.perf_counter() - self.last_plain[1] >= (
            self.plain_every_s
        )
        if self.plain and due:
            self._plain_line()
        if self.write_checkpoint and self.checkpoint_every and epoch % self.checkpoint_every == 0:
            self.write_checkpoint(model, epoch, history)
        return False

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
