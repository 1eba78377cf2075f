"""Column sweeps with each large column's two passes split over threads.

A coordinate-descent sweep (``_column_kernels.sweep``) is sequential over the columns, but
within one column of several outputs its gradient pass (a sum over the column's rows) and
its update pass (each row's ``Q_i``, ``S_i``) split over rows. Columns with
``SPLIT_NONZEROS`` non-zeros or more sum their gradient in ``CHUNKS`` chunks of rows added
in a fixed order on one thread as on several, so a fit's numbers do not depend on the
thread count; here numba's parallel loops run the chunks (and the update's chunks) on up
to ``torch.get_num_threads()`` threads (``numba.set_num_threads``, for the calling thread
only), the setting the whole fit follows. A sweep over MNIST's 523 most frequent columns
(softmax, 9.0 million non-zeros) on two cores: 0.15-0.16 s on one thread, 0.08-0.10 s on
two.

numba's thread pool is used only where it is safe: its threading layer is one that takes
calls from several Python threads at once (OpenMP or TBB; its fallback "workqueue" aborts
the process on concurrent calls), and not in a forked process (``_fork``: GNU OpenMP hangs
or aborts a child forked after its parent ran OpenMP threads, numba's or torch's).
Elsewhere the sweep runs on one thread, with the same result. Sigmoid models with one
output (binary) run their own scalar loop the same way.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from softmaxreg.solvers._column_kernels import (
    CHUNKS,
    SPLIT_NONZEROS,
    add_chunks,
    chunk_bounds,
    column_gradient_part,
    column_step,
    column_steps,
    column_update_part,
    intercept_steps,
    sigmoid_column_step,
    sigmoid_gradient_part,
    sigmoid_step,
    sigmoid_update_part,
)
from softmaxreg.solvers._column_kernels import (
    sweep as one_thread_sweep,
)
from softmaxreg.solvers._fork import forked

# numba threading layers that take parallel calls from several threads at once
THREADSAFE_LAYERS = frozenset({"omp", "tbb"})
# whether numba's threading layer is one of those (None: not yet asked)
_layer_safe = None


def sweep(*arguments, threads: int) -> float:
    """:func:`_column_kernels.sweep` (same arguments, same result), the chunks of its
    large columns on up to ``threads`` threads."""
    if threads < 2 or not _threads_usable():
        return one_thread_sweep(*arguments)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    indptr, indices, data, A, c, V, R, y, Q, S, softmax, U, Ub, Hb, *columns = arguments
    features, blocks, gradient, chosen, lam, alpha, fit_intercept = columns
    if U.shape[0] == 1 and not softmax:
        largest = _sigmoid_columns(
            indptr, indices, data, V, Q, U, features, blocks, gradient, chosen, lam, alpha
        )
    else:
        largest = _columns(
            indptr,
            indices,
            data,
            A,
            c,
            Q,
            S,
            softmax,
            U,
            features,
            blocks,
            gradient,
            chosen,
            lam,
            alpha,
        )
    if fit_intercept:
        largest = max(largest, intercept_steps(A, c, R, y, Q, S, softmax, Ub, Hb))
    return largest


def _threads_usable() -> bool:
    """Whether numba's threads may run here (see the module's docstring)."""
    global _layer_safe
    if forked():
        return False
    if _layer_safe is None:
        try:
            from numba.np.ufunc import parallel

            parallel._launch_threads()
            layer = numba.threading_layer()
        except (ImportError, AttributeError, ValueError):
            layer = None
        _layer_safe = layer in THREADSAFE_LAYERS
    return _layer_safe


@njit(cache=True, parallel=True)
def _columns(
    indptr, indices, data, A, c, Q, S, softmax, U, features, blocks, gradient, chosen, lam, alpha
):
    """The cycle of :func:`_column_kernels.sweep` over ``features[chosen]`` for several
    outputs, the chunks of each column with ``SPLIT_NONZEROS`` non-zeros or more summed
    (and updated) in a parallel loop; the largest change."""
    K = U.shape[0]
    largest = 0.0
    g, delta, partial = np.empty(K), np.empty(K), np.empty((CHUNKS, K))
    bounds = np.empty(CHUNKS + 1, np.int64)
    for position in chosen:
        j = features[position]
        lo, hi = indptr[j], indptr[j + 1]
        if hi - lo < SPLIT_NONZEROS:
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
                j,
                gradient[:, position],
                blocks[position],
                lam,
                alpha,
                g,
                delta,
                partial,
            )
            largest = max(largest, change)
            continue
        chunk_bounds(lo, hi, bounds)
        for p in prange(CHUNKS):
            partial[p] = 0.0
            column_gradient_part(
                indices, data, A, c, Q, S, softmax, bounds[p], bounds[p + 1], partial[p]
            )
        add_chunks(g, gradient[:, position], partial)
        change, moved = column_steps(U, j, blocks[position], lam, alpha, g, delta)
        largest = max(largest, change)
        if moved:
            for p in prange(CHUNKS):
                column_update_part(indices, data, A, Q, S, softmax, bounds[p], bounds[p + 1], delta)
    return largest


@njit(cache=True, parallel=True)
def _sigmoid_columns(
    indptr, indices, data, V, Q, U, features, blocks, gradient, chosen, lam, alpha
):
    """:func:`_columns` for one sigmoid output (``_single_sigmoid_sweep``'s loop)."""
    largest = 0.0
    g, partial = np.empty(1), np.empty((CHUNKS, 1))
    bounds = np.empty(CHUNKS + 1, np.int64)
    for position in chosen:
        j, h = features[position], blocks[position, 0, 0]
        if h <= 0.0:
            continue
        lo, hi = indptr[j], indptr[j + 1]
        if hi - lo < SPLIT_NONZEROS:
            change = sigmoid_column_step(
                indptr, indices, data, V, Q, U, j, h, gradient[:, position], lam, alpha, g, partial
            )
            largest = max(largest, change)
            continue
        chunk_bounds(lo, hi, bounds)
        for p in prange(CHUNKS):
            partial[p, 0] = sigmoid_gradient_part(
                indices, data, V, Q, bounds[p], bounds[p + 1], 0.0
            )
        add_chunks(g, gradient[:, position], partial)
        step = sigmoid_step(U, j, h, g[0], lam, alpha)
        largest = max(largest, abs(step) * h)
        if step != 0.0:
            for p in prange(CHUNKS):
                sigmoid_update_part(indices, data, Q, bounds[p], bounds[p + 1], step)
    return largest
