"""A subsampled Hessian of sparse data solved on the columns its rows use
(``_row_subproblem``): the same Newton system as the full-width one, and Newton-CG on it
reaches the optimum."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg._design import sparse_products
from softmaxreg._row_subproblem import row_subproblem
from softmaxreg.objective import LinearObjective
from softmaxreg.solvers.newton_cg import preconditioned_cg

newton_cg_module = importlib.import_module("softmaxreg.solvers.newton_cg")

KINDS = [("multinomial", 4), ("binary", 1), ("multilabel", 3)]


def _problem(kind, K, *, weights=False, fit_intercept=True, penalize=True, n=300, m=400,
             seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, m, density=0.01, format="csr", random_state=seed, dtype=np.float64)
    X.data = rng.normal(size=X.nnz)
    if kind == "multinomial":
        y = rng.integers(0, K, size=n)
    elif kind == "binary":
        y = rng.integers(0, 2, size=n).astype(float)
    else:
        y = rng.integers(0, 2, size=(n, K)).astype(float)
    w = rng.uniform(0.5, 2.0, size=n) if weights else None
    objective = LinearObjective(X, y, kind, C=3.0, dtype=torch.float64, sample_weight=w,
                                fit_intercept=fit_intercept, penalize=penalize)
    theta = torch.from_numpy(rng.normal(size=objective.n_params) * 0.3)
    return objective, theta, rng


def _unused(objective, sub):
    used = torch.zeros(objective.n_features, dtype=torch.bool)
    used[sub.columns] = True
    return ~used


@pytest.mark.parametrize("kind,K", KINDS)
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_the_rows_problem_is_the_subsampled_hessian(kind, K, weights, fit_intercept):
    """On the used columns (and the intercepts) the rows' problem's ``H v`` is the
    subsampled Hessian's; on the others that Hessian is ``lambda I``."""
    objective, theta, rng = _problem(kind, K, weights=weights, fit_intercept=fit_intercept)
    rows = torch.arange(0, objective.n_samples, 7)
    sub = row_subproblem(objective, rows, theta)
    unused = _unused(objective, sub)
    assert 0 < int(unused.sum()) < objective.n_features  # some columns are left out
    v = torch.from_numpy(rng.normal(size=objective.n_params))
    full = objective.hessian_operator(theta, rows)[0](v)
    # at the compacted point, and from the rows' net inputs (no point: what Newton-CG uses)
    for hvp in (sub.objective.hessian_operator(sub.compact(theta))[0],
                sub.hessian_operator()[0]):
        np.testing.assert_allclose(hvp(sub.compact(v)).numpy(), sub.compact(full).numpy(),
                                   rtol=1e-12, atol=1e-12)
    K_out, m = objective.n_outputs, objective.n_features
    np.testing.assert_allclose(
        full[: K_out * m].view(K_out, m)[:, unused].numpy(),
        v[: K_out * m].view(K_out, m)[:, unused].numpy() * objective.l2_strength,
        rtol=1e-12,
    )


def test_the_expanded_direction_solves_the_subsampled_newton_system():
    """The direction from the rows' problem (CG to 1e-13) solves the full-width subsampled
    system ``H_r p = -g``."""
    objective, theta, _ = _problem("multinomial", 3, weights=True)
    rows = torch.arange(0, objective.n_samples, 5)
    grad = objective.value_and_grad(theta)[1]
    sub = row_subproblem(objective, rows, theta, at_last_pass=True)
    hvp = sub.hessian_operator()[0]
    rhs = -sub.compact(grad)
    compact_direction, _ = preconditioned_cg(
        hvp, rhs.clone(), lambda r: r.clone(), 1e-13 * float(rhs.norm()), 2000
    )
    direction = sub.expand(compact_direction, grad)
    residual = objective.hessian_operator(theta, rows)[0](direction) + grad
    assert float(residual.norm()) <= 1e-9 * float(grad.norm())


@pytest.mark.parametrize("penalize", [True, False])
def test_expand_fills_the_unused_columns(penalize):
    """``expand`` copies the rows' problem's coefficients and intercepts into place and puts
    ``-g / lambda`` on the unused columns (0 without a penalty: ``H_r`` has no curvature
    there)."""
    objective, theta, rng = _problem("multinomial", 3, penalize=penalize)
    rows = torch.arange(0, objective.n_samples, 5)
    grad = objective.value_and_grad(theta)[1]
    sub = row_subproblem(objective, rows, theta)
    compact_direction = torch.from_numpy(rng.normal(size=sub.objective.n_params))
    direction = sub.expand(compact_direction, grad)
    np.testing.assert_array_equal(sub.compact(direction).numpy(), compact_direction.numpy())
    unused = _unused(objective, sub)
    K, m = objective.n_outputs, objective.n_features
    expected = -grad[: K * m].view(K, m)[:, unused] / objective.l2_strength
    np.testing.assert_array_equal(
        direction[: K * m].view(K, m)[:, unused].numpy(),
        expected.numpy() if penalize else np.zeros(expected.shape),
    )


def test_dense_data_and_weightless_rows_have_no_rows_problem():
    objective, theta, _ = _problem("multinomial", 3)
    dense = LinearObjective(objective.design.scipy.toarray(), objective.targets.numpy(),
                            "multinomial", dtype=torch.float64)
    rows = torch.arange(10)
    assert row_subproblem(dense, rows, theta) is None
    weights = np.ones(objective.n_samples)
    weights[:10] = 0.0
    weighted = LinearObjective(objective.design.scipy, objective.targets.numpy(), "multinomial",
                               sample_weight=weights, dtype=torch.float64)
    assert row_subproblem(weighted, rows, theta) is None
    assert row_subproblem(weighted, torch.arange(5, 15), theta) is not None


@pytest.mark.parametrize("kind,K", KINDS)
def test_subsampled_newton_cg_on_sparse_data_reaches_the_optimum(kind, K, monkeypatch):
    """With the Hessian subsampled (forced here on 300 rows), Newton-CG solves on the rows'
    columns and ends at the exact-Hessian fit's optimum."""
    objective, _, _ = _problem(kind, K, weights=True, n=600, m=300, seed=4)
    reference = newton_cg_module.newton_cg(objective, objective.zeros(), tol=1e-10)
    calls = []

    def recorded(full, rows, theta, at_last_pass=False):
        calls.append(rows.numel())
        return row_subproblem(full, rows, theta, at_last_pass)

    monkeypatch.setattr(newton_cg_module, "EXACT_HESSIAN_MAX_ROWS", 100)
    monkeypatch.setattr(newton_cg_module, "SUBSAMPLE_MIN_ROWS", 150)
    monkeypatch.setattr(newton_cg_module, "row_subproblem", recorded)
    result = newton_cg_module.newton_cg(objective, objective.zeros(), tol=1e-8, max_iter=500)
    assert result.converged
    assert calls and set(calls) == {150}
    best = objective.value(reference.theta)
    assert objective.value(result.theta) - best <= 1e-9 * best
    np.testing.assert_allclose(result.theta.numpy(), reference.theta.numpy(), atol=1e-4)


def test_rows_net_inputs_come_from_the_last_pass_only_at_its_point():
    """At the tensor of the last pass (the caller's promise) the rows' net inputs are that
    pass's; at any other point, or without the promise, a product with the rows."""
    objective, theta, _ = _problem("multinomial", 4, weights=True)
    rows = torch.arange(3, objective.n_samples, 11)
    expected = objective.design.rows(rows).linear(*objective.unpack(theta)).T
    objective.value_and_grad(theta)
    kept = objective._last_pass[2]
    kept[:, rows] += 1.0  # marks the kept net inputs: taken from there, or not
    np.testing.assert_allclose(objective.rows_net_inputs(theta, rows, True).numpy(),
                               expected.numpy() + 1.0, rtol=1e-12)
    for other, promise in ((theta, False), (theta.clone(), True)):
        np.testing.assert_allclose(objective.rows_net_inputs(other, rows, promise).numpy(),
                                   expected.numpy(), rtol=1e-12)


def test_the_rows_problem_runs_in_the_products_frequency_order(monkeypatch):
    """On a design whose products run on its columns by frequency, the rows' problem takes
    its columns in that order (``columns`` maps them back), is still the subsampled
    Hessian, and ``compact`` / ``expand`` map its vectors to and from the full problem's."""
    monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_NONZEROS", 1)
    monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_COLUMNS", 1)
    objective, theta, rng = _problem("multinomial", 3, n=400, m=300, seed=2)
    rows = torch.arange(0, objective.n_samples, 3)
    sub = row_subproblem(objective, rows, theta)
    counts = np.bincount(objective.design.scipy.indices, minlength=objective.n_features)
    columns = sub.columns.numpy()
    assert not np.all(np.diff(columns) > 0)  # not X's order
    assert np.all(np.diff(counts[columns]) <= 0)  # by descending frequency in X
    v = torch.from_numpy(rng.normal(size=objective.n_params))
    full = objective.hessian_operator(theta, rows)[0](v)
    np.testing.assert_allclose(sub.hessian_operator()[0](sub.compact(v)).numpy(),
                               sub.compact(full).numpy(), rtol=1e-12, atol=1e-12)
    grad = objective.value_and_grad(theta)[1]
    direction = sub.expand(sub.compact(v), grad)
    np.testing.assert_array_equal(sub.compact(direction).numpy(), sub.compact(v).numpy())


def test_net_inputs_are_those_of_every_row():
    objective, theta, _ = _problem("multinomial", 3)
    Z_t = objective.rows_net_inputs(theta, torch.arange(objective.n_samples))
    with pytest.raises(ValueError, match="net_inputs_t are those of every row: give no rows"):
        objective.hessian_operator(theta, torch.arange(5), net_inputs_t=Z_t)
    v = torch.ones(objective.n_params, dtype=torch.float64)
    np.testing.assert_allclose(
        objective.hessian_operator(None, net_inputs_t=Z_t)[0](v).numpy(),
        objective.hessian_operator(theta)[0](v).numpy(), rtol=1e-12,
    )
