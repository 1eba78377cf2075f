"""The learned weight templates: each class's row of W shown as an image."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.colors import TwoSlopeNorm

from softmaxreg.errors import DataError
from softmaxreg.report._canvas import DEFAULT_DPI, checked_png_target, new_figure, save_png
from softmaxreg.report._checks import finite_matrix

TEMPLATE_COLUMNS = 5


def weight_templates_inches(n_classes: int) -> tuple[float, float]:
    """Figure size in inches for ``n_classes`` panels: 5 per row, 2 inches each, plus colour bar."""
    columns = min(n_classes, TEMPLATE_COLUMNS)
    rows = math.ceil(n_classes / TEMPLATE_COLUMNS)
    return 2.0 * columns + 1.0, 2.2 * rows + 0.6


def weight_templates_figure(
    coef,
    path,
    *,
    image_shape: tuple[int, int] = (28, 28),
    class_names=None,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Show each row ``w_k`` of ``W`` (K x m) as an image: ``z_k = w_k^T x + b_k`` is large
    where the image looks like this template (red: pixel raises ``z_k``, blue: lowers it).

    One diverging colour scale centred at 0 and shared by all panels, so panels compare; it
    spans the 99.5th percentile of ``|w_kj|`` (the few larger weights saturate, marked by the
    colour bar's arrows) so one outlier pixel cannot wash out every template. ``image_shape``
    must multiply to ``m``. The PNG is ``weight_templates_inches(K) * dpi`` pixels (1100 x 500
    for K = 10 at dpi 100). A binary model's single row (1 x m) with two ``class_names`` is
    titled "second (+) vs first (-)".
    """
    weights = finite_matrix(coef, "coef")
    rows_, columns_ = (int(v) for v in image_shape)
    if rows_ * columns_ != weights.shape[1]:
        raise DataError(
            f"image_shape {tuple(image_shape)} has {rows_ * columns_} pixels but coef has "
            f"{weights.shape[1]} features per class; give the shape the images were flattened from"
        )
    n_classes = weights.shape[0]
    names = _names(class_names, n_classes)
    target = checked_png_target(path)

    largest = float(np.max(np.abs(weights)))
    limit = float(np.percentile(np.abs(weights), 99.5)) or largest or 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    columns = min(n_classes, TEMPLATE_COLUMNS)
    rows = math.ceil(n_classes / TEMPLATE_COLUMNS)
    figure = new_figure(*weight_templates_inches(n_classes), dpi=dpi)
    grid = figure.subplots(rows, columns, squeeze=False)
    image = None
    for index, axes in enumerate(grid.ravel()):
        axes.set_xticks([])
        axes.set_yticks([])
        if index >= n_classes:
            axes.set_visible(False)
            continue
        image = axes.imshow(
            weights[index].reshape(rows_, columns_),
            cmap="RdBu_r",
            norm=norm,
            interpolation="nearest",
        )
        axes.set_title(names[index], fontsize=11)
    clipped = largest > limit
    colorbar = figure.colorbar(
        image,
        ax=grid.ravel().tolist(),
        shrink=0.85,
        pad=0.02,
        extend="both" if clipped else "neither",
    )
    colorbar.set_label("weight w_kj")
    figure.suptitle("learned weight templates (one row of W per class)", fontsize=13)
    return save_png(figure, target)


def _names(class_names, n_classes: int) -> list[str]:
    if class_names is None:
        return [f"class {k}" for k in range(n_classes)]
    names = [str(name) for name in class_names]
    if n_classes == 1 and len(names) == 2:  # binary: one row w, z > 0 means the second class
        return [f"{names[1]} (+) vs {names[0]} (-)"]
    if len(names) != n_classes:
        raise DataError(f"class_names has {len(names)} names for {n_classes} rows of coef")
    return names
