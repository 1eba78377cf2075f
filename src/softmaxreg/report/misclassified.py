"""A grid of misclassified images, each titled "pred P / true T"."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from softmaxreg._exact_json import plain_value
from softmaxreg.errors import DataError
from softmaxreg.report._canvas import DEFAULT_DPI, checked_png_target, new_figure, save_png
from softmaxreg.report._checks import as_labels

MISCLASSIFIED_COLUMNS = 5


def misclassified_inches(max_images: int) -> tuple[float, float]:
    """Figure size in inches: 5 columns of 1.7 inches, ``ceil(max_images / 5)`` rows of 1.95."""
    rows = math.ceil(max_images / MISCLASSIFIED_COLUMNS)
    return 1.7 * MISCLASSIFIED_COLUMNS, 1.95 * rows + 0.5


def misclassified_indices(y_true, y_pred, confidence=None, max_images: int = 25) -> np.ndarray:
    """Indices ``i`` with ``y_hat_i != y_i``: the most confident mistakes first when
    ``confidence[i]`` (the predicted class's probability) is given, else in data order."""
    truth = as_labels(y_true, "y_true")
    predicted = as_labels(y_pred, "y_pred")
    if truth.shape != predicted.shape:
        raise DataError(f"y_true has {truth.size} labels, y_pred {predicted.size}")
    wrong = np.flatnonzero(truth != predicted)
    if confidence is not None:
        scores = np.asarray(confidence, dtype=np.float64)
        if scores.shape != truth.shape:
            raise DataError(f"confidence must have one value per sample, got {scores.shape}")
        wrong = wrong[np.argsort(-scores[wrong], kind="stable")]
    return wrong[:max_images]


def misclassified_figure(
    images,
    y_true,
    y_pred,
    path,
    *,
    image_shape: tuple[int, int] = (28, 28),
    label_names: dict | None = None,
    confidence=None,
    max_images: int = 25,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Show up to ``max_images`` samples with ``y_hat_i != y_i``, titled "pred y_hat / true y".

    ``images``: (n, rows*cols) flattened or (n, rows, cols) pixels (any scale: each image is
    shown from its own min to max, dark ink on white, as the lecture's notebook shows digits).
    ``label_names`` maps a label to its display name. ``confidence[i]``: the probability of the
    predicted class; when given, the most confident mistakes come first and each title adds it.
    With no mistake at all the picture says so. The PNG is ``misclassified_inches(max_images)
    * dpi`` pixels (850 x 1025 for 25 images at dpi 100).
    """
    if not isinstance(max_images, int | np.integer) or max_images < 1:
        raise DataError(f"max_images must be a positive integer, got {max_images!r}")
    rows_, columns_ = (int(v) for v in image_shape)
    pixels = images.toarray() if hasattr(images, "toarray") else np.asarray(images)
    if pixels.ndim == 3:
        pixels = pixels.reshape(pixels.shape[0], -1)
    if pixels.ndim != 2 or pixels.shape[1] != rows_ * columns_:
        raise DataError(
            f"images must be (n, {rows_ * columns_}) or (n, {rows_}, {columns_}) for image_shape "
            f"{tuple(image_shape)}, got shape {np.shape(images)}"
        )
    chosen = misclassified_indices(y_true, y_pred, confidence, max_images)
    if pixels.shape[0] != np.asarray(y_true).shape[0]:
        raise DataError(f"images has {pixels.shape[0]} rows for {np.asarray(y_true).size} labels")
    truth, predicted = np.asarray(y_true), np.asarray(y_pred)
    names = label_names or {}
    target = checked_png_target(path)

    figure = new_figure(*misclassified_inches(max_images), dpi=dpi)
    n_wrong = int(np.sum(truth != predicted))
    if chosen.size == 0:
        figure.text(0.5, 0.5, "no misclassified samples", ha="center", va="center", fontsize=16)
        figure.suptitle(f"misclassified: 0 of {truth.size}", fontsize=13)
        return save_png(figure, target)
    rows = math.ceil(max_images / MISCLASSIFIED_COLUMNS)
    grid = figure.subplots(rows, MISCLASSIFIED_COLUMNS, squeeze=False)
    for slot, axes in enumerate(grid.ravel()):
        axes.set_xticks([])
        axes.set_yticks([])
        if slot >= chosen.size:
            axes.set_visible(False)
            continue
        i = chosen[slot]
        image = pixels[i].astype(np.float64).reshape(rows_, columns_)
        axes.imshow(image, cmap="gray_r", interpolation="nearest")
        pred_name = names.get(plain_value(predicted[i]), str(predicted[i]))
        true_name = names.get(plain_value(truth[i]), str(truth[i]))
        title = f"pred {pred_name} / true {true_name}"
        if confidence is not None:
            title += f"\np = {float(np.asarray(confidence)[i]):.2f}"
        axes.set_title(title, fontsize=9, color="firebrick")
    order = "most confident first" if confidence is not None else "in test order"
    figure.suptitle(
        f"misclassified: {n_wrong} of {truth.size} (showing {chosen.size}, {order})", fontsize=12
    )
    return save_png(figure, target)
