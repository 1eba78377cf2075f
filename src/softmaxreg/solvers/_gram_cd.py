"""Coordinate descent on a formed Hessian, for the proximal Newton solver's active sets.

Late in an L1 fit the quadratic model's coordinate descent cycles many times over the
columns ``S`` with non-zero coefficients, and each cycle reads all of their non-zeros (on
correlated text features, tens of cycles per model). For sigmoid outputs the model's
Hessian is block diagonal in the outputs, and its block for output ``k`` restricted to ``S``
(with the intercept as a column of ones) is

    G_k = B^T diag(c_i a_ik (1 - a_ik)) B + alpha I,    B = [X_S, 1]    (p x p).

On it one coordinate step costs ``O(p)`` (the gradient is kept up to date with a column of
``G_k``, as glmnet's "covariance updates" do). It is formed one of two ways, whichever costs
less for these columns:

- dense: blocks of rows of ``B`` by BLAS in float32, summed over blocks in float64
  (``n p^2`` multiply-adds; a model's Hessian needs no more precision, and the model's
  gradient, in float64 from the sparse columns, decides where its minimum lies);
- sparse: the pairs of non-zeros within each row of ``X_S`` (``sum_i nnz_i^2 / 2``), in
  float64: many rare text features with a few frequent ones.

:class:`RentOrBuy` decides when: once the column sweeps of one active loop have cost as
much as forming ``G`` would (the rent-or-buy rule: never more than twice the better
choice's cost, whatever the number of sweeps still to come), counting the last model's
sweeps as already spent. The softmax's Hessian couples every pair of classes (``K (K + 1)
/ 2`` such products), so it keeps the column sweeps.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from softmaxreg.solvers._support_newton import orthant_trials

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
# rows gathered at a time by the sparse way
SPARSE_BLOCK_ROWS = 8192
# G is formed for at most this many columns, fewer for several outputs (float64: 128 MB)
MAX_COLUMNS = 4096
# coordinate-descent sweeps on G between Newton steps on the non-zero coordinates
NEWTON_EVERY = 2


def sweep_cost(problem, columns: np.ndarray) -> float:
    """One column sweep over ``columns`` (and the intercepts), in non-zero units."""
    nonzeros = float(problem.column_nonzeros(columns).sum())
    intercepts = problem.n if problem.fit_intercept else 0
    return (nonzeros + intercepts) * problem.K


def formable(problem, columns: np.ndarray) -> bool:
    """Whether ``G`` can be formed for these columns: sigmoid outputs, and its ``K`` blocks
    of ``q x q`` (``q``: the columns and the intercept) hold at most ``MAX_COLUMNS^2``
    entries."""
    q = len(columns) + int(problem.fit_intercept)
    return not problem.softmax and problem.K * q * q <= MAX_COLUMNS**2


class RentOrBuy:
    """For one active loop over ``columns``: :meth:`choice` says whether the column sweeps
    recorded so far (and the ``expected`` ones) have paid for forming ``G``, and how."""

    def __init__(self, problem, columns: np.ndarray, expected: int):
        self.problem, self.columns = problem, columns
        self.sweep = sweep_cost(problem, columns)
        self.spent = expected * self.sweep
        self.sparse = None  # the sparse forming's cost, counted once the sweeps reach it

    def record_sweep(self) -> None:
        self.spent += self.sweep

    def choice(self) -> str | None:
        """``'dense'``, ``'sparse'`` or None (keep sweeping columns)."""
        problem = self.problem
        q = len(self.columns) + int(problem.fit_intercept)
        if not formable(problem, self.columns) or self.spent < self.sweep:
            return None
        # forming either way ends with a pass like a sweep (the gradient, the change of Q)
        dense = problem.n * q * q * problem.K / DENSE_SPEEDUP + self.sweep
        if self.sparse is None:
            counts = problem.kernels.row_counts(*problem.columns()[:2], self.columns, problem.n)
            pairs = float((counts * (counts + 1)).sum()) / 2
            self.sparse = pairs * problem.K / SPARSE_SPEEDUP + 2 * self.sweep
        cost, method = min((dense, "dense"), (self.sparse, "sparse"))
        return method if self.spent >= cost else None


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
    block = np.ones((rows, q), dtype=np.float32)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        B = block[: stop - start]
        problem.kernels.dense_rows(*problem.columns(), columns, positions, stop, B)
        for k in range(problem.K):
            G[k] += (B * weights[start:stop, k, None].astype(np.float32)).T @ B
    return G


def solve_on_gram(model, columns: np.ndarray, method: str, tolerance: float, max_sweeps: int):
    """Coordinate descent on ``model`` (a sigmoid :class:`QuadraticModel`) over the columns
    ``columns`` of ``X`` and the intercepts, on ``G_k`` formed by ``method`` (with Newton
    steps, :func:`minimise`), until a sweep changes less than ``tolerance`` (``|delta|
    G_jj``, as the column sweeps) or ``max_sweeps``; ``model.U``, ``Ub`` and ``Q`` are
    updated. Returns the number of sweeps (the most of any output)."""
    problem, kernels = model.problem, model.problem.kernels
    counts = problem.column_nonzeros(columns)
    columns = columns[np.argsort(-counts, kind="stable")]  # the frequent columns first
    p = len(columns)
    G = form(model, columns, method)
    q = G.shape[1]
    residual = model.R + model.V * model.Q  # the model's per-sample gradient at U
    grad = np.empty((problem.K, q))
    kernels.selected_products(*problem.columns(), columns, residual, grad[:, :p])
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
    delta = u - start
    model.U[:, columns] = u[:, :p]
    kernels.add_selected(*problem.columns(), columns, np.ascontiguousarray(delta[:, :p]), model.Q)
    if q > p:
        model.Ub[:] = u[:, p]
        model.Q += delta[:, p]
    return sweeps


def minimise(kernels, G, grad, u, lam, tolerance: float, max_sweeps: int) -> int:
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
    Returns the number of sweeps."""
    sweeps, every = 0, NEWTON_EVERY
    while sweeps < max_sweeps:
        budget = min(every, max_sweeps - sweeps)
        used, largest = kernels.gram_sweeps(G, grad, u, lam, tolerance, budget)
        sweeps += used
        if largest <= tolerance or sweeps >= max_sweeps:
            break
        every = NEWTON_EVERY if _newton_step(G, grad, u, lam) else 2 * every
    return sweeps


def _newton_step(G, grad, u, lam) -> bool:
    """The projected Newton step on the support (see :func:`minimise`), halved until ``q``
    falls, and last the step to the first coefficient it takes to zero (the signs hold up
    to there, so ``q`` is the smooth quadratic along it and falls). Returns whether it
    moved ``u``."""
    support = np.flatnonzero((u != 0) | (lam == 0))
    if len(support) == 0:
        return False
    signs = np.sign(u[support])
    block = G.take(support, axis=0).take(support, axis=1)
    try:
        factor = scipy.linalg.cho_factor(block)
    except np.linalg.LinAlgError:  # singular on the support: coordinate descent only
        return False
    direction = -scipy.linalg.cho_solve(factor, grad[support] + lam[support] * signs)
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
