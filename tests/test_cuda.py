"""Every solver on the GPU gives the CPU's result within float tolerance (skipped without CUDA)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from softmaxreg import LogisticRegression

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

SOLVERS = {
    "lbfgs": {"tol": 1e-8},
    "newton-cg": {"tol": 1e-8},
    "gd": {"tol": 1e-6, "max_iter": 3000},
    "sgd": {"tol": None, "max_iter": 5, "batch_size": 32, "learning_rate": 0.05},
    "sample-sgd": {"tol": None, "max_iter": 2, "learning_rate": 0.01},
}


def _data(kind: str):
    generator = np.random.default_rng(7)
    X = generator.normal(size=(300, 6))
    scores = X @ generator.normal(size=(6, 3))
    if kind == "multilabel":
        return X, (scores > 0).astype(int)
    y = np.argmax(scores, axis=1)
    return X, (y == 0).astype(int) if kind == "binary" else y


@pytest.mark.parametrize("solver", sorted(SOLVERS))
@pytest.mark.parametrize("kind", ["binary", "multinomial", "multilabel"])
def test_cuda_fit_equals_cpu_fit(solver, kind):
    X, y = _data(kind)
    params = {"solver": solver, "dtype": "float64", "random_state": 0, **SOLVERS[solver]}
    cpu = LogisticRegression(device="cpu", **params).fit(X, y)
    gpu = LogisticRegression(device="cuda", **params).fit(X, y)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gpu.intercept_, cpu.intercept_, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))
