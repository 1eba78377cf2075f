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


def test_the_rent_or_buy_rule():
    X = sp.csc_matrix(np.eye(1000, 40))  # one non-zero per column
    problem = type(
        "Problem",
        (),
        {"indptr": X.indptr, "n": 1000, "K": 1, "softmax": False, "fit_intercept": False},
    )()
    columns = np.arange(40)
    assert _gram_cd.sweep_cost(problem, columns) == 40
    forming = 1000 * 40 * 40 / _gram_cd.DENSE_SPEEDUP + 40
    assert not _gram_cd.worth_forming(problem, columns, forming - 1)
    assert _gram_cd.worth_forming(problem, columns, forming)
    problem.softmax = True
    assert not _gram_cd.worth_forming(problem, columns, math.inf)


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


def test_gram_sweeps_meet_the_lasso_optimality_conditions():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(40, 12))
    G = B.T @ B
    grad = rng.normal(size=12) * 10
    lam = np.full(12, 12.0)
    lam[-1] = 0.0  # an unpenalised coordinate (the intercept)
    u = np.zeros(12)
    start_grad = grad.copy()
    sweeps = _column_kernels.gram_sweeps(G, grad, u, lam, 1e-12, 10_000)
    assert 1 < sweeps < 10_000
    np.testing.assert_allclose(grad, start_grad + G @ u, atol=1e-9)  # kept up to date
    nonzero = u != 0
    assert 0 < nonzero.sum() < 12
    np.testing.assert_allclose(grad[nonzero], -lam[nonzero] * np.sign(u[nonzero]), atol=1e-9)
    assert (np.abs(grad[~nonzero]) <= lam[~nonzero] + 1e-9).all()
