"""Classification metrics as plain, JSON-ready values (dicts of floats, ints, lists).

scikit-learn computes the numbers; this module fixes the class order, checks the inputs
early and turns NumPy types into built-ins so ``json.dumps(metrics)`` always works.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as sk_metrics

from softmaxreg.errors import DataError
from softmaxreg.report._checks import (
    as_class_names,
    as_classes,
    as_labels,
    as_probabilities,
    label_indices,
)


def accuracy(y_true, y_pred) -> float:
    """Fraction of correct labels: ``ACC = 1/n sum_i 1[y_hat_i = y_i]``."""
    truth, predicted = _paired_labels(y_true, y_pred)
    return float(sk_metrics.accuracy_score(truth, predicted))


def log_loss(y_true, proba, classes=None) -> float:
    """Mean multi-category cross-entropy ``-1/n sum_i sum_k y_k[i] log a_k[i]``.

    ``proba[i, k] = a_k[i]`` is the predicted probability of ``classes[k]`` (the columns of
    ``predict_proba``); ``classes`` defaults to the sorted labels of ``y_true``.
    """
    truth = as_labels(y_true, "y_true")
    class_labels = as_classes(classes, [truth])
    probabilities = as_probabilities(proba, truth.size, class_labels.size, "proba")
    label_indices(truth, class_labels, "y_true")
    return float(sk_metrics.log_loss(truth, probabilities, labels=class_labels))


def confusion_matrix(y_true, y_pred, classes=None) -> np.ndarray:
    """Counts ``C[j, k] = #{i : y_i = classes[j] and y_hat_i = classes[k]}`` (rows: truth)."""
    truth, predicted = _paired_labels(y_true, y_pred)
    class_labels = as_classes(classes, [truth, predicted])
    label_indices(truth, class_labels, "y_true")
    label_indices(predicted, class_labels, "y_pred")
    return sk_metrics.confusion_matrix(truth, predicted, labels=class_labels).astype(np.int64)


def classification_metrics(
    y_true,
    y_pred=None,
    proba=None,
    *,
    classes=None,
    class_names=None,
) -> dict:
    """Accuracy, log loss, per-class precision / recall / F1 / support, confusion matrix.

    Per class k: ``precision_k = TP_k / (TP_k + FP_k)``, ``recall_k = TP_k / (TP_k + FN_k)``,
    ``F1_k = 2 precision_k recall_k / (precision_k + recall_k)`` (0 where undefined),
    ``support_k = #{i : y_i = k}``. ``y_pred`` defaults to ``classes[argmax_k proba[i, k]]``;
    ``log_loss`` is present only when ``proba`` is given. ``class_names``: a sequence aligned
    with ``classes`` or a mapping label -> name. Returns a JSON-ready dict::

        {"n_samples", "accuracy", "log_loss"?, "classes", "class_names",
         "per_class": [{"class", "name", "precision", "recall", "f1", "support"}, ...],
         "macro_avg": {...}, "weighted_avg": {...}, "confusion_matrix": [[...], ...]}
    """
    truth = as_labels(y_true, "y_true")
    if y_pred is None and proba is None:
        raise DataError("give y_pred (predicted labels), proba (class probabilities) or both")
    known = [truth] if y_pred is None else [truth, as_labels(y_pred, "y_pred")]
    class_labels = as_classes(classes, known)
    label_indices(truth, class_labels, "y_true")
    probabilities = None
    if proba is not None:
        probabilities = as_probabilities(proba, truth.size, class_labels.size, "proba")
    if y_pred is None:
        predicted = class_labels[np.argmax(probabilities, axis=1)]
    else:
        truth, predicted = _paired_labels(truth, y_pred)
        label_indices(predicted, class_labels, "y_pred")
    names = as_class_names(class_names, class_labels)

    precision, recall, f1, support = sk_metrics.precision_recall_fscore_support(
        truth, predicted, labels=class_labels, zero_division=0
    )
    per_class = [
        {
            "class": label,
            "name": name,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for label, name, p, r, f, s in zip(
            class_labels.tolist(), names, precision, recall, f1, support, strict=True
        )
    ]
    result = {
        "n_samples": int(truth.size),
        "accuracy": float(sk_metrics.accuracy_score(truth, predicted)),
    }
    if probabilities is not None:
        result["log_loss"] = float(sk_metrics.log_loss(truth, probabilities, labels=class_labels))
    result.update(
        classes=class_labels.tolist(),
        class_names=names,
        per_class=per_class,
        macro_avg=_average(truth, predicted, class_labels, "macro"),
        weighted_avg=_average(truth, predicted, class_labels, "weighted"),
        confusion_matrix=sk_metrics.confusion_matrix(truth, predicted, labels=class_labels)
        .astype(int)
        .tolist(),
    )
    return result


def _average(truth, predicted, class_labels, average: str) -> dict:
    precision, recall, f1, _ = sk_metrics.precision_recall_fscore_support(
        truth, predicted, labels=class_labels, average=average, zero_division=0
    )
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "support": int(truth.size),
    }


def _paired_labels(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    truth = as_labels(y_true, "y_true")
    predicted = as_labels(y_pred, "y_pred")
    if truth.shape != predicted.shape:
        raise DataError(
            f"y_true and y_pred must have the same length, got {truth.size} and {predicted.size}"
        )
    return truth, predicted
