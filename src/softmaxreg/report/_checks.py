"""Early, clear refusals of bad report inputs (shared by metrics and figures)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from softmaxreg.errors import DataError


def as_labels(y, name: str) -> np.ndarray:
    """A 1-D label array, refusing anything else with a message naming ``name``."""
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise DataError(f"{name} must be a 1-D array of labels, got shape {labels.shape}")
    if labels.size == 0:
        raise DataError(f"{name} is empty: at least one sample is needed")
    return labels


def label_indices(y: np.ndarray, classes: np.ndarray, name: str) -> np.ndarray:
    """Column index ``k`` with ``classes[k] == y_i`` for every sample; unknown labels refused."""
    order = np.argsort(classes, kind="stable")
    sorted_classes = classes[order]
    try:
        positions = np.clip(np.searchsorted(sorted_classes, y), 0, len(classes) - 1)
    except TypeError:
        raise DataError(
            f"{name} labels ({y.dtype}) cannot be compared with the classes ({classes.dtype}); "
            "give labels of the same type as the classes"
        ) from None
    unknown = sorted_classes[positions] != y
    if np.any(unknown):
        missing = np.unique(y[unknown]).tolist()[:10]
        raise DataError(
            f"{name} has labels that are not among the classes {classes.tolist()[:20]}: {missing}"
        )
    return order[positions]


def as_classes(classes, y_arrays: Sequence[np.ndarray]) -> np.ndarray:
    """The class labels: ``classes`` when given (unique, 1-D), else the sorted union of ``y``."""
    if classes is None:
        return np.unique(np.concatenate([np.asarray(y) for y in y_arrays]))
    values = np.asarray(classes)
    if values.ndim != 1 or values.size == 0:
        raise DataError(f"classes must be a non-empty 1-D array, got shape {values.shape}")
    if np.unique(values).size != values.size:
        raise DataError(f"classes must be unique, got {values.tolist()[:20]}")
    return values


def as_class_names(class_names, classes: np.ndarray) -> list[str]:
    """Display names, one per class: a sequence aligned with ``classes``, or a mapping
    label -> name (labels it lacks show as themselves); the labels themselves when None."""
    if class_names is None:
        return [str(label) for label in classes.tolist()]
    if isinstance(class_names, Mapping):
        return [str(class_names.get(label, label)) for label in classes.tolist()]
    names = [str(name) for name in class_names]
    if len(names) != len(classes):
        raise DataError(
            f"class_names has {len(names)} names for {len(classes)} classes; give one per class"
        )
    return names


def as_probabilities(proba, n_samples: int, n_classes: int, name: str) -> np.ndarray:
    """An (n, K) float64 array of class probabilities whose rows sum to 1 (checked to 1e-4,
    then renormalised)."""
    values = np.asarray(proba, dtype=np.float64)
    if values.shape != (n_samples, n_classes):
        raise DataError(
            f"{name} must have shape (n_samples, n_classes) = ({n_samples}, {n_classes}), "
            f"got {values.shape}"
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0) or np.any(values > 1):
        raise DataError(f"{name} must hold probabilities in [0, 1] (no NaN or inf)")
    if not np.allclose(values.sum(axis=1), 1.0, atol=1e-4):
        raise DataError(
            f"{name} rows must sum to 1 (one probability per class, as predict_proba gives); "
            f"row sums range over [{values.sum(axis=1).min():.4g}, {values.sum(axis=1).max():.4g}]"
        )
    # float32 model outputs sum to 1 only to float32 rounding; scikit-learn's log_loss checks
    # the sum at float64 precision (and warns): the rows are renormalised in float64
    return values / values.sum(axis=1, keepdims=True)


def finite_matrix(values, name: str, ndim: int = 2) -> np.ndarray:
    """A finite float64 array with ``ndim`` dimensions."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != ndim:
        raise DataError(f"{name} must be a {ndim}-D array, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise DataError(f"{name} contains NaN or inf")
    return array


def png_path(path) -> Path:
    """A target path that names a PNG file."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise DataError(
            f"figures are written as PNG: give a path ending in .png, got {str(path)!r}"
        )
    return target
