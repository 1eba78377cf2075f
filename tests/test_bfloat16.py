"""The compiled rounded copies (_design/bfloat16.py): float32 -> bfloat16 and float64 -> float32,
torch's rounding, bit for bit, and None wherever a value does not survive."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from softmaxreg._design.bfloat16 import bfloat16_copy, float32_copy


def test_the_copy_rounds_as_torch_does():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 17)) * 10.0 ** rng.integers(-30, 30, size=(300, 17))
    X = torch.from_numpy(values.astype(np.float32))
    X[0, :4] = torch.tensor([0.0, -0.0, 1.0 + 2.0**-8, 1.0 + 3 * 2.0**-8])  # ties: to even
    X[1, :2] = torch.tensor([1e-39, -3e38])  # a float32 subnormal that survives; near the top
    copy = bfloat16_copy(X)
    assert torch.equal(copy.view(torch.int16), X.to(torch.bfloat16).view(torch.int16))


@pytest.mark.parametrize("value", [3.4e38, -3.4e38, np.inf, -np.inf, np.nan, 1e-44, -1e-44])
def test_a_value_that_does_not_survive_gives_none(value):
    X = torch.ones(3, 5)
    X[2, 4] = float(value)
    assert bfloat16_copy(X) is None


def test_only_2d_float32_cpu_tensors_are_taken():
    with pytest.raises(ValueError, match=r"expected a 2-D float32 CPU tensor, got torch.float64"):
        bfloat16_copy(torch.ones(2, 2, dtype=torch.float64))


def test_a_float32_design_that_underflows_keeps_its_exact_products(monkeypatch):
    import softmaxreg._design.matrix as design_matrix

    monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda: True)
    X = np.ones((10, 3), dtype=np.float32)
    assert design_matrix.DenseDesign(torch.from_numpy(X)).low_precision() is not None
    X[4, 1] = 1e-44
    assert design_matrix.DenseDesign(torch.from_numpy(X)).low_precision() is None


@pytest.mark.parametrize("special", [0.0, 1e-40, -3e38, 1.0 + 2.0**-24 + 2.0**-40])
def test_float32_copy_rounds_as_torch(special):
    X = np.random.default_rng(1).normal(size=(37, 11)) * 10.0 ** np.arange(-5, 6)
    X[3, 4] = special
    copy = float32_copy(torch.from_numpy(X))
    assert torch.equal(copy, torch.from_numpy(X).to(torch.float32))


@pytest.mark.parametrize("lost", [1e39, -np.inf, 1e-46])
def test_a_float64_value_float32_cannot_hold_gives_no_copy(lost):
    X = np.ones((10, 3))
    X[7, 2] = lost
    assert float32_copy(torch.from_numpy(X)) is None


def test_only_2d_float64_cpu_tensors_are_rounded_to_float32():
    with pytest.raises(ValueError, match=r"expected a 2-D float64 CPU tensor, got torch.float32"):
        float32_copy(torch.ones(2, 2, dtype=torch.float32))
