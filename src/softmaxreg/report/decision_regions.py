"""Decision regions of a linear classifier on 2-D data (the lecture's toy figure)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap, to_rgb

from softmaxreg.errors import DataError
from softmaxreg.report._canvas import DEFAULT_DPI, checked_png_target, new_figure, save_png
from softmaxreg.report._checks import (
    as_class_names,
    as_classes,
    as_labels,
    finite_matrix,
    label_indices,
)

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def decision_regions_inches(n_panels: int) -> tuple[float, float]:
    """Figure size in inches: 6 x 5 for one panel (train), 11 x 5 for two (train and test)."""
    return (6.0, 5.0) if n_panels == 1 else (11.0, 5.0)


def linear_predict_indices(X, coef, intercept) -> np.ndarray:
    """Class index of each row: ``z = X W^T + b``; one output column: ``1[z > 0]``
    (sigma(z) > 0.5), else ``argmax_k z_k`` (softmax and one-vs-all both pick the top score)."""
    scores = np.asarray(X, dtype=np.float64) @ coef.T + intercept
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0).astype(np.int64)
    return np.argmax(scores, axis=1)


def decision_regions_figure(
    X,
    y,
    coef,
    intercept,
    path,
    *,
    classes=None,
    class_names=None,
    X_test=None,
    y_test=None,
    feature_names=None,
    resolution: int = 300,
    dpi: int = DEFAULT_DPI,
) -> Path:
    """Colour the plane by the predicted class of a linear model and draw the data on it.

    ``coef`` W (K x 2, or 1 x 2 for binary) and ``intercept`` b (K,) define
    ``z = W x + b``; see :func:`linear_predict_indices`. For one output column the boundary
    ``w_1 x_1 + w_2 x_2 + b = 0`` is drawn as a black line. ``classes[k]`` is the label of
    column k (default: the sorted labels of y). With ``X_test`` / ``y_test`` a second panel
    shows the test part on the same regions. The PNG is ``decision_regions_inches(panels) *
    dpi`` pixels (600 x 500 or 1100 x 500 at dpi 100).
    """
    points = _two_columns(X, "X")
    labels = as_labels(y, "y")
    if labels.size != points.shape[0]:
        raise DataError(f"X has {points.shape[0]} rows and y {labels.size} labels")
    panels = [("train", points, labels)]
    if (X_test is None) != (y_test is None):
        raise DataError("give both X_test and y_test, or neither")
    if X_test is not None:
        test_points, test_labels = _two_columns(X_test, "X_test"), as_labels(y_test, "y_test")
        if test_labels.size != test_points.shape[0]:
            raise DataError(f"X_test has {test_points.shape[0]} rows and y_test {test_labels.size}")
        panels.append(("test", test_points, test_labels))
    class_labels = as_classes(classes, [p[2] for p in panels])
    weights = finite_matrix(coef, "coef")
    bias = finite_matrix(intercept, "intercept", ndim=1)
    if weights.shape[1] != 2 or weights.shape[0] != bias.size:
        raise DataError(
            f"coef must be (K, 2) with intercept (K,) for 2-D data, got {weights.shape} and "
            f"{bias.shape}"
        )
    expected_outputs = 1 if class_labels.size == 2 and weights.shape[0] == 1 else class_labels.size
    if weights.shape[0] != expected_outputs:
        raise DataError(
            f"coef has {weights.shape[0]} rows for {class_labels.size} classes; a binary model "
            "has 1 row, a K-class model K rows"
        )
    names = as_class_names(class_names, class_labels)
    axis_names = ["x1", "x2"] if feature_names is None else [str(f) for f in feature_names]
    if len(axis_names) != 2:
        raise DataError(f"feature_names must name the 2 features, got {axis_names}")
    if not isinstance(resolution, int | np.integer) or resolution < 10:
        raise DataError(f"resolution must be an integer >= 10, got {resolution!r}")
    target = checked_png_target(path)

    everything = np.vstack([p[1] for p in panels])
    low, high = everything.min(axis=0), everything.max(axis=0)
    pad = np.maximum(0.08 * (high - low), 0.5)
    grid_x1 = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    grid_x2 = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    mesh_x1, mesh_x2 = np.meshgrid(grid_x1, grid_x2)
    plane = np.column_stack([mesh_x1.ravel(), mesh_x2.ravel()])
    regions = linear_predict_indices(plane, weights, bias).reshape(mesh_x1.shape)

    palette = [f"C{k % 10}" for k in range(class_labels.size)]
    light = ListedColormap([_lighten(color, 0.72) for color in palette])
    figure = new_figure(*decision_regions_inches(len(panels)), dpi=dpi)
    for axes, (part, part_points, part_labels) in zip(
        figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        indices = label_indices(part_labels, class_labels, f"y ({part})")
        axes.imshow(
            regions,
            cmap=light,
            vmin=-0.5,
            vmax=class_labels.size - 0.5,
            origin="lower",
            extent=(grid_x1[0], grid_x1[-1], grid_x2[0], grid_x2[-1]),
            aspect="auto",
            interpolation="nearest",
        )
        if weights.shape[0] == 1:
            score = (plane @ weights.T + bias).reshape(mesh_x1.shape)
            axes.contour(mesh_x1, mesh_x2, score, levels=[0.0], colors="black", linewidths=1.8)
            axes.plot([], [], color="black", label="boundary z = 0")
        else:
            scores = (plane @ weights.T + bias).reshape(*mesh_x1.shape, -1)
            for k in range(class_labels.size):
                # region k's edge: z_k - max_{j != k} z_j = 0 (exact, not the pixel staircase)
                margin = scores[..., k] - np.delete(scores, k, axis=-1).max(axis=-1)
                if margin.min() < 0 < margin.max():
                    axes.contour(
                        mesh_x1, mesh_x2, margin, levels=[0.0], colors="0.25", linewidths=1.0
                    )
        for k, name in enumerate(names):
            chosen = indices == k
            axes.scatter(
                part_points[chosen, 0],
                part_points[chosen, 1],
                s=36,
                c=palette[k],
                marker=MARKERS[k % len(MARKERS)],
                edgecolors="black",
                linewidths=0.6,
                label=name,
            )
        accuracy = float(np.mean(linear_predict_indices(part_points, weights, bias) == indices))
        axes.set_title(f"decision regions, {part} ({part_labels.size} points, acc {accuracy:.1%})")
        axes.set_xlabel(axis_names[0])
        axes.set_ylabel(axis_names[1])
        axes.set_xlim(grid_x1[0], grid_x1[-1])
        axes.set_ylim(grid_x2[0], grid_x2[-1])
        axes.legend(loc="best", fontsize=9, framealpha=0.85)
    return save_png(figure, target)


def _two_columns(X, name: str) -> np.ndarray:
    dense = X.toarray() if hasattr(X, "toarray") else X
    points = finite_matrix(dense, name)
    if points.shape[1] != 2 or points.shape[0] == 0:
        raise DataError(
            f"{name} must be (n, 2): decision regions are drawn for 2-D data only, "
            f"got shape {points.shape}"
        )
    return points


def _lighten(color: str, amount: float) -> tuple[float, float, float]:
    red, green, blue = to_rgb(color)
    return tuple(channel + (1.0 - channel) * amount for channel in (red, green, blue))
