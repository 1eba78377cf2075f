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


@pytest.mark.parametrize("n_threads", [1, 2])
def test_row_products_of_other_dtypes_equal_scipy(monkeypatch, threads, n_threads):
    """B of another dtype than X (or integers) goes to scipy's kernel, with scipy's result
    dtype; B of X's dtype to the compiled one, the same numbers."""
    monkeypatch.setattr(sparse_products, "MIN_NONZEROS_PER_THREAD", 1)
    threads(n_threads)
    X = sp.random(50, 9, density=0.2, format="csr", random_state=5, dtype=np.float32)
    blocks = sparse_products.RowBlocks(X)
    B = np.random.default_rng(6).normal(size=(9, 3))
    for other in (B, B.astype(np.float32), np.arange(27).reshape(9, 3)):
        product = blocks.times(other)
        assert product.dtype == (X @ other).dtype
        np.testing.assert_allclose(product, X @ other, rtol=1e-6)


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


@pytest.mark.parametrize(
    "shape,per_row,expected",
    [
        ((5000, 1000), 50, 2),  # 250,000 non-zeros: two blocks of 125,000 >= 2 x 1000
        ((5000, 100_000), 50, 1),  # 250,000: a block needs 200,000 (each holds m x K)
        ((1000, 100), 50, 1),  # 50,000: below MIN_NONZEROS_PER_THREAD
    ],
)
def test_the_transposed_product_splits_where_a_block_pays_for_its_sum(shape, per_row, expected):
    """An extra block of ``X^T R`` writes and adds an ``(m, K)`` sum: it is made only where
    each block has ``MIN_NONZEROS_PER_THREAD`` non-zeros and ``NONZEROS_PER_COLUMN`` per
    column of ``X``; the blocks never depend on the thread count."""
    rng = np.random.default_rng(6)
    n, m = shape
    columns = np.sort(rng.choice(m, size=(n, per_row)), axis=1).ravel()  # repeats: summed
    X = sp.csr_matrix((rng.normal(size=n * per_row).astype(np.float32), columns,
                       np.arange(n + 1) * per_row), shape=shape)
    blocks = sparse_products.RowBlocks(X, frequency_order=False)
    assert blocks._reduction_blocks() == expected
    R = np.random.default_rng(7).normal(size=(shape[0], 3)).astype(np.float32)
    np.testing.assert_allclose(blocks.transposed_times(R), X.T @ R, rtol=1e-5, atol=1e-5)


def _skewed(rows: int, columns: int, seed: int, dtype=np.float32) -> sp.csr_matrix:
    """A CSR matrix whose column frequencies follow a Zipf law over scattered columns (as
    hashed text features), rows unsorted on input, with a few empty columns."""
    rng = np.random.default_rng(seed)
    scatter = rng.permutation(columns)
    per_row = rng.integers(0, 12, size=rows)
    cols = scatter[np.minimum(rng.zipf(1.3, size=per_row.sum()) - 1, columns - 1)]
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    X = sp.csr_matrix((rng.normal(size=len(cols)).astype(dtype), cols, indptr),
                      shape=(rows, columns))
    X.sum_duplicates()
    return X


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_on_columns_ordered_by_frequency_equal_scipy(monkeypatch, threads, n_threads,
                                                              dtype):
    """Large, wide matrices multiply on a copy renumbered by column frequency: both products
    take and give the original order, X^T R bit for bit as without the copy, and the
    caller's matrix is left as it was."""
    monkeypatch.setattr(sparse_products, "MIN_NONZEROS_PER_THREAD", 1)
    threads(n_threads)
    X = _skewed(3000, 500, seed=5, dtype=dtype)
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    rng = np.random.default_rng(6)
    B = rng.normal(size=(500, 6)).astype(dtype)
    R = rng.normal(size=(3000, 6)).astype(dtype)
    plain = sparse_products.RowBlocks(X)
    plain_products = plain.times(B), plain.transposed_times(R)
    assert plain.order is None  # below the thresholds
    monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_NONZEROS", 1)
    monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_COLUMNS", 1)
    ordered = sparse_products.RowBlocks(X)
    products = ordered.times(B), ordered.transposed_times(R)
    counts = np.bincount(X.indices, minlength=500)
    assert np.all(np.diff(counts[ordered.order]) <= 0)  # most frequent first
    np.testing.assert_array_equal(ordered.rank[ordered.order], np.arange(500))
    assert ordered.X.has_sorted_indices
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(products[0], X @ B, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(products[0], plain_products[0], rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(products[1], plain_products[1])
    np.testing.assert_allclose(products[1], X.T @ R, rtol=rtol, atol=rtol)
    for array, kept in zip((X.data, X.indices, X.indptr), before, strict=True):
        np.testing.assert_array_equal(array, kept)


def test_only_the_full_design_orders_its_columns(monkeypatch):
    """The design's own products use the frequency-ordered copy; designs made for a product
    or two (a subsampled Hessian's rows, X * X for its diagonal) do not make one, and all
    give the dense products."""
    from softmaxreg._design.matrix import SparseDesign

    monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_NONZEROS", 1)
    monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_COLUMNS", 1)
    X = _skewed(400, 90, seed=7, dtype=np.float64)
    design = SparseDesign(X, torch.float64, torch.device("cpu"))
    rng = np.random.default_rng(8)
    W, G = torch.from_numpy(rng.normal(size=(3, 90))), torch.from_numpy(rng.normal(size=(400, 3)))
    dense = torch.from_numpy(X.toarray())
    torch.testing.assert_close(design.linear(W, None), dense @ W.T, rtol=1e-12, atol=1e-12)
    assert design.blocks.order is not None
    torch.testing.assert_close(design.squared_transposed_product(G), G.T @ dense**2,
                               rtol=1e-12, atol=1e-12)
    index = torch.arange(0, 400, 3)
    subset = design.rows(index)
    torch.testing.assert_close(subset.linear(W, None), dense[index] @ W.T, rtol=1e-12,
                               atol=1e-12)
    assert subset.blocks.order is None
