"""The reliability (calibration) diagram: observed frequency against predicted probability."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softmaxreg.report._canvas import DEFAULT_DPI, checked_png_target, new_figure, save_png
from softmaxreg.report.calibration import reliability_bins

RELIABILITY_INCHES = (6.0, 6.5)


def reliability_diagram_figure(
    y_true,
    proba,
    path,
    *,
    classes=None,
    n_bins: int = 10,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Plot ``observed_b`` against ``confidence_b`` per bin (see
    :func:`softmaxreg.report.reliability_bins`): on the diagonal a predicted probability p comes
    true a fraction p of the time. The lower panel counts the samples per bin (log scale). The
    title gives ``ECE = sum_b (n_b / n) |observed_b - confidence_b|``. The PNG is
    ``RELIABILITY_INCHES * dpi`` pixels (600 x 650 at dpi 100).
    """
    bins = reliability_bins(y_true, proba, classes=classes, n_bins=n_bins)
    target = checked_png_target(path)

    edges = np.asarray(bins["bin_edges"])
    centres = (edges[:-1] + edges[1:]) / 2
    width = edges[1] - edges[0]
    filled = np.array([value is not None for value in bins["observed"]])
    observed = np.array([v if v is not None else 0.0 for v in bins["observed"]])
    confidence = np.array([v if v is not None else 0.0 for v in bins["confidence"]])
    counts = np.asarray(bins["count"])
    if bins["kind"] == "binary":
        x_label = f"predicted P(y = {bins['positive_class']})"
        y_label = f"observed fraction with y = {bins['positive_class']}"
    else:
        x_label = "confidence (probability of the predicted class)"
        y_label = "accuracy"

    figure = new_figure(*RELIABILITY_INCHES, dpi=dpi)
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(
        centres[filled],
        observed[filled],
        width=width * 0.95,
        color="C0",
        alpha=0.75,
        edgecolor="C0",
        label="observed per bin",
    )
    top.plot([0, 1], [0, 1], linestyle="--", color="0.4", label="perfectly calibrated")
    top.plot(
        confidence[filled],
        observed[filled],
        marker="o",
        color="C3",
        label="(mean confidence, observed)",
    )
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel(y_label)
    top.set_title(
        f"reliability diagram ({bins['kind']}), ECE = {bins['expected_calibration_error']:.4f}"
    )
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", fontsize=9)
    bottom.bar(centres, np.maximum(counts, 0), width=width * 0.95, color="0.5")
    bottom.set_yscale("symlog", linthresh=1)
    bottom.set_ylim(bottom=0)
    bottom.set_xlabel(x_label)
    bottom.set_ylabel("samples")
    bottom.grid(True, alpha=0.3)
    return save_png(figure, target)
