"""Compiled (numba) loops of the dual coordinate descent solver (``dual_cd.py``): one pass of
coordinate steps over the rows of a dense or CSR ``X``; see there for the method.
Compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_INNER_NEWTON = 100  # Newton steps per one-dimensional sub-problem, at most


@njit(cache=True)
def _solve_one(a, b, alpha_old, c, inner_tol):
    """Minimise ``g(z) = z log z + (c - z) log(c - z) + 0.5 a (z - alpha_old)^2 + b (z -
    alpha_old)`` over ``0 < z < c`` by Newton's method kept inside the interval; returns
    ``(z, |g'(start)|)``."""
    z = alpha_old
    if c - z < 0.5 * c:
        z = 0.1 * z
    gradient = a * (z - alpha_old) + b + np.log(z / (c - z))
    first = abs(gradient)
    for _ in range(MAX_INNER_NEWTON):
        if abs(gradient) < inner_tol:
            break
        curvature = a + c / ((c - z) * z)
        trial = z - gradient / curvature
        z = z * 0.1 if trial <= 0 else trial
        gradient = a * (z - alpha_old) + b + np.log(z / (c - z))
    return z, first


@njit(cache=True)
def epoch_dense(X, y, cost, squared_norms, alpha, w, order, inner_tol):
    """One pass of coordinate steps over the rows of a dense ``X`` in ``order``; returns the
    largest sub-problem derivative at its start (the stopping quantity)."""
    largest = 0.0
    for i in order:
        c = cost[i]
        if c <= 0.0:
            continue
        margin = 0.0
        for j in range(X.shape[1]):
            margin += w[j] * X[i, j]
        z, first = _step(i, y[i] * margin, squared_norms[i], c, alpha, inner_tol)
        largest = max(largest, first)
        if z != 0.0:
            scale = z * y[i]
            for j in range(X.shape[1]):
                w[j] += scale * X[i, j]
    return largest


@njit(cache=True)
def epoch_sparse(indptr, indices, data, y, cost, squared_norms, alpha, w, order, inner_tol):
    """:func:`epoch_dense` for ``X`` in CSR form."""
    largest = 0.0
    for i in order:
        c = cost[i]
        if c <= 0.0:
            continue
        margin = 0.0
        for t in range(indptr[i], indptr[i + 1]):
            margin += w[indices[t]] * data[t]
        z, first = _step(i, y[i] * margin, squared_norms[i], c, alpha, inner_tol)
        largest = max(largest, first)
        if z != 0.0:
            scale = z * y[i]
            for t in range(indptr[i], indptr[i + 1]):
                w[indices[t]] += scale * data[t]
    return largest


@njit(cache=True)
def _step(i, y_margin, a, c, alpha, inner_tol):
    """The coordinate step of sample ``i``: updates ``alpha[i]`` (and ``C_i - alpha_i`` in
    ``alpha[n + i]``); returns the change of ``alpha_i`` and the derivative at the start."""
    n = alpha.shape[0] // 2
    # work on alpha_i (sign +1) or on C_i - alpha_i (sign -1), whichever the step moves away
    # from its bound, as liblinear does
    own, other, sign = i, n + i, 1.0
    if 0.5 * a * (alpha[other] - alpha[own]) + y_margin < 0:
        own, other, sign = n + i, i, -1.0
    old = alpha[own]
    z, first = _solve_one(a, sign * y_margin, old, c, inner_tol)
    alpha[own], alpha[other] = z, c - z
    return sign * (z - old), first
