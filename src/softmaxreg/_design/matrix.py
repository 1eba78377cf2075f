"""The design matrix ``X`` of a linear model, dense or sparse, converted to torch once.

The objective only needs three products with ``X`` (shape ``(n, m)``):

- the net inputs ``Z = X W^T + b`` (``W`` is ``(K, m)``),
- the transposed product ``G^T X`` (``(K, m)``), the data part of every gradient,
- a subset of rows ``X[rows]`` for minibatches and subsampled Hessians,

and, for the Hessian diagonal, the squared product ``G^T (X * X)``; for Newton-CG's
Kronecker preconditioner, the weighted Gram matrix ``X_r^T diag(s_r) X_r`` of a row subset.

Dense data is one contiguous torch tensor; ``G^T X`` is computed in that orientation
because torch (MKL) runs it 2-4x faster than ``X^T G`` (see PERF-NOTES.md). Sparse data
is kept as scipy CSR (for cheap row slicing); on CPU its products run in scipy's kernels on
row blocks over threads (``sparse_products.py``), on other devices through torch sparse CSR
copies of ``X`` and ``X^T``.
"""

from __future__ import annotations

import functools
import warnings
import weakref

import numpy as np
import scipy.sparse as sp
import torch

from softmaxreg._design.bfloat16 import bfloat16_copy, float32_copy
from softmaxreg._design.sparse_products import RowBlocks

# Rows per block in the fused forward/backward pass: as many as fill BLOCK_BYTES of X, small
# enough to stay in cache between the two products (MNIST, two cores: a float32 Hessian-
# vector product took 35.5 ms in blocks of 2048 rows (6.3 MB), 43.5 in 4096; a bfloat16 one
# 18.0 in 4096 rows (6.3 MB), 22.3 in 2048 and 20.5 in 8192), within MIN/MAX_BLOCK_ROWS
BLOCK_BYTES = 2048 * 784 * 4
MIN_BLOCK_ROWS, MAX_BLOCK_ROWS = 256, 32_768
# rows of X converted to bfloat16 at a time (float64 X: no full-size temporaries)
CONVERSION_BLOCK_ROWS = 4096
# Rows squared at a time for ``G^T (X * X)``: the squares exist only one small block at a
# time (1024 x 784 float32 is 3 MB) instead of as a second copy of X.
SQUARED_BLOCK_ROWS = 1024


# CPU flags of native bfloat16 matrix products (x86: AVX512-BF16, AMX)
BFLOAT16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
LOW_PRECISION_DTYPES = (torch.bfloat16, torch.float16)


@functools.cache
def fast_bfloat16_products() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (read from /proc/cpuinfo; False
    where it cannot be read). There torch's bfloat16 products of an MNIST-shaped block ran
    about twice as fast as float32 (10 ms against 23 ms for 60000 x 784 times 784 x 10)."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = {
                flag
                for line in info
                if line.startswith("flags")
                for flag in line.partition(":")[2].split()
            }
    except OSError:
        return False
    return bool(flags & BFLOAT16_CPU_FLAGS)


class DenseDesign:
    """A dense ``(n, m)`` design matrix held as one contiguous torch tensor."""

    def __init__(self, X: torch.Tensor):
        self.X = X.contiguous()
        self.n_samples, self.n_features = self.X.shape
        self._low_precision: DenseDesign | bool | None = None  # False: X does not fit
        # storage of the last ``rows`` result and a weak reference to that result
        self._spare_rows: tuple[torch.Tensor, weakref.ref] | None = None

    def linear(self, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """Net inputs ``Z = X W^T + b`` (``b`` broadcast over rows; ``None`` means no bias),
        in ``X``'s dtype whatever ``W``'s and ``b``'s."""
        W = W.to(self.X.dtype)
        if b is None:
            return self.X @ W.T
        return torch.addmm(b.to(self.X.dtype).unsqueeze(0), self.X, W.T)

    def transposed_product(self, G: torch.Tensor) -> torch.Tensor:
        """``G^T X`` (shape ``(K, m)``) for ``G`` of shape ``(n, K)``."""
        return G.T @ self.X

    def low_precision(self) -> DenseDesign | None:
        """A copy of this design for products whose result may be approximate (Newton-CG's
        Hessian-vector products inside CG), made once: bfloat16 (a quarter of float64 ``X``,
        values rounded to 8 significant bits) where the CPU multiplies it natively, else
        float32 (half of float64 ``X``, 24 bits) for float64 ``X``; the products are
        accumulated in float32. None elsewhere (float32 ``X`` without native bfloat16,
        other devices, or values that do not survive the rounding).

        On a CPU without native bfloat16 (AVX2 only, two cores) a fused pass over MNIST
        (60000 x 784, K=10, blocks of 2048 rows) took 90 ms in float32 against 151 ms in
        float64; MNIST's default fit (tol=1e-4, 61 products) 10.9 -> 9.0 s."""
        if self.X.device.type != "cpu" or self.X.dtype in LOW_PRECISION_DTYPES:
            return None
        native = fast_bfloat16_products()
        if self._low_precision is False or not (native or self.X.dtype == torch.float64):
            return None
        if self._low_precision is None:
            if native:
                self._low_precision = self._bfloat16_copy()
            else:
                copy = float32_copy(self.X)
                self._low_precision = False if copy is None else DenseDesign(copy)
        return self._low_precision or None

    def _bfloat16_copy(self) -> DenseDesign | bool:
        """X in bfloat16, or False where a value does not survive: bfloat16 has float32's
        range, so values beyond it become inf, and values below its smallest become 0.
        float32 ``X`` in one compiled pass (``bfloat16.py``); wider ``X`` one block of rows at
        a time through torch (no full-size temporaries)."""
        if self.X.dtype == torch.float32:
            copy = bfloat16_copy(self.X)
            return False if copy is None else DenseDesign(copy)
        copy = torch.empty(self.X.shape, dtype=torch.bfloat16, device=self.X.device)
        for start in range(0, self.n_samples, CONVERSION_BLOCK_ROWS):
            rows = slice(start, min(start + CONVERSION_BLOCK_ROWS, self.n_samples))
            block = copy[rows]
            block.copy_(self.X[rows])
            if not bool(torch.isfinite(block).all()) or int(torch.count_nonzero(block)) != int(
                torch.count_nonzero(self.X[rows])
            ):
                return False
        return DenseDesign(copy)

    def fused_transposed_product(self, W, b, block_fn):
        """``sum over row blocks B of R_B X_B`` where ``R_B = block_fn(W X_B^T + b, B)``.

        Each block of rows is read once for both products while it sits in cache.
        ``block_fn(Z_block^T, rows_slice)`` gets the block's net inputs classes-major
        (``(K, |B|)``, contiguous) and returns its residual the same way (``(K, |B|)``).
        Returns ``(R^T X (K, m), sum_i R_i (K,) in float64)``.

        Classes-major blocks: ``W X_B^T`` took 35-37 ms a gradient pass where ``X_B W^T``
        took 41-43 (MNIST, float32, two cores), and a softmax over the ``K`` classes of each
        column needs no transposed copy.
        """
        K, dtype = W.shape[0], self.X.dtype
        low = dtype in LOW_PRECISION_DTYPES  # products in dtype, their sum in float32
        W, b = W.to(dtype), None if b is None else b.to(dtype)
        product = torch.zeros(K, self.n_features, dtype=torch.float32 if low else dtype,
                              device=self.X.device)
        column_sums = torch.zeros(K, dtype=torch.float64, device=self.X.device)
        row_bytes = max(1, self.n_features * self.X.element_size())
        block_rows = min(MAX_BLOCK_ROWS, max(MIN_BLOCK_ROWS, BLOCK_BYTES // row_bytes))
        for start in range(0, self.n_samples, block_rows):
            rows = slice(start, min(start + block_rows, self.n_samples))
            X_block = self.X[rows]
            Z = W @ X_block.T if b is None else torch.addmm(b.unsqueeze(1), W, X_block.T)
            R = block_fn(Z, rows)
            if low:
                product += R.to(dtype) @ X_block
            else:  # R may be wider than X (float64 activations, float32 copy of X)
                product.addmm_(R.to(dtype), X_block)
            column_sums += R.sum(dim=1, dtype=torch.float64)
        return product, column_sums

    def squared_transposed_product(self, G: torch.Tensor) -> torch.Tensor:
        """``G^T (X * X)`` (shape ``(K, m)``), squaring one block of rows at a time."""
        product = torch.zeros(G.shape[1], self.n_features, dtype=self.X.dtype,
                              device=self.X.device)
        squares = torch.empty(min(SQUARED_BLOCK_ROWS, self.n_samples), self.n_features,
                              dtype=self.X.dtype, device=self.X.device)
        for start in range(0, self.n_samples, SQUARED_BLOCK_ROWS):
            rows = slice(start, min(start + SQUARED_BLOCK_ROWS, self.n_samples))
            X_block = self.X[rows]
            block_squares = squares[: X_block.shape[0]]
            torch.mul(X_block, X_block, out=block_squares)
            product.addmm_(G[rows].T, block_squares)
        return product

    def gram(self, index: torch.Tensor, weights: torch.Tensor | None):
        """``(X_r^T diag(s) X_r, X_r^T s)`` in float64 for the rows ``r = index``.

        On CPU the product runs in NumPy (OpenBLAS): its ``X^T X`` took 221 ms against
        torch's 374 ms for MNIST's 60000 x 784 float32 on two cores.
        """
        subset = self.X.index_select(0, index.to(self.X.device))
        scaled = subset if weights is None else subset * weights.unsqueeze(1)
        if subset.device.type == "cpu" and subset.dtype in (torch.float32, torch.float64):
            with np.errstate(over="ignore", invalid="ignore"):  # callers check finiteness
                product = torch.from_numpy(scaled.numpy().T @ subset.numpy())
        else:  # other devices, and half precisions NumPy lacks (bfloat16): in float32 at least
            wide = torch.promote_types(subset.dtype, torch.float32)
            product = scaled.T.to(wide) @ subset.to(wide)
        return product.double(), scaled.sum(dim=0, dtype=torch.float64)

    def rows(self, index: torch.Tensor) -> DenseDesign:
        """The rows ``X[index]`` as a new dense design matrix.

        Repeated subsets of one size (Newton-CG's Hessian rows, SGD's minibatches) are
        copied into the storage of the previous one once nothing refers to it any more,
        instead of allocating a new block of memory each time.
        """
        index = index.to(self.X.device)
        spare = self._spare_rows
        if spare is not None and spare[1]() is None and spare[0].shape[0] == index.numel():
            subset = torch.index_select(self.X, 0, index, out=spare[0])
        else:
            subset = self.X.index_select(0, index)
        design = DenseDesign(subset)
        self._spare_rows = (subset, weakref.ref(design))
        return design


class SparseDesign:
    """A scipy CSR ``(n, m)`` matrix: on CPU multiplied by row blocks on threads, elsewhere
    through torch sparse CSR copies of ``X`` and ``X^T`` on the device."""

    def __init__(self, X: sp.csr_matrix, dtype: torch.dtype, device: torch.device,
                 frequency_order: bool = True):
        """``frequency_order``: the CPU products may run on a copy of ``X`` with its columns
        ordered by frequency (``sparse_products.py``; only on large, wide ``X``): off for
        designs made for a product or two (a Hessian's rows, ``X * X``), where making
        the copy would cost more than it saves."""
        numpy_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        self.scipy = sp.csr_matrix(X, dtype=numpy_dtype)
        if not self.scipy.has_canonical_format:
            # a canonical copy (sorted, one entry per cell): csr_matrix(X, dtype=...) shares
            # X's index array, and sorting it in place would scramble the caller's X (its
            # values stay in the old order); entrywise uses of the values (X * X for the
            # Hessian's diagonal) need a cell's duplicates summed: (a + b)^2, not a^2 + b^2
            self.scipy = self.scipy.copy()
            self.scipy.sum_duplicates()
        self.dtype, self.device = dtype, device
        self.n_samples, self.n_features = self.scipy.shape
        # on CPU the products run in scipy's CSR kernels (4-10 ms where torch's sparse CSR
        # products took 75 ms on two threads of a busy 2-core machine, for a 4000 x 16384
        # text-like X with 20 classes), on row blocks over threads (sparse_products.py);
        # elsewhere in torch on the device
        self.on_cpu = self.device.type == "cpu"
        # scipy's products take W^T and give X^T R as (m, K) rows (objective.py's
        # prefers_features_major)
        self.features_major = self.on_cpu
        if self.on_cpu:
            self.blocks = RowBlocks(self.scipy, frequency_order)
        else:
            self.X = _torch_csr(self.scipy, dtype, device)
            self.XT = _torch_csr(self.scipy.T.tocsr(), dtype, device)

    def _dense(self, matrix: torch.Tensor) -> np.ndarray:
        """``matrix`` as a C-contiguous array of the design's dtype: one copy at most (of a
        float64 ``W^T`` on wide data, straight into float32 and the transposed layout)."""
        matrix = matrix.detach()
        if matrix.dtype == self.dtype and matrix.is_contiguous():
            return matrix.numpy()
        return torch.empty(matrix.shape, dtype=self.dtype).copy_(matrix).numpy()

    def linear(self, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        """Net inputs ``Z = X W^T + b`` via a sparse-times-dense product, in the design's
        dtype whatever ``W``'s and ``b``'s."""
        if self.on_cpu:
            Z = torch.from_numpy(self.blocks.times(self._dense(W.T)))
        else:
            Z = self.X @ W.T.to(self.dtype).contiguous()
        return Z if b is None else Z + b.to(self.dtype).unsqueeze(0)

    def transposed_product(self, G: torch.Tensor) -> torch.Tensor:
        """``G^T X = (X^T G)^T``."""
        if self.on_cpu:
            return torch.from_numpy(self.blocks.transposed_times(self._dense(G))).T
        return (self.XT @ G.contiguous()).T

    def fused_transposed_product(self, W, b, block_fn):
        """``R^T X`` with ``R^T = block_fn((X W^T + b)^T, all rows)`` (one block: CSR
        products; the block's net inputs and residual classes-major, ``(K, n)``, as for
        :meth:`DenseDesign.fused_transposed_product`)."""
        R = block_fn(self.linear(W, b).T.contiguous(), slice(0, self.n_samples)).T
        return self.transposed_product(R), R.sum(dim=0, dtype=torch.float64)

    def rows_in_product_order(
        self, index: np.ndarray
    ) -> tuple[sp.csr_matrix, np.ndarray | None]:
        """``(X_r, order)``: the rows ``index`` as a CSR matrix whose column ``j`` is
        ``X``'s column ``order[j]`` (None: ``X``'s own numbering), each row's entries in
        increasing column order. On CPU in the order the products run in (on large, wide
        ``X`` the columns by frequency, ``RowBlocks.rows_in_product_order``)."""
        if self.on_cpu:
            return self.blocks.rows_in_product_order(index)
        return self.scipy[index], None

    def squared_transposed_product(self, G: torch.Tensor) -> torch.Tensor:
        """``G^T (X * X)``: ``X * X`` shares ``X``'s pattern, so only its values are new (no
        dense copy, no second copy of the indices)."""
        squares = sp.csr_matrix(self.scipy.shape, dtype=self.scipy.dtype)
        squares.indptr, squares.indices = self.scipy.indptr, self.scipy.indices
        squares.data = np.square(self.scipy.data)
        design = SparseDesign(squares, self.dtype, self.device, frequency_order=False)
        return design.transposed_product(G)

    def gram(self, index: torch.Tensor, weights: torch.Tensor | None):
        """``(X_r^T diag(s) X_r, X_r^T s)`` in float64 for the rows ``r = index`` (dense
        ``(m, m)``: for a small number of columns only)."""
        subset = self.scipy[index.cpu().numpy()].astype(np.float64)
        scaled = subset if weights is None else subset.multiply(
            weights.cpu().double().numpy()[:, None]).tocsr()
        product = torch.from_numpy((scaled.T @ subset).toarray()).to(self.device)
        column_sums = torch.from_numpy(np.asarray(scaled.sum(axis=0)).ravel()).to(self.device)
        return product, column_sums

    def low_precision(self) -> None:
        """None: sparse products stay in the design's dtype (see DenseDesign.low_precision)."""
        return None

    def rows(self, index: torch.Tensor) -> SparseDesign:
        """The rows ``X[index]`` as a new sparse design matrix."""
        subset = self.scipy[index.cpu().numpy()]
        return SparseDesign(subset, self.dtype, self.device, frequency_order=False)


def _torch_csr(X: sp.csr_matrix, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(X.indptr.astype(np.int64)),
            torch.from_numpy(X.indices.astype(np.int64)),
            torch.from_numpy(X.data).to(dtype),
            size=X.shape,
            check_invariants=True,
        ).to(device)


def make_design(X, dtype: torch.dtype, device: torch.device) -> DenseDesign | SparseDesign:
    """Convert ``X`` (NumPy, torch dense, scipy.sparse) to a design matrix, copying at most
    once (a design matrix is taken as it is)."""
    if isinstance(X, (DenseDesign, SparseDesign)):
        return X
    if sp.issparse(X):
        return SparseDesign(X.tocsr(), dtype, device)
    if isinstance(X, torch.Tensor):
        if X.layout != torch.strided:
            raise TypeError(
                f"torch tensors must be dense (got layout {X.layout}); pass sparse data as "
                "a scipy.sparse matrix"
            )
        tensor = X.detach()
    else:
        array = np.asarray(X)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"X must hold numbers, got an array of dtype {array.dtype}")
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(tensor.shape)}")
    return DenseDesign(tensor.to(device=device, dtype=dtype))
