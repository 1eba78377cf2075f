"""Newton-CG's first step on large dense multinomial data (two SGD epochs, kept only if
they lower f): the same optimum, and no harm when the epochs do not help."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from softmaxreg.objective import LinearObjective
from softmaxreg.solvers import solve

newton_cg = importlib.import_module("softmaxreg.solvers.newton_cg")
burn_in = importlib.import_module("softmaxreg.solvers._burn_in")


@pytest.fixture(scope="module")
def large():
    rng = np.random.default_rng(0)
    n = newton_cg.EXACT_HESSIAN_MAX_ROWS + 1000
    # 60 features: mean ||x||^2 = 60, a learning rate of 50 / 60 (MNIST / 255: 50 / 88)
    X = rng.normal(size=(n, 60))
    y = np.argmax(X @ rng.normal(size=(60, 3)) / 4 + rng.gumbel(size=(n, 3)), axis=1)
    return LinearObjective(X, y, "multinomial", C=0.5, dtype=torch.float64)


def test_the_first_step_lowers_f_and_reaches_the_same_optimum(large, monkeypatch):
    zeros = large.zeros()
    value, grad = large.value_and_grad(zeros)
    generator = torch.Generator().manual_seed(0)
    theta, first_value, _ = burn_in.sgd_first_step(large, zeros, value, grad, generator)
    assert first_value < value and first_value == pytest.approx(large.value(theta), rel=1e-12)
    with_step = solve(large, "newton-cg", max_iter=100, tol=1e-8)
    monkeypatch.setattr(burn_in, "sgd_first_step", lambda o, t, v, g, gen: (t, v, g))
    without = solve(large, "newton-cg", max_iter=100, tol=1e-8)
    assert with_step.converged and without.converged
    torch.testing.assert_close(with_step.theta, without.theta, rtol=1e-5, atol=1e-5)


def test_epochs_that_do_not_lower_f_are_dropped(large, monkeypatch):
    monkeypatch.setattr(burn_in, "FIRST_STEP_RATE", 1e9)  # diverges
    zeros = large.zeros()
    value, grad = large.value_and_grad(zeros)
    generator = torch.Generator().manual_seed(0)
    theta, kept_value, kept_grad = burn_in.sgd_first_step(large, zeros, value, grad, generator)
    assert theta is zeros and kept_value == value and kept_grad is grad
