"""Newton-CG on wide float32 data: CG's vectors in float32, the float64 retry when a float32
product overflows, the objective's cached net inputs, and the line search's point."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from softmaxreg.bench.synthetic import text_like
from softmaxreg.objective import LinearObjective
from softmaxreg.solvers._kronecker import kronecker_preconditioner
from softmaxreg.solvers._line_search import wolfe_line_search

# the module itself: the package's attribute of that name is the solver function
newton_cg_module = importlib.import_module("softmaxreg.solvers.newton_cg")


@pytest.fixture(scope="module")
def wide():
    X, y = text_like(1200, 2**12, n_classes=4, words_per_row=40, seed=3)[:2]
    return X.astype(np.float32), y


def _objective(wide, dtype, C=10.0):
    X, y = wide
    return LinearObjective(X, y, "multinomial", C=C, dtype=dtype)


def _recording_cg(monkeypatch, hvp_wrapper=None):
    """Record the dtype of every CG solve (and optionally wrap its H v)."""
    real_cg = newton_cg_module.preconditioned_cg
    dtypes = []

    def recorded(hvp, rhs, precondition, tolerance, max_iter):
        dtypes.append(rhs.dtype)
        if hvp_wrapper is not None:
            hvp = hvp_wrapper(hvp)
        return real_cg(hvp, rhs, precondition, tolerance, max_iter)

    monkeypatch.setattr(newton_cg_module, "preconditioned_cg", recorded)
    return dtypes


@pytest.fixture(scope="module")
def optimum(wide):
    """The float64 objective's optimum (Newton-CG at tol=1e-10) and its value."""
    reference = _objective(wide, torch.float64)
    theta = newton_cg_module.newton_cg(reference, reference.zeros(), tol=1e-10).theta
    return reference, theta, reference.value(theta)


def _assert_at_optimum(optimum, theta):
    """Within what float32 data allows: fits of this float32 objective end 2e-14 to 2e-9
    (relative) above the float64 optimum and 3e-6 to 9e-4 from it in theta, by the
    rounding of their path (CG's vectors, their order, the dot products' split)."""
    reference, best, value = optimum
    assert reference.value(theta) - value <= 1e-8 * value
    assert float((theta - best).abs().max()) <= 3e-3


def test_float32_cg_vectors_reach_the_optimum(wide, optimum, monkeypatch):
    """Jacobi's path on float32 data runs CG in float32 while its tolerance is loose, then
    polishes in float64; the fit ends at the optimum as the float64-CG path does."""
    objective = _objective(wide, torch.float32)
    assert kronecker_preconditioner(objective, torch.Generator()) is None
    dtypes = _recording_cg(monkeypatch)
    result = newton_cg_module.newton_cg(objective, objective.zeros(), tol=1e-5)
    assert result.converged
    assert torch.float32 in dtypes
    assert dtypes[-1] == torch.float64  # the polishing step
    _assert_at_optimum(optimum, result.theta)


def test_float32_hessian_products_agree_with_float64(wide):
    """``H v`` for a float32 ``v`` is computed and returned in float32, equal to the float64
    product to float32 accuracy."""
    objective = _objective(wide, torch.float32)
    theta = torch.randn(objective.n_params, dtype=torch.float64, generator=torch.Generator()
                        .manual_seed(0)) * 0.1
    v = torch.randn(objective.n_params, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1))
    hvp, _ = objective.hessian_operator(theta)
    low = hvp(v.float())
    assert low.dtype == torch.float32
    exact = hvp(v)
    assert exact.dtype == torch.float64
    assert float((low.double() - exact).norm()) <= 1e-5 * float(exact.norm())


def test_an_overflowing_float32_product_sends_cg_back_to_float64(wide, optimum, monkeypatch):
    """A float32 ``H d`` that overflows (here forced) makes CG give up its float32 solve and
    redo it in float64: the fit still converges to the same point."""

    def overflowing(hvp):
        def product(v):
            out = hvp(v)
            return out.fill_(float("inf")) if out.dtype == torch.float32 else out
        return product

    objective = _objective(wide, torch.float32)
    dtypes = _recording_cg(monkeypatch, overflowing)
    result = newton_cg_module.newton_cg(objective, objective.zeros(), tol=1e-5)
    assert result.converged
    assert dtypes.count(torch.float32) >= 1
    # each float32 solve is redone at once in float64
    assert all(dtypes[i + 1] == torch.float64 for i, d in enumerate(dtypes) if d == torch.float32)
    _assert_at_optimum(optimum, result.theta)


def test_the_features_major_layout_is_a_permutation(wide):
    """``hessian_operator(features_major=True)`` takes and gives ``W`` as ``(m, K)`` rows: its
    H v and diagonal are the theta-order ones, permuted (bit for bit in float64)."""
    objective = _objective(wide, torch.float32)
    assert objective.prefers_features_major
    dense = LinearObjective(np.ones((5, 2)), [0, 1, 2, 0, 1], "multinomial")
    assert not dense.prefers_features_major
    generator = torch.Generator().manual_seed(2)
    theta = torch.randn(objective.n_params, dtype=torch.float64, generator=generator) * 0.1
    v = torch.randn(objective.n_params, dtype=torch.float64, generator=generator)
    layout = newton_cg_module._Layout(objective, True)
    hvp, diagonal = objective.hessian_operator(theta, with_diagonal=True)
    hvp_t, diagonal_t = objective.hessian_operator(theta, with_diagonal=True, features_major=True)
    permuted = layout.negated(-v, torch.float64)
    K, m = objective.n_outputs, objective.n_features
    np.testing.assert_array_equal(permuted[: K * m].view(m, K).T, v[: K * m].view(K, m))
    assert torch.equal(layout.in_theta_order(hvp_t(permuted)), hvp(v))
    assert torch.equal(layout.in_theta_order(diagonal_t), diagonal)
    assert not newton_cg_module._Layout(objective, False).features_major


def test_cg_reports_a_non_finite_curvature():
    direction, iterations = newton_cg_module.preconditioned_cg(
        lambda d: torch.full_like(d, float("inf")), torch.ones(3), lambda r: r.clone(), 1e-9, 10
    )
    assert direction is None and iterations == 1


def test_cg_works_in_its_right_hand_sides_dtype():
    """CG's vectors keep the dtype of the right-hand side (float32 here), whatever ``H v``
    returns; the right-hand side itself becomes the residual."""
    H = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    rhs = torch.tensor([1.0, 2.0], dtype=torch.float64)
    residual = rhs.float()
    direction, _ = newton_cg_module.preconditioned_cg(
        lambda d: H @ d.double(), residual, lambda r: r.clone(), 1e-6, 10
    )
    assert direction.dtype == torch.float32
    assert float(residual.norm()) <= 1e-6
    np.testing.assert_allclose(direction, torch.linalg.solve(H, rhs), rtol=1e-6)


def _hessian_product_and_passes(objective, theta, v, monkeypatch, **options):
    """``H v`` at ``theta`` and how many passes over X it took to form the Hessian."""
    passes = []
    real = objective._net_input
    monkeypatch.setattr(objective, "_net_input", lambda *a: passes.append(1) or real(*a))
    product = objective.hessian_operator(theta, **options)[0](v)
    monkeypatch.undo()
    return product, len(passes)


def test_the_hessian_reuses_the_last_pass_only_where_the_caller_says_so(wide, monkeypatch):
    """The net inputs of the last ``value_and_grad`` serve the Hessian only under
    ``at_last_pass`` (a solver's promise) and for that very tensor, unchanged: a change
    through a NumPy view (invisible to torch's version counter) or an in-place torch
    operation gets the Hessian at the new values."""
    objective = _objective(wide, torch.float32)
    fresh = _objective(wide, torch.float32)
    v = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    changed = torch.full((objective.n_params,), -0.03, dtype=torch.float64)
    expected = fresh.hessian_operator(changed.clone())[0](v)

    theta = torch.full((objective.n_params,), 0.01, dtype=torch.float64)
    objective.value_and_grad(theta)
    same, passes = _hessian_product_and_passes(objective, theta, v, monkeypatch,
                                               at_last_pass=True)
    assert passes == 0
    torch.testing.assert_close(same, fresh.hessian_operator(theta.clone())[0](v))

    theta.numpy()[:] = changed.numpy()  # the version counter does not see this
    got, passes = _hessian_product_and_passes(objective, theta, v, monkeypatch)
    assert passes == 1
    torch.testing.assert_close(got, expected)

    theta = torch.full((objective.n_params,), 0.01, dtype=torch.float64)
    objective.value_and_grad(theta)
    theta.copy_(changed)  # tracked: even the solver's promise does not reuse stale inputs
    got, passes = _hessian_product_and_passes(objective, theta, v, monkeypatch,
                                              at_last_pass=True)
    assert passes == 1
    torch.testing.assert_close(got, expected)


def test_the_line_search_returns_the_point_it_evaluated(wide):
    objective = _objective(wide, torch.float64)
    theta = objective.zeros()
    value, grad = objective.value_and_grad(theta)
    for alpha0 in (1.0, 1e4):  # accepted at once; after a zoom
        step = wolfe_line_search(objective.value_and_grad, theta, value, grad, -grad, alpha0)
        assert torch.equal(step.point, torch.add(theta, -grad, alpha=step.alpha))
        assert step.value == objective.value(step.point)


@pytest.mark.parametrize("method", ["newton-cg", "lbfgs"])
@pytest.mark.parametrize("width", [40, 2**12])
def test_the_solvers_form_the_hessian_from_their_line_search_pass(method, width, monkeypatch):
    """Newton-CG's Hessian and the Kronecker preconditioner (Newton-CG's and L-BFGS's) at
    the accepted point come from the line search's pass over X: no pass of their own."""
    from softmaxreg.solvers import solve

    X, y = text_like(1500, width, n_classes=4, words_per_row=30, seed=5)[:2]
    objective = LinearObjective(X.astype(np.float32).toarray(), y, "multinomial", C=1.0,
                                dtype=torch.float32)
    passes = []
    real = objective._net_input
    monkeypatch.setattr(objective, "_net_input", lambda *a: passes.append(1) or real(*a))
    result = solve(objective, method, max_iter=100, tol=1e-4)
    assert result.converged and result.n_iter >= 3
    assert passes == []
