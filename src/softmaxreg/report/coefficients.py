"""The coefficient plot: each parameter with its confidence interval, one panel per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softmaxreg.errors import DataError
from softmaxreg.report._canvas import DEFAULT_DPI, checked_png_target, new_figure, save_png
from softmaxreg.report._checks import finite_matrix

MAX_PANELS = 12


def coefficient_figure_inches(n_parameters: int, n_panels: int) -> tuple[float, float]:
    """Figure size: 3.6 inches wide per panel (at least 6), 0.28 inch per parameter row."""
    return max(6.0, 3.6 * n_panels), 1.2 + 0.28 * n_parameters


def coefficient_figure(
    coef,
    lower,
    upper,
    path,
    *,
    parameter_names,
    class_names=None,
    level: float = 0.95,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Plot ``beta_kj`` with its interval ``[lower_kj, upper_kj]`` (e.g. the Wald interval
    ``beta -+ z_{1 - alpha/2} se``) for every parameter ``j``, one panel per equation ``k``.

    coef, lower, upper: (E, p) arrays (E equations: 1 for a binary model, K-1 for a
    multinomial one against its reference class); parameter_names: p names; class_names: E
    panel titles. A vertical line marks 0 (no effect); an interval that misses it is drawn
    darker. The PNG is ``coefficient_figure_inches(p, E) * dpi`` pixels. Returns ``path``.
    """
    estimates = finite_matrix(coef, "coef")
    bounds = [finite_matrix(values, name) for values, name in ((lower, "lower"), (upper, "upper"))]
    for values, name in zip(bounds, ("lower", "upper"), strict=True):
        if values.shape != estimates.shape:
            raise DataError(f"{name} has shape {values.shape}, coef has {estimates.shape}")
    low, high = bounds
    if np.any(low > estimates) or np.any(estimates > high):
        raise DataError("every interval must contain its coefficient: lower <= coef <= upper")
    names = [str(name) for name in parameter_names]
    n_panels, n_parameters = estimates.shape
    if len(names) != n_parameters:
        raise DataError(f"parameter_names has {len(names)} names for {n_parameters} parameters")
    if not 1 <= n_panels <= MAX_PANELS:
        raise DataError(f"coef must have 1 to {MAX_PANELS} rows (one panel each), got {n_panels}")
    titles = [""] * n_panels if class_names is None else [str(name) for name in class_names]
    if len(titles) != n_panels:
        raise DataError(f"class_names has {len(titles)} names for {n_panels} panels")
    target = checked_png_target(path)

    figure = new_figure(*coefficient_figure_inches(n_parameters, n_panels), dpi=dpi)
    panels = figure.subplots(1, n_panels, squeeze=False, sharey=True)[0]
    rows = np.arange(n_parameters)[::-1]
    for axes, title, beta, below, above in zip(panels, titles, estimates, low, high, strict=True):
        significant = (below > 0) | (above < 0)
        for mask, color in ((significant, "C3"), (~significant, "0.55")):
            axes.errorbar(
                beta[mask],
                rows[mask],
                xerr=[beta[mask] - below[mask], above[mask] - beta[mask]],
                fmt="o",
                color=color,
                markersize=4,
                capsize=3,
            )
        axes.axvline(0.0, color="0.3", linewidth=0.8, linestyle="--")
        axes.set_title(title)
        axes.set_xlabel(f"coefficient ({level:.0%} interval)")
        axes.grid(True, axis="x", alpha=0.3)
    panels[0].set_yticks(rows, names)
    return save_png(figure, target)
