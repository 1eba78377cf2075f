"""The rows that carry a softmax model's curvature, for forming its Hessian block (``_gram_cd``).

Row ``i`` adds ``c_i x_ij x_ij' [delta_kl a_ik - a_ik a_il]`` to the entry of ``G_NN`` between
the coordinates ``(k, j)`` and ``(l, j')``, a positive semidefinite term whose diagonal
entries are ``c_i x_ij^2 a_ik (1 - a_ik)``. Late in a fit most rows are classified with near
certainty and add almost nothing: at the text-like bench's L1 models (100,000 rows, 20
classes) 70% of the rows held 1e-4 of the curvature ``sum_ik c_i a_ik (1 - a_ik)``, 80% of
them 1e-3. Forming ``G_NN`` on the other rows costs a third of the multiply-adds.

The rows left out ("flat") are the flattest (by ``sum_k c_i a_ik (1 - a_ik)``) while, for
every class ``k``, their ``sum_i c_i a_ik (1 - a_ik)`` stays within ``SHARE`` of the whole (once
per model, :func:`flat_rows`). The block is formed on the other rows, and then each column's
own ``K_j x K_j`` block (the coupling of its coefficients) and the intercepts' block are put
back exactly, from every row (:func:`restore_own_blocks`). So the formed matrix is

    G' = G - D + blockdiag(D)

with ``D`` the left-out rows' part of ``G``, positive semidefinite like each of its diagonal
blocks: ``G'`` is positive semidefinite, its diagonal exact, and each entry between two
columns off by at most ``sqrt(D_aa D_bb)`` (Cauchy-Schwarz on ``D``), a small share of
``sqrt(G_aa G_bb)`` for any coordinate whose rows are not all near-certain. It is the
quadratic model's Hessian only; the model's gradient, the outer line search and the stopping
rule stay exact (as for Newton-CG's subsampled Hessians, ``newton_cg.py``). Problems of fewer
than ``MIN_ROWS`` rows, and models where less than ``MIN_LEFT_OUT`` of the rows are flat,
form the block on every row.
"""

from __future__ import annotations

import numpy as np

# the largest share of any class's curvature sum_i c_i a_ik (1 - a_ik) the left-out rows hold
SHARE = 1e-4
# problems of fewer rows form G_NN on all of them
MIN_ROWS = 20_000
# ... as do models with fewer flat rows than this share
MIN_LEFT_OUT = 0.25


def row_curvature(model) -> np.ndarray:
    """``c_i a_ik (1 - a_ik)`` (``(n, K)``): each row's diagonal curvature by class."""
    A = model.A
    return model.problem.c[:, None] * A * (1.0 - A)


def flat_rows(model) -> np.ndarray | None:
    """Step 1 of the module's docstring: the rows that may be left out (sorted), or None
    where all rows are kept."""
    problem = model.problem
    if problem.n < MIN_ROWS:
        return None
    curvature = row_curvature(model)
    order = np.argsort(curvature.sum(axis=1), kind="stable")
    count = problem.kernels.flat_prefix(curvature, order, SHARE)
    if count < MIN_LEFT_OUT * problem.n:
        return None
    return np.sort(order[:count])


def curved_rows(model, columns: np.ndarray, flat: np.ndarray | None):
    """The rows the block on ``columns`` is formed on, from ``flat`` (:func:`flat_rows`):
    None (every row) or ``(rows, (indptr, indices, data))``, the kept rows (sorted) and
    ``X[rows][:, columns]`` as CSC (canonical) numbered in those rows."""
    if flat is None:
        return None
    problem = model.problem
    kept_row = np.ones(problem.n, dtype=bool)
    kept_row[flat] = False
    number = np.where(kept_row, np.cumsum(kept_row) - 1, -1)  # a kept row's number
    compact = problem.kernels.renumbered_columns(*problem.columns(), columns, number)
    return np.flatnonzero(kept_row), compact


def restore_own_blocks(G, model, columns, classes, intercepts: int, wanted=None) -> None:
    """Put each column's own block and the intercepts' block of the exact ``G_NN`` (from
    every row, without the L2 part) into ``G`` formed on fewer rows, in place. ``G``'s
    coordinates in :func:`~softmaxreg.solvers._gram_cd._solve_softmax`'s order (column by
    column, classes ascending, then ``intercepts`` intercepts); with ``wanted`` (bool over
    that order) ``G`` holds only those coordinates' columns (``G_NN[:, wanted]``).
    ``columns`` must be among the model's features (sorted ascending, as the model keeps
    them); ``ValueError`` otherwise."""
    sizes = classes.sum(axis=0)
    first = np.concatenate([[0], np.cumsum(sizes)])
    q = int(first[-1]) + intercepts
    wanted = np.ones(q, dtype=bool) if wanted is None else wanted
    where = np.cumsum(wanted) - 1  # a wanted coordinate's column of G
    positions = np.searchsorted(model.features, columns)
    inside = positions < len(model.features)
    if not (inside.all() and np.array_equal(model.features[positions], columns)):
        raise ValueError("columns must be among the model's (sorted) features")
    groups = [
        (np.arange(first[t], first[t + 1]), _own_block(model, positions[t], classes[:, t]))
        for t in range(len(columns))
        if sizes[t]
    ]
    if intercepts:
        group = np.arange(first[-1], q)
        groups.append((group, model.Hb[:intercepts, :intercepts]))
    for group, exact in groups:
        chosen = wanted[group]
        if chosen.any():
            G[np.ix_(group, where[group[chosen]])] = exact[:, chosen]


def _own_block(model, position: int, holds: np.ndarray) -> np.ndarray:
    """The exact block of one column's coefficients that ``holds`` marks (classes
    ascending), from the model's column blocks without their L2 part."""
    block = model.blocks[position] - model.problem.alpha * np.eye(len(holds))
    return block[np.ix_(holds, holds)]
