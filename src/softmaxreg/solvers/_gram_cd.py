"""Coordinate descent on a formed Hessian, for the proximal Newton solver's active sets.

Late in an L1 fit the quadratic model's coordinate descent cycles many times over the
columns ``S`` with non-zero coefficients, and each cycle reads all of their non-zeros (on
correlated text features, tens of cycles per model). For sigmoid outputs the model's
Hessian is block diagonal in the outputs, and its block for output ``k`` restricted to ``S``
(with the intercept as a column of ones) is

    G_k = B^T diag(c_i a_ik (1 - a_ik)) B + alpha I,    B = [X_S, 1]    (p x p).

The softmax's Hessian couples every pair of classes, ``K p`` coordinates for ``p`` columns,
too many to form; but its active set is one of coefficients, not columns (on text, a word
that one or two of 20 classes use): on the non-zero coefficients ``N`` of the active
columns and the intercepts, its block

    G_NN = sum_i c_i [x_ij x_ij' a_ik (delta_kl - a_il)]_{(k, j), (l, j') in N}

is formed either way: sparse, from the pairs of coordinates within each row; dense, by
blocks of rows of ``Z = [x_ij a_ik]_{(k, j) in N}``: ``G_NN = -Z^T diag(c) Z`` between
classes (one float32 BLAS ``syrk`` a block), and each class's own block
``X_k^T diag(c_i a_ik (1 - a_ik)) X_k`` formed apart (exact where ``a_ik`` nears 1, not
the difference of two near-equal sums). Its last intercept is left out: the model is
flat along the intercepts' common shift (``sum_k R_ik = 0``, ``H_i 1 = 0``), so holding
one loses nothing and keeps ``G_NN`` non-singular. Without L2, a column with all K
coefficients in ``N`` is flat along their common shift too: the Newton steps leave that
direction alone and the coefficients are centred on their median, as on the column
sweeps' support (``_support_newton``).

On it one coordinate step costs ``O(p)`` (the gradient is kept up to date with a column of
``G_k``, as glmnet's "covariance updates" do). It is formed one of two ways, whichever costs
less for these columns:

- dense: blocks of rows of ``B`` by BLAS (float32 on large models, see ``EXACT_PRODUCTS``),
  summed over blocks in float64 (``n p^2`` multiply-adds; a model's Hessian needs no more
  precision there, and the model's gradient, in float64 from the sparse columns, decides
  where its minimum lies);
- sparse: the pairs of non-zeros within each row of ``X_S`` (``sum_i nnz_i^2 / 2``), in
  float64: many rare text features with a few frequent ones.

The softmax's dense way leaves the coordinates of rare columns (non-zero in at most 5% of the
rows) out of its product and forms their entries from their non-zeros
(``_rare_coordinates``). It forms ``G_NN`` on the rows that carry its curvature only, with each
column's own block and the intercepts' put back exactly from every row (``_curved_rows``:
positive semidefinite, exact on the diagonal, late in a text-like fit a third of the rows);
the sparse way forms it exactly, from every row.

:class:`RentOrBuy` decides when: once the column sweeps of one active loop have cost as
much as forming ``G`` would (the rent-or-buy rule: never more than twice the better
choice's cost, whatever the number of sweeps still to come), counting the last model's
sweeps as already spent. The text-like bench's softmax models (~1,100 of 5.2 million
coefficients non-zero, 700 active columns holding half the data) form theirs after about
a dozen sweeps, MNIST's L1 ones late in the fit (about 1,750 coefficients, twice a fit).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.linalg
from threadpoolctl import threadpool_limits

from softmaxreg.solvers._curved_rows import curved_rows, restore_own_blocks
from softmaxreg.solvers._nearby_support import FactoredSupport, definite_cholesky, nearby_solver
from softmaxreg.solvers._rare_coordinates import RareCoordinates, rare_columns
from softmaxreg.solvers._support_newton import (
    FLOAT32_PEAK,
    as_factor,
    copy_dtype,
    curvature,
    orthant_trials,
)

# the time of one non-zero of a column sweep (two passes, gathered rows) over that of one
# element of the float32 product B^T (w B): 7.2 ns against 0.025-0.043 ns on the binary
# text-like bench (100,000 rows, 100-240 active columns)
DENSE_SPEEDUP = 200.0
# ... over that of one pair of non-zeros in a row (a scattered multiply-add into G): 1.45 ns
# on 1,900 columns of that bench
SPARSE_SPEEDUP = 5.0
# rows x columns of one dense block of B (float32: 4 MB, about 8,000 rows of 130 columns:
# the product runs 2x faster on blocks that stay in cache than on all rows at once)
BLOCK_ELEMENTS = 2**20
# rows x coordinates of one block of the softmax's dense way (float32: 16 MB; its syrk
# ran at 1.35 s per 100,000 rows on 830-row blocks of 1,265 coordinates, 1.07 s on 4,096)
SOFTMAX_BLOCK_ELEMENTS = 2**22
# the dense way multiplies in float64 up to this many multiply-adds (n q^2: about 20 ms),
# in float32 beyond (where X's values fit it: copy_dtype): an ill-conditioned small softmax
# model (196 rows, C = 1e4, tol 1e-9: 6e6 of them) ran 300 outer iterations on a float32
# Hessian and converged in 22 on an exact one; at 2^31 binary text's 100-column models
# (1e9) took 60-90 ms a form against 40-60 ms
EXACT_PRODUCTS = 2.0**27
# a softmax model re-forms G from the last one it formed where at most this share of the
# coordinates are new (_reused_dense_gram)
REUSE_SHARE = 0.25
# rows gathered at a time by the sparse way
SPARSE_BLOCK_ROWS = 8192
# G is formed for at most this many columns, fewer for several outputs (float64: 128 MB)
MAX_COLUMNS = 4096
# coordinate-descent sweeps on G between Newton steps on the non-zero coordinates, and
# the most steps one model takes: a step stops at the first coefficient it takes to zero,
# and a support that sheds 30 of 1,200 coordinates takes as many steps (text-like L1: 10
# steps then 778 sweeps, 1.9 s, where 30 steps take ~0.5 s; a step costs ~20-40 ms there,
# a sweep ~2 ms). MNIST L1 / elastic net: the same fits (they take fewer)
NEWTON_EVERY = 2
MAX_NEWTON_STEPS = 30
# a Newton block whose Cholesky pivot (squared) falls below this share of its largest
# diagonal entry is solved on its range: eigenvalues above this share of the largest
SINGULAR = 1e-12
# a softmax model whose G costs at most this many column sweeps goes without Newton-CG
# steps before it is formed (MNIST's, hundreds, keeps them)
FORM_SOON = 8


def sweep_cost(problem, columns: np.ndarray) -> float:
    """One column sweep over ``columns`` (and the intercepts), in non-zero units."""
    nonzeros = float(problem.column_nonzeros(columns).sum())
    intercepts = problem.n if problem.fit_intercept else 0
    return (nonzeros + intercepts) * problem.K


def formable(problem, columns: np.ndarray, classes: np.ndarray | None = None) -> bool:
    """Whether ``G`` can be formed for these columns and at most ``MAX_COLUMNS^2`` entries:
    sigmoid outputs, ``K`` blocks of ``q x q`` (``q``: the columns and the intercept); the
    softmax, one block on its coefficients that ``classes`` (bool, ``(K, len(columns))``)
    holds and ``K - 1`` intercepts (none without ``classes``)."""
    if problem.softmax:
        return classes is not None and softmax_size(problem, classes) <= MAX_COLUMNS
    q = len(columns) + int(problem.fit_intercept)
    return problem.K * q * q <= MAX_COLUMNS**2


def softmax_size(problem, classes: np.ndarray) -> int:
    """The softmax's coordinates: the coefficients ``classes`` holds, ``K - 1`` intercepts."""
    return int(classes.sum()) + _softmax_intercepts(problem)


def _softmax_intercepts(problem) -> int:
    return problem.K - 1 if problem.fit_intercept else 0


class RentOrBuy:
    """For one active loop over ``columns``: :meth:`choice` says whether the column sweeps
    recorded so far (and the ``expected`` ones) have paid for forming ``G``, and how."""

    def __init__(self, problem, columns: np.ndarray, expected: int, classes=None, rows=None):
        """``rows``: how many rows the softmax's dense way forms ``G`` on (default all;
        ``_curved_rows``)."""
        self.problem, self.columns, self.classes = problem, columns, classes
        self.rows = problem.n if rows is None else rows
        self.sweep = sweep_cost(problem, columns)
        self.spent = expected * self.sweep
        self.formable = formable(problem, columns, classes)

    def record_sweep(self) -> None:
        self.spent += self.sweep

    def choice(self) -> str | None:
        """``'dense'``, ``'sparse'`` or None (keep sweeping columns)."""
        if not self.formable or self.spent < self.sweep:
            return None
        cost, method = self.cheapest
        return method if self.spent >= cost else None

    def forms_soon(self) -> bool:
        """Whether ``G`` will be formed within ``FORM_SOON`` sweeps (sigmoids: whenever it
        can be), so that Newton-CG steps on the sweeps' support (``_support_newton``) are
        not worth their passes before it."""
        if not self.formable or not self.problem.softmax:
            return self.formable
        return self.cheapest[0] <= FORM_SOON * self.sweep

    @cached_property
    def cheapest(self) -> tuple[float, str]:
        """``(cost, method)`` of the cheaper way to form ``G``, in sweep units (computed
        once asked: the sparse way's count of pairs is a pass over the columns)."""
        problem = self.problem
        # forming either way ends with a pass like a sweep (the gradient, the change of Q)
        if problem.softmax:  # the syrk over all coordinates, each class's block again
            per_class = self.classes.sum(axis=1)
            size = softmax_size(problem, self.classes)
            dense = self.rows * (size * size / 2 + float(per_class @ per_class))
            # the coordinates of each row, its intercepts with them
            weights = self.classes.sum(axis=0)
            extra, outputs = _softmax_intercepts(problem), 1
        else:
            q = len(self.columns) + int(problem.fit_intercept)
            dense = problem.n * q * q * problem.K
            weights = np.ones(len(self.columns), dtype=np.int64)
            extra, outputs = 0, problem.K
        dense = dense / DENSE_SPEEDUP + self.sweep
        pairs = row_pairs(problem, self.columns, weights, extra)
        sparse = pairs * outputs / SPARSE_SPEEDUP + 2 * self.sweep
        return min((dense, "dense"), (sparse, "sparse"))


def row_pairs(problem, columns: np.ndarray, weights: np.ndarray, extra: int) -> float:
    """The sparse way's multiply-adds: ``sum_i s_i (s_i + 1) / 2`` for row ``i``'s ``s_i``
    coordinates, ``weights[t]`` for each non-zero of ``columns[t]`` (int64) and ``extra``
    (the intercepts)."""
    indptr, indices = problem.columns()[:2]
    counts = problem.kernels.row_counts(indptr, indices, columns, problem.n, weights) + extra
    return float((counts * (counts + 1)).sum()) / 2


def form(model, columns: np.ndarray, method: str) -> np.ndarray:
    """``G_k`` (``(K, q, q)``, without ``alpha``) for the sigmoid ``model`` at its weights;
    ``columns`` best ordered by falling frequency (the sparse way's pairs then land in a
    corner of ``G`` that stays in cache)."""
    problem = model.problem
    p, n = len(columns), problem.n
    q = p + int(problem.fit_intercept)
    weights = model.V  # c_i a_ik (1 - a_ik)
    G = np.zeros((problem.K, q, q))
    if method == "sparse":
        kernels = problem.kernels
        kernels.sparse_gram(*problem.columns(), columns, weights, SPARSE_BLOCK_ROWS, G)
        return G
    rows = max(1, BLOCK_ELEMENTS // q)
    positions = problem.indptr[columns].copy()
    dtype = _product_dtype(problem, q)
    peak = FLOAT32_PEAK / max(1.0, problem.magnitudes[1]) ** 2  # of the weights
    block = np.ones((rows, q), dtype=dtype)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        B = block[: stop - start]
        problem.kernels.dense_rows(*problem.columns(), columns, positions, stop, B)
        for k in range(problem.K):
            factor, shift = as_factor(weights[start:stop, k, None], dtype, peak)
            G[k] += ((B * factor).T @ B).astype(np.float64) / shift
    return G


def _product_dtype(problem, q: int, rows: int | None = None):
    """The dense way's dtype for ``q`` coordinates on ``rows`` rows (default all):
    float64 up to ``EXACT_PRODUCTS`` multiply-adds (``rows q^2``), else :func:`copy_dtype`
    (float32 where ``X``'s values fit)."""
    rows = problem.n if rows is None else rows
    return np.float64 if rows * q * q <= EXACT_PRODUCTS else copy_dtype(problem)


def solve_on_gram(
    model, columns: np.ndarray, method: str, tolerance: float, max_sweeps: int, classes=None
):
    """Coordinate descent on ``model`` (a :class:`QuadraticModel`) over the columns
    ``columns`` of ``X`` (softmax: their coefficients that ``classes`` holds) and the
    intercepts, on ``G_k`` formed by ``method`` (with Newton steps, :func:`minimise`),
    until a sweep changes less than ``tolerance`` (``|delta| G_jj``, as the column sweeps)
    or ``max_sweeps``; ``model.U``, ``Ub``, ``Q`` (and ``S``) are updated. Returns the
    number of sweeps (the most of any output)."""
    if model.problem.softmax:
        return _solve_softmax(model, columns, method, classes, tolerance, max_sweeps)
    problem, kernels = model.problem, model.problem.kernels
    counts = problem.column_nonzeros(columns)
    columns = columns[np.argsort(-counts, kind="stable")]  # the frequent columns first
    p = len(columns)
    G = form(model, columns, method)
    q = G.shape[1]
    residual = model.R + model.V * model.Q  # the model's per-sample gradient at U
    grad = np.empty((problem.K, q))
    kernels.selected_products(
        *problem.columns(), columns, residual, grad[:, :p], threads=problem.threads
    )
    grad[:, p:] = residual.sum(axis=0)[:, None]
    penalised = np.arange(p)
    G[:, penalised, penalised] += problem.alpha
    grad[:, :p] += problem.alpha * model.U[:, columns]
    lam = np.zeros(q)
    lam[:p] = model.lam
    start = np.concatenate([model.U[:, columns], model.Ub[:, None]], axis=1)[:, :q]
    u = start.copy()
    sweeps = 0
    for k in range(problem.K):
        used = minimise(kernels, G[k], grad[k], u[k], lam, tolerance, max_sweeps)
        sweeps = max(sweeps, used)
    model.move_columns(columns, start, u)
    return sweeps


def _softmax_dense_gram(model, columns, classes, intercepts: int, wanted=None) -> np.ndarray:
    """``G_NN`` the dense way (see the module's docstring) in :func:`_product_dtype`,
    summed in float64 over blocks of rows; float32's factors scaled by a power of two
    where float32 cannot hold their products' terms. Formed class by class (each class's
    coefficients, then its intercept: its block a slice), returned in
    :func:`_solve_softmax`'s order (column by column, then the intercepts); with
    ``wanted`` (bool over that order) only its columns ``G_NN[:, wanted]`` (a product, not
    a ``syrk``: ``n q w`` multiply-adds for ``w`` of them). Formed on the rows that carry
    the curvature (``_curved_rows``: late in a fit a third of them); without ``wanted``, the
    coordinates of rare columns from their non-zeros (``_rare_coordinates``)."""
    problem = model.problem
    K, p = classes.shape
    curved = curved_rows(model, columns, model.flat_rows)
    if curved is None:  # every row
        rows_of, (indptr, indices, data), source = None, problem.columns(), columns
        c, activations, n = problem.c, model.A, problem.n
    else:  # the kept rows' block of X, its columns numbered 0 .. p - 1
        rows_of, (indptr, indices, data) = curved
        source = np.arange(p, dtype=np.int64)
        c, activations, n = problem.c[rows_of], model.A[rows_of], len(rows_of)
    klass, position = np.nonzero(classes)
    position = np.concatenate([position, np.full(intercepts, p)])  # intercepts: ones
    klass = np.concatenate([klass, np.arange(intercepts)])
    by_class = np.lexsort((position, klass))
    klass, position = klass[by_class], position[by_class]
    order = np.lexsort((klass, position))  # column by column, classes ascending
    # the rare columns' coordinates leave the product (their entries from their non-zeros,
    # _rare_coordinates); with wanted, every coordinate is in it
    rare_column = np.zeros(p + 1, dtype=bool)  # (the last: the intercepts' ones, dense)
    if wanted is None:
        rare_column[:p] = rare_columns(indptr[source + 1] - indptr[source], n)
    rare = rare_column[position]
    dense = np.flatnonzero(~rare)  # in the class order, as the product's coordinates
    d_klass, d_position = klass[dense], position[dense]
    bounds = np.searchsorted(d_klass, np.arange(K + 1))
    # the columns of G formed: their positions in the class order, ascending
    chosen = np.arange(len(dense)) if wanted is None else np.sort(order[wanted])
    dtype = _product_dtype(problem, len(dense), n)
    # float32 holds each product's terms (x a sqrt(c))^2 and c a (1 - a) x^2
    peak = FLOAT32_PEAK**0.5 / max(1.0, problem.magnitudes[1])
    G = np.zeros((len(dense), len(chosen)))
    rows = max(1, min(n, SOFTMAX_BLOCK_ELEMENTS // max(1, len(dense))))
    # the block of X's rows holds the dense coordinates' columns only (then the ones)
    in_block = np.unique(d_position[d_position < p])
    column_of = np.full(p + 1, len(in_block))
    column_of[in_block] = np.arange(len(in_block))
    d_column, in_block = column_of[d_position], source[in_block]
    positions = indptr[in_block]  # (a new array: dense_rows advances it)
    rare_at = np.flatnonzero(rare)
    r_klass, r_position = klass[rare_at], position[rare_at]
    if len(rare_at):
        rare_part = RareCoordinates(indptr, indices, data, source[r_position], r_klass, d_klass, n)
    block = np.ones((rows, len(in_block) + 1), dtype=dtype)  # X's rows, then ones
    # each coordinate's column of X times sqrt(c) a_k (Z) and times sqrt(c a_k (1 - a_k)) (Y)
    # of its class k: Z^T Z holds the cross-class terms, Y_k^T Y_k class k's own block
    weighted = np.empty((rows, len(dense)), dtype=dtype)
    own_weighted = np.empty((rows, len(dense)), dtype=dtype)
    for start in range(0, n if len(dense) else 0, rows):
        stop = min(n, start + rows)
        B = block[: stop - start]
        problem.kernels.dense_rows(indptr, indices, data, in_block, positions, stop, B)
        weights, A = c[start:stop], activations[start:stop]
        cross, shift = as_factor(A * np.sqrt(weights)[:, None], dtype, peak)
        same, scale = as_factor(np.sqrt(weights[:, None] * (A * (1 - A))), dtype, peak)
        Z, Y = weighted[: stop - start], own_weighted[: stop - start]
        problem.kernels.coordinate_columns(B, d_column, d_klass, cross, same, Z, Y)
        if len(rare_at):
            rare_part.add_rows(start, stop, cross, shift, same, scale, Z, Y)
        product = Z.T @ Z if wanted is None else Z.T @ Z[:, chosen]  # syrk
        for k in range(K):
            own = slice(bounds[k], bounds[k + 1])
            mine = slice(*np.searchsorted(chosen, [own.start, own.stop]))  # its chosen
            if mine.stop > mine.start:
                others = Y[:, own] if wanted is None else Y[:, chosen[mine]]
                exact = Y[:, own].T @ others  # syrk: the same-class block, not a difference
                product[own, mine] = -exact * (shift * shift / (scale * scale))
        if shift == 1.0:
            G -= product  # (cast block by block: no float64 copy of the product)
        else:
            G -= product.astype(np.float64) / (shift * shift)
    if len(rare_at):  # between rare ones: the sparse way's pairs (column by column)
        pairs = np.zeros((len(rare_at), len(rare_at)))
        problem.kernels.softmax_sparse_gram(
            indptr, indices, data, source[rare_column[:p]], classes[:, rare_column[:p]],
            activations, c, 0, SPARSE_BLOCK_ROWS, pairs,
        )  # fmt: skip
        by_column = np.lexsort((r_klass, r_position))
        G = rare_part.joined(G, dense, rare_at, pairs, by_column)
    G = G[np.ix_(order, order)] if wanted is None else (
        G[order][:, np.searchsorted(chosen, order[wanted])]
    )
    if rows_of is not None:  # the columns' own blocks and the intercepts' from every row
        restore_own_blocks(G, model, columns, classes, intercepts, wanted)
    return G


def _softmax_keys(columns, classes, intercepts: int) -> np.ndarray:
    """An id of each coordinate of :func:`_solve_softmax`'s order: ``j K + k`` for ``W_kj``,
    ``-1 - k`` for the intercept ``b_k``."""
    t, k = np.nonzero(classes.T)
    return np.concatenate([columns[t] * classes.shape[0] + k, -1 - np.arange(intercepts)])


def _reused_dense_gram(model, columns, classes, intercepts: int, keys: np.ndarray):
    """:func:`_softmax_dense_gram` (without the L2 part), from the one this model formed
    last (``model.gram``: its coordinates' ``keys`` and ``G`` with the L2 part) where at
    most ``REUSE_SHARE`` of the coordinates are new: its entries between the coordinates
    both hold, and only the new ones' columns formed (the coordinate descent on ``G``
    leaves coefficients that the model's next sweep moves off or onto zero: text-like L1
    formed 1,280 coordinates of which 85 were new in 1.42 s, their columns in 0.63 s). The
    last block is held until the new one is made (at most twice ``MAX_COLUMNS``'s)."""
    previous = model.gram
    if previous is None:
        return _softmax_dense_gram(model, columns, classes, intercepts)
    old_keys, old = previous
    held = np.isin(keys, old_keys)
    if np.count_nonzero(~held) > REUSE_SHARE * len(keys):
        return _softmax_dense_gram(model, columns, classes, intercepts)
    G = np.empty((len(keys), len(keys)))
    sorter = np.argsort(old_keys)
    where = sorter[np.searchsorted(old_keys, keys[held], sorter=sorter)]
    G[np.ix_(held, held)] = old[np.ix_(where, where)]
    coefficients = np.flatnonzero(held[: len(keys) - intercepts])
    G[coefficients, coefficients] -= model.problem.alpha  # added again by the caller
    if not held.all():
        new = _softmax_dense_gram(model, columns, classes, intercepts, wanted=~held)
        G[:, ~held] = new
        G[~held, :] = new.T
    return G


def _solve_softmax(model, columns, method, classes, tolerance: float, max_sweeps: int) -> int:
    """:func:`solve_on_gram` for the softmax, on ``G_NN`` (see the module's docstring):
    the coordinates column by column, classes ascending (``classes.T``'s order), then
    ``K - 1`` intercepts."""
    problem, kernels = model.problem, model.problem.kernels
    K, intercepts = problem.K, _softmax_intercepts(problem)
    classes = np.ascontiguousarray(classes)
    order = classes.T
    m = int(classes.sum())
    keys = _softmax_keys(columns, classes, intercepts)
    if method == "dense":
        G = _reused_dense_gram(model, columns, classes, intercepts, keys)
    else:
        G = np.zeros((m + intercepts, m + intercepts))
        kernels.softmax_sparse_gram(
            *problem.columns(), columns, classes, model.A, problem.c, intercepts,
            SPARSE_BLOCK_ROWS, G,
        )  # fmt: skip
    residual = model.R + curvature(model, model.Q)  # the model's per-sample gradient at U
    products = np.zeros((K, len(columns)))
    kernels.selected_products(
        *problem.columns(), columns, residual, products, classes, threads=problem.threads
    )
    grad = np.concatenate([products.T[order], residual.sum(axis=0)[:intercepts]])
    start = np.concatenate([model.U[:, columns].T[order], model.Ub[:intercepts]])
    grad[:m] += problem.alpha * start[:m]
    G[np.arange(m), np.arange(m)] += problem.alpha
    model.gram = (keys, G) if method == "dense" else None
    lam = np.zeros(m + intercepts)
    lam[:m] = model.lam
    u = start.copy()
    flat = flat_columns(classes) if problem.alpha == 0 else ()
    sweeps = minimise(kernels, G, grad, u, lam, tolerance, max_sweeps, flat)
    delta = np.zeros((len(columns), K))
    delta[order] = u[:m] - start[:m]
    delta = np.ascontiguousarray(delta.T)
    db = np.zeros(K)
    db[:intercepts] = u[m:] - start[m:]
    change = np.zeros((problem.n, K))
    kernels.add_selected(
        *problem.columns(), columns, delta, change, classes, threads=problem.threads
    )
    change += db
    updated = model.U[:, columns].T  # (a copy: columns is an index array)
    updated[order] = u[:m]
    model.U[:, columns] = updated.T
    model.Ub[:intercepts] = u[m:]
    model.Q += change
    model.S += (model.A * change).sum(axis=1)
    return sweeps


def flat_columns(classes: np.ndarray) -> list[np.ndarray]:
    """For coordinates numbered column by column (the classes ``classes[:, t]`` holds,
    ascending): the numbers of each column's K coefficients where it holds all K. Without
    L2 the softmax is flat along their common shift (:func:`minimise`'s ``flat``)."""
    first = np.concatenate([[0], np.cumsum(classes.sum(axis=0))])
    K = classes.shape[0]
    return [np.arange(first[t], first[t] + K) for t in np.flatnonzero(classes.all(axis=0))]


def minimise(kernels, G, grad, u, lam, tolerance: float, max_sweeps: int, flat=()) -> int:
    """Minimise ``q(u) = grad^T (u - u0) + 0.5 (u - u0)^T G (u - u0) + sum_j lam_j |u_j|``
    (``grad`` kept as the smooth part's gradient at ``u``; both updated in place).

    Sweeps of coordinate descent find the zeros and the signs. After each batch of
    ``NEWTON_EVERY`` sweeps that did not meet ``tolerance`` (twice as many after a step
    that failed), a Newton step on the non-zero coordinates ``N`` with their signs
    ``sigma`` held, ``G_NN d = -(grad_N + lam_N sigma)`` (Cholesky), projected onto their
    orthant (coordinates it takes through zero stay at zero, as OWL-QN projects) and
    halved until ``q`` decreases. Coordinate descent alone crawls along the correlated
    columns of text data (hundreds of sweeps); on a settled sign pattern the model is a
    quadratic that one solve minimises (the active-set step of the lasso's homotopy).
    At most ``MAX_NEWTON_STEPS`` steps (a tolerance below rounding runs ``max_sweeps``).
    ``flat``: groups of coordinates along whose common shift ``G`` is flat (a softmax
    column's K coefficients without L2): before each step each group whose coordinates are
    all non-zero is centred on its median, which minimises the L1 term along the shift
    (the step leaves flat directions alone, and coordinate descent crawls along them).
    Returns the number of sweeps."""
    sweeps, every, steps = 0, NEWTON_EVERY, 0
    solvers = SupportSolvers(G)
    while sweeps < max_sweeps:
        budget = max_sweeps - sweeps
        if steps < MAX_NEWTON_STEPS:
            budget = min(every, budget)
        used, largest = kernels.gram_sweeps(G, grad, u, lam, tolerance, budget)
        sweeps += used
        if largest <= tolerance or sweeps >= max_sweeps:
            break
        for group in flat:
            if (u[group] != 0).all():
                shift = -np.median(u[group])
                u[group] += shift
                grad += G[:, group].sum(axis=1) * shift
        steps += 1
        moved = _newton_step(G, grad, u, lam, flat, solvers)
        every = NEWTON_EVERY if moved else 2 * every
    return sweeps


class SupportSolvers:
    """Solvers of ``G``'s block on a support: the last one asked is kept (one
    minimisation's Newton steps often share their support: the signs settled), and a
    support a few coordinates from the last one factored is solved from that factor
    (``_nearby_support``). Each factorisation of a softmax block of ~1,200 coordinates
    took 30-40 ms (text-like L1: 38 of them a fit, most 1-50 coordinates from the last)."""

    def __init__(self, G: np.ndarray):
        self.G, self.support, self.solver, self.base = G, None, None, None

    def block_and_solver(self, support: np.ndarray):
        """``(G[support][:, support], its solver)``."""
        block = self.G.take(support, axis=0).take(support, axis=1)
        if self.support is None or not np.array_equal(self.support, support):
            self.support, self.solver = support, self._solver(block, support)
        return block, self.solver

    def _solver(self, block: np.ndarray, support: np.ndarray):
        if self.base is not None and np.array_equal(self.base.support, support):
            return self.base.solve  # back on the support factored last
        nearby = None
        if self.base is not None:
            nearby = nearby_solver(self.base, support, block, SINGULAR)
        if nearby is None:
            return self._factored(block, support)

        def solve(rhs: np.ndarray) -> np.ndarray:
            x = nearby(rhs)
            if x is None:  # the residual check failed: factor this support
                self.solver = self._factored(block, support)
                x = self.solver(rhs)
            return x

        return solve

    def _factored(self, block: np.ndarray, support: np.ndarray):
        """``rhs -> block^+ rhs`` for a positive semidefinite ``block``: by Cholesky where
        it is definite (:func:`_definite_factor`; the factor kept as the base for nearby
        supports), else on its range (:func:`_range_solver`)."""
        factor = _definite_factor(block)
        if factor is None:
            return _range_solver(block)
        self.base = FactoredSupport(support, factor)
        return self.base.solve


def _definite_factor(block: np.ndarray):
    """:func:`scipy.linalg.cho_factor` of ``block``, or None where it is not definite: the
    factorisation fails, or a pivot (squared) is below ``SINGULAR`` of the largest diagonal
    entry (a singular block can factor with a last pivot at rounding level)."""
    return definite_cholesky(block, SINGULAR * np.diagonal(block).max())


def _range_solver(block: np.ndarray):
    """``rhs -> block^+ rhs`` on ``block``'s range: its eigenvalues above ``SINGULAR`` of
    the largest (a softmax column with all K coefficients non-zero and no L2 is flat along
    their common shift, which the step leaves alone, as the projected CG of
    ``_support_newton`` does); all NaN where no eigenvalue is above that."""
    with threadpool_limits(1, "blas"):  # OpenBLAS's threaded eigh on a few hundred
        # rows took 2.8 s where one thread takes 0.02 s
        values, vectors = scipy.linalg.eigh(block)
    kept = values > SINGULAR * max(float(values[-1]), 0.0)
    if not kept.any():
        return lambda rhs: np.full_like(rhs, np.nan)
    values, vectors = values[kept], vectors[:, kept]
    return lambda rhs: vectors @ ((vectors.T @ rhs) / values)


def _newton_step(G, grad, u, lam, flat=(), solvers=None) -> bool:
    """The projected Newton step on the support (see :func:`minimise`), halved until ``q``
    falls, and last the step to the first coefficient it takes to zero (the signs hold up
    to there, so ``q`` is the smooth quadratic along it and falls). Returns whether it
    moved ``u``. ``solvers``: a :class:`SupportSolvers` of ``G`` (one is made if None)."""
    support = np.flatnonzero((u != 0) | (lam == 0))
    # a flat group all in the support makes G_NN singular: one of its coordinates is held
    # (the quadratic part is the same along the shift; the step is taken where it is 0)
    pinned = [group[-1] for group in flat if (u[group] != 0).all()]
    if pinned:
        support = np.setdiff1d(support, pinned)
    if len(support) == 0:
        return False
    signs = np.sign(u[support])
    block, solver = (SupportSolvers(G) if solvers is None else solvers).block_and_solver(support)
    direction = -solver(grad[support] + lam[support] * signs)
    if not np.isfinite(direction).all():
        return False
    start, weights = u[support], lam[support]
    held = np.where(weights > 0, signs, 0.0)  # the unpenalised (intercept) may change sign
    for _, moved in orthant_trials(start, direction, held):
        d = moved - start
        change = grad[support] @ d + 0.5 * d @ (block @ d)
        change += weights @ (np.abs(moved) - np.abs(start))
        if change < 0:
            full = np.zeros_like(u)
            full[support] = d
            grad += G @ full
            u[support] = moved
            return True
    return False
