"""Newton-CG's Kronecker-factored preconditioner: its factors against direct formulas, exact
inversion where the Kronecker product is the Hessian, and the objective's kept net inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg.objective import LinearObjective
from softmaxreg.solvers._kronecker import KroneckerPreconditioner, kronecker_preconditioner

N, M, K, C = 60, 4, 3, 0.8


def _problem(kind, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, M))
    X[rng.random((N, M)) < 0.3] = 0.0
    if kind == "binary":
        y = (rng.random(N) < 0.4).astype(np.float64)
    elif kind == "multinomial":
        y = rng.integers(0, K, N)
    else:
        y = (rng.random((N, K)) < 0.5).astype(np.float64)
    return X, y, rng.uniform(0.2, 2.0, N)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_factors_match_their_formulas(sparse, fit_intercept):
    X, y, weights = _problem("multinomial")
    objective = LinearObjective(sp.csr_matrix(X) if sparse else X, y, "multinomial", C=C,
                                fit_intercept=fit_intercept, sample_weight=weights,
                                dtype=torch.float64)
    rows = torch.tensor([1, 4, 5, 17, 30, 59])
    X_tilde = np.column_stack([X, np.ones(N)]) if fit_intercept else X
    s = weights[rows.numpy()]
    expected_gram = (X_tilde[rows.numpy()].T * s) @ X_tilde[rows.numpy()] / s.sum()
    np.testing.assert_allclose(objective.feature_gram(rows).numpy(), expected_gram, rtol=1e-12)
    theta = 0.3 * torch.randn(objective.n_params, generator=torch.Generator().manual_seed(1),
                              dtype=torch.float64)
    W, b = objective.unpack(theta)
    Z = X @ W.numpy().T + (b.numpy() if fit_intercept else 0.0)
    A = np.exp(Z - Z.max(axis=1, keepdims=True))
    A /= A.sum(axis=1, keepdims=True)
    expected = C * sum(w * (np.diag(a) - np.outer(a, a)) for w, a in zip(weights, A, strict=True))
    np.testing.assert_allclose(objective.output_curvature(theta).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["binary", "multinomial", "multilabel"])
def test_at_zero_without_intercept_it_inverts_the_hessian_exactly(kind):
    """At theta = 0 every sample has the same curvature H_i, so A (x) S + I is the Hessian."""
    X, y, weights = _problem(kind)
    objective = LinearObjective(X, y, kind, C=C, fit_intercept=False, sample_weight=weights,
                                dtype=torch.float64)
    theta = objective.zeros()
    precondition = KroneckerPreconditioner(objective, torch.arange(N)).at(theta)
    hvp = objective.hessian_operator(theta)[0]
    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        v = torch.randn(objective.n_params, generator=generator, dtype=torch.float64)
        torch.testing.assert_close(precondition(hvp(v)), v, rtol=1e-10, atol=1e-10)


def test_it_applies_only_where_its_decomposition_is_cheap():
    generator = torch.Generator().manual_seed(0)
    X, y, _ = _problem("multinomial")
    assert kronecker_preconditioner(LinearObjective(X, y, "multinomial"), generator) is not None
    wide = np.random.default_rng(0).normal(size=(N, 300))
    # 301^2 > 10 passes of 60 x 301 x 3 flops: the decomposition would cost more than it saves
    assert kronecker_preconditioner(LinearObjective(wide, y, "multinomial"), generator) is None


def test_the_hessian_reuses_net_inputs_only_at_the_same_theta():
    X, y, weights = _problem("multinomial")
    kept = LinearObjective(X, y, "multinomial", C=C, sample_weight=weights, dtype=torch.float64)
    fresh = LinearObjective(X, y, "multinomial", C=C, sample_weight=weights, dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    theta, other, v = (torch.randn(kept.n_params, generator=generator, dtype=torch.float64)
                       for _ in range(3))
    kept.value_and_grad(theta)
    for point in (theta, other):
        torch.testing.assert_close(kept.hessian_operator(point)[0](v),
                                   fresh.hessian_operator(point)[0](v), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(kept.output_curvature(point), fresh.output_curvature(point),
                                   rtol=1e-13, atol=1e-13)
