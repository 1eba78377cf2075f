"""Class labels for the estimator: original labels <-> class indices, and indicator targets.

A classifier learns on class indices ``0 .. K-1`` (what the objective's one-hot encoding
``Y[i, k] = 1 if y[i] == k`` needs) and answers in the user's own labels. Labels may be any
hashable values NumPy can hold in a 1-D array: numbers, booleans, strings, or Python objects.
Sortable labels are put in sorted order (as scikit-learn does); labels of mixed types that
cannot be compared keep the order in which they first appear. A mix of strings, booleans and
numbers is refused (:func:`refuse_mixed_label_types`), as scikit-learn refuses it: ``1`` and
``'1'`` would become two classes that print alike, and ``True`` would swallow ``1``.

A 2-D 0/1 indicator matrix ``Y`` (``n x K``, K >= 2) is a multi-label target: every column is
its own yes/no question, answered by an independent sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

from softmaxreg._exact_json import plain_value


@dataclass(frozen=True)
class EncodedLabels:
    """``classes[indices[i]] == y[i]``: the distinct labels and each sample's class index."""

    classes: np.ndarray
    indices: np.ndarray  # int64, shape (n,)


def is_indicator_target(y) -> bool:
    """True when ``y`` is 2-D with more than one column (a multi-label indicator matrix).

    A single column ``(n, 1)`` is a column vector of ordinary labels, not multi-label.
    """
    if sp.issparse(y):
        return y.shape[1] > 1
    shape = getattr(y, "shape", None)
    if shape is None:
        shape = np.shape(np.asarray(y, dtype=object))
    return len(shape) == 2 and shape[1] > 1


def check_indicator_target(Y) -> np.ndarray:
    """Return a multi-label target as a dense ``(n, K)`` array after checking it is 0/1.

    ``Y[i, k] = 1`` means sample ``i`` carries label ``k``; anything other than 0 and 1 is an
    error (a 2-D target of arbitrary values would be multi-output multi-class, which a linear
    sigmoid/softmax model of this kind does not fit).
    """
    target_type = type_of_target(Y, input_name="y")
    if target_type != "multilabel-indicator":
        raise ValueError(
            "a 2-D y must be a multi-label indicator matrix of 0s and 1s (one column per "
            f"label); got a target of type {target_type!r}. For ordinary classification "
            "pass y as a 1-D array of labels."
        )
    dense = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
    if not np.all((dense == 0) | (dense == 1)):
        raise ValueError(
            "a multi-label indicator y must hold only 0 and 1 (or False and True); got the "
            f"values {np.unique(dense).tolist()}"
        )
    return dense


def encode_labels(y: np.ndarray, classes=None) -> EncodedLabels:
    """Map labels to class indices: ``classes = unique(y)``, ``y[i] = classes[indices[i]]``.

    ``classes``: the full set of labels when ``y`` may lack some (a cross-validation fold);
    kept in the given order, and a label of ``y`` outside it is a ValueError.
    Labels of more than one kind (strings, booleans, numbers) in ``y`` or ``classes`` are a
    ValueError (:func:`refuse_mixed_label_types`), checked before anything sorts them.
    Continuous (regression) targets are refused with scikit-learn's "Unknown label type"
    error; a 1-D array of arbitrary hashable Python objects is accepted as labels, but
    not ``None`` (a missing label: ValueError naming its position).
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array, got shape {y.shape}")
    if y.dtype == object:
        _refuse_missing_labels(y)
    refuse_mixed_label_types(y)
    if classes is not None:
        refuse_mixed_label_types(classes, name="classes")
    target_type = type_of_target(y, input_name="y")
    if not (target_type == "unknown" and y.dtype == object):
        check_classification_targets(y)
    if classes is not None:
        return _encode_with(y, np.asarray(classes))
    try:
        classes, indices = np.unique(y, return_inverse=True)
    except TypeError:  # labels of mixed types that cannot be sorted
        classes, indices = _unique_in_order_of_appearance(y)
    else:
        if y.dtype == object and len(set(classes.tolist())) != len(classes):
            # '<' no total order (frozensets: subsets): equal labels sorted apart
            classes, indices = _unique_in_order_of_appearance(y)
    return EncodedLabels(classes=classes, indices=np.asarray(indices, dtype=np.int64).ravel())


def _refuse_missing_labels(y: np.ndarray) -> None:
    """ValueError naming the first ``None`` label of an object array: a missing label is no
    class (kept, it became a class of its own where it came first, and made NumPy's sort
    raise TypeError elsewhere; scikit-learn raises either, by position)."""
    for i, label in enumerate(y):
        if label is None:
            raise ValueError(
                f"y holds None (a missing label) at position {i}; labels must be numbers, "
                "strings or other values: drop or fill the rows without a label"
            )


_LABEL_KINDS = (
    ("string", (str, np.str_, bytes, np.bytes_)),
    ("boolean", (bool, np.bool_)),
    ("number", (int, float, np.number)),  # after "boolean": bool is an int
)


def _label_kind(label) -> str | None:
    """``"string"``, ``"boolean"`` or ``"number"`` for such a label; None for other objects."""
    for kind, types in _LABEL_KINDS:
        if isinstance(label, types):
            return kind
    return None


def mixed_label_types_message(labels, name: str = "y", verb: str = "holds") -> str | None:
    """The message refusing ``labels`` that mix strings, booleans and numbers, or None.

    Strings (``str``, ``np.str_``, ``bytes``), booleans (``bool``, ``np.bool_``) and numbers
    (``int``, ``float``, other ``np.number``) are three kinds of label; only an object array
    (or a list) can hold more than one, so an array of any other dtype is passed at once.
    Such a mix is refused because the kinds do not meet as labels: ``1`` and ``'1'`` become
    two classes that print alike (a CSV header ``p_1,p_1``) and cannot be sorted, while
    ``True == 1`` silently merges the samples labelled 1 into the class ``True``.
    scikit-learn refuses the same with "Mix of label input types (string and number)".
    The message names two kinds found (in the order string, boolean, number) and the first
    label of each, as ``repr`` cut to 40 characters with its type. Other objects (tuples,
    ...) are no kind here and are left to the other checks.
    """
    if isinstance(labels, np.ndarray):
        if labels.dtype != object:
            return None
        labels = labels.ravel()
    examples: dict = {}
    for label in labels:
        kind = _label_kind(label)
        if kind is not None and kind not in examples:
            examples[kind] = label
            if len(examples) == len(_LABEL_KINDS):
                break
    if len(examples) < 2:
        return None
    (first, a), (second, b) = [(k, examples[k]) for k, _ in _LABEL_KINDS if k in examples][:2]
    return (
        f"Mix of label input types ({first} and {second}): {name} {verb} {_shown(a)} and "
        f"{_shown(b)}; use one type for all labels"
    )


def refuse_mixed_label_types(labels, name: str = "y") -> None:
    """ValueError when ``labels`` mix strings, booleans and numbers (see
    :func:`mixed_label_types_message`): such labels make classes that print alike or merge
    (``1`` and ``'1'``; ``True`` and ``1``), so they are refused before anything sorts them,
    as scikit-learn refuses a "Mix of label input types"."""
    message = mixed_label_types_message(labels, name)
    if message is not None:
        raise ValueError(message)


def _shown(label) -> str:
    """``repr`` of a label (a NumPy scalar as its Python value) cut to 40 characters, and
    its type."""
    return f"{plain_value(label)!r:.40} ({type(label).__name__})"


def _encode_with(y: np.ndarray, classes: np.ndarray) -> EncodedLabels:
    if classes.ndim != 1 or len(set(classes.tolist())) != len(classes):
        raise ValueError(f"classes must be distinct labels in a 1-D array, got {classes!r}")
    present = encode_labels(y)
    try:
        positions = class_indices_of(classes, present.classes.tolist())
    except KeyError as error:
        raise ValueError(
            f"y contains labels that are not in classes: {error.args[0]} (classes: "
            f"{classes.tolist()})"
        ) from None
    return EncodedLabels(classes=classes, indices=positions[present.indices])


def _unique_in_order_of_appearance(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positions: dict = {}
    indices = np.empty(len(y), dtype=np.int64)
    for i, label in enumerate(y):
        try:
            indices[i] = positions.setdefault(label, len(positions))
        except TypeError as error:
            raise TypeError(
                f"class labels must be hashable values, got {type(label).__name__} at position {i}"
            ) from error
    classes = np.empty(len(positions), dtype=object)
    for label, position in positions.items():
        classes[position] = label
    return classes, indices


def class_indices_of(classes: np.ndarray, labels) -> np.ndarray:
    """Indices ``k`` with ``classes[k] == label`` for each of ``labels`` (KeyError names misses)."""
    labels = labels.tolist() if isinstance(labels, np.ndarray) else list(labels)
    indices = class_codes(classes, labels)
    missing = [label for label, k in zip(labels, indices.tolist(), strict=True) if k < 0]
    if missing:
        raise KeyError(missing)
    return indices


def scorable_labels(y_true, y_pred, classes: np.ndarray):
    """``(y_true, y_pred)`` as scikit-learn's metrics can read them: unchanged, except
    where ``classes`` or 1-D ``y_true`` are labels held as Python objects
    (:func:`untyped_labels`: :func:`encode_labels` accepts them, ``accuracy_score`` refuses
    them with "unknown is not supported" or "can't handle a mix of multiclass and unknown
    targets"): then both as their positions among ``classes`` (a true label outside them:
    -1, never predicted; ``y_true`` checked by :func:`true_label_codes`). Labels mixing
    strings, booleans and numbers are a ValueError (scikit-learn's metrics raise a
    TypeError from sorting some of them)."""
    if sp.issparse(y_true):  # a multi-label indicator
        return y_true, y_pred
    truth = np.asarray(y_true)
    refuse_mixed_label_types(truth)
    if not (untyped_labels(truth) or untyped_labels(np.asarray(classes))):
        return y_true, y_pred
    return true_label_codes(truth, classes), class_codes(classes, y_pred)


def true_label_codes(y_true, classes: np.ndarray) -> np.ndarray:
    """:func:`class_codes` of true labels to score, checked as ``fit`` checks ``y``: a
    column vector raveled (``column_or_1d``, scikit-learn's warning); ``None`` or NaN
    labels and labels mixing strings, booleans and numbers with each other or with
    ``classes``: ValueError."""
    truth = column_or_1d(np.asarray(y_true), warn=True)
    if truth.dtype == object:
        _refuse_missing_labels(truth)
    if truth.dtype.kind in "fO" and any(label != label for label in truth.tolist()):
        raise ValueError("Input y contains NaN.")
    both = np.concatenate([np.asarray(classes, dtype=object), truth.astype(object)])
    message = mixed_label_types_message(both, name="y and the classes", verb="hold")
    if message is not None:
        raise ValueError(message)
    return class_codes(classes, truth)


def class_codes(classes: np.ndarray, labels) -> np.ndarray:
    """Each label's position among ``classes`` (int64); -1 for a label none of them is.
    ``labels``: an array (its elements) or an iterable of labels."""
    lookup = {label: k for k, label in enumerate(np.asarray(classes).tolist())}
    labels = labels.tolist() if isinstance(labels, np.ndarray) else labels
    return np.array([lookup.get(label, -1) for label in labels], dtype=np.int64)


def untyped_labels(y: np.ndarray) -> bool:
    """Whether ``y`` is labels of arbitrary Python objects (1-D or a column): an object array that
    scikit-learn's ``type_of_target`` calls ``'unknown'`` (numbers, booleans or other
    hashables; not strings), which :func:`encode_labels` accepts and scikit-learn's
    metrics refuse."""
    if y.dtype != object or not (y.ndim == 1 or y.shape[1:] == (1,)):
        return False
    return type_of_target(y.ravel()) == "unknown"
