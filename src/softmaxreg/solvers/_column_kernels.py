"""Compiled (numba) loops over the columns of ``X`` for the proximal Newton solver.

``X`` is held column by column (CSC: ``indptr``, ``indices``, ``data`` in the data's own
float32 or float64; every product and sum in float64), so one coordinate ``W_kj`` touches
only the non-zeros of column ``j``. Per-sample arrays are
``(n, K)`` row-major (the K outputs of one sample sit together):

- ``A``: the activations ``a_ik`` (softmax or sigmoid) at ``W``; ``c``: ``c_i = C s_i``;
  ``V``: ``c_i a_ik`` (softmax) or ``c_i a_ik (1 - a_ik)`` (sigmoids),
- ``R``: the weighted residual ``c_i (a_ik - y_ik)``; ``y``: the class indices (softmax),
- ``Q``: ``X D^T + d_b``, the change of the net inputs along the step ``D`` so far,
- ``S``: ``sum_k a_ik Q_ik`` (softmax only).

The local quadratic model of the smooth part at ``W`` (its exact Hessian, not formed by
the sweeps) has at ``U = W + D`` the gradient ``g0_kj + sum_i x_ij [H_i Q_i]_k + alpha U_kj``
with ``g0 = R^T X`` (its data gradient at ``W``, computed once a model: the sweeps read
no ``R``), ``[H_i q]_k = V_ik (q_k - S_i)`` (softmax: ``H_i = c_i (diag(a_i) - a_i a_i^T)``)
or ``V_ik q_k`` (sigmoids), and the diagonal ``sum_i c_i a_ik (1 - a_ik) x_ij^2 + alpha``;
each coordinate step is the soft-threshold of its one-dimensional Newton step (glmnet's
update), so zeros are exact.

A sweep is bound by the rows it gathers: the sweeps over several outputs form ``V`` from
``c`` and ``A`` instead of reading a stored ``(n, K)`` array (MNIST, 60,000 x 10: 4.8 MB
each in float64; fewer arrays stay in cache). A sweep over MNIST's 523 most frequent
columns (9.0 million non-zeros): 0.28 s reading ``V`` and ``R``, 0.18 s forming both from
``c``, ``A`` and the labels, 0.15 s from ``g0`` (no labels, no residual). LLVM's fast-math
flags (vectorised sums over the outputs, fused multiply-adds) gained nothing measurable,
and contraction tripled the sweeps of a softmax model with Newton steps at tol 1e-9. A
long column's gradient is summed in chunks of rows (``SPLIT_NONZEROS``, ``CHUNKS``), which
``_threaded_sweep`` runs on several threads with the same result.
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
# a sweep sums the gradient of a column with this many non-zeros or more in CHUNKS chunks
# of its rows, added in order: the same bits on one thread and on several, each chunk one
# thread's part (``_threaded_sweep``; 2 x 1.5 us to start them against ~10 ns a non-zero)
SPLIT_NONZEROS = 1 << 12
CHUNKS = 4


def column_hessians(indptr, indices, data, A, c, softmax, features, alpha, out, threads=1):
    """``out[t] = sum_i c_i x_ij^2 H(a_i) + alpha I`` (``K x K``) for ``j = features[t]``:
    the block of the exact Hessian that couples the K coefficients of column ``j``, with
    ``H(a) = diag(a) - a a^T`` (softmax) or ``diag(a (1 - a))`` (sigmoids).

    The columns are independent: with ``threads > 1`` runs of them with about equal
    non-zeros go to as many threads (the compiled loop releases the GIL), each block
    computed exactly as on one thread. MNIST elastic net, 525 columns x 10 classes: about
    0.2 s a call on one thread.
    """

    def run(a, b):
        _column_hessians(indptr, indices, data, A, c, softmax, features[a:b], alpha, out[a:b])

    _on_column_threads(run, indptr, features, threads)


def _on_column_threads(run, indptr, columns: np.ndarray, threads: int) -> None:
    """``run(a, b)`` for runs ``columns[a:b]`` of about equal non-zeros, one a thread (at
    most ``threads``, and each with at least ``MIN_NONZEROS_PER_THREAD``); ``run(0,
    len(columns))`` on this thread when one is all there is to use."""
    bounds = np.concatenate([[0], np.cumsum(indptr[columns + 1] - indptr[columns])])
    threads = max(1, min(threads, int(bounds[-1]) // MIN_NONZEROS_PER_THREAD))
    if threads == 1:
        run(0, len(columns))
        return
    run_on_threads(run, balanced_runs(bounds, threads), name="softmaxreg-columns")


@njit(cache=True, nogil=True)
def _column_hessians(indptr, indices, data, A, c, softmax, features, alpha, out):
    """:func:`column_hessians` for ``features`` on this thread."""
    K = A.shape[1]
    for position in range(features.shape[0]):
        j = features[position]
        block = out[position]
        if K == 1 and not softmax:  # a scalar sum, as in _selected_products
            total = 0.0
            for t in range(indptr[j], indptr[j + 1]):
                i, x = indices[t], data[t]
                total += c[i] * x * x * (A[i, 0] * (1.0 - A[i, 0]))
            block[0, 0] = total + alpha
            continue
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


@njit(cache=True, nogil=True)
def column_gradient_part(indices, data, A, c, Q, S, softmax, lo, hi, g):
    """``g_k += sum_t x_t [H_i Q_i]_k`` over the non-zeros ``t = lo .. hi - 1`` of a column
    (``i = indices[t]``), with ``[H_i q]_k = c_i a_ik (q_k - S_i)`` (softmax) or ``c_i a_ik
    (1 - a_ik) q_k`` (sigmoids)."""
    K = g.shape[0]
    for t in range(lo, hi):
        i = indices[t]
        w = data[t] * c[i]
        if softmax:
            s = S[i]
            for k in range(K):
                g[k] += w * A[i, k] * (Q[i, k] - s)
        else:
            for k in range(K):
                a = A[i, k]
                g[k] += w * (a * (1.0 - a)) * Q[i, k]


@njit(cache=True, nogil=True)
def column_update_part(indices, data, A, Q, S, softmax, lo, hi, delta):
    """``Q_i += x_t delta`` (and ``S_i += x_t a_i^T delta``) over the non-zeros ``t = lo ..
    hi - 1`` of a column whose coefficients moved by ``delta``."""
    K = delta.shape[0]
    for t in range(lo, hi):
        i, x = indices[t], data[t]
        for k in range(K):
            Q[i, k] += x * delta[k]
        if softmax:
            shift = 0.0
            for k in range(K):
                shift += A[i, k] * delta[k]
            S[i] += x * shift


@njit(cache=True)
def chunk_bounds(lo, hi, bounds):
    """``bounds[p] .. bounds[p + 1]``: the ``len(bounds) - 1`` chunks of ``lo .. hi`` (about
    equal), where :data:`SPLIT_NONZEROS` or more non-zeros are summed in chunks."""
    chunks = bounds.shape[0] - 1
    for p in range(chunks + 1):
        bounds[p] = lo + (hi - lo) * p // chunks


@njit(cache=True)
def add_chunks(g, g0, partial):
    """``g = g0 + partial_0 + partial_1 + ...`` in this order (a column's gradient from its
    chunks' sums, the same bits whichever threads summed them)."""
    for k in range(g.shape[0]):
        total = g0[k]
        for p in range(partial.shape[0]):
            total += partial[p, k]
        g[k] = total


@njit(cache=True)
def column_steps(U, j, block, lam, alpha, g, delta):
    """Soft-thresholded Newton steps on ``U_kj`` for k = 0..K-1 in turn, exact within the
    column through its Hessian ``block``, from its gradient ``g`` (kept up to date);
    ``delta``: the steps; returns ``(largest |delta_k| H_kk, whether any moved)``."""
    K = U.shape[0]
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
    return largest, moved


@njit(cache=True)
def column_step(
    indptr, indices, data, A, c, Q, S, softmax, U, j, g0, block, lam, alpha, g, delta, partial
):
    """:func:`column_steps` on column ``j`` from the gradient ``g0 + sum_i x_ij [H_i
    Q_i]_k`` (:func:`column_gradient_part`; summed in chunks from ``SPLIT_NONZEROS``
    non-zeros, ``partial``: ``(CHUNKS, K)``), then ``Q`` and ``S`` updated; returns the
    largest ``|delta_k| H_kk``."""
    lo, hi = indptr[j], indptr[j + 1]
    if hi - lo >= SPLIT_NONZEROS:
        bounds = np.empty(partial.shape[0] + 1, np.int64)
        chunk_bounds(lo, hi, bounds)
        for p in range(partial.shape[0]):
            partial[p] = 0.0
            column_gradient_part(
                indices, data, A, c, Q, S, softmax, bounds[p], bounds[p + 1], partial[p]
            )
        add_chunks(g, g0, partial)
    else:
        g[:] = g0
        column_gradient_part(indices, data, A, c, Q, S, softmax, lo, hi, g)
    largest, moved = column_steps(U, j, block, lam, alpha, g, delta)
    if moved:
        column_update_part(indices, data, A, Q, S, softmax, lo, hi, delta)
    return largest


@njit(cache=True, inline="always")
def _curvature_weight(c, a, softmax):
    """``V_ik``: ``c_i a_ik`` (softmax) or ``c_i a_ik (1 - a_ik)`` (sigmoids), rounded as
    the model's stored ``V`` (``proximal_newton.QuadraticModel``)."""
    return c * a if softmax else c * (a * (1.0 - a))


@njit(cache=True, inline="always")
def _softmax_residual(ca, c, is_label):
    """The softmax's ``R_ik = c_i a_ik - c_i [k = y_i]`` from ``ca = c_i a_ik``, rounded as
    the stored ``R`` (``proximal_newton.ColumnProblem.loss``)."""
    return ca - c if is_label else ca


@njit(cache=True)
def intercept_steps(A, c, R, y, Q, S, softmax, Ub, Hb):
    """Newton steps on the unpenalised intercepts, one after another (class 0 first);
    returns the largest ``|delta| h``. ``Hb``: the model's Hessian block of the intercepts
    (``K x K``; diagonal for sigmoids). Their gradient is summed in one pass over the rows,
    each step moves it by its column of ``Hb`` (the model is quadratic), and one more pass
    moves ``Q`` and ``S``: two passes where a pass per class read each row ``K`` times."""
    n, K = R.shape
    g = np.zeros(K)
    for i in range(n):
        for k in range(K):
            v = _curvature_weight(c[i], A[i, k], softmax)
            if softmax:
                g[k] += _softmax_residual(v, c[i], k == y[i]) + v * (Q[i, k] - S[i])
            else:
                g[k] += R[i, k] + v * Q[i, k]
    steps = np.zeros(K)
    largest = 0.0
    moved = False  # (a NaN step moves Ub: Q and S must follow, though max() drops it)
    for k in range(K):
        if Hb[k, k] <= 0.0:
            continue
        step = -g[k] / Hb[k, k]
        if step == 0.0:
            continue
        steps[k] = step
        Ub[k] += step
        moved = True
        for other in range(K):
            g[other] += step * Hb[other, k]
        largest = max(largest, abs(step) * Hb[k, k])
    if not moved:
        return largest
    for i in range(n):
        shift = 0.0
        for k in range(K):
            Q[i, k] += steps[k]
            shift += A[i, k] * steps[k]
        if softmax:
            S[i] += shift
    return largest


@njit(cache=True)
def sweep(
    indptr,
    indices,
    data,
    A,
    c,
    V,
    R,
    y,
    Q,
    S,
    softmax,
    U,
    Ub,
    Hb,
    features,
    blocks,
    gradient,
    chosen,
    lam,
    alpha,
    fit_intercept,
):
    """One cycle over the columns ``features[chosen]`` (and the intercepts); the largest
    change. ``gradient``: ``g0`` on ``features`` (``(K, len(features))``, ``R^T X``)."""
    K = U.shape[0]
    largest = 0.0
    if K == 1 and not softmax:
        largest = _single_sigmoid_sweep(
            indptr, indices, data, V, Q, U, features, blocks, gradient, chosen, lam, alpha
        )
    else:
        g, delta, partial = np.empty(K), np.empty(K), np.empty((CHUNKS, K))
        for position in chosen:
            change = column_step(
                indptr,
                indices,
                data,
                A,
                c,
                Q,
                S,
                softmax,
                U,
                features[position],
                gradient[:, position],
                blocks[position],
                lam,
                alpha,
                g,
                delta,
                partial,
            )
            largest = max(largest, change)
    if fit_intercept:
        largest = max(largest, intercept_steps(A, c, R, y, Q, S, softmax, Ub, Hb))
    return largest


@njit(cache=True)
def _single_sigmoid_sweep(
    indptr, indices, data, V, Q, U, features, blocks, gradient, chosen, lam, alpha
):
    """:func:`sweep`'s cycle over ``features[chosen]`` for one sigmoid output (binary): the
    same steps as :func:`column_step`'s with a scalar gradient (its K-long one, kept in
    memory, took 60% longer a non-zero); the largest change."""
    largest = 0.0
    g, partial = np.empty(1), np.empty((CHUNKS, 1))
    for position in chosen:
        j, h = features[position], blocks[position, 0, 0]
        if h > 0.0:
            change = sigmoid_column_step(
                indptr, indices, data, V, Q, U, j, h, gradient[:, position], lam, alpha, g, partial
            )
            largest = max(largest, change)
    return largest


@njit(cache=True, nogil=True)
def sigmoid_gradient_part(indices, data, V, Q, lo, hi, g):
    """``g + sum_t x_t V_i Q_i`` over the non-zeros ``t = lo .. hi - 1`` of a column (one
    sigmoid output)."""
    for t in range(lo, hi):
        i = indices[t]
        g += data[t] * (V[i, 0] * Q[i, 0])
    return g


@njit(cache=True, nogil=True)
def sigmoid_update_part(indices, data, Q, lo, hi, step):
    """``Q_i += x_t step`` over the non-zeros ``t = lo .. hi - 1`` of a column."""
    for t in range(lo, hi):
        Q[indices[t], 0] += data[t] * step


@njit(cache=True)
def sigmoid_step(U, j, h, g, lam, alpha):
    """The soft-thresholded Newton step on ``U_0j`` (curvature ``h``, gradient ``g``), made
    in ``U``; returns it."""
    old = U[0, j]
    new = soft_threshold(old - (g + alpha * old) / h, lam / h)
    U[0, j] = new
    return new - old


@njit(cache=True)
def sigmoid_column_step(indptr, indices, data, V, Q, U, j, h, g0, lam, alpha, g, partial):
    """:func:`sigmoid_step` on column ``j`` from the gradient ``g0 + sum_i x_ij V_i Q_i``
    (summed in chunks from ``SPLIT_NONZEROS`` non-zeros: ``g`` ``(1,)``, ``partial``
    ``(CHUNKS, 1)``), then ``Q`` updated; returns ``|step| h``."""
    lo, hi = indptr[j], indptr[j + 1]
    if hi - lo >= SPLIT_NONZEROS:
        bounds = np.empty(partial.shape[0] + 1, np.int64)
        chunk_bounds(lo, hi, bounds)
        for p in range(partial.shape[0]):
            partial[p, 0] = sigmoid_gradient_part(
                indices, data, V, Q, bounds[p], bounds[p + 1], 0.0
            )
        add_chunks(g, g0, partial)
    else:
        g[0] = sigmoid_gradient_part(indices, data, V, Q, lo, hi, g0[0])
    step = sigmoid_step(U, j, h, g[0], lam, alpha)
    if step != 0.0:
        sigmoid_update_part(indices, data, Q, lo, hi, step)
    return abs(step) * h


# an empty mask of classes: every class of every column
ALL_CLASSES = np.zeros((0, 0), dtype=np.bool_)


@njit(cache=True, nogil=True, inline="always")
def _classes_of(mask, t, ks):
    """The classes that ``mask[:, t]`` holds in ``ks``, ascending; their count (the
    callers take an empty ``mask``, all classes, apart)."""
    count = 0
    for k in range(ks.shape[0]):
        if mask[k, t]:
            ks[count] = k
            count += 1
    return count


@njit(cache=True)
def quadratic_terms(A, c, R, Q, S, softmax):
    """The data terms of the local quadratic model at the net-input change ``Q``: ``(sum_ik
    R_ik Q_ik, sum_i Q_i^T H_i Q_i)`` with ``Q_i^T H_i Q_i = c_i (sum_k a_ik Q_ik^2 - S_i^2)``
    (softmax, ``S_i = a_i^T Q_i``) or ``c_i sum_k a_ik (1 - a_ik) Q_ik^2`` (sigmoids)."""
    n, K = Q.shape
    linear = curvature = 0.0
    for i in range(n):
        row = 0.0
        for k in range(K):
            a, q = A[i, k], Q[i, k]
            row += (a if softmax else a * (1.0 - a)) * q * q
            linear += R[i, k] * q
        if softmax:
            row -= S[i] * S[i]
        curvature += c[i] * row
    return linear, curvature


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
def dense_rows_at(indptr, indices, data, columns, rows, n, out):
    """``out = X[rows][:, columns]`` for distinct ``rows`` of ``X`` (``n`` rows; ``out`` zero
    on entry, ``(len(rows), len(columns))``)."""
    where = np.full(n, -1, np.int64)
    for r in range(rows.shape[0]):
        where[rows[r]] = r
    for t in range(columns.shape[0]):
        j = columns[t]
        for position in range(indptr[j], indptr[j + 1]):
            r = where[indices[position]]
            if r >= 0:
                out[r, t] = data[position]


def selected_products(indptr, indices, data, columns, R, out, classes=None, threads=1):
    """``out[:, t] = R^T X[:, columns[t]]`` (``out`` is ``(K, len(columns))``,
    overwritten; all columns: the gradient's ``R^T X``); with ``classes`` (bool, shaped as
    ``out``) only the entries it holds (the others are left as they were): a product on a
    support of one or two classes a column costs that, not K. With ``threads > 1`` runs of
    columns with about equal non-zeros go to as many threads (each column's product is
    the one-thread one, bit for bit)."""

    def run(a, b):
        part = ALL_CLASSES if classes is None else classes[:, a:b]
        _selected_products(indptr, indices, data, columns[a:b], R, out[:, a:b], part)

    _on_column_threads(run, indptr, columns, threads)


@njit(cache=True, nogil=True)
def _selected_products(indptr, indices, data, columns, R, out, classes):
    K = out.shape[0]
    acc, ks = np.empty(K), np.empty(K, np.int64)
    for t in range(columns.shape[0]):
        j = columns[t]
        if K == 1:  # a scalar sum (in acc[0], kept in memory, a non-zero took 70% longer)
            if classes.shape[1] == 0 or classes[0, t]:
                total = 0.0
                for position in range(indptr[j], indptr[j + 1]):
                    total += data[position] * R[indices[position], 0]
                out[0, t] = total
            continue
        if classes.shape[1] == 0:  # every class: the loop over k the compiler unrolls
            acc[:] = 0.0
            for position in range(indptr[j], indptr[j + 1]):
                i, x = indices[position], data[position]
                for k in range(K):
                    acc[k] += x * R[i, k]
            out[:, t] = acc
            continue
        count = _classes_of(classes, t, ks)
        for q in range(count):
            acc[ks[q]] = 0.0
        for position in range(indptr[j], indptr[j + 1]):
            i, x = indices[position], data[position]
            for q in range(count):
                acc[ks[q]] += x * R[i, ks[q]]
        for q in range(count):
            out[ks[q], t] = acc[ks[q]]


def add_selected(indptr, indices, data, columns, D, Q, classes=None, threads=1):
    """``Q += X[:, columns] D^T`` (``D`` is ``(K, len(columns))``, ``Q`` is ``(n, K)``; all
    columns onto ``b``: the net inputs ``X W^T + b``); with ``classes`` (bool, shaped as
    ``D``) only its entries that ``classes`` holds (the others taken as zero). With
    ``threads > 1`` ranges of rows go to as many threads (each column's rows are sorted:
    a range is a slice of it), each row summed in the columns' order as on one thread, bit
    for bit; at least ``MIN_NONZEROS_PER_THREAD`` non-zeros a thread."""
    classes = ALL_CLASSES if classes is None else classes
    nonzeros = int((indptr[columns + 1] - indptr[columns]).sum())
    threads = max(1, min(threads, nonzeros // MIN_NONZEROS_PER_THREAD))
    edges = np.linspace(0, Q.shape[0], threads + 1).astype(np.int64)
    run_on_threads(
        lambda lo, hi: _add_selected(indptr, indices, data, columns, D, Q, classes, lo, hi),
        list(zip(edges[:-1], edges[1:], strict=True)),
        threads=None if threads > 1 else 1,
        name="softmaxreg-rows",
    )


@njit(cache=True, nogil=True)
def _add_selected(indptr, indices, data, columns, D, Q, classes, lo, hi):
    """:func:`add_selected` on the rows ``lo <= i < hi``."""
    K = D.shape[0]
    ks = np.empty(K, np.int64)
    whole = lo == 0 and hi == Q.shape[0]
    for t in range(columns.shape[0]):
        j = columns[t]
        first, end = indptr[j], indptr[j + 1]
        if not whole:
            rows = indices[first:end]
            first, end = first + np.searchsorted(rows, lo), first + np.searchsorted(rows, hi)
        if classes.shape[1] == 0:  # every class
            for position in range(first, end):
                i, x = indices[position], data[position]
                for k in range(K):
                    Q[i, k] += x * D[k, t]
            continue
        count = _classes_of(classes, t, ks)
        for position in range(first, end):
            i, x = indices[position], data[position]
            for q in range(count):
                Q[i, ks[q]] += x * D[ks[q], t]


def dense_columns(X: np.ndarray, index_dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dense C-ordered ``X`` (``(n, m)``) as canonical CSC arrays ``(indptr (int64),
    indices (index_dtype), data (X's dtype))``: its non-zeros column by column, rows
    ascending. Two passes over the rows, no ``(nnz,)`` temporaries: scipy's
    ``csc_matrix(X)`` goes through COO (coordinates of every non-zero, then a sort),
    0.6-1.0 s for MNIST's 60,000 x 784 where this takes a tenth of that."""
    counts = np.zeros(X.shape[1] + 1, dtype=np.int64)
    _count_columns(X, counts)
    indptr = np.cumsum(counts)
    indices = np.empty(indptr[-1], dtype=index_dtype)
    data = np.empty(indptr[-1], dtype=X.dtype)
    _fill_columns(X, indptr, indices, data)
    return indptr, indices, data


@njit(cache=True, nogil=True)
def _count_columns(X, counts):
    """``counts[j + 1]``: the non-zeros of column ``j``."""
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            if X[i, j] != 0:
                counts[j + 1] += 1


@njit(cache=True, nogil=True)
def _fill_columns(X, indptr, indices, data):
    """The non-zeros of each column at ``indptr[j]:indptr[j + 1]``, rows ascending."""
    filled = indptr[:-1].copy()
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            x = X[i, j]
            if x != 0:
                position = filled[j]
                indices[position] = i
                data[position] = x
                filled[j] = position + 1


@njit(cache=True, nogil=True)
def coordinate_columns(B, position, klass, cross, same, Z, Y):
    """``Z[r, e] = B[r, position[e]] cross[r, klass[e]]`` and ``Y[r, e]`` the same with
    ``same`` (in their dtype, as NumPy's products): the softmax Hessian's coordinate
    columns of a block of rows, weighted two ways, in one pass (NumPy's ``B[:, position]``
    and products took 3x as long)."""
    for r in range(B.shape[0]):
        for e in range(position.shape[0]):
            x = B[r, position[e]]
            k = klass[e]
            Z[r, e] = x * cross[r, k]
            Y[r, e] = x * same[r, k]


@njit(cache=True)
def l1_optimality(W, G, lam):
    """``max_kj`` of the smallest ``|v|``, ``v`` in the subdifferential of ``f + lam
    ||W||_1`` at ``W_kj``: ``|G_kj + lam sign(W_kj)|`` where ``W_kj != 0``, ``|G_kj| - lam``
    (or 0) where it is 0 (:meth:`softmaxreg.penalties.L1Penalty.optimality` over ``W``,
    ``G`` its gradient ``grad f``), NaN where any is; in one pass without temporaries: the
    penalty's tensor form took 0.1-0.4 s a test on 20 x 2^18 coefficients."""
    largest = 0.0
    for k in range(W.shape[0]):
        for j in range(W.shape[1]):
            w, g = W[k, j], G[k, j]
            if w > 0.0:
                size = abs(g + lam)
            elif w < 0.0:
                size = abs(g - lam)
            else:
                size = abs(g) - lam
            if size > largest:
                largest = size
            elif size != size:
                return np.nan
    return largest


@njit(cache=True)
def flat_prefix(values, order, share):
    """The length of the longest prefix of the rows ``order`` of ``values`` (``(n, K)``)
    whose sums stay, for every column ``k``, within ``share`` of the sum of the whole
    column (``np.cumsum(values[order], axis=0) <= share * total``: the same running
    sums, in that order, without the ``(n, K)`` gathered copy and its cumulative sums)."""
    n, K = values.shape
    limit = np.zeros(K)
    for t in range(n):
        for k in range(K):
            limit[k] += values[order[t], k]
    for k in range(K):
        limit[k] *= share
    running = np.zeros(K)
    for t in range(n):
        for k in range(K):
            running[k] += values[order[t], k]
            if not running[k] <= limit[k]:
                return t
    return n


@njit(cache=True)
def magnitudes(data):
    """``(smallest, largest)``: the smallest non-zero and the largest of ``|data|`` (inf
    and 0 where every value is 0), in one pass without a copy."""
    smallest, largest = np.inf, 0.0
    for value in data:
        size = abs(value)
        if size > largest:
            largest = size
        if 0.0 < size < smallest:
            smallest = size
    return smallest, largest


@njit(cache=True)
def renumbered_columns(indptr, indices, data, columns, number):
    """``X[rows][:, columns]`` as CSC arrays ``(indptr (int64), indices, data)``: the
    non-zeros of the columns ``columns`` in rows with ``number[i] >= 0``, row ``i``
    numbered ``number[i]`` (rows in the order of ``X``'s, sorted where they are)."""
    p = columns.shape[0]
    out_indptr = np.zeros(p + 1, np.int64)
    for t in range(p):
        kept = 0
        for position in range(indptr[columns[t]], indptr[columns[t] + 1]):
            if number[indices[position]] >= 0:
                kept += 1
        out_indptr[t + 1] = out_indptr[t] + kept
    out_indices = np.empty(out_indptr[p], indices.dtype)
    out_data = np.empty(out_indptr[p], data.dtype)
    for t in range(p):
        at = out_indptr[t]
        for position in range(indptr[columns[t]], indptr[columns[t] + 1]):
            row = number[indices[position]]
            if row >= 0:
                out_indices[at] = row
                out_data[at] = data[position]
                at += 1
    return out_indptr, out_indices, out_data


@njit(cache=True)
def row_counts(indptr, indices, columns, n, weights):
    """The non-zeros of each row of ``X[:, columns]``, the one of column ``columns[t]``
    counting ``weights[t]``."""
    counts = np.zeros(n, np.int64)
    for t in range(columns.shape[0]):
        j = columns[t]
        for position in range(indptr[j], indptr[j + 1]):
            counts[indices[position]] += weights[t]
    return counts


@njit(cache=True)
def _gather_rows(indptr, indices, data, columns, positions, start, stop):
    """The non-zeros of rows ``start .. stop - 1`` of ``X[:, columns]``, row by row (each
    row's in column order): ``(starts, where, values)`` with row ``r``'s at
    ``starts[r - start]:starts[r - start + 1]``, ``where`` their positions in ``columns``.
    ``positions[t]``: where column ``t``'s rows from ``start`` on begin (advanced past
    ``stop``; row indices sorted within columns)."""
    p = columns.shape[0]
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
    return starts, where, values


@njit(cache=True)
def _mirror_lower(G):
    """``G``'s lower triangle onto its upper one."""
    q = G.shape[0]
    for a in range(q):
        for b in range(a):
            G[b, a] = G[a, b]


@njit(cache=True)
def softmax_sparse_gram(
    indptr, indices, data, columns, classes, A, c, intercepts, block_rows, out
):
    """``out`` (zero on entry) = the softmax Hessian ``sum_i c_i (x_i x_i^T) (x) (diag(a_i)
    - a_i a_i^T)`` on the coordinates: the coefficients ``W_kj`` of ``j = columns[t]`` with
    ``classes[k, t]``, column by column (classes ascending), then the intercepts of classes
    ``0 .. intercepts - 1``. From the pairs of coordinates within each row (``s_i (s_i +
    1) / 2`` multiply-adds for the row's ``s_i`` coordinates: a class that uses a word
    pairs only with the coordinates of the words it uses), into the lower triangle (the
    row's coordinates come ascending), then mirrored. Rows gathered ``block_rows`` at a
    time; row indices sorted within columns (canonical CSC)."""
    K, p = classes.shape
    n = A.shape[0]
    first = np.zeros(p + 1, np.int64)  # column t's coordinates: first[t]:first[t + 1]
    for t in range(p):
        first[t + 1] = first[t]
        for k in range(K):
            if classes[k, t]:
                first[t + 1] += 1
    m = first[p]
    klass = np.empty(m + intercepts, np.int64)
    for t in range(p):
        e = first[t]
        for k in range(K):
            if classes[k, t]:
                klass[e] = k
                e += 1
    for k in range(intercepts):
        klass[m + k] = k
    positions = np.empty(p, np.int64)
    for t in range(p):
        positions[t] = indptr[columns[t]]
    coordinate = np.empty(m + intercepts, np.int64)
    value = np.empty(m + intercepts)  # x_ij, or 1 for an intercept
    weighted = np.empty(m + intercepts)  # x_ij a_ik
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        starts, where, values = _gather_rows(
            indptr, indices, data, columns, positions, start, stop
        )
        for r in range(stop - start):
            i = start + r
            if c[i] == 0.0:
                continue
            size = 0
            for s in range(starts[r], starts[r + 1]):
                t, x = where[s], values[s]
                for e in range(first[t], first[t + 1]):
                    coordinate[size], value[size] = e, x
                    weighted[size] = x * A[i, klass[e]]
                    size += 1
            for k in range(intercepts):
                coordinate[size], value[size], weighted[size] = m + k, 1.0, A[i, k]
                size += 1
            for u in range(size):
                row, k = out[coordinate[u]], klass[coordinate[u]]
                scale = c[i] * weighted[u]
                for v in range(u + 1):
                    e = coordinate[v]
                    if klass[e] == k:
                        row[e] += scale * (value[v] - weighted[v])
                    else:
                        row[e] -= scale * weighted[v]
    _mirror_lower(out)


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
        starts, where, values = _gather_rows(
            indptr, indices, data, columns, positions, start, stop
        )
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
    for k in range(K):
        _mirror_lower(out[k])
