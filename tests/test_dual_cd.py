"""solver='liblinear', dual=True: coordinate descent on the dual, as liblinear's."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

from softmaxreg import LogisticRegression

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_reaches_the_primal_optimum_and_scikit_learns_dual_fit(sparse, C):
    X, y = _breast_cancer()
    X = sp.csr_matrix(X) if sparse else X
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    options = {"solver": "liblinear", "C": C, "max_iter": 10_000}
    dual = LogisticRegression(dual=True, tol=1e-8, **options).fit(X, y, sample_weight=weights)
    primal = LogisticRegression(tol=1e-10, **options).fit(X, y, sample_weight=weights)
    theirs = SkLogisticRegression(dual=True, tol=1e-8, **options).fit(X, y, sample_weight=weights)
    # the same objective, liblinear's (intercept as a penalised feature): the same optimum
    np.testing.assert_allclose(dual.coef_, primal.coef_, atol=1e-7)
    np.testing.assert_allclose(dual.intercept_, primal.intercept_, atol=1e-7)
    np.testing.assert_allclose(dual.coef_, theirs.coef_, atol=1e-7)
    assert dual.coef_.dtype == np.float64  # liblinear's dtype, as scikit-learn
    # liblinear's stopping rule: about as many passes as liblinear takes
    assert 0.5 <= dual.n_iter_[0] / theirs.n_iter_[0] <= 2


def test_random_state_orders_the_coordinates():
    # scikit-learn's test: at tol=1e-3 the order of the coordinates shows in the result
    X, y = make_classification(n_samples=20, random_state=42)
    fits = [
        LogisticRegression(solver="liblinear", dual=True, tol=1e-3, random_state=seed).fit(X, y)
        for seed in (42, 42, 43)
    ]
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    assert np.abs(fits[0].coef_ - fits[2].coef_).max() > 1e-6


def test_dual_needs_the_l2_penalty():
    X, y = _breast_cancer()
    with pytest.raises(ValueError) as error:
        LogisticRegression(solver="liblinear", dual=True, l1_ratio=1.0).fit(X, y)
    assert str(error.value) == (
        "Unsupported set of arguments: The combination of penalty='l1' and "
        "loss='logistic_regression' are not supported when dual=True, Parameters: "
        "penalty='l1', loss='logistic_regression', dual=True"
    )


def test_no_penalty_is_refused_as_scikit_learn_refuses_it():
    X, y = _breast_cancer()
    with pytest.raises(ValueError) as error:
        LogisticRegression(solver="liblinear", dual=True, C=np.inf).fit(X, y)
    assert str(error.value) == (
        "C=np.inf as well as penalty=None is not supported for the liblinear solver"
    )


def test_max_iter_reached_warns_in_scikit_learns_words():
    X, y = _breast_cancer()
    with pytest.warns(UserWarning, match="^Liblinear failed to converge"):
        model = LogisticRegression(solver="liblinear", dual=True, tol=1e-12, max_iter=3)
        model.fit(X, y)
    assert model.n_iter_[0] == 3


def test_callback_sees_each_outer_iteration_and_can_stop():
    import torch

    from softmaxreg.objective import LinearObjective
    from softmaxreg.solvers import solve

    X, y = _breast_cancer()
    objective = LinearObjective(X, y, "binary", fit_intercept=False, dtype=torch.float64)
    seen = []

    def callback(iteration, theta, value):
        seen.append(iteration)
        assert value == pytest.approx(objective.value(theta))
        return iteration == 2

    result = solve(objective, "dual-cd", max_iter=50, tol=1e-10, callback=callback)
    assert seen == [1, 2] and result.n_iter == 2 and not result.converged


def test_multi_label_fits_one_dual_per_output():
    X, y = _breast_cancer()
    Y = np.stack([y, 1 - y, (X[:, 0] > 0).astype(int)], axis=1)  # a 2-D 0/1 indicator
    options = {"solver": "liblinear", "tol": 1e-9, "max_iter": 10_000}
    dual = LogisticRegression(dual=True, **options).fit(X, Y)
    primal = LogisticRegression(**options).fit(X, Y)
    assert dual.kind_ == "multilabel" and dual.coef_.shape == (3, 30)
    np.testing.assert_allclose(dual.coef_, primal.coef_, atol=1e-6)
    np.testing.assert_allclose(dual.intercept_, primal.intercept_, atol=1e-6)
    single = LogisticRegression(dual=True, **options).fit(X, Y[:, 2])
    np.testing.assert_allclose(dual.coef_[2], single.coef_[0], atol=1e-9)


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"C": 1e20}, "C=1e+20, largest |x| = 2.55299, intercept_scaling=1"),
        ({"intercept_scaling": 1e200}, "C=1, largest |x| = 1e+200, intercept_scaling=1e+200"),
    ],
)
def test_a_fit_that_overflows_float64_is_refused_not_returned_as_nan(params, detail):
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3)
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError) as error:
        LogisticRegression(solver="liblinear", dual=True, **params).fit(X, y)
    assert str(error.value) == (
        "solver='liblinear' produced non-finite coefficients: the problem overflows float64 "
        f"at this scale ({detail}); lower C, scale the features (e.g. StandardScaler) or "
        "choose another solver"
    )
