"""The design matrix: blockwise squared products and row subsets that reuse their storage."""

from __future__ import annotations

import gc

import numpy as np
import scipy.sparse as sp
import torch

from softmaxreg._design.matrix import SQUARED_BLOCK_ROWS, make_design
from softmaxreg.objective import LinearObjective


def random_data(n, m, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    X[rng.random((n, m)) < 0.5] = 0.0
    return X, rng


def test_squared_transposed_product_matches_g_t_times_x_squared():
    n = 2 * SQUARED_BLOCK_ROWS + 37  # two full blocks and a partial one
    X, rng = random_data(n, 6)
    G = rng.normal(size=(n, 3))
    expected = G.T @ (X * X)
    for data in (X, sp.csr_matrix(X)):
        design = make_design(data, torch.float64, torch.device("cpu"))
        product = design.squared_transposed_product(torch.from_numpy(G))
        np.testing.assert_allclose(product.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_row_subsets_copy_into_free_storage_and_never_into_a_live_one():
    X, rng = random_data(300, 4)
    design = make_design(X, torch.float64, torch.device("cpu"))
    first_rows, second_rows, third_rows = (torch.from_numpy(rng.permutation(300)[:50])
                                           for _ in range(3))
    first = design.rows(first_rows)
    second = design.rows(second_rows)  # `first` is alive: a new block of memory
    assert second.X.data_ptr() != first.X.data_ptr()
    np.testing.assert_array_equal(first.X.numpy(), X[first_rows.numpy()])
    second_storage = second.X.data_ptr()
    del second
    gc.collect()
    third = design.rows(third_rows)  # `second` is gone: its storage is reused
    assert third.X.data_ptr() == second_storage
    np.testing.assert_array_equal(third.X.numpy(), X[third_rows.numpy()])
    np.testing.assert_array_equal(first.X.numpy(), X[first_rows.numpy()])
    other_size = design.rows(third_rows[:10])
    np.testing.assert_array_equal(other_size.X.numpy(), X[third_rows[:10].numpy()])


def test_two_live_subsampled_hessians_keep_their_own_rows():
    X, rng = random_data(400, 5, seed=3)
    y = rng.integers(0, 3, 400)
    objective = LinearObjective(X, y, "multinomial", C=0.5, dtype=torch.float64)
    theta = torch.from_numpy(rng.normal(size=objective.n_params))
    v = torch.from_numpy(rng.normal(size=objective.n_params))
    rows_a, rows_b = (torch.from_numpy(np.sort(rng.permutation(400)[:100])) for _ in range(2))
    hvp_a, _ = objective.hessian_operator(theta, rows_a)
    hvp_b, _ = objective.hessian_operator(theta, rows_b)
    only_a = LinearObjective(X[rows_a.numpy()], y[rows_a.numpy()], "multinomial",
                             C=0.5 * 400 / 100, dtype=torch.float64)
    # the data term on rows_a, scaled by n / |rows_a| (C * 4), plus the same penalty
    expected_a = only_a.hessian_vector_product(theta, v)
    torch.testing.assert_close(hvp_a(v), expected_a)
    assert not torch.allclose(hvp_b(v), expected_a)


def test_unsorted_csr_input_is_left_as_given_when_converted_to_another_dtype():
    """scipy's ``csr_matrix(X, dtype=...)`` shares X's index array: sorting the copy's
    indices in place used to reorder X's indices but not its values (X silently changed)."""
    X = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([2, 0, 1]), np.array([0, 3])), (1, 3))
    assert not X.has_sorted_indices
    design = make_design(X, torch.float32, torch.device("cpu"))
    assert X.toarray().tolist() == [[2.0, 3.0, 1.0]]
    assert design.scipy.toarray().tolist() == [[2.0, 3.0, 1.0]]


def _hessian_product(dtype):
    """Data (X, y) with more rows than one block of the fused product, its objective in
    ``dtype``, a point, a direction and the exact Hessian-vector product there."""
    X, rng = random_data(9_000, 7)
    y = rng.integers(0, 3, len(X))
    theta = torch.from_numpy(rng.normal(size=3 * 8))
    v = torch.from_numpy(rng.normal(size=3 * 8))
    objective = LinearObjective(X, y, "multinomial", dtype=dtype)
    return X, y, objective, theta, v, objective.hessian_operator(theta)[0](v)


def test_low_precision_products_use_a_bfloat16_copy_where_the_cpu_has_them(monkeypatch):
    """bfloat16 where the CPU multiplies it natively; elsewhere float32 X keeps its exact
    products and float64 X gets a float32 copy (see the next test)."""
    import softmaxreg._design.matrix as design_matrix

    X, y, objective, theta, v, exact = _hessian_product(torch.float32)
    monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda: False)
    assert objective.design.low_precision() is None
    torch.testing.assert_close(objective.hessian_operator(theta, low_precision=True)[0](v), exact)
    monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda: True)
    low = objective.design.low_precision()
    assert low.X.dtype == torch.bfloat16 and objective.design.low_precision() is low
    approximate = objective.hessian_operator(theta, low_precision=True)[0](v)
    assert approximate.dtype == torch.float64
    error = float((approximate - exact).norm() / exact.norm())
    assert 1e-6 < error < 1e-2  # bfloat16's 8 significant bits, summed in float32
    sparse = make_design(sp.csr_matrix(X), torch.float32, torch.device("cpu"))
    assert sparse.low_precision() is None


def test_float64_data_without_native_bfloat16_gets_float32_products(monkeypatch):
    import softmaxreg._design.matrix as design_matrix

    X, y, objective, theta, v, exact = _hessian_product(torch.float64)
    monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda: False)
    low = objective.design.low_precision()
    assert low.X.dtype == torch.float32 and objective.design.low_precision() is low
    assert torch.equal(low.X, objective.design.X.to(torch.float32))
    approximate = objective.hessian_operator(theta, low_precision=True)[0](v)
    assert approximate.dtype == torch.float64
    error = float((approximate - exact).norm() / exact.norm())
    assert 1e-12 < error < 1e-5  # float32's 24 significant bits
    X[5, 2] = 1e-50  # below float32's smallest: the copy would lose it, so none is made
    underflowing = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    assert underflowing.design.low_precision() is None
    torch.testing.assert_close(underflowing.hessian_operator(theta, low_precision=True)[0](v),
                               underflowing.hessian_operator(theta)[0](v))


def test_cpu_flags_decide_bfloat16(monkeypatch, tmp_path):
    import builtins

    import softmaxreg._design.matrix as design_matrix

    real_open = builtins.open
    for flags, expected in (("fpu avx512f avx512_bf16 sse", True), ("fpu avx2 sse", False)):
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\n")
        monkeypatch.setattr(builtins, "open", lambda path, *a, info=info, **k: real_open(
            info if path == "/proc/cpuinfo" else path, *a, **k))
        design_matrix.fast_bfloat16_products.cache_clear()
        assert design_matrix.fast_bfloat16_products() is expected
    design_matrix.fast_bfloat16_products.cache_clear()


def test_a_csr_cell_stored_twice_counts_once_in_the_squares_and_the_hessian_diagonal():
    """Duplicate entries (a and b stored for one cell) mean the cell a + b, as in scipy's
    products: the squared product and Newton-CG's Hessian diagonal see (a + b)^2, not
    a^2 + b^2, and the caller's matrix keeps its duplicates."""
    rng = np.random.default_rng(4)
    dense = rng.normal(size=(30, 5)) * (rng.random((30, 5)) < 0.6)
    rows, cols = np.nonzero(dense)  # row by row: each cell stored as 0.25 v, then 0.75 v
    values = np.stack([dense[rows, cols] * 0.25, dense[rows, cols] * 0.75], axis=1).ravel()
    indptr = np.concatenate([[0], np.cumsum(2 * np.bincount(rows, minlength=30))])
    X = sp.csr_matrix((values, np.repeat(cols, 2), indptr), shape=dense.shape)
    stored = X.nnz
    assert stored == 2 * len(rows) and not X.has_canonical_format
    G = rng.normal(size=(30, 3))
    design = make_design(X, torch.float64, torch.device("cpu"))
    product = design.squared_transposed_product(torch.from_numpy(G))
    np.testing.assert_allclose(product.numpy(), G.T @ dense**2, rtol=1e-12, atol=1e-12)
    y = rng.integers(0, 3, size=30)
    theta = torch.from_numpy(rng.normal(size=18) * 0.3)
    for data in (X, dense):
        objective = LinearObjective(data, y, "multinomial", dtype=torch.float64)
        diagonal = objective.hessian_operator(theta, with_diagonal=True)[1]
        if data is X:
            sparse_diagonal = diagonal
    np.testing.assert_allclose(sparse_diagonal.numpy(), diagonal.numpy(), rtol=1e-12)
    assert X.nnz == stored  # the caller's X is unchanged
