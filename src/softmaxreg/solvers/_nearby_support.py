"""Solves with a block of a formed Hessian on a support near one already factored.

The Newton steps of ``_gram_cd.minimise`` solve ``G_SS x = r`` on the support ``S`` (the
non-zero coordinates), which changes by a few coordinates from step to step while the signs
settle (text-like L1: supports of ~1,200 coordinates, mostly 1-50 apart, 30-40 ms a
factorisation). With ``G_BB = L L^T`` factored on a support ``B``, a nearby support

    S = T + A,    T = B - R    (R: coordinates that left, A: ones that joined)

is solved from that factor in two block eliminations (the Schur complement identities of
a symmetric positive definite matrix; Golub & Van Loan, "Matrix Computations", 4th ed.,
chapters 3-4; the same idea as updating a factor when a column leaves or joins, without
touching ``L``):

1. ``G_TT^{-1}`` from ``P = G_BB^{-1}`` by the identity for a principal submatrix's inverse,

       G_TT^{-1} = P_TT - P_TR P_RR^{-1} P_RT,

   so ``G_TT^{-1} r_T = z_T - E_T P_RR^{-1} z_R`` with ``z = G_BB^{-1} [r_T; 0]`` and
   ``E = G_BB^{-1} [0; I_R]`` (``|R|`` solves, once);
2. the joined coordinates by the Schur complement ``C = G_AA - G_AT G_TT^{-1} G_TA``
   (``|A|`` solves of step 1, once): ``x_A = C^{-1} (r_A - G_AT w)``, ``x_T = w - G_TT^{-1}
   G_TA x_A`` with ``w = G_TT^{-1} r_T``.

Setting it up costs about ``2 |B|^2 (|R| + |A|)`` multiply-adds against the factorisation's
``|B|^3 / 3``; each solve two solves with ``L``. Every solve is checked by its residual
``||G_SS x - r|| <= RESIDUAL ||r||`` (one product with the block); a support too far from
``B``, a Schur complement that is not definite, or a solve that fails the check is left to a
new factorisation (:func:`nearby_solver` returns None, the solve returns None).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

# a support is solved from the factor of B when at most this share of B's size of
# coordinates left or joined (set-up about 2 / 5 of a factorisation at the most)
NEARBY_SHARE = 1 / 16
# the largest relative residual of a solve from the factor of a nearby support
RESIDUAL = 1e-9


def definite_cholesky(matrix: np.ndarray, floor: float):
    """:func:`scipy.linalg.cho_factor` of ``matrix``, or None where it is not definite: the
    factorisation fails, or a pivot (squared) is at most ``floor`` (a singular matrix can
    factor with a last pivot at rounding level)."""
    try:
        factor = scipy.linalg.cho_factor(matrix)
    except np.linalg.LinAlgError:
        return None
    return factor if np.diagonal(factor[0]).min() ** 2 > floor else None


class FactoredSupport:
    """``G_BB = L L^T`` for a support ``B`` of ``G`` (sorted coordinates), and its solves."""

    def __init__(self, support: np.ndarray, factor):
        """``factor``: :func:`scipy.linalg.cho_factor` of ``G[B][:, B]``."""
        self.support, self.factor = support, factor

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        return scipy.linalg.cho_solve(self.factor, rhs, check_finite=False)


def nearby_solver(base: FactoredSupport, support: np.ndarray, block: np.ndarray,
                  singular: float):
    """``rhs -> G_SS^{-1} rhs`` (or None where the solve fails its residual check) for the
    sorted ``support`` ``S`` from ``base``'s factor (the module's docstring), or None where
    ``S`` is not near ``base.support`` or its Schur complement's Cholesky pivot (squared)
    falls below ``singular`` times ``block``'s largest diagonal entry. ``block``:
    ``G[S][:, S]``."""
    B = base.support
    in_base = np.isin(B, support, assume_unique=True)  # T's positions in B
    in_support = np.isin(support, B, assume_unique=True)
    kept, gone = np.flatnonzero(in_base), np.flatnonzero(~in_base)
    on_kept, on_joined = np.flatnonzero(in_support), np.flatnonzero(~in_support)
    changed = len(gone) + len(on_joined)
    if changed == 0 or changed > NEARBY_SHARE * len(B):
        return None
    try:
        solve_kept = _kept_solver(base, kept, gone)
    except np.linalg.LinAlgError:  # P_RR not definite in rounding: B is ill-conditioned
        return None
    if len(on_joined):
        G_KJ = block[np.ix_(on_kept, on_joined)]
        F = solve_kept(G_KJ)  # G_TT^{-1} G_TA
        # (the pivots of S's block in the order T, then A: a nearly singular block the
        # sorted order would leave to the range solver can pass here; its solves still
        # answer to the residual check)
        schur_factor = definite_cholesky(
            block[np.ix_(on_joined, on_joined)] - G_KJ.T @ F, singular * np.diagonal(block).max()
        )
        if schur_factor is None:
            return None

    def solve(rhs: np.ndarray) -> np.ndarray | None:
        w = solve_kept(rhs[on_kept])
        x = np.empty_like(rhs)
        if len(on_joined):
            x_joined = scipy.linalg.cho_solve(
                schur_factor, rhs[on_joined] - G_KJ.T @ w, check_finite=False
            )
            w = w - F @ x_joined
            x[on_joined] = x_joined
        x[on_kept] = w
        residual = np.linalg.norm(block @ x - rhs)
        if not residual <= RESIDUAL * np.linalg.norm(rhs):
            return None
        return x

    return solve


def _kept_solver(base: FactoredSupport, kept: np.ndarray, gone: np.ndarray):
    """``r_T -> G_TT^{-1} r_T`` (vectors or columns) from ``G_BB``'s factor, ``T`` at the
    positions ``kept`` of ``B`` and ``R`` at ``gone`` (step 1 of the module's docstring)."""
    size = len(base.support)

    def embedded(r: np.ndarray) -> np.ndarray:
        z = np.zeros((size, *r.shape[1:]))
        z[kept] = r
        return base.solve(z)

    if len(gone) == 0:
        return embedded
    unit = np.zeros((size, len(gone)))
    unit[gone, np.arange(len(gone))] = 1.0
    E = base.solve(unit)
    inverse_gone = scipy.linalg.cho_factor(E[gone])  # P_RR: definite as P is
    E_kept = E[kept]

    def solve_kept(r: np.ndarray) -> np.ndarray:
        z = embedded(r)
        return z[kept] - E_kept @ scipy.linalg.cho_solve(inverse_gone, z[gone], check_finite=False)

    return solve_kept
