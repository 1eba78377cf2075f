"""The first quadratic model of an L1 fit from ``W = 0``, on its exact Kronecker-factored Hessian.

At ``W = 0`` every row has the same net input ``b``, hence the same activations ``a`` and
the same per-sample curvature ``H(a)`` (softmax: ``diag(a) - a a^T``; sigmoids:
``diag(a (1 - a))``). The local quadratic model's Hessian on the working set's columns
``F`` and the intercepts is then exactly

    H = (X~_F^T C X~_F) (x) H(a) + alpha I_F,    X~_F = [X_F, 1],  C = diag(C s_i)

(the factorisation :mod:`softmaxreg.solvers._kronecker` uses as an approximation, exact
here). Coordinate descent on it keeps the smooth part's gradient as a ``K x q`` matrix
``g = g_0 + H(a) D Gx + alpha D_F`` (``D = P - P_0``, ``P = [W_F, b]``, ``q = |F| + 1``):
a step ``delta`` on ``P_kj`` adds ``delta H(a)[:, k] Gx[j, :]`` to it, ``K q`` operations,
where a column sweep on the data passes over column ``j``'s rows. The coordinates are
visited as the column sweeps visit them (column by column, classes in turn, then the
intercepts), each with the same soft-thresholded Newton step (glmnet's update; Friedman,
Hastie & Tibshirani 2010). Between sweeps over all coordinates, as the column sweeps'
active sets do (``_gram_cd``), the non-zero coordinates' block is formed from the factors
and minimised with Newton steps on their signs: coordinate descent alone crawls along
correlated columns (MNIST L1, C = 0.1: the first model's plain sweeps left the fit 16 outer
iterations against 7). Text-like L1 (100,000 rows, 20 classes, 256 working columns holding
a third of the non-zeros): the first model took ten sweeps over the data at 0.2-0.4 s
each; MNIST L1's first iteration 2.75 -> 0.94 s (one thread).

``Gx`` (``q x q``, float64) is formed once, from dense blocks of ``X_F``'s rows (``n q^2 /
2`` multiply-adds by BLAS) or from the pairs of non-zeros within rows, whichever costs less
(:func:`feature_gram`); where it overflows float64 the model is left to the column sweeps.
The change of the net inputs ``Q = X_F D^T + db`` needs one pass over ``F``'s non-zeros at
the end. The proximal Newton solver uses this for softmax models only (sigmoid outputs form
their blocks on the active columns at once, for less); the functions hold for both.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from softmaxreg.solvers._column_kernels import soft_threshold
from softmaxreg.solvers._gram_cd import (
    DENSE_SPEEDUP,
    MAX_COLUMNS,
    SPARSE_BLOCK_ROWS,
    SPARSE_SPEEDUP,
    flat_columns,
    minimise,
    row_pairs,
)

# float64 entries of one dense block of X_F's rows (4 MiB)
BLOCK_ELEMENTS = 2**19


def feature_gram(problem, columns: np.ndarray, intercept: bool) -> np.ndarray:
    """``X~^T C X~`` for ``X~ = [X[:, columns], 1]`` (the ones column where ``intercept``):
    ``(q, q)``, ``q = len(columns) + intercept``, float64; from the pairs of non-zeros within
    each row (``_column_kernels.sparse_gram``) where they cost less than the dense products
    of blocks of rows, by ``_gram_cd``'s rates (text-like, 256 columns: 0.30 -> 0.1 s)."""
    p = len(columns)
    q = p + int(intercept)
    pairs = row_pairs(problem, columns, np.ones(p, dtype=np.int64), int(intercept))
    if pairs / SPARSE_SPEEDUP < problem.n * q * q / 2 / DENSE_SPEEDUP:
        gram = np.zeros((1, q, q))
        problem.kernels.sparse_gram(
            *problem.columns(), columns, problem.c[:, None], SPARSE_BLOCK_ROWS, gram
        )
        return gram[0]
    rows = max(1, min(problem.n, BLOCK_ELEMENTS // max(q, 1)))
    block, weighted = np.ones((rows, q)), np.empty((rows, q))
    roots = np.sqrt(problem.c)
    positions = problem.indptr[columns].copy()
    gram = np.zeros((q, q))
    for start in range(0, problem.n, rows):
        stop = min(problem.n, start + rows)
        B, S = block[: stop - start], weighted[: stop - start]
        problem.kernels.dense_rows(*problem.columns(), columns, positions, stop, B)
        np.multiply(B, roots[start:stop, None], out=S)
        gram += S.T @ S  # (syrk)
    return gram


def curvature_at(problem, a: np.ndarray) -> np.ndarray:
    """``H(a)`` (``K x K``) of one row's activations ``a``."""
    if problem.softmax:
        return np.diag(a) - np.outer(a, a)
    return np.diag(a * (1 - a))


@njit(cache=True)
def kronecker_sweep(gram, curvature, grad, P, lam, alpha, penalised):
    """One cycle of coordinate descent on ``q(P) = g_0^T D + 0.5 vec(D)^T (gram (x)
    curvature + alpha I) vec(D) + lam ||P[:, :penalised]||_1`` (``D = P - P_0``; columns
    from ``penalised`` on, the intercepts, unpenalised): ``grad`` (the smooth part's
    gradient at ``P``, ``K x q``) and ``P`` updated in place. Returns the largest ``|delta|
    h`` of the cycle."""
    K, q = P.shape
    largest = 0.0
    for j in range(q):
        own = alpha if j < penalised else 0.0
        threshold = lam if j < penalised else 0.0
        for k in range(K):
            h = curvature[k, k] * gram[j, j] + own
            if h <= 0.0:
                continue
            old = P[k, j]
            new = soft_threshold(old - grad[k, j] / h, threshold / h)
            step = new - old
            if step == 0.0:
                continue
            P[k, j] = new
            for other in range(K):
                weight = curvature[other, k] * step
                if weight != 0.0:
                    for t in range(q):
                        grad[other, t] += weight * gram[j, t]
            grad[k, j] += own * step
            largest = max(largest, abs(step) * h)
    return largest


def _solve_on_active(problem, gram, curvature, grad, P, lam, p, tolerance, max_sweeps) -> int:
    """Coordinate descent with Newton steps (``_gram_cd.minimise``) on the active
    coordinates: the non-zero ones and the intercepts (the softmax's last held: the model
    is flat along their common shift), on their block of the factored Hessian, formed
    (``gram[j, l] curvature[k, k']``; at most ``MAX_COLUMNS`` coordinates, none formed
    beyond); ``P`` and ``grad`` updated. Returns the number of sweeps (0 where the block is
    too large). (With the violating zeros as well, text-like L1's first block held ~3,000
    coordinates, and its Cholesky cost more than the model's sweeps.)"""
    K, q = P.shape
    held = np.zeros((K, q), dtype=bool)
    held[:, :p] = P[:, :p] != 0
    if q > p:
        held[:, p] = True
        held[K - 1, p] = not problem.softmax
    columns, classes = np.nonzero(held.T)  # column by column, classes ascending
    if len(columns) > MAX_COLUMNS:
        return 0
    penalised = columns < p
    G = gram.take(columns, axis=0).take(columns, axis=1)  # (take: twice np.ix_'s speed)
    G *= curvature.take(classes, axis=0).take(classes, axis=1)
    diagonal = np.flatnonzero(penalised)
    G[diagonal, diagonal] += problem.alpha
    g, u = grad[classes, columns], P[classes, columns]
    # (the intercepts come last: the columns' numbers are flat_columns' of the coefficients)
    flat = flat_columns(held[:, :p]) if problem.softmax and problem.alpha == 0 else ()
    sweeps = minimise(
        problem.kernels, G, g, u, np.where(penalised, lam, 0.0), tolerance, max_sweeps, flat
    )
    delta = np.zeros_like(P)
    delta[classes, columns] = u - P[classes, columns]
    P[classes, columns] = u
    grad += curvature @ delta @ gram  # (exact: the block's own grad is not carried back)
    grad[:, :p] += problem.alpha * delta[:, :p]
    return sweeps


def solve_at_zero(model, tolerance: float, max_sweeps: int) -> int:
    """Minimise ``model`` (a :class:`~softmaxreg.solvers.proximal_newton.QuadraticModel`
    built where every row has the same activations, ``W = 0``) over its working set and
    the intercepts on the factored Hessian; ``model.U``, ``Ub``, ``Q`` (and ``S``)
    updated. Returns the number of sweeps; None, with nothing changed, where ``X~^T C
    X~`` overflows float64 (columns beyond ~1e154: the column sweeps handle them)."""
    problem, features = model.problem, model.features
    p, intercept = len(features), problem.fit_intercept
    with np.errstate(over="ignore", invalid="ignore"):
        gram = feature_gram(problem, features, intercept)
    if not np.isfinite(gram).all():
        return None
    curvature = curvature_at(problem, model.A[0])
    start = model.U[:, features]
    if intercept:
        start = np.concatenate([start, model.Ub[:, None]], axis=1)
    grad = model.gradient + problem.alpha * model.U[:, features]
    if intercept:
        grad = np.concatenate([grad, model.R.sum(axis=0)[:, None]], axis=1)
    P, grad = np.array(start, order="C"), np.ascontiguousarray(grad)  # (P: a copy)
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        largest = kronecker_sweep(gram, curvature, grad, P, model.lam, problem.alpha, p)
        if largest <= tolerance or sweeps >= max_sweeps:
            break
        sweeps += _solve_on_active(
            problem, gram, curvature, grad, P, model.lam, p, tolerance, max_sweeps - sweeps
        )
    model.move_columns(features, start, P)
    return sweeps
