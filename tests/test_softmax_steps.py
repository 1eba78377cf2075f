"""The NumPy minibatch steps (solvers/_softmax_steps.py) take exactly the steps of the
general path through ``LinearObjective.batch_value_and_grad``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from softmaxreg.objective import LinearObjective
from softmaxreg.solvers import _softmax_steps, solve


def _data(dtype):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(203, 6)).astype(dtype)
    y = rng.integers(0, 4, size=203)
    return X, y


@pytest.mark.parametrize("dtype, tolerance", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("penalize", [True, False])
def test_fast_steps_follow_the_general_path(monkeypatch, dtype, tolerance, penalize):
    X, y = _data(dtype)
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    objective = LinearObjective(X, y, "multinomial", C=0.05, penalize=penalize, dtype=torch_dtype)
    assert _softmax_steps.applies(objective)
    options = dict(max_iter=3, tol=None, batch_size=32, learning_rate=0.3, random_state=5)
    fast = solve(objective, "sgd", **options)
    monkeypatch.setattr(_softmax_steps, "applies", lambda objective: False)
    general = solve(objective, "sgd", **options)
    torch.testing.assert_close(fast.theta, general.theta, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(fast.history, general.history, rtol=tolerance)


def test_the_fast_steps_stand_in_only_where_they_apply():
    X, y = _data(np.float64)
    assert not _softmax_steps.applies(LinearObjective(X, y, "multinomial", fit_intercept=False))
    assert not _softmax_steps.applies(
        LinearObjective(X, y, "multinomial", sample_weight=np.ones(len(y)))
    )
    assert not _softmax_steps.applies(LinearObjective(X, (y > 1).astype(float), "binary"))


def test_a_label_far_below_the_largest_logit_gives_its_finite_loss():
    # the label's e^{z - max} underflows to 0 in float32; its loss is still z_max - z_label
    X = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1])
    objective = LinearObjective(X, y, "multinomial", penalize=False, dtype=torch.float32)
    steps = _softmax_steps.SoftmaxSteps(objective)
    steps.W[...] = [[-150.0, 0.0], [150.0, 0.0]]  # row 0: z = (-150, 150), label 0
    loss = steps.step(X, y, eta=0.0)
    assert loss == pytest.approx((300.0 + np.log(2.0)) / 2, rel=1e-6)
