"""softmaxreg.LogisticRegression: scikit-learn's own checks, parity with scikit-learn, and
the behaviour a user relies on (labels, input kinds, weights, warm starts, multi-label, errors).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from scipy.special import logsumexp
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import softmaxreg
import softmaxreg.estimator as estimator_module
from softmaxreg import LogisticRegression
from softmaxreg.objective import LinearObjective
from softmaxreg.solvers import solve

TIGHT = {"tol": 1e-10, "max_iter": 10000}  # scikit-learn, converged
OURS_TIGHT = {"tol": 1e-8, "max_iter": 10000}  # ours, as tight as float64 gradients allow


def sklearn_objective(coef, intercept, X, y_indices, C=1.0, sample_weight=None):
    """``C * sum_i s_i * CE_i + 0.5 * ||W||^2`` in float64, computed independently with NumPy."""
    X = np.asarray(X, dtype=np.float64)
    Z = X @ coef.T + intercept
    if coef.shape[0] == 1:  # binary: CE = log(1 + e^z) - y z
        z = Z[:, 0]
        losses = np.logaddexp(0.0, z) - y_indices * z
    else:
        losses = logsumexp(Z, axis=1) - Z[np.arange(len(Z)), y_indices]
    weights = np.ones(len(X)) if sample_weight is None else sample_weight
    return C * float(weights @ losses) + 0.5 * float((coef**2).sum())


def load(name):
    """A scikit-learn bundled data set; digits and breast-cancer standardised so that
    scikit-learn's lbfgs converges to tol=1e-10."""
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    if name != "iris":
        X = StandardScaler().fit_transform(X)
    return X, y


@functools.cache
def sklearn_converged(name, C=1.0):
    """scikit-learn's converged fit (cached: the digits one takes seconds)."""
    return SklearnLogisticRegression(C=C, **TIGHT).fit(*load(name))


def relative_difference(ours, theirs):
    """``max |ours - theirs| / max |theirs|``."""
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


# ------------------------------------------------------------------------ scikit-learn checks
def test_passes_scikit_learns_check_estimator(monkeypatch):
    # check_array_api_input only runs when SCIPY_ARRAY_API is set; set it so no check is skipped
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    results = check_estimator(LogisticRegression(), on_fail=None, on_skip=None)
    not_passed = [(r["check_name"], r["status"], repr(r["exception"])) for r in results]
    not_passed = [entry for entry in not_passed if entry[1] != "passed"]
    assert len(results) >= 60
    assert not_passed == []


# ------------------------------------------------------------------------ parity
@pytest.mark.parametrize(
    ("name", "C"),
    [("iris", 1.0), ("digits", 1.0), ("breast_cancer", 1.0), ("iris", 0.1), ("breast_cancer", 0.1)],
)
def test_matches_scikit_learn_on_bundled_data(name, C):
    X, y = load(name)
    theirs = sklearn_converged(name, C)
    ours = LogisticRegression(C=C, **OURS_TIGHT).fit(X, y)
    assert ours.coef_.shape == theirs.coef_.shape
    assert ours.kind_ == ("binary" if name == "breast_cancer" else "multinomial")
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4
    assert relative_difference(ours.intercept_, theirs.intercept_) < 1e-4
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    # our objective is the same or lower than scikit-learn's at its own solution
    y_indices = np.searchsorted(ours.classes_, y)
    ours_value = sklearn_objective(ours.coef_, ours.intercept_, X, y_indices, C)
    theirs_value = sklearn_objective(theirs.coef_, theirs.intercept_, X, y_indices, C)
    assert ours_value <= theirs_value * (1 + 1e-9)
    assert ours.loss_history_[-1] == pytest.approx(ours_value, rel=1e-9)


@pytest.mark.parametrize("name", ["iris", "digits", "breast_cancer"])
def test_default_settings_converge_without_warning_near_the_optimum(name):
    X, y = load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = LogisticRegression().fit(X, y)
    optimum = sklearn_converged(name)
    best = sklearn_objective(optimum.coef_, optimum.intercept_, X, y)
    reached = sklearn_objective(ours.coef_, ours.intercept_, X, y)
    assert best * (1 - 1e-9) <= reached <= best * (1 + 1e-3)
    np.testing.assert_array_equal(ours.predict(X), optimum.predict(X))
    assert ours.n_iter_.shape == (1,) and ours.n_iter_[0] >= 1


def test_one_vs_rest_matches_scikit_learns_one_vs_rest_classifier():
    X, y = load("iris")
    ours = LogisticRegression(multi_class="ovr", **OURS_TIGHT).fit(X, y)
    theirs = OneVsRestClassifier(SklearnLogisticRegression(**TIGHT)).fit(X, y)
    their_coef = np.vstack([e.coef_ for e in theirs.estimators_])
    their_intercept = np.concatenate([e.intercept_ for e in theirs.estimators_])
    assert ours.kind_ == "ovr" and ours.coef_.shape == (3, 4) and ours.n_iter_.shape == (3,)
    assert relative_difference(ours.coef_, their_coef) < 1e-4
    assert relative_difference(ours.intercept_, their_intercept) < 1e-4
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)
    np.testing.assert_allclose(ours.decision_function(X), theirs.decision_function(X), atol=1e-3)
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    # the one-vs-rest objective is the sum of the K binary objectives
    total = sum(
        sklearn_objective(ours.coef_[k : k + 1], ours.intercept_[k : k + 1], X, y == k)
        for k in range(3)
    )
    assert ours.loss_history_[-1] == pytest.approx(total, rel=1e-9)


def test_one_vs_rest_balanced_class_weight_matches_scikit_learn():
    X, y = load("iris")
    keep = np.r_[0:50, 50:70, 100:150]  # unbalanced: 50 / 20 / 50
    X, y = X[keep], y[keep]
    ours = LogisticRegression(multi_class="ovr", class_weight="balanced", **OURS_TIGHT).fit(X, y)
    theirs = OneVsRestClassifier(SklearnLogisticRegression(class_weight="balanced", **TIGHT)).fit(
        X, y
    )
    their_coef = np.vstack([e.coef_ for e in theirs.estimators_])
    assert relative_difference(ours.coef_, their_coef) < 1e-4
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)


def test_balanced_class_weight_with_sample_weight_matches_scikit_learn():
    X, y = load("digits")
    rng = np.random.default_rng(0)
    keep = rng.random(len(y)) < np.where(y < 3, 0.1, 0.4)  # classes 0, 1, 2 are rarer
    X, y = X[keep], y[keep]
    weights = rng.uniform(0.5, 2.0, size=len(y))
    ours = LogisticRegression(class_weight="balanced", **OURS_TIGHT).fit(
        X, y, sample_weight=weights
    )
    theirs = SklearnLogisticRegression(class_weight="balanced", **TIGHT).fit(
        X, y, sample_weight=weights
    )
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)


def test_unpenalised_and_no_intercept_match_scikit_learn():
    X, y = load("breast_cancer")
    X = X[:, :5]  # separable with all 30 features; 5 keep the unpenalised optimum finite
    # scikit-learn >= 1.8 spells "no penalty" C=inf ('penalty' is deprecated there)
    for options, sklearn_options in (
        ({"C": np.inf}, {"C": np.inf}),
        ({"fit_intercept": False}, {"fit_intercept": False}),
    ):
        ours = LogisticRegression(**options, **OURS_TIGHT).fit(X, y)
        theirs = SklearnLogisticRegression(**sklearn_options, **TIGHT).fit(X, y)
        assert relative_difference(ours.coef_, theirs.coef_) < 1e-4
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-6)
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)


def test_multinomial_with_two_classes_is_binary_with_twice_the_C():
    # softmax over 2 classes with penalty 0.5(||w_0||^2 + ||w_1||^2): at the optimum
    # w_0 = -w_1, so w = w_1 - w_0 sees the penalty 0.25 ||w||^2 = 0.5 ||w||^2 / 2
    X, y = load("breast_cancer")
    softmax_fit = LogisticRegression(multi_class="multinomial", C=0.5, **OURS_TIGHT).fit(X, y)
    sigmoid_fit = LogisticRegression(C=1.0, **OURS_TIGHT).fit(X, y)
    assert softmax_fit.kind_ == "multinomial" and softmax_fit.coef_.shape == (1, 30)
    assert relative_difference(softmax_fit.coef_, sigmoid_fit.coef_) < 1e-5
    np.testing.assert_allclose(
        softmax_fit.predict_proba(X), sigmoid_fit.predict_proba(X), atol=1e-6
    )


# ------------------------------------------------------------------------ solvers and dtypes
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_full_batch_solvers_agree_with_scikit_learn(solver):
    X, y = load("iris")
    ours = LogisticRegression(solver=solver, tol=1e-8, max_iter=10000).fit(X, y)
    theirs = SklearnLogisticRegression(**TIGHT).fit(X, y)
    assert relative_difference(ours.coef_, theirs.coef_) < 1e-4


def test_sgd_is_reproducible_with_a_seed_and_learns():
    X, y = load("digits")
    options = {
        "solver": "sgd",
        "max_iter": 5,
        "tol": None,
        "batch_size": 64,
        "learning_rate": 0.1,
        "random_state": 7,
    }
    first = LogisticRegression(**options).fit(X, y)
    second = LogisticRegression(**options).fit(X, y)
    np.testing.assert_array_equal(first.coef_, second.coef_)
    assert len(first.loss_history_) == 5 and first.n_iter_[0] == 5
    assert first.loss_history_[-1] < first.loss_history_[0]
    assert first.score(X, y) > 0.9
    other_seed = LogisticRegression(**{**options, "random_state": 8}).fit(X, y)
    assert not np.array_equal(first.coef_, other_seed.coef_)


def _record_objective_dtypes(monkeypatch):
    seen = []
    real = estimator_module.LinearObjective

    def recording(*args, **kwargs):
        seen.append(kwargs["dtype"])
        return real(*args, **kwargs)

    monkeypatch.setattr(estimator_module, "LinearObjective", recording)
    return seen


def test_dtype_follows_the_input_unless_given(monkeypatch):
    seen = _record_objective_dtypes(monkeypatch)
    X, y = load("iris")
    LogisticRegression().fit(X.astype(np.float32), y)
    LogisticRegression().fit(X.astype(np.float64), y)
    LogisticRegression().fit(X.astype(np.int64), y)
    LogisticRegression(dtype="float64").fit(X.astype(np.float32), y)
    LogisticRegression(dtype="float32").fit(X, y)
    assert seen == [torch.float32, torch.float64, torch.float64, torch.float64, torch.float32]


def test_float32_fit_is_close_to_float64_and_keeps_scikit_learns_dtypes():
    X, y = load("digits")
    X32 = X.astype(np.float32)
    single = LogisticRegression(tol=1e-5).fit(X32, y)
    double = LogisticRegression(tol=1e-5).fit(X, y)
    assert relative_difference(single.coef_, double.coef_) < 1e-3
    # float32 in -> float32 parameters and outputs (scikit-learn's rule); float64 otherwise
    outputs = [
        single.decision_function(X32),
        single.predict_proba(X32),
        single.predict_log_proba(X32),
    ]
    assert [a.dtype for a in [single.coef_, single.intercept_, *outputs]] == [np.float32] * 5
    outputs = [double.decision_function(X), double.predict_proba(X)]
    assert [a.dtype for a in [double.coef_, double.intercept_, *outputs]] == [np.float64] * 4
    # float64 data on a float32 model computes in float64
    assert single.predict_proba(X).dtype == np.float64
    # liblinear keeps float64 parameters, as scikit-learn's does
    binary = y < 5
    assert LogisticRegression(solver="liblinear").fit(X32, binary).coef_.dtype == np.float64


# ------------------------------------------------------------------------ labels and input kinds
def test_string_labels_round_trip():
    X, y = load("iris")
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    by_name = LogisticRegression(**OURS_TIGHT).fit(X, names)
    by_index = LogisticRegression(**OURS_TIGHT).fit(X, y)
    np.testing.assert_array_equal(by_name.classes_, ["setosa", "versicolor", "virginica"])
    np.testing.assert_allclose(by_name.coef_, by_index.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(by_name.predict(X), by_name.classes_[by_index.predict(X)])
    assert by_name.score(X, names) == by_index.score(X, y)


def test_binary_string_labels_and_mixed_hashable_labels():
    X, y = load("breast_cancer")
    words = np.where(y == 1, "benign", "malignant")
    fitted = LogisticRegression().fit(X, words)
    np.testing.assert_array_equal(fitted.classes_, ["benign", "malignant"])
    # the second class in sorted order is the positive one: predicted when z > 0
    z = fitted.decision_function(X)
    np.testing.assert_array_equal(fitted.predict(X), np.where(z > 0, "malignant", "benign"))
    assert fitted.score(X, words) > 0.95
    # labels that cannot be sorted keep the order in which they first appear
    X, y = load("iris")
    labels = np.empty(3, dtype=object)
    labels[:] = [2.5, 3, ("three", 3)]
    fitted = LogisticRegression().fit(X, labels[y])
    assert fitted.classes_.tolist() == [2.5, 3, ("three", 3)]
    assert fitted.predict(X).tolist() == labels[LogisticRegression().fit(X, y).predict(X)].tolist()
    # but strings mixed with numbers are refused, as scikit-learn refuses them
    labels[2] = "three"
    with pytest.raises(ValueError, match=r"^Mix of label input types \(string and number\)"):
        LogisticRegression().fit(X, labels[y])


@pytest.mark.parametrize("position", [0, 1, 149])
def test_a_missing_label_is_refused_wherever_it_is(position):
    """None among object labels is no class: refused with its position (it became a class
    of its own where it came first, a model no file could hold, and made NumPy's sort
    raise TypeError where it came later)."""
    X, y = load("iris")
    labels = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    labels[position] = None
    with pytest.raises(ValueError, match=rf"^y holds None \(a missing label\) at position "
                       rf"{position}; labels must be numbers, strings or other values"):
        LogisticRegression().fit(X, labels)


def test_pandas_input_sets_feature_names():
    data = datasets.load_breast_cancer(as_frame=True)
    frame = pd.DataFrame(StandardScaler().fit_transform(data.data), columns=data.data.columns)
    target = pd.Series(np.where(data.target == 1, "benign", "malignant"))
    from_frame = LogisticRegression().fit(frame, target)
    from_array = LogisticRegression().fit(frame.to_numpy(), target.to_numpy())
    np.testing.assert_array_equal(from_frame.feature_names_in_, data.data.columns)
    assert not hasattr(from_array, "feature_names_in_")
    np.testing.assert_allclose(from_frame.coef_, from_array.coef_)
    np.testing.assert_array_equal(from_frame.predict(frame), from_array.predict(frame.to_numpy()))
    with pytest.raises(ValueError, match="feature names"):
        from_frame.predict(frame[frame.columns[::-1]])


@pytest.mark.parametrize("layout", ["csr", "csc", "coo"])
def test_sparse_input_equals_dense(layout):
    X, y = load("digits")
    X, y = X[:500], y[:500]
    X[np.abs(X) < 0.5] = 0.0  # make it genuinely sparse
    sparse_X = sp.csr_matrix(X).asformat(layout)
    dense_fit = LogisticRegression(**OURS_TIGHT).fit(X, y)
    sparse_fit = LogisticRegression(**OURS_TIGHT).fit(sparse_X, y)
    assert relative_difference(sparse_fit.coef_, dense_fit.coef_) < 1e-6
    np.testing.assert_allclose(
        sparse_fit.predict_proba(sparse_X), dense_fit.predict_proba(X), atol=1e-7
    )
    np.testing.assert_allclose(
        dense_fit.predict_proba(sparse_X), dense_fit.predict_proba(X), atol=1e-12
    )


# ------------------------------------------------------------------------ weights
def test_integer_sample_weight_equals_repeating_rows():
    X, y = load("iris")
    repeats = np.random.default_rng(0).integers(0, 4, size=len(y))
    weighted = LogisticRegression(**OURS_TIGHT).fit(X, y, sample_weight=repeats)
    repeated = LogisticRegression(**OURS_TIGHT).fit(np.repeat(X, repeats, 0), np.repeat(y, repeats))
    assert relative_difference(weighted.coef_, repeated.coef_) < 1e-6
    doubled = LogisticRegression(**OURS_TIGHT).fit(X, y, sample_weight=2.0)
    duplicated = LogisticRegression(**OURS_TIGHT).fit(np.vstack([X, X]), np.r_[y, y])
    assert relative_difference(doubled.coef_, duplicated.coef_) < 1e-6


def test_class_weight_dict_equals_per_class_sample_weights():
    X, y = load("iris")
    names = np.array(["a", "b", "c"])[y]
    by_class = LogisticRegression(class_weight={"a": 3.0, "c": 0.5}, **OURS_TIGHT).fit(X, names)
    by_sample = LogisticRegression(**OURS_TIGHT).fit(
        X, names, sample_weight=np.array([3.0, 1.0, 0.5])[y]
    )
    assert relative_difference(by_class.coef_, by_sample.coef_) < 1e-6


def test_balanced_class_weight_is_n_over_k_times_class_count():
    X, y = load("iris")
    keep = np.r_[0:50, 50:60, 100:130]
    X, y = X[keep], y[keep]
    counts = np.bincount(y)
    manual = {k: len(y) / (3 * counts[k]) for k in range(3)}
    balanced = LogisticRegression(class_weight="balanced", **OURS_TIGHT).fit(X, y)
    by_hand = LogisticRegression(class_weight=manual, **OURS_TIGHT).fit(X, y)
    assert relative_difference(balanced.coef_, by_hand.coef_) < 1e-6


def test_sample_weights_are_not_modified():
    X, y = load("iris")
    weights = np.linspace(0.5, 1.5, len(y))
    before = weights.copy()
    LogisticRegression(class_weight="balanced").fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weights, before)


# ------------------------------------------------------------------------ warm start
def test_warm_start_continues_from_the_previous_solution():
    X, y = load("breast_cancer")
    converged = LogisticRegression(**OURS_TIGHT).fit(X, y)
    model = LogisticRegression(max_iter=3, tol=1e-8, warm_start=True)
    values = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(50):
            model.fit(X, y)
            values.append(sklearn_objective(model.coef_, model.intercept_, X, y))
            if model.n_iter_[0] < 3:  # converged within this call
                break
    # each call continues downhill from where the previous one stopped
    assert len(values) >= 2 and all(
        b <= a * (1 + 1e-12) for a, b in zip(values, values[1:], strict=False)
    )
    assert model.n_iter_[0] < 3
    assert relative_difference(model.coef_, converged.coef_) < 1e-4
    # a converged model restarted warm stops at once; a cold start does not
    restarted = LogisticRegression(tol=1e-4, warm_start=True).fit(X, y)
    cold_iterations = restarted.n_iter_[0]
    restarted.fit(X, y)
    assert restarted.n_iter_[0] <= 1 < cold_iterations


# (newton-cg takes its one polishing Newton step after a start that meets the rule)
@pytest.mark.parametrize("solver", ["lbfgs", "newton-cholesky"])
@pytest.mark.parametrize("C", [1.0, np.inf])
def test_a_warm_start_that_takes_no_step_returns_its_start_bit_for_bit(solver, C):
    """Refitting warm where the rule already holds takes no step and leaves coef_ and
    intercept_ exactly as they were: centring them again on softmax's flat directions would
    move them by rounding (scikit-learn's path test saw norms fall by 7e-15 along C)."""
    X, y = datasets.load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = LogisticRegression(solver=solver, C=C, tol=1e-2, max_iter=100, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # C=inf: separable classes
        model.fit(X, y)
        coef, intercept = model.coef_.copy(), model.intercept_.copy()
        for _ in range(3):
            model.fit(X, y)
            assert model.n_iter_[0] == 0
            np.testing.assert_array_equal(model.coef_, coef)
            np.testing.assert_array_equal(model.intercept_, intercept)


def test_warm_start_refuses_a_different_problem():
    X, y = load("iris")
    model = LogisticRegression(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start"):
        model.fit(X[y > 0], y[y > 0])


@pytest.mark.parametrize("multi_class", ["auto", "ovr"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("where", ["coef_", "intercept_"])
def test_warm_start_refuses_non_finite_coefficients(multi_class, n_classes, bad, where):
    """A warm start from NaN or inf coefficients (edited by hand) is refused before any
    solver runs (it raised LinAlgError from the preconditioner, or blamed an overflow)."""
    X, y = load("iris")
    X, y = X[y < n_classes], y[y < n_classes]
    model = LogisticRegression(warm_start=True, multi_class=multi_class).fit(X, y)
    getattr(model, where).flat[0] = bad
    with pytest.raises(ValueError, match=r"^warm_start=True continues from coef_ and "
                       r"intercept_, which hold NaN or inf values; set warm_start=False"):
        model.fit(X, y)


def test_solve_refuses_a_non_finite_start():
    X, y = load("iris")
    objective = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    theta0 = objective.zeros()
    theta0[3] = np.nan
    with pytest.raises(ValueError, match=r"^theta0 must be finite; it holds NaN or inf"):
        solve(objective, "lbfgs", theta0, max_iter=10, tol=1e-4)


# ------------------------------------------------------------------------ multi-label
def test_multilabel_is_independent_sigmoids():
    X, Y = datasets.make_multilabel_classification(
        n_samples=200, n_features=6, n_classes=4, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    model = LogisticRegression(**OURS_TIGHT).fit(X, Y)
    assert model.kind_ == "multilabel" and model.coef_.shape == (4, 6)
    np.testing.assert_array_equal(model.classes_, np.arange(4))
    probabilities = model.predict_proba(X)
    for k in range(4):
        alone = SklearnLogisticRegression(**TIGHT).fit(X, Y[:, k])
        assert relative_difference(model.coef_[k], alone.coef_[0]) < 1e-4
        np.testing.assert_allclose(probabilities[:, k], alone.predict_proba(X)[:, 1], atol=1e-5)
    predictions = model.predict(X)
    assert predictions.shape == Y.shape and predictions.dtype == Y.dtype
    np.testing.assert_array_equal(predictions, (probabilities > 0.5).astype(Y.dtype))
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(probabilities), atol=1e-12)
    # rows are not distributions: labels are not mutually exclusive
    assert np.abs(probabilities.sum(axis=1) - 1).max() > 0.5
    assert model.score(X, Y) == np.mean(np.all(predictions == Y, axis=1))


def test_multilabel_refuses_softmax_and_class_weight():
    X, Y = datasets.make_multilabel_classification(n_samples=50, n_classes=3, random_state=1)
    with pytest.raises(ValueError, match="multinomial"):
        LogisticRegression(multi_class="multinomial").fit(X, Y)
    with pytest.raises(ValueError, match="class_weight"):
        LogisticRegression(class_weight="balanced").fit(X, Y)
    with pytest.raises(ValueError, match="indicator"):
        LogisticRegression().fit(X, Y * 2)


# ------------------------------------------------------------------------ outputs
@pytest.mark.parametrize("multi_class", ["auto", "ovr"])
def test_probabilities_logs_and_labels_are_consistent(multi_class):
    X, y = load("digits")
    model = LogisticRegression(multi_class=multi_class).fit(X, y)
    probabilities = model.predict_proba(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(probabilities), atol=1e-10)
    scores = model.decision_function(X)
    assert scores.shape == (len(X), 10)
    np.testing.assert_array_equal(model.predict(X), model.classes_[scores.argmax(axis=1)])
    np.testing.assert_allclose(scores, X @ model.coef_.T + model.intercept_, atol=1e-12)


def test_binary_outputs_follow_the_lecture():
    X, y = load("breast_cancer")
    model = LogisticRegression().fit(X, y)
    z = model.decision_function(X)
    assert z.shape == (len(X),)
    a = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(model.predict_proba(X), np.column_stack([1 - a, a]), atol=1e-12)
    np.testing.assert_array_equal(model.predict(X), (z > 0).astype(int))
    np.testing.assert_array_equal(model.predict(X), (a > 0.5).astype(int))


def test_loss_history_ends_at_the_objective_of_the_fitted_model():
    X, y = load("digits")
    model = LogisticRegression(C=0.5).fit(X, y)
    value = sklearn_objective(model.coef_, model.intercept_, X, y, C=0.5)
    assert model.loss_history_[-1] == pytest.approx(value, rel=1e-9)
    assert model.loss_history_[-1] <= model.loss_history_[0]
    assert len(model.loss_history_) >= 1


def test_verbose_reports_progress_and_is_quiet_by_default(capsys):
    X, y = load("iris")
    quiet = LogisticRegression().fit(X, y)
    assert capsys.readouterr().out == ""
    LogisticRegression(verbose=1).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == quiet.n_iter_[0]
    assert f"{quiet.loss_history_[-1]:.6f}" in lines[-1]


def test_is_exported_from_the_package():
    assert softmaxreg.LogisticRegression is LogisticRegression


# ------------------------------------------------------------------------ errors
def test_clear_errors_for_bad_data():
    X, y = load("iris")
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(bad, y)
    with pytest.raises(ValueError, match="only one class"):
        LogisticRegression().fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="continuous"):
        LogisticRegression().fit(X, X[:, 0])
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but LogisticRegression is expecting 4"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    with pytest.raises(NotFittedError):
        LogisticRegression().predict(X)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(150,\)"):
        LogisticRegression().fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        LogisticRegression().fit(X, y, sample_weight=-np.ones(150))
    with pytest.raises(ValueError, match="zero for every sample"):
        LogisticRegression().fit(X, y, sample_weight=np.zeros(150))
    with pytest.raises(ValueError, match=r"The classes, \[0, 1, 2\], are not in class_weight"):
        LogisticRegression(class_weight={7: 2.0}).fit(X, y)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"C": -1.0}, "C must be a finite number > 0"),
        ({"C": "big"}, "C must be"),
        ({"penalty": "l3"}, r"penalty must be one of \['l1', 'l2', 'elasticnet', None"),
        ({"solver": "sagaa"}, "solver must be one of"),
        ({"multi_class": "ovo"}, "multi_class must be one of"),
        ({"max_iter": -1}, "max_iter must be an integer >= 0"),
        ({"max_iter": 2.0}, "max_iter must be an integer >= 0"),
        ({"l1_ratio": 1.5}, r"l1_ratio must be a number in \[0, 1\]"),
        ({"intercept_scaling": 0.0}, "intercept_scaling must be a finite number > 0"),
        ({"dual": True}, "Solver auto supports only dual=False, got dual=True"),
        ({"tol": -1e-4}, "tol must be"),
        ({"tol": None}, "tol=None"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"learning_rate": 0.0}, "learning_rate must be"),
        ({"class_weight": "even"}, "class_weight must be None, 'balanced' or a dict"),
        ({"dtype": "int8"}, "dtype must be None, 'float32' or 'float64'"),
        ({"device": "tpu"}, "device must be 'cpu', 'cuda' or 'cuda:N'"),
        ({"device": f"cuda:{torch.cuda.device_count()}"}, "CUDA"),
        ({"random_state": "seed"}, "random_state must be"),
        ({"warm_start": "yes"}, "warm_start must be True or False"),
    ],
)
def test_clear_errors_for_bad_parameters(parameters, message):
    X, y = load("iris")
    model = LogisticRegression(**parameters)  # __init__ only stores; fit checks
    assert model.get_params()[next(iter(parameters))] == next(iter(parameters.values()))
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)


# ------------------------------------------------------------------------ MNIST
@pytest.mark.mnist
def test_mnist_defaults_converge_below_scikit_learns_objective():
    X, y = softmaxreg.datasets.load_mnist("train", download=False)
    X_test, y_test = softmaxreg.datasets.load_mnist("test", download=False)
    X = X.astype(np.float32) / np.float32(255)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = LogisticRegression().fit(X, y)
    value = sklearn_objective(model.coef_, model.intercept_, X, y)
    accuracy = model.score(X_test.astype(np.float32) / np.float32(255), y_test)
    print(f"MNIST: objective {value:.2f}, test accuracy {accuracy:.4f}, n_iter {model.n_iter_}")
    assert value <= 13962.22  # scikit-learn 1.9's LogisticRegression(max_iter=1000)
    assert accuracy >= 0.925
    assert model.predict(X_test[:4].astype(np.float32) / 255).tolist() == [7, 2, 1, 0]
