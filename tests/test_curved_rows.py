"""The softmax Hessian block formed on the rows that carry its curvature (``_curved_rows``):
which rows are left out, the block's exact own blocks and bounded cross-column entries, and
L1 fits that end at the same optimum as with every row."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg.bench.synthetic import text_like
from softmaxreg.objective import LinearObjective
from softmaxreg.penalties import L1Penalty
from softmaxreg.solvers import _curved_rows, _gram_cd, solve

pytestmark = pytest.mark.usefixtures("one_torch_thread")
proximal_newton = importlib.import_module("softmaxreg.solvers.proximal_newton")


def _model(n=400, K=4, m=30, confident=0.8, seed=1):
    """A softmax model at activations where a share ``confident`` of the rows is classified
    with near certainty."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, m, density=0.25, random_state=seed, format="csr") * 3
    y = np.arange(n) % K
    objective = LinearObjective(X, y, "multinomial", C=2.0, dtype=torch.float64,
                                sample_weight=rng.uniform(0.5, 2.0, n))
    problem = proximal_newton.ColumnProblem(objective)
    logits = rng.normal(size=(n, K))
    sure = rng.random(n) < confident
    logits[sure, y[sure]] += rng.uniform(12, 30, sure.sum())
    A = np.exp(logits - logits.max(axis=1, keepdims=True))
    A /= A.sum(axis=1, keepdims=True)
    features = np.arange(m, dtype=np.int64)
    model = proximal_newton.QuadraticModel(
        problem, np.zeros((K, m)), np.zeros(K), A, np.zeros_like(A), features, 1.0
    )
    return model, X


def _exact_block(model, X, columns, classes, intercepts, rows=None):
    """``G_NN`` by its definition ``sum_i c_i x_it x_iu a_ik (delta_kl - a_il)`` on the
    coordinates in ``_solve_softmax``'s order, over ``rows`` (default all)."""
    position, klass = np.nonzero(classes.T)
    dense = X[:, columns].toarray()
    B = np.hstack([dense[:, position], np.ones((X.shape[0], intercepts))])
    klass = np.concatenate([klass, np.arange(intercepts)])
    rows = np.arange(X.shape[0]) if rows is None else rows
    A, c = model.A[rows], model.problem.c[rows]
    weighted = B[rows] * A[:, klass]
    same = klass[:, None] == klass[None, :]
    return ((weighted * c[:, None]).T @ B[rows]) * same - (weighted * c[:, None]).T @ weighted


def test_the_flattest_rows_are_left_out_within_each_classs_share(monkeypatch):
    monkeypatch.setattr(_curved_rows, "MIN_ROWS", 100)
    model, _ = _model()
    flat = _curved_rows.flat_rows(model)
    assert flat is not None and len(flat) >= _curved_rows.MIN_LEFT_OUT * 400
    curvature = _curved_rows.row_curvature(model)
    left_out = curvature[flat].sum(axis=0)
    assert (left_out <= _curved_rows.SHARE * curvature.sum(axis=0)).all()
    kept = np.setdiff1d(np.arange(400), flat)
    assert curvature[flat].sum(axis=1).max() <= curvature[kept].sum(axis=1).min()
    # and the next flattest row would break a class's share
    order = np.argsort(curvature.sum(axis=1), kind="stable")
    more = order[: len(flat) + 1]
    assert (curvature[more].sum(axis=0) > _curved_rows.SHARE * curvature.sum(axis=0)).any()


@pytest.mark.parametrize("share", [0.0, 1e-4, 0.3, 1.0])
def test_the_flat_prefix_is_the_cumulative_sums_test(share):
    """``flat_prefix``: the longest prefix of ``order`` within ``share`` of every column's
    total, the rows counted exactly as by NumPy's cumulative sums (ties, zero rows, zero
    columns); a NaN in a column (its total NaN) keeps nothing."""
    from softmaxreg.solvers import _column_kernels

    rng = np.random.default_rng(3)
    values = rng.random((500, 6)) ** 6
    values[rng.random(500) < 0.3] = 0.0  # rows that carry nothing
    values[:, 4] = 0.0  # a class no row carries
    values[::7, 2] = values[1::7, 2]  # ties
    order = np.argsort(values.sum(axis=1), kind="stable")
    cumulative = np.cumsum(values[order], axis=0)
    expected = int((cumulative <= share * cumulative[-1]).all(axis=1).sum())
    assert _column_kernels.flat_prefix(values, order, share) == expected
    values[order[50], 1] = np.nan
    assert _column_kernels.flat_prefix(values, order, share) == 0


def test_small_problems_and_uncertain_models_keep_every_row(monkeypatch):
    model, _ = _model()
    assert _curved_rows.flat_rows(model) is None  # 400 rows < MIN_ROWS
    monkeypatch.setattr(_curved_rows, "MIN_ROWS", 100)
    assert _curved_rows.flat_rows(_model(confident=0.0)[0]) is None


@pytest.mark.parametrize("wanted_share", [None, 0.3])
def test_the_block_on_fewer_rows_keeps_its_own_blocks_and_bounds_the_rest(
    monkeypatch, wanted_share
):
    """Each column's own block and the intercepts' are exact; an entry between two columns
    is off by at most sqrt(D_aa D_bb) (D: the left-out rows' part); the block is positive
    semidefinite; with ``wanted`` its columns are those of the whole block."""
    monkeypatch.setattr(_curved_rows, "MIN_ROWS", 100)
    monkeypatch.setattr(_gram_cd, "EXACT_PRODUCTS", np.inf)  # float64 products
    model, X = _model()
    K, intercepts = 4, 3
    columns = np.array([0, 3, 4, 9, 17, 29], dtype=np.int64)
    classes = np.random.default_rng(5).random((K, len(columns))) < 0.6
    classes[:, 1] = True
    exact = _exact_block(model, X, columns, classes, intercepts)
    flat = model.flat_rows
    assert flat is not None
    left_out = _exact_block(model, X, columns, classes, intercepts, rows=flat)
    q = exact.shape[0]
    wanted = None
    if wanted_share is not None:
        wanted = np.random.default_rng(6).random(q) < wanted_share
    G = _gram_cd._softmax_dense_gram(model, columns, classes, intercepts, wanted)
    chosen = np.arange(q) if wanted is None else np.flatnonzero(wanted)
    first = np.concatenate([[0], np.cumsum(classes.sum(axis=0))])
    group = np.concatenate([np.repeat(np.arange(len(columns)), np.diff(first)),
                            np.full(intercepts, len(columns))])
    own = group[:, None] == group[None, chosen]
    np.testing.assert_allclose(G[own], exact[:, chosen][own], rtol=1e-10, atol=1e-12)
    bound = np.sqrt(np.outer(np.diag(left_out), np.diag(left_out)[chosen]))
    assert (np.abs(G - exact[:, chosen])[~own] <= bound[~own] * (1 + 1e-9) + 1e-12).all()
    assert np.abs(G - exact[:, chosen])[~own].max() > 0  # rows were left out
    if wanted is None:
        assert np.linalg.eigvalsh(G / np.abs(G).max()).min() > -1e-12


def test_an_l1_fit_on_curved_rows_ends_at_the_same_optimum(monkeypatch):
    """The formed Hessian is the inner model's only: the fit ends where the fit on every
    row does (subgradient rule at 1e-10, the same objective and zeros)."""
    X, y = text_like(1500, n_features=2**9, n_classes=4, seed=3)

    def fit():
        objective = LinearObjective(X, y, "multinomial", C=5000.0, dtype=torch.float64)
        penalty = L1Penalty(1.0, objective.n_outputs * objective.n_features)
        result = solve(objective, "proximal-newton", max_iter=200, tol=1e-10, penalty=penalty)
        value, grad = objective.value_and_grad(result.theta)
        optimality = float(penalty.optimality(result.theta, grad).max())
        scaled = optimality / objective.gradient_scale()
        return result, value + penalty.value(result.theta), scaled

    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 4096)
    monkeypatch.setattr(_gram_cd, "DENSE_SPEEDUP", np.inf)  # formed (densely) at once
    every, every_value, every_optimality = fit()
    monkeypatch.setattr(_curved_rows, "MIN_ROWS", 100)
    monkeypatch.setattr(_curved_rows, "MIN_LEFT_OUT", 0.02)
    engaged = []
    real = _curved_rows.curved_rows
    monkeypatch.setattr(_gram_cd, "curved_rows",
                        lambda *a: engaged.append(real(*a) is not None) or real(*a))
    curved, curved_value, curved_optimality = fit()
    assert any(engaged)
    assert every.converged and curved.converged
    assert every_optimality <= 1e-10 and curved_optimality <= 1e-10
    assert curved_value == pytest.approx(every_value, rel=1e-12)
    assert torch.equal(every.theta == 0, curved.theta == 0)


@pytest.mark.parametrize("columns", [[3, 1], [2, 30]])
def test_own_blocks_are_put_back_only_for_the_models_columns(columns):
    """Columns outside the model's features (odd ones, one past the last) have no own
    block there."""
    model, _ = _model(m=30)
    model.features = np.arange(0, 30, 2, dtype=np.int64)  # 0, 2, ..., 28
    columns = np.array(columns)
    classes = np.ones((4, len(columns)), dtype=bool)
    G = np.zeros((8, 8))
    with pytest.raises(ValueError, match="columns must be among the model's"):
        _curved_rows.restore_own_blocks(G, model, columns, classes, 0)
    assert not G.any()


def test_the_kept_rows_block_is_x_on_those_rows_and_columns(monkeypatch):
    """``curved_rows``' CSC block: ``X[rows][:, columns]``, canonical, in the kept rows'
    numbering."""
    monkeypatch.setattr(_curved_rows, "MIN_ROWS", 100)
    model, X = _model()
    flat = _curved_rows.flat_rows(model)
    assert flat is not None
    columns = np.array([0, 3, 4, 17, 29], dtype=np.int64)
    rows, (indptr, indices, data) = _curved_rows.curved_rows(model, columns, flat)
    np.testing.assert_array_equal(rows, np.setdiff1d(np.arange(X.shape[0]), flat))
    expected = sp.csc_matrix(X[rows][:, columns])
    expected.sort_indices()
    np.testing.assert_array_equal(indptr, expected.indptr)
    np.testing.assert_array_equal(indices, expected.indices)
    np.testing.assert_array_equal(data, expected.data)
