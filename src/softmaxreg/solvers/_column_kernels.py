"""Compiled (numba) loops over the columns of ``X`` for the proximal Newton solver.

``X`` is held column by column (CSC: ``indptr``, ``indices``, ``data`` in float64), so one
coordinate ``W_kj`` touches only the non-zeros of column ``j``. Per-sample arrays are
``(n, K)`` row-major (the K outputs of one sample sit together):

- ``A``: the activations ``a_ik`` (softmax or sigmoid) at ``W``; ``c``: ``c_i = C s_i``;
  ``V``: ``c_i a_ik`` (softmax) or ``c_i a_ik (1 - a_ik)`` (sigmoids), formed in the loops
  from ``c`` and ``A``, not read from a stored ``(n, K)`` array: the sweeps' arrays then
  stay in cache (MNIST, 60,000 x 10: ``A``, ``R``, ``Q`` and ``V`` in float64 are 19 MB;
  without ``V`` a sweep over the active columns ran 1.6x faster on a 32 MB L3),
- ``R``: the weighted residual ``c_i (a_ik - y_ik)``,
- ``Q``: ``X D^T + d_b``, the change of the net inputs along the step ``D`` so far,
- ``S``: ``sum_k a_ik Q_ik`` (softmax only).

The local quadratic model of the smooth part at ``W`` (its exact Hessian, not formed by
the sweeps) has at ``U = W + D`` the gradient ``sum_i x_ij (R_ik + [H_i Q_i]_k) + alpha U_kj`` with
``[H_i q]_k = V_ik (q_k - S_i)`` (softmax: ``H_i = c_i (diag(a_i) - a_i a_i^T)``) or
``V_ik q_k`` (sigmoids), and the diagonal ``sum_i c_i a_ik (1 - a_ik) x_ij^2
+ alpha``; each coordinate step is the soft-threshold of its one-dimensional Newton step
(glmnet's update), so zeros are exact.
Also here: the products with selected columns (all of them for the net inputs and the
gradient) and, for the Newton steps on an active set (``_support_newton``, ``_gram_cd``),
their dense rows, the sigmoid Hessian block formed from the pairs of non-zeros of each
row, and coordinate descent on a formed block.
Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from softmaxreg._design.work_split import balanced_runs, run_on_threads

# below this many non-zeros a thread, starting one costs more than it saves
MIN_NONZEROS_PER_THREAD = 1 << 16


def column_hessians(indptr, indices, data, A, c, softmax, features, alpha, out, threads=1):
    """``out[t] = sum_i c_i x_ij^2 H(a_i) + alpha I`` (``K x K``) for ``j = features[t]``:
    the block of the exact Hessian that couples the K coefficients of column ``j``, with
    ``H(a) = diag(a) - a a^T`` (softmax) or ``diag(a (1 - a))`` (sigmoids).

    The columns are independent: with ``threads > 1`` runs of them with about equal
    non-zeros go to as many threads (the compiled loop releases the GIL), each block
    computed exactly as on one thread. MNIST elastic net, 525 columns x 10 classes: about
    0.2 s a call on one thread.
    """
    bounds = np.concatenate([[0], np.cumsum(indptr[features + 1] - indptr[features])])
    threads = max(1, min(threads, int(bounds[-1]) // MIN_NONZEROS_PER_THREAD))
    if threads == 1:
        _column_hessians(indptr, indices, data, A, c, softmax, features, alpha, out)
        return

    def run(a, b):
        _column_hessians(indptr, indices, data, A, c, softmax, features[a:b], alpha, out[a:b])

    run_on_threads(run, balanced_runs(bounds, threads), name="softmaxreg-columns")


@njit(cache=True, nogil=True)
def _column_hessians(indptr, indices, data, A, c, softmax, features, alpha, out):
    """:func:`column_hessians` for ``features`` on this thread."""
    K = A.shape[1]
    for position in range(features.shape[0]):
        j = features[position]
        block = out[position]
        block[:, :] = 0.0
        for t in range(indptr[j], indptr[j + 1]):
            i, x = indices[t], data[t]
            weight = c[i] * x * x
            for k in range(K):
                a = A[i, k]
                if softmax:
                    block[k, k] += weight * a
                    for other in range(k + 1):
                        block[k, other] -= weight * a * A[i, other]
                else:
                    block[k, k] += weight * a * (1.0 - a)
        for k in range(K):
            block[k, k] += alpha
            for other in range(k):
                block[other, k] = block[k, other]


@njit(cache=True)
def soft_threshold(z, threshold):
    """``sign(z) max(|z| - threshold, 0)``: the minimiser of ``(u - z)^2 / 2 + threshold
    |u|``, a coordinate's L1 step (exact zeros)."""
    if z > threshold:
        return z - threshold
    if z < -threshold:
        return z + threshold
    return 0.0


@njit(cache=True)
def _column_step(indptr, indices, data, A, c, R, Q, S, softmax, U, j, block, lam, alpha, g, delta):
    """Soft-thresholded Newton steps on ``U_kj`` for k = 0..K-1 in turn (exact within the
    column through its Hessian ``block``); updates ``Q`` and ``S``; returns the largest
    ``|delta_k| H_kk``. ``[H_i q]_k = V_ik (q_k - S_i)`` (softmax) or ``V_ik q_k`` (sigmoids),
    with ``V_ik`` formed from ``c_i`` and ``A`` (:func:`_curvature_weight`)."""
    K = U.shape[0]
    g[:] = 0.0
    for t in range(indptr[j], indptr[j + 1]):
        i, x = indices[t], data[t]
        if softmax:
            s = S[i]
            for k in range(K):
                g[k] += x * (R[i, k] + _curvature_weight(c[i], A[i, k], True) * (Q[i, k] - s))
        else:
            for k in range(K):
                g[k] += x * (R[i, k] + _curvature_weight(c[i], A[i, k], False) * Q[i, k])
    largest = 0.0
    moved = False
    for k in range(K):
        delta[k] = 0.0
        h = block[k, k]
        if h <= 0.0:
            continue
        old = U[k, j]
        # the block's diagonal holds alpha: g + (alpha U) is the model's gradient
        new = soft_threshold(old - (g[k] + alpha * old) / h, lam / h)
        step = new - old
        if step == 0.0:
            continue
        U[k, j] = new
        delta[k] = step
        moved = True
        largest = max(largest, abs(step) * h)
        for other in range(K):  # the data part of the block (alpha enters through U)
            g[other] += (block[other, k] - (alpha if other == k else 0.0)) * step
    if moved:
        for t in range(indptr[j], indptr[j + 1]):
            i, x = indices[t], data[t]
            for k in range(K):
                Q[i, k] += x * delta[k]
            if softmax:
                shift = 0.0
                for k in range(K):
                    shift += A[i, k] * delta[k]
                S[i] += x * shift
    return largest


@njit(cache=True, inline="always")
def _curvature_weight(c, a, softmax):
    """``V_ik``: ``c_i a_ik`` (softmax) or ``c_i a_ik (1 - a_ik)`` (sigmoids), rounded as
    the model's stored ``V`` (``proximal_newton.QuadraticModel``)."""
    return c * a if softmax else c * (a * (1.0 - a))


@njit(cache=True)
def _intercept_steps(A, c, R, Q, S, softmax, Ub, hb):
    """Newton steps on the unpenalised intercepts; returns the largest ``|delta| h``."""
    n, K = R.shape
    largest = 0.0
    for k in range(K):
        if hb[k] <= 0.0:
            continue
        g = 0.0
        for i in range(n):
            v = _curvature_weight(c[i], A[i, k], softmax)
            g += R[i, k] + v * (Q[i, k] - S[i]) if softmax else R[i, k] + v * Q[i, k]
        step = -g / hb[k]
        if step == 0.0:
            continue
        Ub[k] += step
        for i in range(n):
            Q[i, k] += step
            if softmax:
                S[i] += A[i, k] * step
        largest = max(largest, abs(step) * hb[k])
    return largest


@njit(cache=True)
def sweep(
    indptr,
    indices,
    data,
    A,
    c,
    R,
    Q,
    S,
    softmax,
    U,
    Ub,
    hb,
    features,
    blocks,
    chosen,
    lam,
    alpha,
    fit_intercept,
):
    """One cycle over the columns ``features[chosen]`` (and the intercepts); the largest
    change."""
    K = U.shape[0]
    g, delta = np.empty(K), np.empty(K)
    largest = 0.0
    for position in chosen:
        change = _column_step(
            indptr,
            indices,
            data,
            A,
            c,
            R,
            Q,
            S,
            softmax,
            U,
            features[position],
            blocks[position],
            lam,
            alpha,
            g,
            delta,
        )
        largest = max(largest, change)
    if fit_intercept:
        largest = max(largest, _intercept_steps(A, c, R, Q, S, softmax, Ub, hb))
    return largest


@njit(cache=True)
def nonzero_columns(U, features):
    """The positions in ``features`` of the columns with a non-zero coefficient in ``U``."""
    count = 0
    active = np.empty(features.shape[0], np.int64)
    for position in range(features.shape[0]):
        if np.any(U[:, features[position]] != 0.0):
            active[count] = position
            count += 1
    return active[:count]


@njit(cache=True)
def gram_sweeps(G, grad, u, lam, tolerance, max_sweeps):
    """Cyclic coordinate descent on ``q(u) = grad^T (u - u0) + 0.5 (u - u0)^T G (u - u0) +
    sum_j lam_j |u_j|`` with ``G`` formed (the Hessian restricted to a few columns):
    ``grad`` (the gradient of the smooth part at ``u``) and ``u`` are updated in place, one
    coordinate costs ``O(p)``. Sweeps until the largest ``|delta_j| G_jj`` of a sweep is
    below ``tolerance`` or ``max_sweeps``; returns the number of sweeps and the last sweep's
    largest change."""
    p = u.shape[0]
    sweeps = 0
    largest = np.inf
    while sweeps < max_sweeps:
        sweeps += 1
        largest = 0.0
        for j in range(p):
            h = G[j, j]
            if h <= 0.0:
                continue
            old = u[j]
            new = soft_threshold(old - grad[j] / h, lam[j] / h)
            step = new - old
            if step == 0.0:
                continue
            u[j] = new
            for other in range(p):
                grad[other] += G[j, other] * step  # G is symmetric: its row, contiguous
            largest = max(largest, abs(step) * h)
        if largest <= tolerance:
            break
    return sweeps, largest


@njit(cache=True)
def dense_rows(indptr, indices, data, columns, positions, stop, out):
    """Rows ``start .. stop - 1`` of ``X[:, columns]`` into ``out`` (``(stop - start, >=
    len(columns))``, its first ``len(columns)`` columns overwritten), where ``start`` is
    the row the previous call stopped at: ``positions[t]`` is where column ``columns[t]``'s
    non-zeros resume (the column's ``indptr`` at the first call; advanced here). Rows
    within a column are sorted (canonical CSC)."""
    start = stop - out.shape[0]
    for t in range(columns.shape[0]):
        j = columns[t]
        for r in range(out.shape[0]):
            out[r, t] = 0.0
        position, end = positions[t], indptr[j + 1]
        while position < end and indices[position] < stop:
            out[indices[position] - start, t] = data[position]
            position += 1
        positions[t] = position


@njit(cache=True)
def selected_products(indptr, indices, data, columns, R, out):
    """``out[:, t] = R^T X[:, columns[t]]`` (``out`` is ``(K, len(columns))``,
    overwritten; all columns: the gradient's ``R^T X``)."""
    K = out.shape[0]
    acc = np.empty(K)
    for t in range(columns.shape[0]):
        j = columns[t]
        acc[:] = 0.0
        for position in range(indptr[j], indptr[j + 1]):
            i, x = indices[position], data[position]
            for k in range(K):
                acc[k] += x * R[i, k]
        for k in range(K):
            out[k, t] = acc[k]


@njit(cache=True)
def add_selected(indptr, indices, data, columns, D, Q):
    """``Q += X[:, columns] D^T`` (``D`` is ``(K, len(columns))``, ``Q`` is ``(n, K)``; all
    columns onto ``b``: the net inputs ``X W^T + b``)."""
    K = D.shape[0]
    for t in range(columns.shape[0]):
        j = columns[t]
        for position in range(indptr[j], indptr[j + 1]):
            i, x = indices[position], data[position]
            for k in range(K):
                Q[i, k] += x * D[k, t]


@njit(cache=True)
def row_counts(indptr, indices, columns, n):
    """The number of non-zeros of each row of ``X[:, columns]``."""
    counts = np.zeros(n, np.int64)
    for j in columns:
        for t in range(indptr[j], indptr[j + 1]):
            counts[indices[t]] += 1
    return counts


@njit(cache=True)
def sparse_gram(indptr, indices, data, columns, weights, block_rows, out):
    """``out[k] += B^T diag(weights[:, k]) B`` for ``B = [X[:, columns], 1]`` (``out`` is
    ``(K, p + 1, p + 1)`` with the intercept's last, or ``(K, p, p)`` without one; zero on
    entry), from the pairs of non-zeros of each row: ``nnz_i (nnz_i + 1) / 2``
    multiply-adds per row and output, each into the row of ``out`` of the later column
    (columns ordered by falling frequency keep the frequent pairs in a corner that stays
    in cache). The rows are gathered from the columns ``block_rows`` at a time (memory in
    proportion to a block's non-zeros); row indices sorted within columns (canonical CSC).
    """
    K, q = out.shape[0], out.shape[1]
    p, n = columns.shape[0], weights.shape[0]
    positions = np.empty(p, np.int64)
    for t in range(p):
        positions[t] = indptr[columns[t]]
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        starts = np.zeros(stop - start + 1, np.int64)
        for t in range(p):  # count each row's non-zeros
            end, position = indptr[columns[t] + 1], positions[t]
            while position < end and indices[position] < stop:
                starts[indices[position] - start + 1] += 1
                position += 1
        for r in range(stop - start):
            starts[r + 1] += starts[r]
        filled = starts[:-1].copy()
        where = np.empty(starts[-1], np.int64)
        values = np.empty(starts[-1])
        for t in range(p):  # then gather them, in column order
            end, position = indptr[columns[t] + 1], positions[t]
            while position < end and indices[position] < stop:
                r = indices[position] - start
                where[filled[r]] = t
                values[filled[r]] = data[position]
                filled[r] += 1
                position += 1
            positions[t] = position
        for k in range(K):
            G = out[k]
            for r in range(stop - start):
                w = weights[start + r, k]
                if w == 0.0:
                    continue
                first, last = starts[r], starts[r + 1]
                for s in range(first, last):
                    a, xa = where[s], w * values[s]
                    row = G[a]
                    for t in range(first, s + 1):
                        row[where[t]] += xa * values[t]
                    if q > p:
                        G[p, a] += xa
                if q > p:
                    G[p, p] += w
    for k in range(K):  # the lower triangle to the upper
        for a in range(q):
            for b in range(a):
                out[k, b, a] = out[k, a, b]
