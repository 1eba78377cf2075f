"""Labels of mixed kinds (strings, booleans, numbers) are refused, at fit and on load.

``[1, '1']`` made two classes that print alike (a CSV header ``label,p_1,p_1``) and broke
LogisticRegressionCV with a raw TypeError from sorting; ``[True, 1, 0]`` merged the samples
labelled 1 into the class ``True``. scikit-learn refuses such a y with "Mix of label input
types (string and number)"; so do both estimators, and the model-file loader refuses such
classes in a crafted file.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_model_file_contents import _good_bytes, _refused, _rewrite

from softmaxreg import LogisticRegression, LogisticRegressionCV
from softmaxreg import cv as cv_module

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


def test_a_scorer_on_labels_held_as_objects_is_refused_before_the_folds(monkeypatch):
    """scikit-learn's metrics refuse an object array of numbers ("unknown is not
    supported"), only after every fold was fitted: a given scoring is refused at once."""
    y = np.array([1, 2, 3] * 20, dtype=object)
    message = (
        "scoring='f1_macro' cannot score labels held as Python objects in an object array "
        "(scikit-learn types them 'unknown'; y[0] = 1 of type int): pass y as a numeric or "
        "string array, or leave scoring=None (accuracy)"
    )
    fits = []
    monkeypatch.setattr(cv_module, "logistic_regression_path", lambda *a, **k: fits.append(1))
    model = LogisticRegressionCV(
        cv=2, Cs=2, l1_ratios=(0.0,), scoring="f1_macro", use_legacy_attributes=False
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit(_X(len(y)), y)
    assert fits == []
    monkeypatch.undo()
    fitted = model.fit(_X(len(y)), y.astype(int))
    assert 0 <= fitted.score(_X(len(y)), y.astype(int)) <= 1
    with pytest.raises(ValueError, match=re.escape(message)):
        fitted.score(_X(len(y)), y)
