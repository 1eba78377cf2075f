"""Coordinate descent on a formed Hessian, for the proximal Newton solver's active sets.

Late in an L1 fit the quadratic model's coordinate descent cycles many times over the few
columns ``S`` with non-zero coefficients, and each cycle reads all of their non-zeros (on
correlated text features, tens of cycles per model). For sigmoid outputs the model's
Hessian is block diagonal in the outputs, and its block for output ``k`` restricted to ``S``
(with the intercept as a column of ones) is

    G_k = B^T diag(c_i a_ik (1 - a_ik)) B + alpha I,    B = [X_S, 1]    (p x p),

formed from dense blocks of rows by BLAS in ``O(n p^2)`` (in float32, summed over blocks in
float64: a model's Hessian needs no more; its gradient, in float64 from the sparse columns,
decides where the model's minimum lies); on it one coordinate step costs
``O(p)`` (the gradient is kept up to date with a column of ``G_k``, as glmnet's "covariance
updates" do). :func:`worth_forming` decides when: once the column sweeps of one active loop
have cost as much as forming ``G`` would (the rent-or-buy rule: never more than twice the
better choice's cost, whatever the number of sweeps still to come). The softmax's Hessian
couples every pair of classes (``K (K + 1) / 2`` such products), so it keeps the column
sweeps.
"""

from __future__ import annotations

import numpy as np

# the time of one non-zero of a column sweep (two passes, gathered rows) over that of one
# element of the float32 product B^T (w B): 7.2 ns against 0.025-0.043 ns on the binary
# text-like bench (100,000 rows, 100-240 active columns)
DENSE_SPEEDUP = 200.0
# rows x columns of one dense block of B (float32: 4 MB, about 8,000 rows of 130 columns:
# the product runs 2x faster on blocks that stay in cache than on all rows at once)
BLOCK_ELEMENTS = 2**20
# G is formed for at most this many columns (float64: 128 MB per output)
MAX_COLUMNS = 4096


def sweep_cost(problem, columns: np.ndarray) -> float:
    """One column sweep over ``columns`` (and the intercepts), in non-zero units."""
    nonzeros = float((problem.indptr[columns + 1] - problem.indptr[columns]).sum())
    intercepts = problem.n if problem.fit_intercept else 0
    return (nonzeros + intercepts) * problem.K


def worth_forming(problem, columns: np.ndarray, spent: float) -> bool:
    """Whether column sweeps costing ``spent`` (non-zero units) have paid for ``G``."""
    p = len(columns) + int(problem.fit_intercept)
    if problem.softmax or p > MAX_COLUMNS:
        return False
    forming = problem.n * p * p * problem.K / DENSE_SPEEDUP + sweep_cost(problem, columns)
    return spent >= forming


def solve_on_gram(model, columns: np.ndarray, tolerance: float, max_sweeps: int) -> int:
    """Coordinate descent on ``model`` (a sigmoid :class:`QuadraticModel`) over the columns
    ``columns`` of ``X`` and the intercepts, on the formed ``G_k``, until a sweep changes
    less than ``tolerance`` (``|delta| G_jj``, as the column sweeps) or ``max_sweeps``;
    ``model.U``, ``Ub`` and ``Q`` are updated. Returns the number of sweeps (the most of
    any output)."""
    problem = model.problem
    p, n = len(columns), problem.n
    q = p + int(problem.fit_intercept)
    weights = problem.c[:, None] * model.A * (1.0 - model.A)
    residual = model.R + weights * model.Q  # the model's per-sample gradient at U
    G = np.zeros((problem.K, q, q))
    rows = max(1, BLOCK_ELEMENTS // q)
    positions = problem.indptr[columns].copy()
    block = np.ones((rows, q), dtype=np.float32)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        B = block[: stop - start]
        problem.kernels.dense_rows(*problem.columns(), columns, positions, stop, B)
        for k in range(problem.K):
            G[k] += (B * weights[start:stop, k, None].astype(np.float32)).T @ B
    X = problem.matrix[:, columns]
    grad = np.concatenate([(X.T @ residual).T, residual.sum(axis=0)[:, None]], axis=1)[:, :q]
    penalised = np.arange(p)
    G[:, penalised, penalised] += problem.alpha
    grad[:, :p] += problem.alpha * model.U[:, columns]
    lam = np.zeros(q)
    lam[:p] = model.lam
    sweeps = 0
    for k in range(problem.K):
        u = np.concatenate([model.U[k, columns], model.Ub[k : k + 1]])[:q]
        start = u.copy()
        used = problem.kernels.gram_sweeps(G[k], grad[k], u, lam, tolerance, max_sweeps)
        sweeps = max(sweeps, used)
        delta = u - start
        model.U[k, columns] = u[:p]
        model.Q[:, k] += X @ delta[:p]
        if q > p:
            model.Ub[k] = u[p]
            model.Q[:, k] += delta[p]
    return sweeps
