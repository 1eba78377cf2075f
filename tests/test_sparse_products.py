"""CSR products over row blocks on threads (_design/sparse_products.py) equal scipy's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg._design import sparse_products


@pytest.fixture
def threads():
    previous = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(previous)


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_block_products_equal_scipy(monkeypatch, threads, n_threads, dtype):
    monkeypatch.setattr(sparse_products, "MIN_NONZEROS_PER_THREAD", 1)
    threads(n_threads)
    rng = np.random.default_rng(1)
    X = sp.random(301, 57, density=0.05, format="csr", random_state=2, dtype=dtype)
    X = (sp.diags((np.arange(301) >= 40).astype(dtype)) @ X).tocsr()  # 40 empty rows first
    X.eliminate_zeros()
    blocks = sparse_products.RowBlocks(X)
    assert len(blocks._split(n_threads)) <= n_threads
    B = rng.normal(size=(57, 4)).astype(dtype)
    R = rng.normal(size=(301, 4)).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(blocks.times(B), X @ B, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(blocks.transposed_times(R), X.T @ R, rtol=rtol, atol=rtol)


def test_the_blocks_share_the_matrix_arrays(monkeypatch):
    monkeypatch.setattr(sparse_products, "MIN_NONZEROS_PER_THREAD", 1)
    X = sp.random(100, 10, density=0.3, format="csr", random_state=0)
    for _, _, block in sparse_products.RowBlocks(X)._split(2):
        assert np.shares_memory(block.data, X.data) and np.shares_memory(block.indices, X.indices)


def test_a_matrix_without_non_zeros_gives_zeros(monkeypatch, threads):
    monkeypatch.setattr(sparse_products, "MIN_NONZEROS_PER_THREAD", 1)
    threads(2)
    blocks = sparse_products.RowBlocks(sp.csr_matrix((5, 3)))
    assert blocks.times(np.ones((3, 2))).tolist() == [[0.0, 0.0]] * 5
    assert blocks.transposed_times(np.ones((5, 2))).tolist() == [[0.0, 0.0]] * 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_transposed_product_is_the_same_on_any_number_of_threads(monkeypatch, threads, dtype):
    """X^T R (every gradient) is summed over blocks that the non-zeros alone fix, in block
    order: one, two or three threads give it bit for bit."""
    monkeypatch.setattr(sparse_products, "MIN_NONZEROS_PER_THREAD", 1)
    rng = np.random.default_rng(3)
    X = sp.random(2000, 300, density=0.05, format="csr", random_state=4, dtype=dtype)
    R = rng.normal(size=(2000, 7)).astype(dtype)
    blocks = sparse_products.RowBlocks(X)
    results = []
    for n_threads in (1, 2, 3):
        threads(n_threads)
        results.append(blocks.transposed_times(R))
    assert len(blocks._split(blocks._reduction_blocks())) == sparse_products.REDUCTION_BLOCKS
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(results[0], X.T @ R, rtol=rtol, atol=rtol)
