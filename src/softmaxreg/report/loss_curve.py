"""The loss curve: mean cross-entropy per epoch on the train and test parts (and accuracy)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softmaxreg.errors import DataError
from softmaxreg.report._canvas import DEFAULT_DPI, checked_png_target, new_figure, save_png

LOSS_CURVE_INCHES = (10.0, 4.2)


def loss_curve_figure(
    train_loss,
    path,
    *,
    test_loss=None,
    epochs=None,
    train_accuracy=None,
    test_accuracy=None,
    unit: str = "epoch",
    loss_label: str = "mean cross-entropy (log loss)",
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Plot ``L = -1/n sum_i log a_{y_i}[i]`` after each epoch (train, and test when given).

    With ``train_accuracy`` / ``test_accuracy`` a second panel shows
    ``ACC = 1/n sum_i 1[y_hat_i = y_i]``. ``epochs`` defaults to 1, 2, ...; ``unit`` names the
    x axis ("epoch" for minibatch solvers, "iteration" for full-batch ones); ``loss_label``
    names the y axis (e.g. "objective" for an estimator's ``loss_history_``). The PNG is
    ``LOSS_CURVE_INCHES * dpi`` pixels (1000 x 420 at dpi 100). Returns ``path``.
    """
    train = _series(train_loss, "train_loss")
    steps = (
        np.arange(1, train.size + 1) if epochs is None else _series(epochs, "epochs", train.size)
    )
    test = None if test_loss is None else _series(test_loss, "test_loss", train.size)
    accuracies = [
        (label, _series(values, name, train.size))
        for label, name, values in (
            ("train", "train_accuracy", train_accuracy),
            ("test", "test_accuracy", test_accuracy),
        )
        if values is not None
    ]
    target = checked_png_target(path)

    figure = new_figure(*LOSS_CURVE_INCHES, dpi=dpi)
    loss_axes, *accuracy_axes = figure.subplots(1, 2 if accuracies else 1, squeeze=False)[0]
    marker = "o" if train.size <= 40 else None
    loss_axes.plot(steps, train, marker=marker, markersize=3, label="train", color="C0")
    if test is not None:
        loss_axes.plot(steps, test, marker=marker, markersize=3, label="test", color="C1")
    loss_axes.set_title("loss per " + unit)
    loss_axes.set_xlabel(unit)
    loss_axes.set_ylabel(loss_label)
    loss_axes.grid(True, alpha=0.3)
    loss_axes.legend()
    if accuracy_axes:
        axes = accuracy_axes[0]
        for label, values in accuracies:
            color = "C0" if label == "train" else "C1"
            axes.plot(steps, 100 * values, marker=marker, markersize=3, label=label, color=color)
        axes.set_title("accuracy per " + unit)
        axes.set_xlabel(unit)
        axes.set_ylabel("accuracy (%)")
        axes.grid(True, alpha=0.3)
        axes.legend()
    for axes in (loss_axes, *accuracy_axes):
        if steps.size <= 12:
            axes.set_xticks(steps)
    return save_png(figure, target)


def _series(values, name: str, length: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise DataError(
            f"{name} must be a non-empty 1-D sequence of numbers, got shape {array.shape}"
        )
    if length is not None and array.size != length:
        raise DataError(
            f"{name} has {array.size} values, train_loss has {length}; give one per step"
        )
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name} contains NaN or inf (did training diverge? try a smaller --lr)")
    return array
