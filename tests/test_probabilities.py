"""Probabilities that are never NaN: every prediction path against a 200-bit reference.

Issue 11: one-vs-rest ``predict_proba`` was NaN when every class's score was very negative
(each ``sigma(z_k)`` underflowed to 0 and the row was divided by its zero sum).
"""

from __future__ import annotations

import itertools
import warnings

import mpmath
import numpy as np
import pytest
import torch

from softmaxreg import LogisticRegression, nn, scratch
from softmaxreg.batch_predict import predict_block

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# scores from "certainly not" to "certainly", across every underflow threshold of float64
EXTREME_SCORES = [-1e300, -1e4, -800.0, -745.0, -38.0, -1.0, 0.0, 0.5, 38.0, 800.0, 1e4, 1e300]
# the issue's model: coefficients [[0, -1]] * 3, intercepts [0, -1, -2]
ISSUE_COEF = np.array([[0.0, -1.0]] * 3)
ISSUE_INTERCEPT = np.array([0.0, -1.0, -2.0])
ISSUE_PROBABILITIES = [0.6652, 0.2447, 0.0900]


def reference_probabilities(scores: np.ndarray, kind: str) -> np.ndarray:
    """``predict_proba`` of float64 scores, computed with 200-bit mpmath numbers."""
    with mpmath.workprec(200):
        rows = []
        for row in np.atleast_2d(scores):
            z = [mpmath.mpf(float(value)) for value in row]
            if kind == "binary":
                positive = 1 / (1 + mpmath.exp(-z[0]))
                rows.append([1 - positive, positive])
            elif kind == "multinomial":
                top = max(z)
                exps = [mpmath.exp(value - top) for value in z]
                rows.append([value / sum(exps) for value in exps])
            else:
                sigmoids = [1 / (1 + mpmath.exp(-value)) for value in z]
                if kind == "ovr":
                    sigmoids = [value / sum(sigmoids) for value in sigmoids]
                rows.append(sigmoids)
        return np.array([[float(value) for value in row] for row in rows])


def fitted(kind: str, n_features: int, n_classes: int = 3) -> LogisticRegression:
    """A fitted model of ``kind`` with ``n_features`` features (its weights are replaced)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, n_features))
    if kind == "multilabel":
        y = np.column_stack([np.arange(30) % 2, np.arange(30) // 15, (np.arange(30) // 5) % 2])
        return LogisticRegression().fit(X, y[:, :n_classes])
    n_classes = 2 if kind == "binary" else n_classes
    multi_class = "ovr" if kind == "ovr" else "auto"
    return LogisticRegression(multi_class=multi_class).fit(X, np.arange(30) % n_classes)


def scores_model(kind: str) -> LogisticRegression:
    """A model whose net inputs are its features: ``z = X I + 0``."""
    n_outputs = 1 if kind == "binary" else 3
    model = fitted(kind, n_outputs, n_outputs)
    model.coef_, model.intercept_ = np.eye(n_outputs), np.zeros(n_outputs)
    return model


def test_one_vs_rest_probabilities_of_the_issue_input_are_finite_and_right():
    model = fitted("ovr", 2)
    model.coef_, model.intercept_ = ISSUE_COEF, ISSUE_INTERCEPT
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        proba = model.predict_proba(np.array([[0.0, 800.0], [0.0, 36.0]]))
    # sigma(z_k) / sum_j sigma(z_j) -> softmax(b) = softmax([0, -1, -2]) as x_2 grows
    np.testing.assert_array_equal(np.round(proba, 4), [ISSUE_PROBABILITIES] * 2)
    np.testing.assert_allclose(
        proba, reference_probabilities(proba * 0 + [-800, -801, -802], "ovr")
    )
    np.testing.assert_allclose(proba[0], proba[1], rtol=1e-14)
    np.testing.assert_allclose(
        model.predict_log_proba(np.array([[0.0, 800.0]])), np.log(proba[:1]), rtol=1e-14
    )


@pytest.mark.parametrize("kind", ["binary", "multinomial", "ovr", "multilabel"])
def test_predict_proba_matches_a_high_precision_reference_for_extreme_scores(kind):
    model = scores_model(kind)
    width = model.coef_.shape[0]
    scores = np.array(list(itertools.product(EXTREME_SCORES, repeat=width)))
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        proba = model.predict_proba(scores)
        log_proba = model.predict_log_proba(scores)
    assert np.all(np.isfinite(proba)) and np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(
        proba, reference_probabilities(scores, kind), rtol=1e-12, atol=1e-300
    )
    if kind != "multilabel":
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-14)
        # the predicted class has the largest probability (ties: 800 and 1e4 both give 1)
        columns = np.searchsorted(model.classes_, model.predict(scores))
        np.testing.assert_array_equal(proba[np.arange(len(scores)), columns], proba.max(axis=1))
    np.testing.assert_allclose(np.exp(log_proba), proba, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("kind", ["binary", "multinomial", "ovr", "multilabel"])
def test_features_near_the_float64_limit_give_limits_not_nan(kind):
    # x W^T overflows: 1e300 * 1e10 is inf, and inf - inf inside the sum would be NaN
    model = scores_model(kind)
    width = model.coef_.shape[0]
    model.coef_ = np.hstack([2e10 * np.eye(width), -1e10 * np.eye(width)])
    model.n_features_in_ = 2 * width
    X = np.hstack([np.full((2, width), 1e300), np.full((2, width), 1e300)])
    X[1] *= -1
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        scores = model.decision_function(X)
        proba = model.predict_proba(X)
    np.testing.assert_array_equal(
        np.reshape(scores, (2, -1)), [[np.inf] * width, [-np.inf] * width]
    )
    expected = {
        "binary": [[0.0, 1.0], [1.0, 0.0]],
        "multinomial": [[1 / 3] * 3, [1 / 3] * 3],
        "ovr": [[1 / 3] * 3, [1 / 3] * 3],
        "multilabel": [[1.0] * 3, [0.0] * 3],
    }[kind]
    np.testing.assert_allclose(proba, expected, rtol=1e-15)


def test_batch_predictions_of_the_issue_model_are_finite():
    # the path of `softmaxreg predict` and of the server's /predict
    model = fitted("ovr", 2)
    model.coef_, model.intercept_ = ISSUE_COEF, ISSUE_INTERCEPT
    labels, proba = predict_block(model, np.array([[0.0, 800.0], [0.0, -800.0]]))
    np.testing.assert_array_equal(np.round(proba[0], 4), ISSUE_PROBABILITIES)
    np.testing.assert_allclose(proba[1], [1 / 3] * 3, rtol=1e-15)
    assert labels.tolist() == [0, 0]


@pytest.mark.parametrize("module", [False, True], ids=["scratch", "nn"])
def test_lecture_softmax_models_match_the_reference_for_extreme_logits(module):
    model = (nn.SoftmaxRegressionModule if module else scratch.SoftmaxRegression)(
        3, 3, dtype=torch.float64
    )
    with torch.no_grad():
        weights = model.linear.weight if module else model.weights
        weights.copy_(torch.eye(3, dtype=torch.float64))
    scores = np.array(list(itertools.product(EXTREME_SCORES, repeat=3)))
    proba = model(torch.from_numpy(scores))[1] if module else model.predict_proba(scores)
    np.testing.assert_allclose(
        proba.detach().numpy(),
        reference_probabilities(scores, "multinomial"),
        rtol=1e-12,
        atol=1e-300,
    )


def test_lecture_models_refuse_features_that_overflow_their_dtype():
    with pytest.raises(ValueError) as raised:
        scratch.SoftmaxRegression(2, 3).predict_proba(np.array([[1e300, 0.0]]))
    assert str(raised.value) == (
        "X must hold finite numbers of the model's dtype torch.float32 (largest 3.4e+38), "
        "got 1e+300"
    )
