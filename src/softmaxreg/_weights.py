"""Sample weights and class weights: the ``s_i`` in ``C * sum_i s_i * CE_i + 0.5 * ||W||^2``.

A weight ``s_i = 2`` counts sample ``i`` twice; ``s_i = 0`` removes it. Class weights multiply
the sample weights of every sample of a class: ``s_i <- s_i * w_{y_i}``, with "balanced" giving
``w_k = sum_i s_i / (K * sum_{i: y_i = k} s_i)`` (scikit-learn's ``compute_class_weight``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from softmaxreg._labels import class_indices_of


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """Validate ``sample_weight``: ``None``, a number, or ``n_samples`` finite values >= 0.

    Returns a float64 array (a new one: the caller's array is never modified) or ``None``.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        weights = np.full(n_samples, float(sample_weight))
    else:
        try:
            weights = np.array(sample_weight, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"sample_weight must be numbers: {error}") from error
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},), one weight per sample, got shape "
            f"{weights.shape}"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("sample_weight contains NaN or infinity; weights must be finite")
    if np.any(weights < 0):
        raise ValueError("sample_weight must be >= 0 (a weight counts how often a sample occurs)")
    if not np.any(weights > 0):
        raise ValueError("sample_weight is zero for every sample; at least one weight must be > 0")
    return weights


def class_weight_per_class(
    class_weight, classes: np.ndarray, indices: np.ndarray, sample_weight: np.ndarray | None
) -> np.ndarray:
    """The weight ``w_k`` of each class ``k`` (in the order of ``classes``).

    ``class_weight`` is ``None`` (all 1), "balanced", or a dict ``{label: weight}`` (classes
    left out of the dict get weight 1; keys that are not classes of ``y`` are ignored when
    every class has a key, and refused otherwise, as scikit-learn does).
    """
    n_classes = len(classes)
    if class_weight is None:
        return np.ones(n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"class_weight must be None, 'balanced' or a dict {{label: weight}}, "
                f"got {class_weight!r}"
            )
        return balanced_class_weight(indices, n_classes, sample_weight)
    if not isinstance(class_weight, dict):
        raise ValueError(
            f"class_weight must be None, 'balanced' or a dict {{label: weight}}, "
            f"got {type(class_weight).__name__}"
        )
    # scikit-learn's rule: keys that are not classes of y are ignored (a fold of a
    # cross-validation may lack a class), unless classes are missing from the dict as well
    known = set(classes.tolist())
    present = {label: weight for label, weight in class_weight.items() if label in known}
    if len(present) != len(class_weight) and len(present) != n_classes:
        unweighted = [label for label in classes.tolist() if label not in class_weight]
        raise ValueError(
            f"The classes, {unweighted}, are not in class_weight (class_weight names "
            f"{sorted(set(class_weight) - known, key=repr)}, which are not classes of y; the "
            f"classes are {classes.tolist()})"
        )
    keys = class_indices_of(classes, list(present))
    values = np.array([float(w) for w in present.values()])
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"class weights must be finite and >= 0, got {class_weight!r}")
    weights = np.ones(n_classes)
    weights[keys] = values
    return weights


def balanced_class_weight(
    indices: np.ndarray, n_classes: int, sample_weight: np.ndarray | None
) -> np.ndarray:
    """ "balanced": ``w_k = sum_i s_i / (K * sum_{i: y_i = k} s_i)`` for classes ``0 .. K-1``.

    A class whose samples all have weight 0 gets ``w_k = 0`` (it takes no part in the fit).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = compute_class_weight(
            "balanced", classes=np.arange(n_classes), y=indices, sample_weight=sample_weight
        )
    return np.where(np.isfinite(weights), weights, 0.0)


def combine_weights(
    sample_weight: np.ndarray | None, class_weights: np.ndarray, indices: np.ndarray
) -> np.ndarray | None:
    """``s_i * w_{y_i}``; ``None`` when every weight is 1 (the unweighted objective)."""
    if sample_weight is None and np.all(class_weights == 1.0):
        return None
    base = np.ones(len(indices)) if sample_weight is None else sample_weight
    return base * class_weights[indices]
