"""From labels to the objectives to minimise: one binary, multinomial or multi-label problem,
or K one-vs-rest binary problems.

Each :class:`Problem` is one objective ``C * sum_i s_i * CE_i + 0.5 * ||W||^2`` of the
objective layer: its kind, its targets in the objective's encoding (``(n,)`` 0/1 floats for
"binary", ``(n,)`` class indices for "multinomial", ``(n, K)`` 0/1 for "multilabel") and its
sample weights ``s_i`` (``None`` = all 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from softmaxreg._labels import EncodedLabels
from softmaxreg._weights import balanced_class_weight, class_weight_per_class, combine_weights


@dataclass(frozen=True)
class Problem:
    """One objective to hand to a solver."""

    kind: str  # "binary", "multinomial" or "multilabel" (the objective's kinds)
    targets: np.ndarray
    sample_weight: np.ndarray | None
    n_classes: int | None = None  # multinomial: K, also when the targets lack some classes


def choose_kind(multi_class: str, n_classes: int) -> str:
    """The estimator's ``kind_`` for single-label targets with ``n_classes`` classes.

    'auto' gives "binary" (one sigmoid) for 2 classes and "multinomial" (softmax) for more;
    'ovr' with 2 classes is the same single binary problem; 'multinomial' is always softmax.
    """
    if multi_class == "multinomial":
        return "multinomial"
    if n_classes == 2:
        return "binary"
    return "ovr" if multi_class == "ovr" else "multinomial"


def check_enough_classes(labels: EncodedLabels, weights: np.ndarray | None) -> None:
    """Refuse targets with fewer than two classes (counting only classes with weight > 0)."""
    classes = labels.classes
    if len(classes) < 2:
        raise ValueError(
            "LogisticRegression needs samples of at least 2 classes in the data, but the data "
            f"contains only one class: {classes[0]!r}"
        )
    if weights is not None:
        per_class = np.bincount(labels.indices, weights=weights, minlength=len(classes))
        present = classes[per_class > 0]
        if len(present) < 2:
            raise ValueError(
                "LogisticRegression needs samples of at least 2 classes with a weight > 0, but "
                f"after applying sample_weight/class_weight only one class is left: "
                f"{list(present)}"
            )


def single_label_problems(
    kind: str,
    labels: EncodedLabels,
    sample_weight: np.ndarray | None,
    class_weight,
    *,
    given_classes: bool = False,
) -> list[Problem]:
    """The objectives for 1-D labels: one for binary/multinomial, one per class for 'ovr'.

    class_weight: a dict applies to the original labels in every case; "balanced" is
    computed over all classes for binary/multinomial, and within each one-vs-rest problem
    (positives vs the rest) for 'ovr', as scikit-learn's ``OneVsRestClassifier`` would.
    given_classes: the class set was given by the caller (a cross-validation fold, which
    may hold samples of one class only): classes without samples are fitted too, as
    scikit-learn's path does, instead of refusing fewer than two present classes.
    """
    indices, n_classes = labels.indices, len(labels.classes)
    if kind == "ovr" and isinstance(class_weight, str) and class_weight == "balanced":
        class_weights = np.ones(n_classes)
    else:
        class_weights = class_weight_per_class(class_weight, labels.classes, indices, sample_weight)
    weights = combine_weights(sample_weight, class_weights, indices)
    if not given_classes:
        check_enough_classes(labels, weights)
    if kind == "binary":
        return [Problem("binary", (indices == 1).astype(np.float64), weights)]
    if kind == "multinomial":
        return [Problem("multinomial", indices, weights, n_classes)]
    problems = []
    for k in range(n_classes):
        is_k = (indices == k).astype(np.int64)
        problem_weights = weights
        if class_weight == "balanced":
            per_side = balanced_class_weight(is_k, 2, sample_weight)
            problem_weights = combine_weights(sample_weight, per_side, is_k)
        problems.append(Problem("binary", is_k.astype(np.float64), problem_weights))
    return problems


def multilabel_problem(Y: np.ndarray, sample_weight: np.ndarray | None) -> Problem:
    """Independent sigmoids, one per column of the 0/1 indicator matrix ``Y``."""
    return Problem("multilabel", np.asarray(Y, dtype=np.float64), sample_weight)
