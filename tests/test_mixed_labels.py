"""Labels of mixed kinds (strings, booleans, numbers) are refused, at fit and on load.

``[1, '1']`` made two classes that print alike (a CSV header ``label,p_1,p_1``) and broke
LogisticRegressionCV with a raw TypeError from sorting; ``[True, 1, 0]`` merged the samples
labelled 1 into the class ``True``. scikit-learn refuses such a y with "Mix of label input
types (string and number)"; so do both estimators, and the model-file loader refuses such
classes in a crafted file.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import DataConversionWarning
from test_model_file_contents import _good_bytes, _refused, _rewrite

from softmaxreg import LogisticRegression, LogisticRegressionCV

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STRING_AND_NUMBER = (
    "Mix of label input types (string and number): y holds '1' (str) and 1 (int); "
    "use one type for all labels"
)
BOOLEAN_AND_NUMBER = (
    "Mix of label input types (boolean and number): y holds True (bool) and 1 (int); "
    "use one type for all labels"
)


def _X(n=40):
    return np.random.default_rng(0).normal(size=(n, 3))


def _estimators():
    return [
        LogisticRegression(),
        LogisticRegressionCV(
            cv=2, Cs=2, l1_ratios=(0.0,), scoring=None, use_legacy_attributes=False
        ),
    ]


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([1, "1"] * 20, dtype=object), STRING_AND_NUMBER),
        (np.array([True, 1, 0, 1] * 10, dtype=object), BOOLEAN_AND_NUMBER),
    ],
    ids=["string-and-number", "boolean-and-number"],
)
def test_mixed_label_types_are_refused_at_fit(estimator, y, message):
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        estimator.fit(_X(len(y)), y)
    assert str(caught.value) == message


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_numpy_scalars_and_all_three_kinds_name_the_first_two(estimator):
    y = np.array([np.int64(2), b"x" * 60, np.bool_(False), 2] * 10, dtype=object)
    text = "Mix of label input types (string and boolean): y holds " + repr(b"x" * 60)[:40]
    text += f" (bytes) and False ({type(np.bool_(False)).__name__});"  # 'bool' in NumPy 2
    with pytest.raises(ValueError, match=re.escape(text)):
        estimator.fit(_X(len(y)), y)


def test_mixed_classes_argument_is_refused():
    with pytest.raises(ValueError, match=re.escape("(string and number): classes holds 'b'")):
        LogisticRegression().fit(
            _X(), np.array([1, 2] * 20), classes=np.array([1, 2, "b"], dtype=object)
        )


ONE_KIND = {
    "str-object": (np.array(["a", "b"] * 20, dtype=object), ["a", "b"]),
    "str": (np.array(["a", "b"] * 20), ["a", "b"]),
    "int-object": (np.array([1, 2] * 20, dtype=object), [1, 2]),
    "int": (np.array([1, 2] * 20), [1, 2]),
    "int-and-float-object": (np.array([1.5, 2] * 20, dtype=object), [1.5, 2]),
    "bool-object": (np.array([True, False] * 20, dtype=object), [False, True]),
    "bool": (np.array([True, False] * 20), [False, True]),
}


def _fits_with(model, y, classes):
    fitted = model.fit(_X(len(y)), y)
    assert fitted.classes_.tolist() == classes
    assert set(fitted.predict(_X(len(y))).tolist()) <= set(classes)


@pytest.mark.parametrize("name", list(ONE_KIND))
def test_labels_of_one_kind_still_fit(name):
    _fits_with(LogisticRegression(), *ONE_KIND[name])


# Object arrays of numbers or booleans are scikit-learn's "unknown" target type, which its
# accuracy_score refuses ("unknown is not supported"): LogisticRegressionCV's default scoring
# and .score raised it on labels that fit accepts; both score them as positions in classes_.
@pytest.mark.parametrize("name", list(ONE_KIND))
def test_labels_of_one_kind_still_fit_cv(name):
    _fits_with(_estimators()[1], *ONE_KIND[name])


@pytest.mark.parametrize("name", list(ONE_KIND))
@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_the_accuracy_of_labels_of_any_one_kind(name, estimator):
    y, _ = ONE_KIND[name]
    X, weights = _X(len(y)), np.arange(len(y)) % 3 + 1.0
    model = estimator.fit(X, y)
    hits = model.predict(X) == y
    assert model.score(X, y) == pytest.approx(hits.mean())
    weighted = np.average(hits, weights=weights)
    assert model.score(X, y, sample_weight=weights) == pytest.approx(weighted)
    if isinstance(y[0], (bool, np.bool_)):
        return  # (no third boolean: a label outside classes_ is a mix of kinds)
    unseen = y.copy()
    unseen[:4] = "c" if isinstance(y[0], str) else 7  # a label no class has: never right
    assert model.score(X, unseen) == pytest.approx(np.concatenate([[False] * 4, hits[4:]]).mean())


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_scoring_mixed_labels_is_refused(estimator):
    model = estimator.fit(_X(), np.array([1, 2] * 20, dtype=object))
    with pytest.raises(ValueError, match=re.escape(STRING_AND_NUMBER)):
        model.score(_X(), np.array([1, "1"] * 20, dtype=object))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1, "1"], "(string and number): the classes hold '1' (str) and 1 (int);"),
        ([True, 1], "(boolean and number): the classes hold True (bool) and 1 (int);"),
    ],
    ids=["string-and-number", "boolean-and-number"],
)
def test_a_model_file_with_mixed_classes_is_refused(tmp_path, values, message):
    def mix(metadata, tensors):
        metadata["classes"] = {"$ndarray": ["|O", [2], values]}

    text = _refused(
        tmp_path,
        _rewrite(_good_bytes(tmp_path), mix),
        "bad.safetensors' " + re.escape("Mix of label input types " + message),
    )
    assert text.endswith("use one type for all labels")


# Labels held as Python objects (an object array scikit-learn types 'unknown', which fit
# accepts): LogisticRegressionCV refused every given scoring, and split them unstratified
# where the same labels as ints were stratified; they are split and scored as class
# indices, so the cross-validation is the one of the same labels as ints.
def _scoring(estimator, X, y):  # a callable scorer: the share right, by hand
    return float(np.mean(estimator.predict(X) == y))


@pytest.mark.parametrize("scoring", [None, "accuracy", "neg_log_loss", "f1_macro", _scoring])
def test_cross_validating_labels_held_as_objects_is_that_of_the_same_ints(scoring):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(90, 3))
    ints = np.argmax(X + rng.gumbel(size=(90, 3)), axis=1) + 1
    fits = [
        LogisticRegressionCV(cv=3, Cs=3, l1_ratios=(0.0, 1.0), scoring=scoring,
                             use_legacy_attributes=False).fit(X, y)
        for y in (ints, ints.astype(object))
    ]  # fmt: skip
    typed, held = fits
    np.testing.assert_allclose(held.scores_, typed.scores_, rtol=1e-12)
    assert (held.C_, held.l1_ratio_) == (typed.C_, typed.l1_ratio_)
    np.testing.assert_allclose(held.coef_, typed.coef_)
    assert held.classes_.dtype == object and held.classes_.tolist() == [1, 2, 3]
    for y in (ints, ints.astype(object), ints.tolist()):
        assert held.score(X, y) == pytest.approx(typed.score(X, ints), rel=1e-12)


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: type(e).__name__)
def test_a_model_of_labels_held_as_objects_scores_them_in_any_container(estimator):
    """(scikit-learn: "Classification metrics can't handle a mix of multiclass and unknown
    targets" for the same ints in an int array.)"""
    y = np.array([1, 2, 3] * 20, dtype=object)
    model = estimator.fit(_X(len(y)), y)
    expected = np.mean(model.predict(_X(len(y))) == y)
    for same in (y.astype(int), y.tolist(), y.reshape(-1, 1)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataConversionWarning)  # (the column's)
            assert model.score(_X(len(y)), same) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["a", "b", "c"] * 20, "Mix of label input types (string and number): y and the "
                               "classes hold 'a' (str) and 1 (int); use one type for all labels"),
        ([1, 2, None] * 20, "y holds None (a missing label) at position 2;"),
        ([1, 2, float("nan")] * 20, "Input y contains NaN."),
    ],
    ids=["strings-against-ints", "None", "NaN"],
)
def test_scoring_labels_held_as_objects_refuses_what_fit_refuses(labels, message):
    model = LogisticRegression().fit(_X(60), np.array([1, 2, 3] * 20, dtype=object))
    with pytest.raises(ValueError, match=re.escape(message)):
        model.score(_X(60), np.array(labels, dtype=object))
    strings = LogisticRegression().fit(_X(60), np.array(["a", "b", "c"] * 20))
    with pytest.raises(ValueError, match="Mix of label input types"):
        strings.score(_X(60), np.array([1, 2, 3] * 20, dtype=object))


def test_labels_without_a_total_order_are_classes_once_each():
    """frozensets sort by inclusion: np.unique kept equal labels apart (3 labels, 33
    classes); they are taken in order of appearance."""
    y = np.empty(60, dtype=object)
    y[:] = [frozenset([k]) for k in np.arange(60) % 3]
    model = LogisticRegression().fit(_X(60), y)
    assert model.classes_.tolist() == [frozenset([0]), frozenset([1]), frozenset([2])]
    assert model.coef_.shape == (3, 3)
    cv = LogisticRegressionCV(
        cv=3, Cs=2, l1_ratios=(0.0,), scoring=None, use_legacy_attributes=False
    ).fit(_X(60), y)
    assert cv.classes_.tolist() == model.classes_.tolist()


def test_a_given_scoring_checks_labels_held_as_objects_as_score_does():
    """LogisticRegressionCV.score with a given scoring codes the true labels through the
    same checks as the default accuracy (a None label was scored as a wrong answer)."""
    y = np.array([1, 2, 3] * 20, dtype=object)
    model = LogisticRegressionCV(
        cv=2, Cs=2, l1_ratios=(0.0,), scoring="f1_macro", use_legacy_attributes=False
    ).fit(_X(60), y)
    missing = y.copy()
    missing[2] = None
    message = "y holds None (a missing label) at position 2;"
    with pytest.raises(ValueError, match=re.escape(message)):
        model.score(_X(60), missing)
    column = y.reshape(-1, 1).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataConversionWarning)  # (the column's)
        assert model.score(_X(60), column) == pytest.approx(model.score(_X(60), y))
