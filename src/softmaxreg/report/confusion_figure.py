"""The confusion matrix as an annotated heat map."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softmaxreg.errors import DataError
from softmaxreg.report._canvas import DEFAULT_DPI, checked_png_target, new_figure, save_png

NORMALIZATIONS = (None, "true", "pred", "all")
ANNOTATE_UP_TO = 20
DEFAULT_TITLES = {
    None: "confusion matrix (counts)",
    "true": "confusion matrix, % of each true class (recall on the diagonal)",
    "pred": "confusion matrix, % of each predicted class (precision on the diagonal)",
    "all": "confusion matrix, % of all samples",
}
NORMALIZED_UNITS = {
    None: "count",
    "true": "% of the true class (each row sums to 100)",
    "pred": "% of the predicted class (each column sums to 100)",
    "all": "% of all samples",
}


def confusion_matrix_inches(n_classes: int) -> tuple[float, float]:
    """Figure size in inches: 7 x 6 up to 12 classes, growing 0.45 inch per class beyond."""
    extra = max(0, n_classes - 12) * 0.45
    return 7.0 + extra, 6.0 + extra


def normalize_confusion(matrix, normalize: str | None) -> np.ndarray:
    """``C[j, k] / sum_k C[j, k]`` ("true": rows, recall on the diagonal), ``/ sum_j C[j, k]``
    ("pred": columns, precision on the diagonal), ``/ sum C`` ("all"), or ``C`` (None).
    Empty rows / columns stay 0."""
    if normalize not in NORMALIZATIONS:
        raise DataError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    counts = np.asarray(matrix, dtype=np.float64)
    if normalize is None:
        return counts
    if normalize == "true":
        totals = counts.sum(axis=1, keepdims=True)
    elif normalize == "pred":
        totals = counts.sum(axis=0, keepdims=True)
    else:
        totals = np.full((1, 1), counts.sum())
    totals = np.broadcast_to(totals, counts.shape)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def confusion_matrix_figure(
    matrix,
    path,
    *,
    class_names=None,
    normalize: str | None = None,
    title: str | None = None,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Heat map of ``C[j, k] = #{i : y_i = j, y_hat_i = k}`` (rows true, columns predicted).

    ``matrix``: the K x K counts (``classification_metrics(...)["confusion_matrix"]``).
    ``normalize``: see :func:`normalize_confusion`. Every cell is annotated (counts, or
    percentages when normalised) up to 20 classes. The PNG is ``confusion_matrix_inches(K) *
    dpi`` pixels (700 x 600 for K <= 12 at dpi 100).
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise DataError(f"matrix must be a square K x K array of counts, got shape {counts.shape}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise DataError("matrix must hold non-negative counts")
    n_classes = counts.shape[0]
    names = (
        [str(k) for k in range(n_classes)] if class_names is None else [str(n) for n in class_names]
    )
    if len(names) != n_classes:
        raise DataError(f"class_names has {len(names)} names for a {n_classes}-class matrix")
    values = normalize_confusion(counts, normalize)
    target = checked_png_target(path)

    shown = 100.0 * values if normalize else values
    figure = new_figure(*confusion_matrix_inches(n_classes), dpi=dpi)
    axes = figure.subplots()
    vmax = 100.0 if normalize else max(float(shown.max()), 1.0)
    image = axes.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    colorbar = figure.colorbar(image, ax=axes, shrink=0.9)
    colorbar.set_label(NORMALIZED_UNITS[normalize])
    ticks = np.arange(n_classes)
    # rotate the column labels when the longest (about 0.085 inch per character) would
    # not fit in its cell (the axes take the figure width less ~1.5 inch for labels and bar)
    cell_inches = (figure.get_figwidth() - 1.5) / n_classes
    rotate = 0.085 * max(len(name) for name in names) + 0.1 > cell_inches
    axes.set_xticks(ticks, names, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    axes.set_yticks(ticks, names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title or DEFAULT_TITLES[normalize])
    if n_classes <= ANNOTATE_UP_TO:
        fontsize = 10 if n_classes <= 10 else 8
        for j in range(n_classes):
            for k in range(n_classes):
                value = shown[j, k]
                text = f"{value:.1f}" if normalize else f"{int(round(value))}"
                color = "white" if value > 0.55 * vmax else ("black" if value > 0 else "0.6")
                axes.text(k, j, text, ha="center", va="center", fontsize=fontsize, color=color)
    return save_png(figure, target)
