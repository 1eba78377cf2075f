"""The objective along a line from the net inputs (``_objective_line``): the values, slopes
and gradients of ``f`` itself, the line search it serves taking the same steps for fewer
passes over ``X``."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg.objective import LinearObjective
from softmaxreg.solvers._line_search import net_input_line_search, wolfe_line_search

newton_cg_module = importlib.import_module("softmaxreg.solvers.newton_cg")

CASES = [
    ("multinomial", 4, "dense", True, True),
    ("multinomial", 3, "sparse", False, True),
    ("binary", 1, "sparse", True, False),
    ("multilabel", 3, "dense", True, True),
    ("multinomial", 3, "dense", False, False),
]


def _objective(kind, K, layout, weighted, penalize, seed=0, m=30):
    rng = np.random.default_rng(seed)
    n = 400
    X = rng.normal(size=(n, m)) * (rng.random((n, m)) < 0.3)
    X = sp.csr_matrix(X) if layout == "sparse" else X
    y = {
        "multinomial": lambda: rng.integers(0, K, size=n),
        "binary": lambda: rng.integers(0, 2, size=n).astype(float),
        "multilabel": lambda: rng.integers(0, 2, size=(n, K)).astype(float),
    }[kind]()
    w = rng.uniform(0.2, 3.0, size=n) if weighted else None
    objective = LinearObjective(X, y, kind, C=2.0, dtype=torch.float64, sample_weight=w,
                                penalize=penalize)
    theta = torch.from_numpy(rng.normal(size=objective.n_params) * 0.2)
    direction = torch.from_numpy(rng.normal(size=objective.n_params) * 0.3)
    return objective, theta, direction


@pytest.mark.parametrize("kind,K,layout,weighted,penalize", CASES)
def test_the_line_gives_f_its_slope_and_gradient(kind, K, layout, weighted, penalize):
    objective, theta, direction = _objective(kind, K, layout, weighted, penalize)
    objective.value_and_grad(theta)
    line = objective.along(theta, direction)
    for alpha in (0.0, 0.3, 1.0, 2.5):
        point = theta + alpha * direction
        value, grad = objective.value_and_grad(point)
        phi, slope = line.value_and_slope(alpha)
        assert phi == pytest.approx(value, rel=1e-12)
        assert slope == pytest.approx(float(grad @ direction), rel=1e-10, abs=1e-10)
    at, value, grad = line.point(0.7)
    exact_value, exact_grad = objective.value_and_grad(theta + 0.7 * direction)
    torch.testing.assert_close(at, theta + 0.7 * direction, rtol=1e-15, atol=1e-15)
    assert value == pytest.approx(exact_value, rel=1e-12)
    torch.testing.assert_close(grad, exact_grad, rtol=1e-10, atol=1e-10)


def test_the_point_becomes_the_last_pass():
    """After :meth:`point`, the Hessian at that point (a solver's promise) and a line from
    it use its net inputs: no product for ``Z``."""
    objective, theta, direction = _objective("multinomial", 3, "dense", False, True)
    objective.value_and_grad(theta)
    at, _, _ = objective.along(theta, direction).point(0.5)
    fresh = _objective("multinomial", 3, "dense", False, True)[0]
    v = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    calls = []
    real = objective.design.linear
    objective.design.linear = lambda W, b: calls.append(1) or real(W, b)
    product = objective.hessian_operator(at, at_last_pass=True)[0]
    objective.along(at, direction)
    assert len(calls) == 1  # D = X d; none for Z (H v multiplies in its fused pass)
    torch.testing.assert_close(product(v), fresh.hessian_operator(at.clone())[0](v))


@pytest.mark.parametrize("alpha0", [1.0, 0.05, 20.0])
def test_the_line_search_takes_the_same_step_for_two_products(alpha0):
    """The line search on the net inputs makes the trials that on ``f`` makes and takes the
    same step; it multiplies by ``X`` twice (``X d``, then ``X^T R`` at the step) however
    many trials it makes."""
    objective, theta, _ = _objective("multinomial", 4, "sparse", True, True)
    value, grad = objective.value_and_grad(theta)
    direction = -grad * 0.5  # a descent direction
    reference = wolfe_line_search(objective.value_and_grad, theta, value, grad, direction,
                                  alpha0)
    value, grad = objective.value_and_grad(theta)  # theta is the last pass again
    design = objective.design
    counts = {"linear": 0, "transposed_product": 0, "fused_transposed_product": 0}
    for name in counts:
        real = getattr(design, name)

        def counted(*args, _real=real, _name=name):
            counts[_name] += 1
            return _real(*args)

        setattr(design, name, counted)
    step = net_input_line_search(objective, theta, value, grad, direction, alpha0)
    assert step.alpha == pytest.approx(reference.alpha, rel=1e-12)
    assert step.n_evals == reference.n_evals
    assert step.value == pytest.approx(reference.value, rel=1e-12)
    torch.testing.assert_close(step.grad, reference.grad, rtol=1e-10, atol=1e-10)
    assert counts == {"linear": 1, "transposed_product": 1, "fused_transposed_product": 0}


@pytest.mark.parametrize("kind,K,layout,weighted,penalize", CASES)
def test_overwrite_puts_the_step_into_the_given_tensors(kind, K, layout, weighted, penalize):
    """``overwrite=True``: the same step, its point written into the direction's tensor and
    its gradient into the old gradient's, no new ones; the point is the last pass."""
    objective, theta, _ = _objective(kind, K, layout, weighted, penalize)
    value, grad = objective.value_and_grad(theta)
    reference = net_input_line_search(objective, theta, value, grad, -0.5 * grad)
    value, grad = objective.value_and_grad(theta)
    direction = -0.5 * grad
    step = net_input_line_search(objective, theta, value, grad, direction, overwrite=True)
    assert step.point is direction and step.grad is grad
    assert step.alpha == reference.alpha and step.value == reference.value
    torch.testing.assert_close(step.point, reference.point, rtol=0, atol=0)
    torch.testing.assert_close(step.grad, reference.grad, rtol=1e-15, atol=1e-15)
    assert objective._last_net_inputs(step.point) is not None


def test_overwrite_without_a_step_leaves_both_tensors():
    objective, theta, _ = _objective("binary", 1, "dense", False, True)
    value, grad = objective.value_and_grad(theta)
    direction = grad.clone()  # uphill: no step
    kept = (direction.clone(), grad.clone())
    assert net_input_line_search(objective, theta, value, grad, direction, overwrite=True) is None
    assert torch.equal(direction, kept[0]) and torch.equal(grad, kept[1])


@pytest.mark.parametrize("wrong", ["direction", "theta", "overlapping", "short", "float32"])
def test_a_gradient_cannot_be_written_over_its_point(wrong):
    """A ``grad_out`` that is the point, ``theta``, or not the direction's kind is refused
    before anything is written: the direction stays what it was."""
    objective, theta, _ = _objective("multinomial", 3, "sparse", False, True)
    objective.value_and_grad(theta)
    buffer = np.linspace(-1, 1, theta.numel() + 1)
    direction = torch.from_numpy(buffer[:-1])
    kept = direction.clone()
    line = objective.along(theta, direction)
    grad_out = {"direction": direction, "theta": theta,
                # another tensor on the same NumPy buffer, one element on
                "overlapping": torch.from_numpy(buffer[1:]),
                "short": torch.zeros(3, dtype=theta.dtype),
                "float32": torch.zeros(theta.shape, dtype=torch.float32)}[wrong]
    message = ("grad_out must not share memory" if wrong in ("direction", "theta", "overlapping")
               else "grad_out must be a tensor of the direction's shape")
    with pytest.raises(ValueError, match=message):
        line.point(0.5, grad_out=grad_out)
    assert torch.equal(direction, kept)


def test_no_descent_direction_gives_no_step():
    objective, theta, _ = _objective("binary", 1, "dense", False, True)
    value, grad = objective.value_and_grad(theta)
    assert net_input_line_search(objective, theta, value, grad, grad) is None


@pytest.mark.parametrize("refresh", [1, 16])
def test_subsampled_newton_cg_with_net_input_steps_reaches_the_optimum(refresh, monkeypatch):
    """Newton-CG with a subsampled Hessian (forced here) searches its lines on the net
    inputs, refreshing them by a pass every ``NET_INPUT_REFRESH`` steps and where the rule
    holds: the fit ends at the exact-Hessian fit's optimum, its gradient from a pass."""
    # wide: Jacobi's preconditioner, the one that subsamples
    objective, _, _ = _objective("multinomial", 4, "sparse", True, True, seed=3, m=2000)
    reference = newton_cg_module.newton_cg(objective, objective.zeros(), tol=1e-10)
    searches = []
    real = newton_cg_module.net_input_line_search
    monkeypatch.setattr(newton_cg_module, "net_input_line_search",
                        lambda *args, **options: searches.append(1) or real(*args, **options))
    monkeypatch.setattr(newton_cg_module, "EXACT_HESSIAN_MAX_ROWS", 100)
    monkeypatch.setattr(newton_cg_module, "SUBSAMPLE_MIN_ROWS", 200)
    monkeypatch.setattr(newton_cg_module, "NET_INPUT_REFRESH", refresh)
    result = newton_cg_module.newton_cg(objective, objective.zeros(), tol=1e-8, max_iter=300)
    assert result.converged and searches
    best = objective.value(reference.theta)
    assert objective.value(result.theta) - best <= 1e-9 * best
    np.testing.assert_allclose(result.theta.numpy(), reference.theta.numpy(), atol=1e-4)


@pytest.mark.parametrize("kind,K,layout,weighted,penalize", CASES)
def test_the_zero_start_needs_no_product_for_its_net_inputs(kind, K, layout, weighted,
                                                             penalize):
    """``value_and_grad`` at the tensor ``zeros()`` made skips ``X W^T`` (it is 0): the same
    value and gradient as at any other zero vector, one product ``R^T X``."""
    objective, _, _ = _objective(kind, K, layout, weighted, penalize)
    expected_value, expected_grad = objective.value_and_grad(
        torch.zeros(objective.n_params, dtype=torch.float64)
    )
    design = objective.design
    calls = []
    for name in ("linear", "fused_transposed_product"):
        real = getattr(design, name)
        setattr(design, name, lambda *args, _real=real: calls.append(1) or _real(*args))
    zeros = objective.zeros()
    value, grad = objective.value_and_grad(zeros)
    assert calls == []
    assert value == pytest.approx(expected_value, rel=1e-14)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-13, atol=1e-13)
    # its net inputs serve the Hessian there (a solver's promise), as after any pass
    objective.hessian_operator(zeros, at_last_pass=True)
    assert calls == []


def test_a_zero_start_changed_behind_torchs_back_is_computed_afresh():
    """A write through a NumPy view does not count as a change for torch's version counter:
    the zero start is checked by value, so such a tensor gets a real pass."""
    objective, _, _ = _objective("multinomial", 3, "sparse", True, True)
    zeros = objective.zeros()
    zeros.numpy()[:5] = 0.7
    value, grad = objective.value_and_grad(zeros)
    expected_value, expected_grad = objective.value_and_grad(zeros.clone())
    assert value == expected_value
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=0)
