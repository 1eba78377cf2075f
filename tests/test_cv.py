"""softmaxreg.LogisticRegressionCV and the regularisation path against scikit-learn's
LogisticRegressionCV on the same folds (converged fits: same C_, layouts, coefficients)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import config_context
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.linear_model import LogisticRegressionCV as SklearnLogisticRegressionCV
from sklearn.metrics import get_scorer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from softmaxreg import LogisticRegression, LogisticRegressionCV
from softmaxreg.path import logistic_regression_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FOLDS = StratifiedKFold(3, shuffle=True, random_state=0)


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


# tol=1e-9, to compare with scikit-learn converged, is below what L-BFGS's float64 line
# search resolves on some of these small folds (C up to 1e6): it stops within a few 1e-9 and
# says so; the results agree with scikit-learn as asserted
BELOW_FLOAT_PRECISION = pytest.mark.filterwarnings(
    "ignore:lbfgs failed to converge:sklearn.exceptions.ConvergenceWarning"
)


@pytest.mark.parametrize(
    ("params", "legacy"),
    [
        ({"Cs": 4, "l1_ratios": (0.0,), "scoring": "neg_log_loss"}, False),
        ({"Cs": [0.1, 1.0, 10.0], "l1_ratios": (0.0,), "scoring": "accuracy"}, True),
        (
            {
                "Cs": [0.1, 1.0],
                "l1_ratios": (0.3, 1.0),
                "scoring": "neg_log_loss",
                "solver": "saga",
            },
            False,
        ),
    ],
)
@BELOW_FLOAT_PRECISION
def test_matches_scikit_learns_cv_on_the_same_folds(params, legacy):
    X, y = _iris()
    common = {"cv": FOLDS, "use_legacy_attributes": legacy, **params}
    ours = LogisticRegressionCV(tol=1e-9, **common).fit(X, y)
    theirs = SklearnLogisticRegressionCV(tol=1e-10, max_iter=100_000, **common).fit(X, y)
    np.testing.assert_array_equal(ours.Cs_, theirs.Cs_)
    np.testing.assert_array_equal(ours.C_, theirs.C_)
    np.testing.assert_array_equal(ours.l1_ratio_, theirs.l1_ratio_)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-4)
    if legacy:
        assert ours.scores_.keys() == theirs.scores_.keys()
        for key in ours.scores_:
            np.testing.assert_allclose(ours.scores_[key], theirs.scores_[key], atol=1e-4)
            assert ours.coefs_paths_[key].shape == theirs.coefs_paths_[key].shape
        assert ours.n_iter_.shape == theirs.n_iter_.shape
    else:
        np.testing.assert_allclose(ours.scores_, theirs.scores_, atol=1e-4)
        assert ours.coefs_paths_.shape == theirs.coefs_paths_.shape
        assert ours.n_iter_.shape == theirs.n_iter_.shape
    assert ours.predict(X).tolist() == theirs.predict(X).tolist()


def test_refit_false_averages_the_folds_best_coefficients():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[::4]
    y = y[::4]
    common = {
        "Cs": 3,
        "cv": FOLDS,
        "l1_ratios": (0.0,),
        "scoring": "accuracy",
        "use_legacy_attributes": False,
        "refit": False,
    }
    ours = LogisticRegressionCV(tol=1e-9, **common).fit(X, y)
    theirs = SklearnLogisticRegressionCV(tol=1e-10, max_iter=100_000, **common).fit(X, y)
    assert ours.C_ == theirs.C_
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4)


def test_path_warm_starts_reach_the_same_fits_as_cold_starts():
    X, y = _iris()
    Cs = [0.01, 1.0, 100.0]
    path = logistic_regression_path(X, y, Cs, tol=1e-9)
    for C, model in zip(Cs, path, strict=True):
        cold = LogisticRegression(C=C, tol=1e-9).fit(X, y)
        assert model.C == C
        np.testing.assert_allclose(model.coef_, cold.coef_, rtol=1e-5, atol=1e-6)
    # warm starts: the later fits need fewer iterations than from zero
    assert path[-1].n_iter_[0] < LogisticRegression(C=100.0, tol=1e-9).fit(X, y).n_iter_[0]
    with pytest.raises(ValueError, match=r"Cs must be numbers > 0 \(np.inf: no penalty\)"):
        logistic_regression_path(X, y, [1.0, -1.0])


def test_scikit_learns_errors_and_warnings():
    X, y = _iris()
    with pytest.raises(ValueError, match="l1_ratios must be an array-like of numbers between 0"):
        LogisticRegressionCV(
            l1_ratios=(0.5, 2.0), use_legacy_attributes=False, scoring=None, solver="saga"
        ).fit(X, y)
    with pytest.raises(ValueError, match="The 'liblinear' solver does not support multiclass"):
        LogisticRegressionCV(
            solver="liblinear", l1_ratios=(0,), use_legacy_attributes=False, scoring=None
        ).fit(X, y)
    with pytest.warns(FutureWarning, match="The default value for l1_ratios will change"):
        LogisticRegressionCV(Cs=2, cv=2, use_legacy_attributes=False, scoring=None).fit(X, y)


@BELOW_FLOAT_PRECISION
@pytest.mark.parametrize("scoring", ["neg_brier_score", "accuracy"])
def test_folds_lacking_a_class_are_fitted_and_scored_with_all_classes(scoring):
    # KFold(3) on iris: every training part lacks one class, every test part holds only it
    X, y = _iris()
    common = {
        "cv": KFold(3),
        "Cs": np.logspace(-6, 3, 10),
        "l1_ratios": (0.0,),
        "scoring": scoring,
        "use_legacy_attributes": False,
    }
    ours = LogisticRegressionCV(tol=1e-9, **common).fit(X, y)
    theirs = SklearnLogisticRegressionCV(tol=1e-10, max_iter=10_000, **common).fit(X, y)
    assert ours.C_ == theirs.C_ == 1e-6
    assert ours.coefs_paths_.shape == theirs.coefs_paths_.shape == (3, 1, 10, 3, 5)
    np.testing.assert_allclose(ours.scores_, theirs.scores_, atol=1e-6)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)


@BELOW_FLOAT_PRECISION
def test_binary_folds_holding_one_class():
    X, y = np.arange(6.0)[:, None], np.array(["a", "a", "a", "b", "b", "b"])
    common = {
        "cv": KFold(2),
        "Cs": np.logspace(-6, 6, 5),
        "l1_ratios": (0.0,),
        "scoring": "neg_brier_score",
        "use_legacy_attributes": False,
    }
    ours = LogisticRegressionCV(tol=1e-9, **common).fit(X, y)
    theirs = SklearnLogisticRegressionCV(tol=1e-10, max_iter=10_000, **common).fit(X, y)
    assert ours.C_ == theirs.C_ == 1e-6
    np.testing.assert_allclose(ours.scores_, theirs.scores_, atol=1e-6)  # all about -1.0
    assert ours.coefs_paths_.shape == theirs.coefs_paths_.shape == (2, 1, 5, 1, 2)
    # the training part of fold 0 is all "b": its intercept favours "b" (and vice versa)
    assert np.all(ours.coefs_paths_[0, 0, :, 0, 1] > 10)
    assert np.all(ours.coefs_paths_[1, 0, :, 0, 1] < -10)


def test_fit_with_classes_keeps_absent_classes():
    X, y = _iris()
    model = LogisticRegression(tol=1e-8).fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    assert model.coef_.shape == (3, 4)
    assert model.predict_proba(X)[:, 2].max() < 1e-3  # class 2 had no samples
    assert set(model.predict(X)) == {0, 1}
    with pytest.raises(ValueError, match=r"^y contains labels that are not in classes: \[2\]"):
        LogisticRegression().fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("requested", [False, True])
def test_scorer_gets_sample_weight_as_metadata_routing_requests(requested):
    X, y = make_classification(n_samples=300, random_state=0)
    weights = np.where(np.arange(300) < 150, 2.0, 1.0)
    results = []
    with config_context(enable_metadata_routing=True):
        for cls in (LogisticRegressionCV, SklearnLogisticRegressionCV):
            scorer = get_scorer("accuracy").set_score_request(sample_weight=requested)
            model = cls(
                Cs=[0.01, 1.0],
                l1_ratios=(0,),
                cv=FOLDS,
                scoring=scorer,
                tol=1e-10,
                use_legacy_attributes=False,
            ).fit(X, y, sample_weight=weights)
            results.append(model.scores_)
            if not requested:
                with pytest.raises(TypeError, match=r"score got unexpected argument\(s\)"):
                    model.score(X, y, sample_weight=weights)
    np.testing.assert_allclose(results[0], results[1])
    unweighted = LogisticRegressionCV(
        Cs=[0.01, 1.0],
        l1_ratios=(0,),
        cv=FOLDS,
        scoring="accuracy",
        tol=1e-10,
        use_legacy_attributes=False,
    ).fit(X, y, sample_weight=weights)
    # without routing scikit-learn passes the fit's sample_weight to the scorer
    assert np.allclose(unweighted.scores_, results[0]) == requested


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"Cs": -3},
            "The 'Cs' parameter of LogisticRegressionCV must be an int in the range [1, inf) "
            "or an array-like. Got -3 instead.",
        ),
        (
            {"Cs": 2.5},
            "The 'Cs' parameter of LogisticRegressionCV must be an int in the range [1, inf) "
            "or an array-like. Got 2.5 instead.",
        ),
        (
            {"solver": "saga", "l1_ratios": []},
            "l1_ratios must hold at least one number between 0 and 1; got []",
        ),
    ],
)
def test_a_bad_grid_is_refused_in_one_line(params, message):
    X, y = _iris()
    # scikit-learn 1.10's defaults spelled out: no FutureWarning
    defaults = {"l1_ratios": (0.0,), "scoring": "accuracy", "use_legacy_attributes": False}
    with pytest.raises(ValueError) as error:
        LogisticRegressionCV(**{**defaults, **params}).fit(X, y)
    assert str(error.value) == message
