"""Solves on a support near one already factored (``_nearby_support``): the same solutions
as a fresh factorisation, and a new one wherever the support is too far, the block is not
definite or a solve fails its residual check."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from softmaxreg.solvers import _gram_cd, _nearby_support
from softmaxreg.solvers._nearby_support import FactoredSupport, nearby_solver


def _gram(size=120, seed=0):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(size, 2 * size))
    return M @ M.T / size + 1e-3 * np.eye(size), rng


def _base(G, support):
    return FactoredSupport(support, scipy.linalg.cho_factor(G[np.ix_(support, support)]))


@pytest.mark.parametrize("left, joined", [(3, 0), (0, 4), (2, 4), (1, 1)])
def test_a_nearby_support_is_solved_as_by_its_own_factor(left, joined):
    G, rng = _gram()
    B = np.sort(rng.choice(120, 100, replace=False))
    outside = np.setdiff1d(np.arange(120), B)
    S = np.union1d(np.setdiff1d(B, rng.choice(B, left, replace=False)),
                   rng.choice(outside, joined, replace=False))
    block = G[np.ix_(S, S)]
    solve = nearby_solver(_base(G, B), S, block, 1e-12)
    rhs = rng.normal(size=len(S))
    np.testing.assert_allclose(solve(rhs), np.linalg.solve(block, rhs), rtol=1e-8, atol=1e-10)


def test_the_same_or_a_far_support_is_not_solved_from_the_factor():
    G, rng = _gram()
    B = np.arange(100)
    base = _base(G, B)
    assert nearby_solver(base, B, G[np.ix_(B, B)], 1e-12) is None
    far = np.arange(int(_nearby_support.NEARBY_SHARE * 100) + 1, 100)  # one too many left
    assert nearby_solver(base, far, G[np.ix_(far, far)], 1e-12) is None
    near = np.arange(int(_nearby_support.NEARBY_SHARE * 100), 100)  # as many as may leave
    assert nearby_solver(base, near, G[np.ix_(near, near)], 1e-12) is not None


def test_a_joined_coordinate_that_makes_the_block_singular_is_refused():
    """A coordinate whose row of ``G`` repeats another's: its Schur complement is zero."""
    G, _ = _gram(size=40)
    G = np.pad(G, ((0, 1), (0, 1)))
    G[40, :40] = G[:40, 40] = G[3, :40]
    G[40, 40] = G[3, 3]
    B = np.arange(40)
    S = np.arange(41)
    assert nearby_solver(_base(G, B), S, G[np.ix_(S, S)], 1e-12) is None


def test_support_solvers_use_the_nearby_factor_and_refactor_when_a_solve_fails(monkeypatch):
    G, rng = _gram()
    factored = []
    real = _gram_cd._definite_factor
    monkeypatch.setattr(_gram_cd, "_definite_factor",
                        lambda block: factored.append(len(block)) or real(block))
    solvers = _gram_cd.SupportSolvers(G)
    B = np.arange(100)
    solvers.block_and_solver(B)
    S = np.concatenate([np.arange(2, 100), [110]])
    block, solve = solvers.block_and_solver(S)
    rhs = rng.normal(size=len(S))
    expected = np.linalg.solve(block, rhs)
    np.testing.assert_allclose(solve(rhs), expected, rtol=1e-8, atol=1e-10)
    assert factored == [100]  # from B's factor
    # back on B (a coordinate left and joined again): B's own solve, no new factor
    _, back = solvers.block_and_solver(B.copy())
    assert factored == [100] and back == solvers.base.solve
    r = rng.normal(size=100)
    np.testing.assert_allclose(back(r), np.linalg.solve(G[:100, :100], r), rtol=1e-8,
                               atol=1e-10)
    # a solve that fails its residual check: this support factored, the same solution
    monkeypatch.setattr(_nearby_support, "RESIDUAL", -1.0)
    S2 = np.concatenate([np.arange(1, 100), [111]])
    block2, solve2 = solvers.block_and_solver(S2)
    rhs2 = rng.normal(size=len(S2))
    np.testing.assert_allclose(solve2(rhs2), np.linalg.solve(block2, rhs2), rtol=1e-8,
                               atol=1e-10)
    assert factored == [100, 100]
    assert np.array_equal(solvers.base.support, S2)
