"""solver='newton-cholesky': Newton's method with the exact Hessian, as scikit-learn's."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

from softmaxreg import LogisticRegression
from softmaxreg.solvers.newton_cholesky import MAX_PARAMS


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize(
    "data, params",
    [
        (_iris, {}),
        (_iris, {"fit_intercept": False}),
        (_iris, {"C": 0.05}),
        (_breast_cancer, {}),
        (lambda: (sp.csr_matrix(_iris()[0]), _iris()[1]), {}),
    ],
    ids=["multinomial", "no-intercept", "C=0.05", "binary", "sparse"],
)
def test_same_optimum_and_iterations_as_scikit_learn(data, params):
    X, y = data()
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    ours = LogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=100, **params)
    theirs = SkLogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=100, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converges: no warning at all
        ours.fit(X, y, sample_weight=weights)
    theirs.fit(X, y, sample_weight=weights)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-9)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-9)
    # Newton's quadratic convergence: the same handful of iterations
    assert abs(int(ours.n_iter_[0]) - int(theirs.n_iter_[0])) <= 1
    assert ours.n_iter_[0] <= 12


def test_singular_hessian_finishes_with_lbfgs():
    # 10 samples, 20 features, (almost) no penalty: the Hessian is singular at the start
    X, y = make_classification(n_samples=10, n_features=20, random_state=42)
    lbfgs = LogisticRegression(solver="lbfgs", C=1e30).fit(X, y)
    with pytest.warns(scipy.linalg.LinAlgWarning, match="singular or very ill-conditioned"):
        newton = LogisticRegression(solver="newton-cholesky", C=1e30).fit(X, y)
    np.testing.assert_array_equal(newton.coef_, lbfgs.coef_)
    assert newton.n_iter_[0] == lbfgs.n_iter_[0]
    limited = LogisticRegression(solver="newton-cholesky", C=1e30, max_iter=lbfgs.n_iter_[0] - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        # the warning is L-BFGS's, in scikit-learn's words (user code filters on them)
        with pytest.warns(UserWarning, match="^lbfgs failed to converge"):
            limited.fit(X, y)
    assert limited.n_iter_[0] == limited.max_iter - 1


def test_unpenalised_multinomial_reaches_scikit_learn_optimum():
    X, y = make_classification(500, 6, n_informative=4, n_classes=3, flip_y=0.3, random_state=0)
    ours = LogisticRegression(solver="newton-cholesky", C=np.inf, tol=1e-10)
    theirs = SkLogisticRegression(solver="newton-cholesky", C=np.inf, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        ours.fit(X, y)
        theirs.fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)


def test_refuses_a_hessian_too_large_to_form():
    m = MAX_PARAMS // 3 + 1
    X = np.random.default_rng(0).normal(size=(6, m))
    y = np.array([0, 1, 2, 0, 1, 2])
    with pytest.raises(ValueError) as error:
        LogisticRegression(solver="newton-cholesky").fit(X, y)
    n_params = 3 * m + 3
    assert str(error.value) == (
        f"solver='newton-cholesky' forms the {n_params} x {n_params} Hessian "
        f"({8 * n_params**2 / 1e9:.1f} GB); for more than {MAX_PARAMS} parameters use "
        "'newton-cg' or 'lbfgs'"
    )


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cholesky"])
def test_huge_C_reaches_scikit_learns_fit(solver):
    # at C=1e300, grad^T grad of f overflowed float64: lbfgs took no step and returned zeros
    # (and so did newton-cholesky's fallback to it); L-BFGS now runs on f / (C sum s_i)
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 3), rng.randint(0, 3, 30)
    theirs = SkLogisticRegression(solver="lbfgs", C=1e300, tol=1e-8, max_iter=1000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)  # newton-cholesky's fallback
        ours = LogisticRegression(solver=solver, C=1e300, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-6)
