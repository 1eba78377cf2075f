"""Products of a CSR matrix with dense matrices, split over threads by blocks of rows.

scipy's CSR kernels run on one thread but release the GIL, so the row blocks of ``X`` can
be multiplied on as many threads at once:

- ``X B``: each block's rows of the result are ``X_rows B``, written side by side (by a
  compiled kernel, ``_rows_times``, where ``B`` has ``X``'s float dtype);
- ``X^T R``: each block adds ``X_rows^T R_rows``, and the blocks' sums are added at the end
  (one ``(m, K)`` sum per extra block). These blocks do not follow the thread count: at
  most ``REDUCTION_BLOCKS``, set by the non-zeros alone, their sums added in block order,
  so ``X^T R`` (every gradient) is the same bit for bit on one thread or many. With blocks
  per thread, a fit at tol=1e-10 ended 1.4e-4 apart on one and two threads.

The blocks are views of ``X``'s arrays (no copy of the data). On the text-like bench data
(100,000 x 2^18, 10.4 million non-zeros, K = 20, float32) on two cores: ``X B`` 151 -> 63 ms,
``X^T R`` 157 -> 100 ms. Threads: torch's intra-op setting (``torch.set_num_threads``), the
one every other product of a fit follows; small matrices (fewer than ``MIN_NONZEROS_PER_THREAD``
non-zeros a thread) stay on one.

On large, wide matrices the products run on a copy of ``X`` whose columns are renumbered
by descending frequency, each row's entries in the new column order (hashed text features
are scattered over all ``m`` columns: a row of ``B`` or of ``X^T R`` is 80 bytes, and the
frequent features' rows sit on separate cache lines across tens of MB; with the frequent
columns first they share cache lines, and each row walks ``B`` upwards). On the bench data
``X B`` 78-104 -> 41-42 ms and ``X^T R`` 114-131 -> 63-89 ms, for one gather of ``B``'s rows
(5 ms) and one of the result's. The copy is made at the first product (0.3 s there) and
costs ``X``'s values and indices once more (8 bytes a non-zero in float32). ``X^T R`` adds
the rows in the same order as before (the same bits); ``X B`` adds each row's entries in
the new order.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from numba import njit

from softmaxreg._design.work_split import balanced_runs, run_on_threads

# below this many non-zeros a block, starting a thread costs more than it saves (a
# Newton-CG subsample of the text-like bench data, 5,000 rows and 520,000 non-zeros on
# 97,000 columns, K = 20: X B 27 -> 17 ms, X^T R 24 -> 15 ms on two threads with 2^16
# where 2^18 kept them on one)
MIN_NONZEROS_PER_THREAD = 1 << 16
# the blocks of X^T R, whatever the thread count (each extra one holds an (m, K) sum): at
# most REDUCTION_BLOCKS, each with at least MIN_NONZEROS_PER_THREAD non-zeros and
# NONZEROS_PER_COLUMN times as many as X has columns (an extra block's sum costs writing
# and adding m K entries, its share of the product a multiply-add per non-zero and output)
REDUCTION_BLOCKS = 2
NONZEROS_PER_COLUMN = 2
THREAD_NAME = "softmaxreg-csr"
# columns renumbered by frequency on matrices of at least this many non-zeros and columns
# (below, the products' rows of B fit in cache anyway, or the two gathers cost more than
# the products save)
FREQUENCY_ORDER_MIN_NONZEROS = 1 << 21
FREQUENCY_ORDER_MIN_COLUMNS = 1 << 14


class RowBlocks:
    """The CSR matrix ``X`` as row blocks of about equal numbers of non-zeros (on large,
    wide ``X``, unless ``frequency_order`` is False: with its columns renumbered by
    descending frequency, see the module docstring; products take and give the original
    order)."""

    def __init__(self, X: sp.csr_matrix, frequency_order: bool = True):
        self.X = X
        self.order = self.rank = None  # X's columns by frequency, and the inverse
        self._reorder = (
            frequency_order
            and X.nnz >= FREQUENCY_ORDER_MIN_NONZEROS
            and X.shape[1] >= FREQUENCY_ORDER_MIN_COLUMNS
        )
        self._blocks: dict[int, list[tuple[int, int, sp.csr_matrix]]] = {}

    def _ready(self) -> None:
        """Renumber the columns by frequency before the first product, where it pays."""
        if self._reorder:
            self.X, self.order, self.rank = _by_frequency(self.X, self._threads())
            self._reorder = False
            self._blocks.clear()

    def rows_in_product_order(
        self, index: np.ndarray
    ) -> tuple[sp.csr_matrix, np.ndarray | None]:
        """``(X_r, order)``: the rows ``index`` of the matrix the products run on, with
        ``order`` mapping its column numbers to ``X``'s (``order[j]``: ``X``'s column
        ``j``; None where the columns are ``X``'s own). On large, wide ``X`` the rows come
        in the frequency order (made here if no product has made it yet): a subsampled
        Hessian's products on them read the frequent columns' rows of ``B`` together, as
        the full products do (on the text-like bench data, 5,000 rows on 97,000 columns:
        ``X_r B`` and ``X_r^T R`` 35-40% faster)."""
        self._ready()
        return self.X[index], self.order

    def _split(self, threads: int):
        """``[(first row, end row, block)]`` for ``threads`` blocks (cached)."""
        if threads not in self._blocks:
            self._blocks[threads] = [
                (a, b, _row_view(self.X, a, b)) for a, b in balanced_runs(self.X.indptr, threads)
            ]
        return self._blocks[threads]

    def _threads(self) -> int:
        return max(1, min(torch.get_num_threads(), self.X.nnz // MIN_NONZEROS_PER_THREAD))

    def _reduction_blocks(self) -> int:
        per_block = max(MIN_NONZEROS_PER_THREAD, NONZEROS_PER_COLUMN * self.X.shape[1])
        return max(1, min(REDUCTION_BLOCKS, self.X.nnz // per_block))

    def times(self, B: np.ndarray) -> np.ndarray:
        """``X B`` for dense ``B`` ``(m, K)``: ``(n, K)``."""
        self._ready()
        if self.order is not None:
            B = np.take(B, self.order, axis=0)
        threads = self._threads()
        compiled = B.dtype == self.X.dtype and B.dtype in (np.float32, np.float64)
        if threads == 1 and not compiled:
            return np.ascontiguousarray(self.X @ B)
        out = np.empty((self.X.shape[0], B.shape[1]), dtype=np.result_type(self.X.dtype, B))
        if compiled:
            B = np.ascontiguousarray(B)
            X = self.X

            def block_product(a, b, block):
                _rows_times(X.indptr, X.indices, X.data, B, out, a, b)
        else:

            def block_product(a, b, block):
                out[a:b] = block @ B

        run_on_threads(block_product, self._split(threads), threads, THREAD_NAME)
        return out

    def transposed_times(self, R: np.ndarray) -> np.ndarray:
        """``X^T R`` for dense ``R`` ``(n, K)``: ``(m, K)``, the same for any thread count."""
        self._ready()
        count = self._reduction_blocks()
        if count == 1:
            total = np.ascontiguousarray(self.X.T @ R)
        else:
            blocks = self._split(count)
            threads = min(self._threads(), len(blocks))
            sums = run_on_threads(
                lambda a, b, block: block.T @ R[a:b], blocks, threads, THREAD_NAME
            )
            total = np.ascontiguousarray(sums[0])
            for part in sums[1:]:
                total += part
        return total if self.rank is None else np.take(total, self.rank, axis=0)


@njit(cache=True, nogil=True)
def _rows_times(indptr, indices, data, B, out, first, end):
    """``out[i] = sum_j X[i, j] B[j]`` for the rows ``first .. end - 1`` of the CSR matrix
    ``(indptr, indices, data)``: each row's entries in order, the ``K`` sums of a row side
    by side (vectorised over ``K``, in registers until the row ends). scipy's kernel adds
    into the output row entry by entry: 84-95 against 96-117 ms for ``X B`` on the
    frequency-ordered text-like bench data (K = 20, float32, two threads)."""
    K = B.shape[1]
    row = np.empty(K, dtype=out.dtype)
    for i in range(first, end):
        row[:] = 0
        for j in range(indptr[i], indptr[i + 1]):
            value = data[j]
            source = B[indices[j]]
            for k in range(K):
                row[k] += value * source[k]
        out[i] = row


def _by_frequency(X: sp.csr_matrix, threads: int):
    """``(X', order, rank)``: ``X'`` is ``X`` with column ``order[r]`` renumbered ``r``
    (``order``: the columns by descending number of non-zeros, ties by index) and each row's
    entries sorted by the new numbers (row blocks on ``threads`` threads: scipy's sort
    releases the GIL, 0.23 -> 0.12 s on two); ``rank`` is the inverse
    (``rank[order[r]] = r``). ``X'`` shares ``X``'s row pointers; its values and indices are
    new arrays."""
    counts = np.bincount(X.indices, minlength=X.shape[1])
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    renumbered = sp.csr_matrix(X.shape, dtype=X.dtype)
    renumbered.indptr = X.indptr
    renumbered.indices = rank.astype(X.indices.dtype)[X.indices]
    renumbered.data = X.data.copy()

    def sort_rows(first, end, block):
        block.has_sorted_indices = False
        block.sort_indices()  # in place: the block's arrays are views of renumbered's

    runs = balanced_runs(renumbered.indptr, threads)
    run_on_threads(sort_rows, [(a, b, _row_view(renumbered, a, b)) for a, b in runs], threads)
    renumbered.has_sorted_indices = True
    return renumbered, order, rank


def _row_view(X: sp.csr_matrix, first: int, end: int) -> sp.csr_matrix:
    """Rows ``first:end`` of ``X`` sharing its data and index arrays.

    The arrays are set on an empty matrix: scipy's constructor copies an index or data
    array that is a view of less than half of its base (``_prune_array``), which would copy
    all of ``X`` once there are two blocks or more.
    """
    start, stop = X.indptr[first], X.indptr[end]
    block = sp.csr_matrix((end - first, X.shape[1]), dtype=X.dtype)
    block.indptr = X.indptr[first : end + 1] - start
    block.indices = X.indices[start:stop]
    block.data = X.data[start:stop]
    return block
