"""Reliability (calibration) statistics: does a predicted probability mean what it says?"""

from __future__ import annotations

import numpy as np

from softmaxreg._exact_json import plain_value
from softmaxreg.errors import DataError
from softmaxreg.report._checks import (
    as_classes,
    as_labels,
    as_probabilities,
    label_indices,
)


def reliability_bins(y_true, proba, *, classes=None, n_bins: int = 10) -> dict:
    """Bin predictions by confidence and compare mean confidence with observed frequency.

    Binary (two columns): the confidence is ``a[i] = P(y = classes[1] | x_i)`` and the
    observed value is ``1[y_i = classes[1]]`` (scikit-learn's ``calibration_curve``).
    K > 2 classes: the confidence is the top-label probability ``max_k a_k[i]`` and the
    observed value is ``1[y_hat_i = y_i]``. Bins are ``n_bins`` equal intervals of [0, 1];
    ``ECE = sum_b (n_b / n) |observed_b - confidence_b|``. Returns a JSON-ready dict with
    ``bin_edges`` (n_bins + 1), per bin ``confidence``, ``observed`` (None for empty bins)
    and ``count``, plus ``expected_calibration_error`` and ``kind`` ("binary" / "top-label").
    """
    if not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise DataError(f"n_bins must be a positive integer, got {n_bins!r}")
    truth = as_labels(y_true, "y_true")
    class_labels = as_classes(classes, [truth])
    if class_labels.size < 2:
        raise DataError("a reliability diagram needs at least two classes")
    probabilities = as_probabilities(proba, truth.size, class_labels.size, "proba")
    columns = label_indices(truth, class_labels, "y_true")
    if class_labels.size == 2:
        confidence = probabilities[:, 1]
        observed = (columns == 1).astype(np.float64)
        kind = "binary"
    else:
        confidence = probabilities.max(axis=1)
        observed = (np.argmax(probabilities, axis=1) == columns).astype(np.float64)
        kind = "top-label"
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # the same bin assignment as sklearn.calibration.calibration_curve(strategy="uniform")
    bin_ids = np.searchsorted(edges[1:-1], confidence)
    count = np.bincount(bin_ids, minlength=n_bins)
    confidence_sum = np.bincount(bin_ids, weights=confidence, minlength=n_bins)
    observed_sum = np.bincount(bin_ids, weights=observed, minlength=n_bins)
    filled = count > 0
    mean_confidence = np.divide(confidence_sum, count, out=np.zeros(n_bins), where=filled)
    mean_observed = np.divide(observed_sum, count, out=np.zeros(n_bins), where=filled)
    ece = float(np.sum(count / truth.size * np.abs(mean_observed - mean_confidence)))
    return {
        "kind": kind,
        "positive_class": plain_value(class_labels[1]) if kind == "binary" else None,
        "bin_edges": edges.tolist(),
        "confidence": _with_gaps(mean_confidence, filled),
        "observed": _with_gaps(mean_observed, filled),
        "count": count.astype(int).tolist(),
        "expected_calibration_error": ece,
    }


def _with_gaps(values: np.ndarray, filled: np.ndarray) -> list[float | None]:
    return [
        float(value) if present else None for value, present in zip(values, filled, strict=True)
    ]
