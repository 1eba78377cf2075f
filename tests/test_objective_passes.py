"""The objective's classes-major passes and the activations kept from the last pass, through
LinearObjective: gradient and H v against central finite differences of ``value``, sparse
inputs of every awkward shape against the dense objective, and the Hessian's reuse of the
last pass only where it is that pass's unchanged theta."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg._design import matrix as design_matrix
from softmaxreg._design import sparse_products
from softmaxreg.objective import LinearObjective

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RTOL = 1e-5


def _targets(kind, n, K, rng):
    if kind == "binary":
        return rng.integers(0, 2, size=n).astype(np.float64)
    if kind == "multinomial":
        y = rng.integers(0, K, size=n)
        if n >= K:
            y[:K] = np.arange(K)
        return y
    return rng.integers(0, 2, size=(n, K)).astype(np.float64)


def _weights(spec, n, rng):
    if spec is None:
        return None
    if spec == "zeros":
        w = rng.uniform(0.5, 2.0, size=n)
        w[::3] = 0.0
        return w
    if spec == "huge":
        return rng.uniform(0.5, 2.0, size=n) * 1e8
    if spec == "fractional":
        return rng.uniform(1e-3, 0.3, size=n)
    raise ValueError(spec)


def _sparse_variant(name, rng):
    """(X as given to the objective, its dense equivalent)."""
    if name == "plain":
        X = sp.random(40, 9, density=0.35, format="csr", random_state=1)
    elif name == "duplicates":
        indptr = np.array([0, 3, 3, 6, 8, 10])
        indices = np.array([2, 2, 5, 0, 0, 0, 7, 7, 1, 1])
        data = rng.normal(size=10)
        X = sp.csr_matrix((data, indices, indptr), shape=(5, 9))
    elif name == "unsorted":
        base = sp.random(30, 9, density=0.4, format="csr", random_state=2)
        indices, data = base.indices.copy(), base.data.copy()
        for i in range(30):
            a, b = base.indptr[i], base.indptr[i + 1]
            indices[a:b], data[a:b] = indices[a:b][::-1].copy(), data[a:b][::-1].copy()
        X = sp.csr_matrix((data, indices, base.indptr.copy()), shape=base.shape)
        X.has_sorted_indices = False
    elif name == "empty_rows_cols":
        base = sp.random(30, 9, density=0.4, format="csr", random_state=3).toarray()
        base[::4] = 0.0
        base[:, [0, 4, 8]] = 0.0
        X = sp.csr_matrix(base)
    elif name == "int64_indices":
        base = sp.random(30, 9, density=0.4, format="csr", random_state=4)
        X = sp.csr_matrix((base.data, base.indices.astype(np.int64), base.indptr.astype(np.int64)),
                          shape=base.shape)
    elif name == "single_row":
        X = sp.csr_matrix(rng.normal(size=(1, 6)))
    elif name == "single_column":
        X = sp.csr_matrix(rng.normal(size=(25, 1)) * (rng.random((25, 1)) < 0.7))
    elif name == "wide":
        X = sp.random(12, 60, density=0.2, format="csr", random_state=5)
    else:
        raise ValueError(name)
    return X, np.asarray(X.toarray())


def _fd_check(obj, theta, rng, directions=3):
    """gradient . d and H d against central differences of value / of the gradient."""
    value, grad = obj.value_and_grad(theta)
    assert value == pytest.approx(obj.value(theta), rel=1e-10, abs=1e-10)
    scale = max(1.0, float(theta.abs().max()))
    for _ in range(directions):
        d = torch.from_numpy(rng.normal(size=theta.shape))
        h = 1e-4 * scale / float(d.abs().max())
        fd = (obj.value(theta + h * d) - obj.value(theta - h * d)) / (2 * h)
        analytic = float(grad @ d)
        assert analytic == pytest.approx(fd, rel=RTOL, abs=RTOL * (abs(value) + 1e-12))
        hv = obj.hessian_vector_product(theta, d)
        g_plus = obj.value_and_grad(theta + h * d)[1]
        g_minus = obj.value_and_grad(theta - h * d)[1]
        fd_hv = (g_plus - g_minus) / (2 * h)
        np.testing.assert_allclose(
            hv.numpy(), fd_hv.numpy(), rtol=RTOL, atol=RTOL * float(fd_hv.abs().max() + 1e-12)
        )


def _theta(obj, rng, spread=0.7):
    return torch.from_numpy(rng.normal(size=obj.n_params) * spread)


KINDS = [("binary", 1), ("multinomial", 2), ("multinomial", 3), ("multinomial", 20),
         ("multilabel", 4)]


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weights", [None, "zeros", "huge", "fractional"])
def test_dense_gradient_and_hv_against_finite_differences(kind, K, fit_intercept, weights):
    rng = np.random.default_rng(zlib.crc32(f"{kind}{K}{fit_intercept}{weights}".encode()))
    n, m = 70, 5
    X = rng.normal(size=(n, m))
    obj = LinearObjective(X, _targets(kind, n, K, rng), kind, fit_intercept=fit_intercept,
                          sample_weight=_weights(weights, n, rng), dtype=torch.float64,
                          C=1e-7 if weights == "huge" else 1.0)
    _fd_check(obj, _theta(obj, rng), rng)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_dense_many_blocks_gradient_and_hv(monkeypatch, kind, K, fit_intercept):
    """Several row blocks, the last one short: blocks of 256 rows on 600 rows."""
    monkeypatch.setattr(design_matrix, "BLOCK_BYTES", 8)
    rng = np.random.default_rng(11)
    n, m = 600, 4
    X = rng.normal(size=(n, m))
    obj = LinearObjective(X, _targets(kind, n, K, rng), kind, fit_intercept=fit_intercept,
                          sample_weight=rng.uniform(0, 2, size=n), dtype=torch.float64)
    _fd_check(obj, _theta(obj, rng, 0.3), rng, directions=2)


def _assert_same_diagonal(obj, ref, theta):
    _, diag_fm = obj.hessian_operator(theta, with_diagonal=True, features_major=True)
    _, diag = ref.hessian_operator(theta, with_diagonal=True)
    Km = obj.n_outputs * obj.n_features
    W_fm = obj.weight_view(diag_fm, True).reshape(-1)  # (K, m) view back in row-major order
    np.testing.assert_allclose(W_fm.numpy(), diag[:Km].numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(diag_fm[Km:].numpy(), diag[Km:].numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant", ["plain", "duplicates", "unsorted", "empty_rows_cols",
                                     "int64_indices", "single_row", "single_column", "wide"])
@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("ordered", [False, True])
def test_sparse_gradient_and_hv_against_finite_differences_and_dense(monkeypatch, variant, kind,
                                                                     K, ordered):
    if ordered:
        monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_NONZEROS", 1)
        monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_COLUMNS", 1)
        monkeypatch.setattr(sparse_products, "MIN_NONZEROS_PER_THREAD", 1)
    rng = np.random.default_rng(7)
    X, dense = _sparse_variant(variant, rng)
    before = (X.data.copy(), X.indices.copy(), X.indptr.copy())
    n = X.shape[0]
    y = _targets(kind, n, K, rng)
    if kind == "multinomial" and n < K:
        y = np.arange(n) % K
    kw = dict(fit_intercept=True, dtype=torch.float64,
              n_classes=K if kind == "multinomial" else None,
              sample_weight=rng.uniform(0, 2, size=n))
    obj = LinearObjective(X, y, kind, **kw)
    ref = LinearObjective(dense, y, kind, **kw)
    theta = _theta(obj, rng)
    v, g = obj.value_and_grad(theta)
    v_ref, g_ref = ref.value_and_grad(theta)
    assert v == pytest.approx(v_ref, rel=1e-12)
    np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-10, atol=1e-12)
    d = torch.from_numpy(rng.normal(size=theta.shape))
    np.testing.assert_allclose(obj.hessian_vector_product(theta, d).numpy(),
                               ref.hessian_vector_product(theta, d).numpy(),
                               rtol=1e-10, atol=1e-12)
    if variant != "duplicates":  # see test_sparse_hessian_diagonal_with_duplicate_entries
        _assert_same_diagonal(obj, ref, theta)
    _fd_check(obj, theta, rng, directions=2)
    for array, kept in zip((X.data, X.indices, X.indptr), before, strict=True):
        np.testing.assert_array_equal(array, kept)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_hv_at_last_pass_equals_a_fresh_objective(kind, K, sparse, dtype, weighted):
    rng = np.random.default_rng(21)
    n, m = 300, 6
    X = rng.normal(size=(n, m))
    X[rng.random((n, m)) < 0.4] = 0.0
    if dtype == torch.float32:
        X = X.astype(np.float32)
    data = sp.csr_matrix(X) if sparse else X
    y = _targets(kind, n, K, rng)
    w = rng.uniform(0, 3, size=n) if weighted else None
    obj = LinearObjective(data, y, kind, dtype=dtype, sample_weight=w)
    fresh = LinearObjective(data, y, kind, dtype=dtype, sample_weight=w)
    theta = _theta(obj, rng, 0.5)
    v = torch.from_numpy(rng.normal(size=theta.shape))
    obj.value_and_grad(theta)
    hvp, diag = obj.hessian_operator(theta, at_last_pass=True, with_diagonal=True)
    hvp_ref, diag_ref = fresh.hessian_operator(theta, with_diagonal=True)
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(hvp(v).numpy(), hvp_ref(v).numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(diag.numpy(), diag_ref.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(obj.output_curvature(theta, at_last_pass=True).numpy(),
                               fresh.output_curvature(theta).numpy(), rtol=tol, atol=tol)
    # float32 vectors (CG's on wide float32 data) on the kept activations too
    np.testing.assert_allclose(hvp(v.float()).numpy(), hvp_ref(v.float()).numpy(),
                               rtol=1e-4, atol=1e-4)


def _twins(kind, K, n, m, seed):
    """Two objectives on the same random data (one to pass over, one fresh) and the rng."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    y = _targets(kind, n, K, rng)
    return (LinearObjective(X, y, kind, dtype=torch.float64),
            LinearObjective(X, y, kind, dtype=torch.float64), rng)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("change", ["add_", "copy_", "index", "mul_"])
def test_hv_at_last_pass_after_an_in_place_change_is_not_stale(kind, K, change):
    obj, fresh, rng = _twins(kind, K, 120, 5, seed=22)
    theta = _theta(obj, rng)
    obj.value_and_grad(theta)
    other = _theta(obj, rng)
    if change == "add_":
        theta.add_(other)
    elif change == "copy_":
        theta.copy_(other)
    elif change == "index":
        theta[0] = 5.0
    else:
        theta.mul_(3.0)
    v = torch.from_numpy(rng.normal(size=theta.shape))
    np.testing.assert_allclose(obj.hessian_operator(theta, at_last_pass=True)[0](v).numpy(),
                               fresh.hessian_vector_product(theta, v).numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(obj.output_curvature(theta, at_last_pass=True).numpy(),
                               fresh.output_curvature(theta).numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
def test_hv_at_last_pass_for_another_tensor_of_equal_values_or_a_later_pass(kind, K):
    """The kept activations are those of the *last* pass: a second value_and_grad at
    another point replaces them; a different tensor is never served from the cache."""
    obj, fresh, rng = _twins(kind, K, 90, 4, seed=23)
    first, second = _theta(obj, rng), _theta(obj, rng)
    v = torch.from_numpy(rng.normal(size=first.shape))
    # at_last_pass before any pass: computed afresh
    np.testing.assert_allclose(obj.hessian_operator(first, at_last_pass=True)[0](v).numpy(),
                               fresh.hessian_vector_product(first, v).numpy(), rtol=1e-12,
                               atol=1e-12)
    obj.value_and_grad(first)
    obj.value_and_grad(second)
    for theta in (first, second, second.clone()):
        np.testing.assert_allclose(obj.hessian_operator(theta, at_last_pass=True)[0](v).numpy(),
                                   fresh.hessian_vector_product(theta, v).numpy(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("sparse", [False, True])
def test_batch_value_and_grad_matches_the_full_pass_on_all_rows(kind, K, sparse):
    rng = np.random.default_rng(24)
    n, m = 50, 5
    X = rng.normal(size=(n, m))
    data = sp.csr_matrix(X) if sparse else X
    y = _targets(kind, n, K, rng)
    w = rng.uniform(0, 2, size=n)
    obj = LinearObjective(data, y, kind, dtype=torch.float64, sample_weight=w)
    theta = _theta(obj, rng)
    value, grad = obj.value_and_grad(theta)
    bvalue, bgrad = obj.batch_value_and_grad(theta, torch.arange(n))
    scale = obj.C * n
    penalty = 0.5 * float(theta[: obj.n_outputs * m] @ theta[: obj.n_outputs * m])
    assert float(bvalue) * scale == pytest.approx(value - penalty + penalty, rel=1e-10)
    np.testing.assert_allclose((bgrad * scale).numpy(), grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
def test_subsampled_hessian_matches_fresh_objective_on_those_rows(kind, K):
    rng = np.random.default_rng(25)
    n, m = 80, 4
    X = rng.normal(size=(n, m))
    y = _targets(kind, n, K, rng)
    w = rng.uniform(0, 2, size=n)
    obj = LinearObjective(X, y, kind, dtype=torch.float64, sample_weight=w)
    rows = torch.arange(0, n, 3)
    sub = LinearObjective(X[rows.numpy()], (y[rows.numpy()]), kind, dtype=torch.float64,
                          sample_weight=w[rows.numpy()], n_classes=K if kind == "multinomial"
                          else None, C=obj.C * w.sum() / w[rows.numpy()].sum())
    theta = _theta(obj, rng)
    obj.value_and_grad(theta)
    v = torch.from_numpy(rng.normal(size=theta.shape))
    np.testing.assert_allclose(obj.hessian_operator(theta, rows=rows, at_last_pass=True)[0](v)
                               .numpy(), sub.hessian_vector_product(theta, v).numpy(),
                               rtol=1e-10, atol=1e-10)


def test_float32_and_float64_data_give_the_same_gradient_to_float32_precision():
    rng = np.random.default_rng(26)
    X = rng.normal(size=(500, 7))
    y = rng.integers(0, 20, size=500)
    o32 = LinearObjective(X.astype(np.float32), y, "multinomial", dtype=torch.float32)
    o64 = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    theta = _theta(o64, rng, 0.3)
    v32, g32 = o32.value_and_grad(theta)
    v64, g64 = o64.value_and_grad(theta)
    assert v32 == pytest.approx(v64, rel=1e-5)
    np.testing.assert_allclose(g32.numpy(), g64.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("ordered", [False, True])
def test_sparse_hessian_diagonal_with_duplicate_entries(monkeypatch, ordered):
    """A CSR X with a cell stored twice (a, b) gives (a + b)^2 in diag H (Newton-CG's
    preconditioner), not a^2 + b^2 (the design sums duplicates first)."""
    if ordered:
        monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_NONZEROS", 1)
        monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_COLUMNS", 1)
    X = sp.csr_matrix((np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 2])), shape=(1, 2))
    y = np.array([1.0])
    kw = dict(dtype=torch.float64, fit_intercept=False, penalize=False)
    obj = LinearObjective(X, y, "binary", **kw)
    ref = LinearObjective(X.toarray(), y, "binary", **kw)
    theta = torch.zeros(2, dtype=torch.float64)
    # ref: a (1 - a) x^2 = 0.25 * 9 = 2.25; got 0.25 * (1 + 4) = 1.25
    _assert_same_diagonal(obj, ref, theta)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_hessian_matrix_and_output_curvature_agree_with_hv(kind, K, fit_intercept, weighted):
    """hessian_in_theta_order (the _gram_blocks path, which now reads the transposed softmax
    view) times v equals H v; output_curvature equals its definition computed here."""
    rng = np.random.default_rng(31)
    n, m = 60, 4
    X = rng.normal(size=(n, m))
    y = _targets(kind, n, K, rng)
    w = rng.uniform(0, 2, size=n) if weighted else None
    obj = LinearObjective(X, y, kind, dtype=torch.float64, fit_intercept=fit_intercept,
                          sample_weight=w)
    theta = _theta(obj, rng)
    v = torch.from_numpy(rng.normal(size=theta.shape))
    H = obj.hessian_in_theta_order(theta)
    np.testing.assert_allclose((H @ v).numpy(), obj.hessian_vector_product(theta, v).numpy(),
                               rtol=1e-10, atol=1e-10)
    W = theta[: obj.n_outputs * m].reshape(obj.n_outputs, m).numpy()
    Z = X @ W.T + (theta[obj.n_outputs * m:].numpy() if fit_intercept else 0.0)
    if kind == "multinomial":
        A = np.exp(Z - Z.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
    else:
        A = 1 / (1 + np.exp(-Z))
    s = np.ones(n) if w is None else w
    if kind == "multinomial":
        S = np.diag((s[:, None] * A).sum(0)) - (s[:, None] * A).T @ A
    else:
        S = np.diag((s[:, None] * A * (1 - A)).sum(0))
    np.testing.assert_allclose(obj.output_curvature(theta).numpy(), S, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("data_dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_low_precision_hv_is_close_to_the_exact_one(monkeypatch, kind, K, data_dtype,
                                                    fit_intercept):
    """bfloat16 H v (classes-major blocks of a size in bytes: 4096 bfloat16 rows) within
    bfloat16's ~3 digits of the exact H v, on several blocks (9000 rows)."""
    monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda: True)
    rng = np.random.default_rng(32)
    n, m = 9000, 6
    X = rng.normal(size=(n, m))
    y = _targets(kind, n, K, rng)
    obj = LinearObjective(X, y, kind, dtype=data_dtype, fit_intercept=fit_intercept,
                          sample_weight=rng.uniform(0, 2, size=n))
    theta = _theta(obj, rng, 0.2)
    obj.value_and_grad(theta)
    v = torch.from_numpy(rng.normal(size=theta.shape))
    exact = obj.hessian_vector_product(theta, v)
    for at_last_pass in (False, True):
        low = obj.hessian_operator(theta, low_precision=True, at_last_pass=at_last_pass)[0](v)
        assert obj.design.low_precision() is not None
        err = float((low - exact).norm() / exact.norm())
        assert err < 2e-2, err


def test_no_columns_with_an_intercept():
    """m = 0 (only the intercept): the byte-sized blocks must not divide by zero."""
    rng = np.random.default_rng(33)
    X = np.zeros((40, 0))
    y = rng.integers(0, 3, size=40)
    obj = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    theta = _theta(obj, rng)
    _fd_check(obj, theta, rng, directions=2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_max_abs_edge_values(dtype):
    from softmaxreg.solvers._common import max_abs

    assert str(max_abs(torch.zeros(3, dtype=dtype))) == "0.0"
    assert str(max_abs(-torch.zeros(3, dtype=dtype))) == "0.0"
    assert max_abs(torch.tensor([-3.0, 2.0], dtype=dtype)) == 3.0
    assert max_abs(torch.tensor([-1.0, float("-inf")], dtype=dtype)) == float("inf")
    assert np.isnan(max_abs(torch.tensor([1.0, float("nan"), -5.0], dtype=dtype)))
    assert np.isnan(max_abs(torch.tensor([float("inf"), float("nan")], dtype=dtype)))
    big = torch.arange(2000, dtype=torch.float64).to(dtype)[1::3]  # a strided view
    assert max_abs(-big) == float(big.abs().max())
    assert max_abs(torch.tensor([-7.0], dtype=dtype)) == 7.0


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("ordered", [False, True])
def test_features_major_hv_on_kept_activations_float32_vectors(monkeypatch, kind, K, ordered):
    """Newton-CG's Jacobi path on sparse float32 data: features-major float32 vectors on the
    kept activations equal the theta-order H v (permuted)."""
    if ordered:
        monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_NONZEROS", 1)
        monkeypatch.setattr(sparse_products, "FREQUENCY_ORDER_MIN_COLUMNS", 1)
    rng = np.random.default_rng(34)
    n, m = 200, 30
    X = sp.random(n, m, density=0.2, format="csr", random_state=35, dtype=np.float32)
    y = _targets(kind, n, K, rng)
    obj = LinearObjective(X, y, kind, dtype=torch.float32, sample_weight=rng.uniform(0, 2, n))
    assert obj.prefers_features_major
    theta = _theta(obj, rng, 0.5)
    obj.value_and_grad(theta)
    v = torch.from_numpy(rng.normal(size=theta.shape))
    expected = obj.hessian_vector_product(theta, v)
    Kk, Km = obj.n_outputs, obj.n_outputs * m
    v_fm = torch.cat([obj.weight_view(v).T.reshape(-1), v[Km:]])
    hvp = obj.hessian_operator(theta, at_last_pass=True, features_major=True)[0]
    out = hvp(v_fm.float())
    assert out.dtype == torch.float32
    got = torch.cat([out[:Km].double().view(m, Kk).T.reshape(-1), out[Km:].double()])
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind,K", KINDS, ids=lambda v: str(v))
@pytest.mark.parametrize("sparse", [False, True])
def test_saturated_net_inputs(kind, K, sparse):
    """|z| ~ 1e3..1e4: activations exactly 0/1; value, gradient finite and equal across the
    dense/sparse layouts; kept and fresh H v equal."""
    rng = np.random.default_rng(36)
    n, m = 80, 4
    X = rng.normal(size=(n, m)) * 100
    y = _targets(kind, n, K, rng)
    data = sp.csr_matrix(X) if sparse else X
    obj = LinearObjective(data, y, kind, dtype=torch.float64)
    ref = LinearObjective(X, y, kind, dtype=torch.float64)
    theta = _theta(obj, rng, 30.0)
    value, grad = obj.value_and_grad(theta)
    assert np.isfinite(value) and bool(torch.isfinite(grad).all())
    value_ref, grad_ref = ref.value_and_grad(theta)
    assert value == pytest.approx(value_ref, rel=1e-12)
    assert value == pytest.approx(obj.value(theta), rel=1e-12)
    np.testing.assert_allclose(grad.numpy(), grad_ref.numpy(), rtol=1e-10, atol=1e-8)
    v = torch.from_numpy(rng.normal(size=theta.shape))
    kept = obj.hessian_operator(theta, at_last_pass=True)[0](v)
    assert bool(torch.isfinite(kept).all())
    np.testing.assert_allclose(kept.numpy(), ref.hessian_vector_product(theta, v).numpy(),
                               rtol=1e-10, atol=1e-8)
