"""Solvers: each reaches the optimum found by scipy / scikit-learn on small problems, warns
when it cannot converge, and honours seeds, tol=None and callbacks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.optimize
import torch
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

from softmaxreg.objective import LinearObjective
from softmaxreg.penalties import L1Penalty
from softmaxreg.solvers import COMPOSITE_SOLVERS, DEFAULT_SOLVER, SOLVERS, SolverResult, solve

FULL_BATCH = ("lbfgs", "newton-cg", "newton-cholesky", "gd")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris_optimum(iris):
    """The minimiser of f from scipy's L-BFGS-B at a tight tolerance."""
    X, y = iris
    objective = LinearObjective(X, y, "multinomial", C=1.0, dtype=torch.float64)

    def fun(theta):
        value, grad = objective.value_and_grad(torch.from_numpy(theta))
        return value, grad.numpy()

    result = scipy.optimize.minimize(
        fun, np.zeros(objective.n_params), jac=True, method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 1e-15, "maxiter": 10000},
    )
    return objective, result.x, result.fun


def test_registry_and_default():
    assert set(SOLVERS) == {
        "lbfgs", "newton-cg", "newton-cholesky", "gd", "sgd", "sample-sgd", "proximal-newton",
        "dual-cd",
    }
    assert DEFAULT_SOLVER in SOLVERS


def test_max_iter_zero_returns_the_start_with_a_warning(iris_optimum):
    objective, _, _ = iris_optimum
    start = torch.arange(objective.n_params, dtype=torch.float64)
    with pytest.warns(ConvergenceWarning, match="max_iter=0: the starting point is returned"):
        result = solve(objective, "lbfgs", start, max_iter=np.int64(0), tol=1e-4)
    assert torch.equal(result.theta, start) and result.n_iter == 0 and not result.converged


def test_a_penalty_goes_exactly_to_the_composite_solver(iris_optimum):
    objective, _, _ = iris_optimum
    with pytest.raises(ValueError, match="a penalty is given exactly to the composite solvers"):
        solve(objective, "proximal-newton", max_iter=10, tol=1e-4)
    with pytest.raises(ValueError, match="a penalty is given exactly to the composite solvers"):
        solve(objective, "lbfgs", max_iter=10, tol=1e-4, penalty=L1Penalty(1.0, 4))


@pytest.mark.parametrize("method", ["lbfgs", "newton-cg", "newton-cholesky"])
def test_second_order_and_quasi_newton_reach_scipy_optimum(iris_optimum, method):
    objective, theta_star, f_star = iris_optimum
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = solve(objective, method, max_iter=1000, tol=1e-8)
    assert isinstance(result, SolverResult)
    assert result.converged
    assert result.history[-1] == pytest.approx(f_star, rel=1e-9)
    np.testing.assert_allclose(result.theta.numpy(), theta_star, atol=1e-4)
    assert len(result.history) == result.n_iter
    assert all(b <= a + 1e-9 for a, b in zip(result.history, result.history[1:], strict=False))


def test_gradient_descent_reaches_scipy_optimum(iris_optimum):
    objective, _, f_star = iris_optimum
    result = solve(objective, "gd", max_iter=5000, tol=1e-5)
    assert result.converged
    assert result.history[-1] == pytest.approx(f_star, rel=1e-6)


@pytest.mark.parametrize("method", FULL_BATCH)
def test_binary_matches_scikit_learn_coefficients(method):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = (X @ [1.0, -2.0, 0.5] + rng.normal(size=120) > 0).astype(np.int64)
    weights = rng.uniform(0.5, 1.5, 120)
    sk = SkLogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(X, y, sample_weight=weights)
    objective = LinearObjective(X, y.astype(np.float64), "binary", C=0.5,
                                sample_weight=weights, dtype=torch.float64)
    result = solve(objective, method, max_iter=20000, tol=1e-8)
    W, b = objective.unpack(result.theta)
    np.testing.assert_allclose(W.numpy(), sk.coef_, rtol=1e-5)
    np.testing.assert_allclose(b.numpy(), sk.intercept_, rtol=1e-5)


@pytest.mark.parametrize("method", FULL_BATCH)
def test_tiny_max_iter_warns_with_advice(iris_optimum, method):
    objective = iris_optimum[0]
    with pytest.warns(ConvergenceWarning, match="Increase max_iter, loosen tol, or scale"):
        result = solve(objective, method, max_iter=1, tol=1e-10)
    assert not result.converged
    assert result.n_iter == 1


def test_minibatch_sgd_is_deterministic_with_a_seed_and_changes_with_it(iris):
    X, y = iris
    objective = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    runs = [solve(objective, "sgd", max_iter=3, tol=None, batch_size=16, learning_rate=0.1,
                  random_state=seed) for seed in (7, 7, 8)]
    torch.testing.assert_close(runs[0].theta, runs[1].theta, rtol=0, atol=0)
    assert not torch.equal(runs[0].theta, runs[2].theta)


def test_sgd_tol_none_runs_every_epoch_silently(iris):
    X, y = iris
    objective = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = solve(objective, "sgd", max_iter=30, tol=None, batch_size=32, random_state=0)
    assert result.n_iter == 30 and len(result.history) == 30


def test_sgd_early_stopping_and_warning(iris):
    X, y = iris
    objective = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    stopped = solve(objective, "sgd", max_iter=500, tol=1e-2, batch_size=32, random_state=0)
    assert stopped.converged and stopped.n_iter < 500
    with pytest.warns(ConvergenceWarning, match="Increase max_iter"):
        solve(objective, "sgd", max_iter=2, tol=1e-12, batch_size=32, random_state=0)


def test_sgd_approaches_the_optimum(iris_optimum):
    objective, _, f_star = iris_optimum
    result = solve(objective, "sgd", max_iter=40, tol=None, batch_size=10,
                   learning_rate=0.1, random_state=0)
    # from f(0) = 150 ln 3 = 164.8 to within 10% of the optimum (31.4)
    assert objective.value(result.theta) == pytest.approx(f_star, rel=0.1)


def test_sgd_matches_torch_optim_sgd_step_by_step(iris):
    """One epoch, no shuffling by torch: replay the same row order with torch.optim.SGD."""
    X, y = iris
    objective = LinearObjective(X, y, "multinomial", penalize=False, dtype=torch.float64)
    result = solve(objective, "sgd", max_iter=1, tol=None, batch_size=25, learning_rate=0.1,
                   random_state=3)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(3))
    model = torch.nn.Linear(4, 3).double()
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for start in range(0, len(y), 25):
        rows = order[start : start + 25]
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(Xt[rows]), yt[rows]).backward()
        optimizer.step()
    W, b = objective.unpack(result.theta)
    torch.testing.assert_close(W, model.weight.detach())
    torch.testing.assert_close(b, model.bias.detach())


def test_sample_sgd_is_the_lecture_rule():
    """Two epochs of ``w := w + eta (y - sigma(w^T x + b)) x`` in data order, by hand."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(np.float64)
    objective = LinearObjective(X, y, "binary", penalize=False, dtype=torch.float64)
    result = solve(objective, "sample-sgd", max_iter=2, tol=None, learning_rate=0.3)
    w, b = np.zeros(2), 0.0
    for _ in range(2):
        for x_i, y_i in zip(X, y, strict=True):
            y_hat = 1.0 / (1.0 + np.exp(-(x_i @ w + b)))
            w, b = w + 0.3 * (y_i - y_hat) * x_i, b + 0.3 * (y_i - y_hat)
    np.testing.assert_allclose(result.theta.numpy(), np.append(w, b), rtol=1e-12)


# 'dual-cd' solves binary problems only (liblinear's model): tests/test_dual_cd.py
@pytest.mark.parametrize("method", sorted(set(SOLVERS) - set(COMPOSITE_SOLVERS) - {"dual-cd"}))
def test_callback_receives_progress_and_can_stop(iris, method):
    X, y = iris
    objective = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    seen = []

    def callback(iteration, theta, value):
        seen.append((iteration, value))
        assert theta.shape == (objective.n_params,)
        return iteration == 2

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = solve(objective, method, max_iter=50, tol=1e-12 if method in FULL_BATCH
                       else None, batch_size=50, callback=callback)
    assert [i for i, _ in seen] == [1, 2]
    assert result.n_iter == 2 and not (method in FULL_BATCH and result.converged)


def test_bad_arguments_are_rejected(iris_optimum):
    objective = iris_optimum[0]
    with pytest.raises(ValueError, match="solver must be one of"):
        solve(objective, "adam", max_iter=1, tol=1e-4)
    with pytest.raises(ValueError, match="max_iter must be an integer >= 0"):
        solve(objective, "lbfgs", max_iter=-1, tol=1e-4)
    with pytest.raises(ValueError, match="tol=None"):
        solve(objective, "lbfgs", max_iter=5, tol=None)
    with pytest.raises(ValueError, match="theta0 must have shape"):
        solve(objective, "lbfgs", torch.zeros(3), max_iter=5, tol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_max_abs_is_the_largest_magnitude(dtype):
    """The stopping rule's ``max_j |grad_j|`` (one pass, no temporary): equal to
    ``grad.abs().max()``, NaN and infinities included, and never -0.0."""
    from softmaxreg.solvers._common import max_abs

    generator = torch.Generator().manual_seed(0)
    vector = torch.randn(10_001, generator=generator, dtype=dtype) * 1e3
    assert max_abs(vector) == float(vector.abs().max())
    vector[17] = -1e30
    assert max_abs(vector) == 1e30 if dtype == torch.float64 else float(vector[17].abs())
    vector[23] = float("-inf")
    assert max_abs(vector) == float("inf")
    vector[29] = float("nan")
    assert np.isnan(max_abs(vector))
    zero = max_abs(torch.zeros(3, dtype=dtype))
    assert zero == 0.0 and np.copysign(1.0, zero) == 1.0
    assert max_abs(torch.tensor([-2.5, 1.0], dtype=dtype)) == 2.5


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=3
@pytest.mark.parametrize("method", ["newton-cg", "proximal-newton", "sgd"])
def test_numpy_blas_runs_on_torchs_thread_count_during_a_fit(method):
    """NumPy's BLAS pools (the composite solver's float32 products, the Kronecker factor's
    X^T X) run on at most torch's thread count while a solver runs, and are given back
    their own counts after (a single-threaded BLAS another package loaded stays at 1)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return {
            pool["filepath"]: pool["num_threads"]
            for pool in threadpool_info()
            if pool["user_api"] == "blas"
        }

    X, y = load_iris(return_X_y=True)
    objective = LinearObjective(X, y, "multinomial", C=1.0, dtype=torch.float64)
    seen = []
    size = objective.n_outputs * objective.n_features
    penalty = L1Penalty(0.1, size) if method in COMPOSITE_SOLVERS else None
    previous = torch.get_num_threads()
    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert 2 in before.values()
        torch.set_num_threads(1)
        try:
            solve(objective, method, max_iter=3, tol=1e-4, penalty=penalty,
                  callback=lambda *_: seen.append(blas_threads()))
        finally:
            torch.set_num_threads(previous)
        assert blas_threads() == before
    assert seen and all(max(threads.values()) == 1 for threads in seen)
