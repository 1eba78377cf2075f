"""Newton-CG steps on the non-zero coordinates of a proximal Newton model (its active set).

Coordinate descent on the quadratic model of correlated columns (MNIST's neighbouring
pixels) crawls: hundreds of sweeps, each a pass over the active columns' non-zeros. Once
the sweeps have found the zeros and the signs, the model restricted to the non-zero
coordinates ``N`` (and the intercepts) with their signs ``sigma`` held is a smooth
quadratic,

    q_N(d) = (grad q_N + lam sigma)^T d + 0.5 d^T H_NN d,

whose minimiser conjugate gradients (preconditioned by ``diag(H)``) find in tens of
Hessian-vector products (on dense columns of many rows, of a random subset of the rows:
``SUBSAMPLE_FRACTION``); ``H`` is never formed: ``X_S D^T`` (the net inputs' change), the
per-sample curvature (softmax: ``[H_i m]_k = c_i a_ik (m_k - a_i^T m)``; sigmoids:
``c_i a_ik (1 - a_ik) m_k``), then ``X_S^T``. The step is projected onto the signs' orthant
(a coordinate it would take through zero stays at zero, as OWL-QN projects; Andrew & Gao
2007) and halved until the model's value falls, computed exactly from the change of the
net inputs; last comes the step to the first coefficient it takes to zero, along which the
signs hold. This is the subspace step of two-phase active-set methods for L1 problems
(Byrd, Chin, Nocedal & Oztoprak 2016, "A family of second-order methods for convex
l1-regularized optimization"); coordinate descent keeps finding the zeros between steps.
"""

from __future__ import annotations

import numpy as np

# conjugate-gradient iterations per step, at most, and their relative tolerance
CG_MAX = 25
CG_RTOL = 1e-3
HALVINGS = 10
# X_S is copied densely (float32, see DATA_RANGE) when at least this share of it is
# non-zero and it has at most this many elements (128 MB)
DENSE_FILL = 0.1
DENSE_ELEMENTS = 2**25
# On more rows than this the dense copy, and with it the Hessian-vector products, holds a
# random subset of max(SUBSAMPLE_MIN_ROWS, SUBSAMPLE_FRACTION * n) rows, redrawn for each
# active loop (a subsampled Hessian, as Newton-CG's on large data; Byrd, Chin, Neveitt &
# Nocedal 2011): the step it finds is taken only where the exact model falls, computed
# from all rows. MNIST (60,000 rows, 12,000 in the subset) to scikit-learn saga's objective:
# elastic net 29.1 -> 19.3 s, L1 21.8 -> 20.2 s (the sparse text-like fits keep the sparse
# columns, all rows: their columns are too sparse for a dense copy)
SUBSAMPLE_MAX_ROWS = 20_000
SUBSAMPLE_FRACTION = 0.2
SUBSAMPLE_MIN_ROWS = 10_000
# rows x columns of the dense copy per block of a Hessian-vector product (float32: 4 MB)
BLOCK_ELEMENTS = 2**20
# per-sample curvatures (C-scaled) beyond this are scaled down by a power of two before
# their float32 products: float32 ends at 3.4e38, which C = 1e40 passes
FLOAT32_PEAK = 2.0**100
# X's values are copied to float32 for BLAS products only where every non-zero magnitude
# lies within this range (their squares, 2^-120 to 2^80, and their products with factors
# scaled below FLOAT32_PEAK / largest, then stay inside float32's normal range), else to
# float64: a column scaled by 1e20 overflowed float32 (inf in the Hessian), one of 1e150
# made NaN, and one of 1e-20 has squares below float32's normal numbers
DATA_RANGE = (2.0**-60, 2.0**40)


def copy_dtype(problem):
    """The dtype of dense copies of ``X``'s columns (and of the factors of their products):
    float32 where ``DATA_RANGE`` holds ``X``'s magnitudes, else float64."""
    smallest, largest = problem.magnitudes
    low, high = DATA_RANGE
    return np.float32 if low <= smallest and largest <= high else np.float64


def as_factor(values: np.ndarray, dtype, peak: float = FLOAT32_PEAK):
    """``values`` as a factor of a product in ``dtype``: :func:`as_float32`'s ``(values *
    shift, shift)`` for float32, ``(values, 1.0)`` for float64."""
    if dtype == np.float64:
        return values, 1.0
    return as_float32(values, peak)


def curvature(model, M: np.ndarray, rows: slice = slice(None), V=None, A=None) -> np.ndarray:
    """``[H_i m_i]`` for the samples ``rows``: the model's per-sample Hessian times ``M``
    (``V`` and ``A``: the model's for those rows, where the caller holds them)."""
    V = model.V[rows] if V is None else V
    if model.problem.softmax:
        A = model.A[rows] if A is None else A
        return V * (M - (A * M).sum(axis=1, keepdims=True))
    return V * M


class ActiveColumns:
    """``X_S``, the active columns, for the products of one active loop: a dense copy
    (:func:`copy_dtype`; BLAS) where they are dense enough and it fits ``DENSE_ELEMENTS``
    (of the rows ``rows``: all, or on large data a random subset, see
    ``SUBSAMPLE_FRACTION``), else the CSC columns themselves (compiled loops, all rows).
    The other factor of each product with the copy is scaled by a power of two where
    float32 could not hold its terms (``peak``)."""

    def __init__(self, problem, columns: np.ndarray):
        self.problem, self.columns = problem, columns
        nonzeros = float(problem.column_nonzeros(columns).sum())
        self.dense, self.rows, self.scale = None, slice(None), 1.0
        self.subsampled, self._model_rows = False, None
        if nonzeros < DENSE_FILL * problem.n * len(columns):
            return
        rows = _hessian_rows(problem)
        if rows is not None and not problem.c[rows].sum() > 0:  # only rows of weight 0
            rows = None
        count = problem.n if rows is None else len(rows)
        if count * len(columns) > DENSE_ELEMENTS:
            return
        kernels, dtype = problem.kernels, copy_dtype(problem)
        self.peak = FLOAT32_PEAK / max(1.0, problem.magnitudes[1])
        if rows is None:
            self.dense = np.empty((problem.n, len(columns)), dtype=dtype)
            positions = problem.indptr[columns].copy()
            kernels.dense_rows(*problem.columns(), columns, positions, problem.n, self.dense)
            return
        self.dense = np.zeros((count, len(columns)), dtype=dtype)
        kernels.dense_rows_at(*problem.columns(), columns, rows, problem.n, self.dense)
        # the data term of the Hessian sums c_i over all rows: the subset's sum scaled up
        self.rows, self.subsampled = rows, True
        self.scale = float(problem.c.sum() / problem.c[rows].sum())

    def _factor(self, values: np.ndarray):
        """``values`` as the other factor of a product with the copy (:func:`as_factor`)."""
        return as_factor(values, self.dense.dtype, self.peak)

    def times(self, D: np.ndarray, exact: bool = False, support=None) -> np.ndarray:
        """``X_S D^T`` (n x K) for ``D`` (K x p) zero off ``support`` (bool, K x p; None:
        anywhere); ``exact``: in float64 from the sparse columns (what the net inputs are
        kept from), which cost the support's non-zeros, not K times its columns'."""
        if self.dense is not None and not exact and not self.subsampled:
            narrow, shift = self._factor(D.T)
            product = self.dense @ narrow
            return product if shift == 1.0 else product.astype(np.float64) / shift
        M = np.zeros((self.problem.n, self.problem.K))
        self.problem.kernels.add_selected(
            *self.problem.columns(), self.columns, D, M, support, threads=self.problem.threads
        )
        return M

    def hessian_times(self, model, D: np.ndarray, db: np.ndarray, support=None):
        """``X_S^T [H_i m_i]`` (K x p; on ``support``, as :meth:`transposed`) and ``sum_i
        H_i m_i`` (K) for ``M = X_S D^T + db`` (``D`` zero off ``support``): on the dense
        copy one block of rows at a time, both products while the block is in cache (the
        copy is read once, not twice)."""
        if self.dense is None:
            per_sample = curvature(model, self.times(D, support=support) + db)
            return self.transposed(per_sample, support=support), per_sample.sum(axis=0)
        Dt, shift_D = self._factor(D.T)
        product = np.zeros(D.shape, dtype=self.dense.dtype)
        sums = np.zeros(len(db))
        step = max(1, BLOCK_ELEMENTS // max(1, D.shape[1]))
        if self._model_rows is None or self._model_rows[0] is not model:
            # the subset's rows of V and A, gathered once (the model is fixed in a loop)
            self._model_rows = (model, model.V[self.rows], model.A[self.rows])
        _, V, A = self._model_rows
        scaled = np.zeros(D.shape)  # the blocks that float32 could not hold as they are
        for start in range(0, len(self.dense), step):
            block, rows = self.dense[start : start + step], slice(start, start + step)
            M = block @ Dt
            M = (M if shift_D == 1.0 else M.astype(np.float64) / shift_D) + db
            per_sample = curvature(model, M, V=V[rows], A=A[rows])
            narrow, shift = self._factor(per_sample)
            if shift == 1.0:
                product += narrow.T @ block
            else:
                scaled += (narrow.T @ block).astype(np.float64) / shift
            sums += per_sample.sum(axis=0)
        return (product.astype(np.float64) + scaled) * self.scale, sums * self.scale

    def transposed(self, per_sample: np.ndarray, exact: bool = False, support=None):
        """``X_S^T per_sample`` as ``(K, p)``, exact on ``support`` (bool, K x p; None:
        everywhere) and 0 off it from the sparse columns; ``exact``: in float64 from them."""
        if self.dense is not None and not exact and not self.subsampled:
            narrow, shift = self._factor(per_sample)
            return (narrow.T @ self.dense).astype(np.float64) / shift
        out = np.zeros((self.problem.K, len(self.columns)))
        kernels = self.problem.kernels
        kernels.selected_products(
            *self.problem.columns(), self.columns, per_sample, out, support,
            threads=self.problem.threads,
        )  # fmt: skip
        return out


def as_float32(values: np.ndarray, peak: float = FLOAT32_PEAK) -> tuple[np.ndarray, float]:
    """``(values * shift)`` in float32 and ``shift``: 1 where their largest magnitude is
    at most ``peak``, else the power of two that brings it there (exact, and undone in
    float64 after the product; a product of two such factors wants ``peak`` about the
    square root of float32's range)."""
    top = float(np.abs(values).max(initial=0.0))
    if not top > peak:
        return values.astype(np.float32), 1.0
    shift = 2.0 ** -(np.frexp(top)[1] - np.frexp(peak)[1] + 1)
    return (values * shift).astype(np.float32), shift


def _hessian_rows(problem) -> np.ndarray | None:
    """None (all rows) up to ``SUBSAMPLE_MAX_ROWS`` rows, else a random subset of them,
    sorted, drawn from the problem's generator."""
    if problem.n <= SUBSAMPLE_MAX_ROWS:
        return None
    size = min(problem.n, max(SUBSAMPLE_MIN_ROWS, int(SUBSAMPLE_FRACTION * problem.n)))
    return np.sort(problem.generator.choice(problem.n, size, replace=False))


class _Support:
    """The non-zero coordinates of ``U[:, columns]`` and the intercepts, as one vector."""

    def __init__(self, model, active: ActiveColumns, positions: np.ndarray):
        problem = model.problem
        self.model, self.active = model, active
        self.mask = model.U[:, active.columns] != 0
        self.size = int(self.mask.sum())
        self.intercepts = problem.K if problem.fit_intercept else 0
        diagonal = np.einsum("tkk->kt", model.blocks[positions])  # alpha included
        self.diagonal = np.concatenate([diagonal[self.mask], model.hb[: self.intercepts]])
        # the softmax's flat directions: a column whose K coefficients are all non-zero (its
        # data term sees only their differences; alpha = 0 leaves it flat) and the intercepts
        flat = problem.softmax and problem.alpha == 0
        self.flat_columns = self.mask.all(axis=0) if flat else np.zeros(self.mask.shape[1], bool)
        self.flat_intercepts = problem.softmax and self.intercepts > 0

    def project(self, x: np.ndarray) -> np.ndarray:
        """``x`` without its components along the flat directions (centred over classes
        there), so conjugate gradients stay where ``H_NN`` is positive definite."""
        if not (self.flat_columns.any() or self.flat_intercepts):
            return x
        D, db = self.split(x)
        D[:, self.flat_columns] -= D[:, self.flat_columns].mean(axis=0)
        if self.flat_intercepts:
            db -= db.mean()
        return np.concatenate([D[self.mask], db[: self.intercepts]])

    def split(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x`` as ``(D (K, p) zero off the support, db (K,))``."""
        D = np.zeros(self.mask.shape)
        D[self.mask] = x[: self.size]
        db = np.zeros(self.model.problem.K)
        db[: self.intercepts] = x[self.size :]
        return D, db

    def net_input_change(self, D: np.ndarray, db: np.ndarray, exact=False) -> np.ndarray:
        return self.active.times(D, exact, self.mask) + db

    def transposed(self, per_sample: np.ndarray, exact: bool = False) -> np.ndarray:
        """``[X_S^T per_sample]`` on the support, and ``sum_i per_sample_i`` for the
        intercepts (``exact``: in float64 from the sparse columns)."""
        out = self.active.transposed(per_sample, exact, self.mask)
        return np.concatenate([out[self.mask], per_sample.sum(axis=0)[: self.intercepts]])

    def hessian_product(self, x: np.ndarray) -> np.ndarray:
        D, db = self.split(x)
        product, sums = self.active.hessian_times(self.model, D, db, self.mask)
        product = np.concatenate([product[self.mask], sums[: self.intercepts]])
        product[: self.size] += self.model.problem.alpha * x[: self.size]
        return product


def _conjugate_gradients(support: _Support, rhs: np.ndarray) -> np.ndarray:
    """``H_NN x = rhs`` on the complement of the flat directions (projected CG: ``P
    diag(H_NN)^-1 P`` as preconditioner), to ``CG_RTOL`` or ``CG_MAX``."""
    # the system scaled by the power of two of its largest diagonal entry: the same
    # iterates bit for bit (scaling by 2^k is exact), and r @ r stays finite at C = 1e300
    shift = 2.0 ** -np.frexp(float(support.diagonal.max(initial=0.0)))[1]
    diagonal = support.diagonal * shift
    inverse = np.where(diagonal > 0, 1.0 / np.maximum(diagonal, 1e-300), 0.0)
    x = np.zeros_like(rhs)
    rhs = rhs * shift
    r = support.project(rhs)
    z = support.project(inverse * r)
    direction = z.copy()
    rz = r @ z
    goal = CG_RTOL * np.sqrt(rhs @ rhs)
    for _ in range(CG_MAX):
        if np.sqrt(r @ r) <= goal or rz <= 0:
            break
        Hd = support.hessian_product(direction) * shift
        curving = direction @ Hd
        if curving <= 0:
            break
        step = rz / curving
        x += step * direction
        r -= step * Hd
        z = support.project(inverse * r)
        rz, previous = r @ z, rz
        direction = z + (rz / previous) * direction
    return x


def orthant_trials(start, direction, signs, halvings: int = HALVINGS):
    """The points a projected Newton step tries from ``start`` along ``direction``, with
    their lengths: ``1, 1/2, ...`` (``halvings`` of them), each projected onto the orthant
    of ``signs`` (a coefficient with a sign that the step takes through zero stays at zero;
    a sign of 0 is not held), and last, when it is shorter, the step to where the first
    such coefficient reaches zero, set exactly to zero there (the signs hold up to there,
    so the model is the smooth quadratic along the step and falls: a coefficient that
    coordinate descent is walking to zero blocks every halved step otherwise)."""
    lengths = [0.5**halving for halving in range(halvings)]
    blocking = None
    towards_zero = np.flatnonzero(signs * direction < 0)
    if len(towards_zero):
        with np.errstate(over="ignore"):  # a step too short to reach zero: inf
            ratios = -start[towards_zero] / direction[towards_zero]
        first = int(np.argmin(ratios))
        if ratios[first] < lengths[-1]:
            lengths.append(float(ratios[first]))
            blocking = int(towards_zero[first])
    held = signs != 0
    for length in lengths:
        moved = start + length * direction
        moved[(np.sign(moved) != signs) & held] = 0.0
        if blocking is not None and length == lengths[-1]:
            moved[blocking] = 0.0
        yield length, moved


def support_newton_step(model, active: ActiveColumns, positions: np.ndarray) -> bool:
    """One Newton-CG step on ``model`` (a :class:`QuadraticModel`) over the non-zero
    coordinates of its ``active`` columns (at ``positions`` in ``model.features``) and the
    intercepts; ``U``, ``Ub``, ``Q`` and ``S`` are updated when the model's value falls.
    Returns whether it did."""
    problem, columns = model.problem, active.columns
    _centre_flat_columns(model, active)
    support = _Support(model, active, positions)
    if support.diagonal.size == 0:
        return False
    U = model.U[:, columns]
    signs = np.sign(U[support.mask])
    residual = model.R + curvature(model, model.Q)  # the model's per-sample gradient at U
    gradient = support.transposed(residual, exact=True)
    gradient[: len(signs)] += problem.alpha * U[support.mask] + model.lam * signs
    direction = _conjugate_gradients(support, -gradient)
    before = model.value(model.U, model.Q, model.S)
    start = U[support.mask]
    for length, trial in orthant_trials(start, direction[: len(signs)], signs):
        D, db = support.split(np.concatenate([trial - start, length * direction[len(signs) :]]))
        change = support.net_input_change(D, db, exact=True)
        moved = model.U.copy()
        moved[:, columns] += D
        Q = model.Q + change
        S = model.S + (model.A * change).sum(axis=1) if problem.softmax else model.S
        if model.value(moved, Q, S) < before:
            model.U, model.Q, model.S = moved, Q, S
            model.Ub += db
            return True
    return False


def _centre_flat_columns(model, active: ActiveColumns) -> None:
    """Subtract, from each active column whose K coefficients are all non-zero (softmax
    without L2), their median over the classes: the model's smooth part sees only their
    differences (``sum_k R_ik = 0``, ``H_i 1 = 0``), and the median minimises the L1 term
    along that direction. The step projects this direction out, yet its L1 slope ``lam
    sum_k sign(W_kj)`` is not 0 (never for odd K), and coordinate descent alone crawls
    along it (hundreds of 1,000-sweep models at large C)."""
    problem = model.problem
    if not problem.softmax or problem.alpha != 0:
        return
    U = model.U[:, active.columns]
    flat = (U != 0).all(axis=0)
    if not flat.any():
        return
    D = np.zeros_like(U)
    D[:, flat] = -np.median(U[:, flat], axis=0)
    change = active.times(D, exact=True, support=np.broadcast_to(flat, U.shape))
    model.U[:, active.columns] = U + D
    model.Q += change
    model.S += (model.A * change).sum(axis=1)
