"""The proximal Newton solver's coordinate descent on a formed Hessian (``_gram_cd``): for
sigmoid outputs, once the column sweeps over the active columns have cost as much as
forming ``G``, the sweeps continue on ``G``; the fit ends at the same optimum."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg.bench.synthetic import text_like
from softmaxreg.objective import LinearObjective
from softmaxreg.penalties import L1Penalty
from softmaxreg.solvers import _column_kernels, _gram_cd, solve

pytestmark = pytest.mark.usefixtures("one_torch_thread")
proximal_newton = importlib.import_module("softmaxreg.solvers.proximal_newton")


def _fit(kind, fit_intercept, l2_strength=0.0):
    X, y = text_like(600, n_features=2**10, n_classes=4, seed=3)
    targets = {"binary": y == 0, "multilabel": np.eye(4)[y][:, :3], "multinomial": y}[kind]
    weights = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    objective = LinearObjective(
        X,
        targets,
        kind,
        C=50.0,
        l2_strength=l2_strength,
        sample_weight=weights,
        fit_intercept=fit_intercept,
        dtype=torch.float64,
    )
    penalty = L1Penalty(1.0, objective.n_outputs * objective.n_features)
    result = solve(objective, "proximal-newton", max_iter=200, tol=1e-10, penalty=penalty)
    value, grad = objective.value_and_grad(result.theta)
    optimality = float(penalty.optimality(result.theta, grad).max())
    return (
        result,
        float(value + penalty.value(result.theta)),
        optimality / objective.gradient_scale(),
    )


def _spy(monkeypatch):
    calls = []
    real = proximal_newton.solve_on_gram

    def counted(*args):
        calls.append(len(args[1]))
        return real(*args)

    monkeypatch.setattr(proximal_newton, "solve_on_gram", counted)
    return calls


@pytest.mark.parametrize("kind", ["binary", "multilabel"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_formed_hessian_reaches_the_column_sweeps_optimum(monkeypatch, kind, fit_intercept):
    l2_strength = 0.3 if fit_intercept else 0.0  # elastic-net: alpha on G's diagonal
    calls = _spy(monkeypatch)
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 0)  # never formed
    never, never_value, never_optimality = _fit(kind, fit_intercept, l2_strength)
    assert calls == []
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 4096)
    monkeypatch.setattr(_gram_cd, "DENSE_SPEEDUP", math.inf)  # formed after one sweep
    always, always_value, always_optimality = _fit(kind, fit_intercept, l2_strength)
    assert len(calls) > 0 and max(calls) > 1
    assert never.converged and always.converged
    assert never_optimality <= 1e-10 and always_optimality <= 1e-10
    assert torch.equal(never.theta == 0, always.theta == 0)
    assert always_value == pytest.approx(never_value, rel=1e-12)
    # optimality 1e-10 of C sum_i s_i bounds the gradient, not theta (flat directions of
    # rare features): the coefficients agree to 1e-5
    torch.testing.assert_close(never.theta, always.theta, rtol=0, atol=1e-5)


def test_the_softmax_keeps_the_column_sweeps(monkeypatch):
    calls = _spy(monkeypatch)
    monkeypatch.setattr(_gram_cd, "DENSE_SPEEDUP", math.inf)
    result, _, optimality = _fit("multinomial", True)
    assert result.converged and optimality <= 1e-10
    assert calls == []


def _column_problem(X, kind="binary"):
    y = np.arange(X.shape[0]) % 3
    targets = y == 0 if kind == "binary" else y
    return proximal_newton.ColumnProblem(LinearObjective(X, targets, kind, fit_intercept=False))


@pytest.mark.parametrize("frequent", [False, True])
def test_the_rent_or_buy_rule(frequent):
    """Forming pays once the sweeps cost as much as the cheaper way: dense ``n q^2 /
    DENSE_SPEEDUP`` or the pairs of non-zeros in each row ``/ SPARSE_SPEEDUP``, each plus
    the pass that follows it; a few rare columns are paired sparsely, dense ones densely."""
    n = 2000
    X = np.zeros((n, 60))
    X[np.arange(n), np.arange(n) % 60] = 1.0  # one non-zero per row: rare columns
    if frequent:
        X[:, :40] = np.random.default_rng(0).random((n, 40))  # 40 dense columns
    problem = _column_problem(sp.csr_matrix(X))
    columns = np.arange(60, dtype=np.int64)
    nonzeros = float((X != 0).sum())
    assert _gram_cd.sweep_cost(problem, columns) == nonzeros
    counts = (X != 0).sum(axis=1)
    sparse = float((counts * (counts + 1)).sum()) / 2 / _gram_cd.SPARSE_SPEEDUP + 2 * nonzeros
    dense = n * 60 * 60 / _gram_cd.DENSE_SPEEDUP + nonzeros
    cost, method = min((sparse, "sparse"), (dense, "dense"))
    assert method == ("dense" if frequent else "sparse")
    sweeps = int(np.ceil(cost / nonzeros))
    rule = _gram_cd.RentOrBuy(problem, columns, expected=sweeps - 1)
    assert rule.choice() is None
    rule.record_sweep()
    assert rule.choice() == method
    assert _gram_cd.RentOrBuy(problem, columns, expected=10**6).choice() == method
    softmax = _column_problem(sp.csr_matrix(X), "multinomial")
    assert _gram_cd.RentOrBuy(softmax, columns, expected=10**6).choice() is None


def test_the_formed_blocks_stay_within_max_columns_squared(monkeypatch):
    """K sigmoid outputs form K blocks: their entries together are bounded, not each."""
    X = sp.csr_matrix(np.eye(200, 60))
    targets = np.eye(4)[np.arange(200) % 4]
    problem = proximal_newton.ColumnProblem(
        LinearObjective(X, targets, "multilabel", fit_intercept=False)
    )
    columns = np.arange(60, dtype=np.int64)
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 120)  # 4 x 60^2 = 120^2
    assert _gram_cd.formable(problem, columns)
    assert not _gram_cd.formable(problem, np.arange(61, dtype=np.int64))


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("block_rows", [7, 8192])
def test_both_ways_form_the_same_hessian(monkeypatch, method, block_rows):
    monkeypatch.setattr(_gram_cd, "SPARSE_BLOCK_ROWS", block_rows)
    monkeypatch.setattr(_gram_cd, "BLOCK_ELEMENTS", block_rows * 6)
    X = sp.random(300, 50, density=0.1, random_state=1, format="csr")
    y = np.arange(300) % 2
    objective = LinearObjective(X, np.eye(2)[y], "multilabel", C=3.0)
    problem = proximal_newton.ColumnProblem(objective)
    A = np.random.default_rng(2).uniform(0.05, 0.95, (300, 2))
    features = np.arange(50, dtype=np.int64)
    W, b = np.zeros((2, 50)), np.zeros(2)
    model = proximal_newton.QuadraticModel(problem, W, b, A, np.zeros_like(A), features, 1.0)
    columns = np.array([1, 5, 6, 40, 49], dtype=np.int64)
    B = np.hstack([X[:, columns].toarray(), np.ones((300, 1))])
    for k in range(2):
        expected = B.T @ (B * (3.0 * A[:, k] * (1 - A[:, k]))[:, None])
        np.testing.assert_allclose(
            _gram_cd.form(model, columns, method)[k], expected, rtol=1e-5, atol=1e-6
        )


def test_dense_rows_rebuild_the_columns_block_by_block():
    X = sp.random(50, 30, density=0.2, random_state=0, format="csc")
    columns = np.array([0, 3, 4, 17, 29], dtype=np.int64)
    positions = X.indptr[columns].astype(np.int64)
    blocks = []
    for stop in (7, 8, 30, 50):  # rows 0-6, 7, 8-29, 30-49
        out = np.full((stop - (sum(len(b) for b in blocks)), 6), 9.0)
        _column_kernels.dense_rows(X.indptr, X.indices, X.data, columns, positions, stop, out)
        assert (out[:, 5] == 9.0).all()  # columns past len(columns) left alone
        blocks.append(out[:, :5])
    np.testing.assert_array_equal(np.vstack(blocks), X[:, columns].toarray())


def _lasso(p=60, correlated=0.0):
    """A lasso-shaped model: ``G`` from rows whose columns share a common factor."""
    rng = np.random.default_rng(0)
    common = rng.normal(size=(400, 1))
    B = np.sqrt(1 - correlated) * rng.normal(size=(400, p)) + np.sqrt(correlated) * common
    grad = B.T @ rng.normal(size=400) * 3
    lam = np.full(p, 12.0)
    lam[-1] = 0.0  # an unpenalised coordinate (the intercept)
    return B.T @ B, grad, lam


def _assert_lasso_optimal(G, start_grad, grad, u, lam):
    np.testing.assert_allclose(grad, start_grad + G @ u, atol=1e-8)  # kept up to date
    nonzero = u != 0
    assert 0 < nonzero.sum() < len(u)
    np.testing.assert_allclose(grad[nonzero], -lam[nonzero] * np.sign(u[nonzero]), atol=1e-7)
    assert (np.abs(grad[~nonzero]) <= lam[~nonzero] + 1e-7).all()


def test_gram_sweeps_meet_the_lasso_optimality_conditions():
    G, grad, lam = _lasso()
    start_grad, u = grad.copy(), np.zeros(len(lam))
    sweeps, largest = _column_kernels.gram_sweeps(G, grad, u, lam, 1e-12, 10_000)
    assert 1 < sweeps < 10_000 and largest <= 1e-12
    _assert_lasso_optimal(G, start_grad, grad, u, lam)


def test_newton_steps_on_the_signs_finish_what_sweeps_crawl_through(monkeypatch):
    """On strongly correlated columns coordinate descent takes hundreds of sweeps; with a
    Newton step on the non-zero coordinates after every two, a few sweeps reach the same
    point (and never a higher model value: each step is checked)."""
    G, grad, lam = _lasso(correlated=0.98)
    start_grad = grad.copy()
    sweeps_only, u_only = grad.copy(), np.zeros(len(lam))
    crawled, _ = _column_kernels.gram_sweeps(G, sweeps_only, u_only, lam, 1e-9, 100_000)
    steps = []
    real = _gram_cd._newton_step
    monkeypatch.setattr(_gram_cd, "_newton_step", lambda *a: steps.append(1) or real(*a))
    u = np.zeros(len(lam))
    used = _gram_cd.minimise(_column_kernels, G, grad, u, lam, 1e-9, 100_000)
    assert crawled > 200 and used < crawled / 10 and len(steps) > 0
    _assert_lasso_optimal(G, start_grad, grad, u, lam)
    np.testing.assert_allclose(u, u_only, atol=1e-7)
