"""The proximal Newton solver's compiled column kernels (``_column_kernels``): a dense ``X``
becomes exactly scipy's canonical CSC, and a coordinate-descent sweep, which forms ``V``
from ``c`` and ``A`` and adds ``H Q`` to the data gradient ``R^T X`` it is given, moves as the
same sweep written over the stored ``V`` and ``R``."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmaxreg.solvers import _column_kernels as kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (7, 1), (1, 9), (40, 13)])
def test_dense_columns_equal_scipys_canonical_csc(dtype, shape):
    rng = np.random.default_rng(sum(shape))
    X = (rng.normal(size=shape) * (rng.random(shape) < 0.4)).astype(dtype)
    if X.size:
        X[0, 0] = -0.0  # a negative zero is no entry, as for scipy
        X[:, -1] = 0.0  # an empty column
        X[-1, :] = 0.0  # an empty row
    indptr, indices, data = kernels.dense_columns(X, np.int32)
    expected = sp.csc_matrix(X)
    assert expected.has_canonical_format
    assert indptr.dtype == np.int64 and indices.dtype == np.int32 and data.dtype == dtype
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)


def _reference_sweep(X, A, V, R, Q, S, softmax, U, Ub, hb, blocks, lam, alpha, fit_intercept):
    """One cycle of coordinate descent over all columns and the intercepts, in Python over
    the stored ``V`` and ``R`` (the kernel's arithmetic; its updates of ``Q`` and ``S`` by
    NumPy)."""
    K = U.shape[0]
    for j in range(X.shape[1]):
        column = X[:, j]
        rows, values = column.indices, column.data
        g = np.zeros(K)
        for i, x in zip(rows, values, strict=True):
            for k in range(K):
                curvature = V[i, k] * (Q[i, k] - S[i]) if softmax else V[i, k] * Q[i, k]
                g[k] += x * (R[i, k] + curvature)
        delta = np.zeros(K)
        for k in range(K):
            h = blocks[j, k, k]
            old = U[k, j]
            z = old - (g[k] + alpha * old) / h
            new = np.sign(z) * max(abs(z) - lam / h, 0.0)
            step = new - old
            if step == 0.0:
                continue
            U[k, j] = new
            delta[k] = step
            for other in range(K):
                g[other] += (blocks[j, other, k] - (alpha if other == k else 0.0)) * step
        Q[rows] += np.outer(values, delta)
        if softmax:
            S[rows] += values * (A[rows] @ delta)
    if fit_intercept:
        for k in range(K):
            if softmax:
                g = sum(R[i, k] + V[i, k] * (Q[i, k] - S[i]) for i in range(len(S)))
            else:
                g = sum(R[i, k] + V[i, k] * Q[i, k] for i in range(len(S)))
            step = -g / hb[k]
            Ub[k] += step
            Q[:, k] += step
            if softmax:
                S += A[:, k] * step


@pytest.mark.parametrize(("n", "m"), [(60, 9), (kernels.SPLIT_NONZEROS + 300, 3)])
@pytest.mark.parametrize(("softmax", "K"), [(True, 4), (False, 4), (False, 1)])
def test_a_sweep_from_the_data_gradient_moves_as_one_over_the_stored_arrays(softmax, K, n, m):
    """Softmax, sigmoids, and one sigmoid (binary: its own scalar loop); the larger data's
    first column is long enough to be summed in chunks."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, m)) * (rng.random((n, m)) < 0.5)
    X[:, 0] = rng.normal(size=n)
    X = sp.csc_matrix(X)
    c = rng.uniform(0.1, 3.0, size=n)  # weighted rows: c_i = C s_i
    Z = rng.normal(size=(n, K))
    if softmax:
        labels = rng.integers(0, K, size=n)
        A = np.exp(Z - Z.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
        V = c[:, None] * A
        R = A * c[:, None]
        R[np.arange(n), labels] -= c
    else:
        labels = np.empty(0, dtype=np.int64)
        A = 1 / (1 + np.exp(-Z))
        targets = (rng.random((n, K)) < 0.5).astype(float)
        V = c[:, None] * (A * (1 - A))
        R = (A - targets) * c[:, None]
    alpha, lam = 0.3, 0.05
    features = np.arange(m, dtype=np.int64)
    blocks = np.empty((m, K, K))
    kernels.column_hessians(X.indptr.astype(np.int64), X.indices, X.data, A, c, softmax,
                            features, alpha, blocks)
    # the intercepts' Hessian block (the kernel's), its diagonal (the reference's)
    Hb = np.diag(c @ A) - (A * c[:, None]).T @ A if softmax else np.diag(c @ (A * (1 - A)))
    hb = c @ (A * (1 - A))
    np.testing.assert_allclose(np.diagonal(Hb), hb, rtol=1e-12)
    state = [rng.normal(size=(K, m)) * (rng.random((K, m)) < 0.5), rng.normal(size=K),
             rng.normal(size=(n, K)) * 0.1, rng.normal(size=n) * 0.1]
    U, Ub, Q, S = (part.copy() for part in state)
    gradient = np.asarray((X.T @ R).T)  # R^T X: the model's data gradient at Q = 0
    for _ in range(3):
        kernels.sweep(X.indptr.astype(np.int64), X.indices, X.data, A, c, V, R, labels, Q, S,
                      softmax, U, Ub, Hb, features, blocks, gradient, features, lam, alpha,
                      True)
    U_ref, Ub_ref, Q_ref, S_ref = (part.copy() for part in state)
    for _ in range(3):
        _reference_sweep(X, A, V, R, Q_ref, S_ref, softmax, U_ref, Ub_ref, hb, blocks, lam,
                         alpha, True)
    assert not np.array_equal(U, state[0])  # the sweeps moved
    np.testing.assert_allclose(U, U_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Ub, Ub_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Q, Q_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(S, S_ref, rtol=1e-12, atol=1e-14)


def test_dense_rows_at_gathers_the_chosen_rows_of_the_chosen_columns():
    rng = np.random.default_rng(4)
    X = sp.random(50, 12, density=0.3, random_state=2, format="csc")
    columns = np.array([0, 3, 4, 11], dtype=np.int64)
    rows = np.sort(rng.choice(50, 17, replace=False))
    out = np.zeros((len(rows), len(columns)), dtype=np.float32)
    kernels.dense_rows_at(X.indptr.astype(np.int64), X.indices, X.data, columns, rows, 50, out)
    np.testing.assert_array_equal(out, X[rows][:, columns].toarray().astype(np.float32))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("K", [4, 1])  # one output: a scalar loop of its own
def test_products_with_selected_columns_hold_only_the_chosen_classes(masked, K):
    """``X_S^T R`` and ``Q += X_S D^T`` over all K classes, or over the coefficients a
    mask of classes holds (a support of one or two classes a column): the others of
    ``out`` are left as they were, the others of ``D`` taken as zero."""
    rng = np.random.default_rng(7)
    X = sp.random(50, 20, density=0.3, random_state=2, format="csc")
    columns = np.array([0, 4, 5, 11, 19], dtype=np.int64)
    classes = rng.random((K, len(columns))) < 0.4 if masked else np.ones((K, 5), dtype=bool)
    R, D = rng.normal(size=(50, K)), rng.normal(size=(K, len(columns)))
    chosen = classes if masked else None
    arrays = (X.indptr.astype(np.int64), X.indices, X.data)
    out = np.full((K, len(columns)), 9.0)
    kernels.selected_products(*arrays, columns, R, out, chosen)
    expected = (X[:, columns].T @ R).T
    np.testing.assert_allclose(out[classes], expected[classes], rtol=1e-13)
    assert (out[~classes] == 9.0).all()
    Q = rng.normal(size=(50, K))
    moved = Q.copy()
    kernels.add_selected(*arrays, columns, D, moved, chosen)
    np.testing.assert_allclose(moved, Q + X[:, columns] @ (D * classes).T, rtol=0, atol=1e-13)


@pytest.mark.parametrize("softmax", [True, False])
def test_quadratic_terms_are_the_models_linear_and_curvature_sums(softmax):
    rng = np.random.default_rng(8)
    n, K = 30, 3
    A = rng.dirichlet(np.ones(K), size=n) if softmax else rng.uniform(0.05, 0.95, (n, K))
    c, R, Q = rng.uniform(0.5, 2, n), rng.normal(size=(n, K)), rng.normal(size=(n, K))
    S = (A * Q).sum(axis=1)
    linear, curvature = kernels.quadratic_terms(A, c, R, Q, S, softmax)
    hessians = [np.diag(a) - np.outer(a, a) if softmax else np.diag(a * (1 - a)) for a in A]
    expected = sum(c[i] * Q[i] @ hessians[i] @ Q[i] for i in range(n))
    assert linear == pytest.approx(float((R * Q).sum()), rel=1e-13)
    assert curvature == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_products_split_over_threads_are_the_one_thread_products(monkeypatch, masked):
    """The gradient's ``R^T X`` over all columns, split by non-zeros over threads: each
    column's product is the one-thread one, bit for bit (masked entries left alone); and
    ``Q += X_S D^T`` split by rows: each row's sum the one-thread one."""
    monkeypatch.setattr(kernels, "MIN_NONZEROS_PER_THREAD", 1)  # split even this problem
    rng = np.random.default_rng(9)
    X = sp.random(200, 60, density=0.2, random_state=3, format="csc")
    columns = np.arange(60, dtype=np.int64)
    R = rng.normal(size=(200, 5))
    classes = rng.random((5, 60)) < 0.5 if masked else None
    arrays = (X.indptr.astype(np.int64), X.indices, X.data)
    one, split = np.full((5, 60), 3.0), np.full((5, 60), 3.0)
    kernels.selected_products(*arrays, columns, R, one, classes)
    kernels.selected_products(*arrays, columns, R, split, classes, threads=3)
    np.testing.assert_array_equal(split, one)
    Q_one, Q_split = R.copy(), R.copy()
    kernels.add_selected(*arrays, columns, one, Q_one, classes)
    kernels.add_selected(*arrays, columns, one, Q_split, classes, threads=3)
    np.testing.assert_array_equal(Q_split, Q_one)
    masked = one if classes is None else np.where(classes, one, 0.0)
    np.testing.assert_allclose(Q_one, R + X @ masked.T, rtol=0, atol=1e-12)


def test_magnitudes_are_the_smallest_non_zero_and_the_largest():
    data = np.array([0.0, -3e-30, 2.0, -7e200, 0.0])
    assert kernels.magnitudes(data) == (3e-30, 7e200)
    assert kernels.magnitudes(np.zeros(3)) == (np.inf, 0.0)


def test_l1_optimality_is_the_penaltys_over_the_coefficients():
    import torch

    from softmaxreg.penalties import L1Penalty

    rng = np.random.default_rng(11)
    W = rng.normal(size=(3, 40)) * (rng.random((3, 40)) < 0.4)
    G = rng.normal(size=(3, 40))
    lam = 0.7
    expected = L1Penalty(lam, W.size).optimality(torch.from_numpy(W.ravel()),
                                                 torch.from_numpy(G.ravel()))
    assert kernels.l1_optimality(W, G, lam) == pytest.approx(float(expected.max()), rel=1e-15)
    assert kernels.l1_optimality(np.zeros((1, 2)), np.array([[0.1, -0.2]]), 0.5) == 0.0
    G[2, 7] = np.nan
    assert np.isnan(kernels.l1_optimality(W, G, lam))


@pytest.mark.parametrize("softmax", [True, False])
def test_intercept_steps_that_are_not_finite_reach_the_net_inputs(softmax):
    """A NaN intercept step (here from a NaN residual or activation) moves ``Q`` as ``Ub``: the
    fit's line search then sees a NaN objective, not a finite one at a NaN intercept."""
    rng = np.random.default_rng(11)
    n, K = 20, 3
    A = rng.dirichlet(np.ones(K), size=n) if softmax else rng.uniform(0.1, 0.9, (n, K))
    c = np.ones(n)
    R = rng.normal(size=(n, K))
    R[4, :] = np.nan  # the sigmoids' gradient reads R
    if softmax:  # the softmax's reads A (and its Hessian block is made from it)
        A[4, :] = np.nan
    y = rng.integers(0, K, n) if softmax else np.empty(0, dtype=np.int64)
    Q, S, Ub = np.zeros((n, K)), np.zeros(n), np.zeros(K)
    V = c[:, None] * (A if softmax else A * (1 - A))
    Hb = np.diag(V.sum(axis=0)) - V.T @ A if softmax else np.diag(V.sum(axis=0))
    kernels.intercept_steps(A, c, R, y, Q, S, softmax, Ub, Hb)
    assert np.isnan(Ub).all() and np.isnan(Q).all()
