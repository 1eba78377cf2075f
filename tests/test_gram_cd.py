"""The proximal Newton solver's coordinate descent on a formed Hessian (``_gram_cd``): once
the column sweeps over the active columns have cost as much as forming ``G`` (sigmoids:
per output on the columns; softmax: on the non-zero coefficients), the sweeps continue on
``G``; the fit ends at the same optimum."""

from __future__ import annotations

import importlib
import math
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from softmaxreg.bench.synthetic import text_like
from softmaxreg.objective import LinearObjective
from softmaxreg.penalties import L1Penalty
from softmaxreg.solvers import _column_kernels, _gram_cd, _rare_coordinates, solve

pytestmark = pytest.mark.usefixtures("one_torch_thread")
proximal_newton = importlib.import_module("softmaxreg.solvers.proximal_newton")


def _fit(kind, fit_intercept, l2_strength=0.0):
    X, y = text_like(600, n_features=2**10, n_classes=4, seed=3)
    targets = {"binary": y == 0, "multilabel": np.eye(4)[y][:, :3], "multinomial": y}[kind]
    weights = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    objective = LinearObjective(
        X,
        targets,
        kind,
        C=50.0,
        l2_strength=l2_strength,
        sample_weight=weights,
        fit_intercept=fit_intercept,
        dtype=torch.float64,
    )
    penalty = L1Penalty(1.0, objective.n_outputs * objective.n_features)
    result = solve(objective, "proximal-newton", max_iter=200, tol=1e-10, penalty=penalty)
    value, grad = objective.value_and_grad(result.theta)
    optimality = float(penalty.optimality(result.theta, grad).max())
    return (
        result,
        float(value + penalty.value(result.theta)),
        optimality / objective.gradient_scale(),
    )


def _spy(monkeypatch):
    calls = []
    real = proximal_newton.solve_on_gram

    def counted(*args):
        calls.append(len(args[1]))
        return real(*args)

    monkeypatch.setattr(proximal_newton, "solve_on_gram", counted)
    return calls


def _form_at_once(monkeypatch, way):
    """``G`` formed after one sweep, the ``way`` given."""
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 4096)
    fast, slow = ("DENSE_SPEEDUP", "SPARSE_SPEEDUP")[:: 1 if way == "dense" else -1]
    monkeypatch.setattr(_gram_cd, fast, math.inf)
    monkeypatch.setattr(_gram_cd, slow, 1e-300)


@pytest.mark.parametrize("kind", ["binary", "multilabel", "multinomial"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("way", ["dense", "sparse"])
def test_the_formed_hessian_reaches_the_column_sweeps_optimum(
    monkeypatch, kind, fit_intercept, way
):
    l2_strength = 0.3 if fit_intercept else 0.0  # elastic-net: alpha on G's diagonal
    calls = _spy(monkeypatch)
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 0)  # never formed
    never, never_value, never_optimality = _fit(kind, fit_intercept, l2_strength)
    assert calls == []
    _form_at_once(monkeypatch, way)
    always, always_value, always_optimality = _fit(kind, fit_intercept, l2_strength)
    assert len(calls) > 0 and max(calls) > 1
    assert never.converged and always.converged
    assert never_optimality <= 1e-10 and always_optimality <= 1e-10
    assert torch.equal(never.theta == 0, always.theta == 0)
    assert always_value == pytest.approx(never_value, rel=1e-12)
    never, always = (_representative(fit.theta, kind, fit_intercept) for fit in (never, always))
    # optimality 1e-10 of C sum_i s_i bounds the gradient, not theta (flat directions of
    # rare features): the coefficients agree to 1e-5
    torch.testing.assert_close(never, always, rtol=0, atol=1e-5)


def _representative(theta, kind, fit_intercept, K=4, m=2**10):
    """The softmax's optima form a set: its intercepts shift together freely, and without
    L2 so do the coefficients of a column with all K non-zero (between its two middle
    ones for even K): one point of it, the intercepts centred, such columns on their
    median."""
    if kind != "multinomial":
        return theta
    theta = theta.clone()
    W = theta[: K * m].view(K, m)
    if not fit_intercept:  # (no L2 in these fits)
        flat = (W != 0).all(dim=0)
        W[:, flat] -= W[:, flat].median(dim=0).values
    else:
        theta[K * m :] -= theta[K * m :].mean()
    return theta


def _softmax_hessian(B, klass, A, c):
    """The softmax Hessian on coordinates (column ``B[:, t]``, class ``klass[t]``), by its
    definition ``sum_i c_i x_it x_iu a_ik (delta_kl - a_il)``."""
    H = np.zeros((len(klass), len(klass)))
    for i in range(len(A)):
        curvature = np.diag(A[i]) - np.outer(A[i], A[i])
        H += c[i] * np.outer(B[i], B[i]) * curvature[np.ix_(klass, klass)]
    return H


@pytest.mark.parametrize(("way", "rare_share"), [
    ("dense", 0.0), ("dense", 0.2), ("dense", 1.0), ("sparse", None)
])  # fmt: skip
@pytest.mark.parametrize("block_rows", [7, 8192])
@pytest.mark.parametrize(("C", "scale"), [(3.0, 1.0), (1e40, 1.0), (1e40, 1e20), (3.0, 1e150)])
def test_both_ways_form_the_softmax_hessian_on_its_coefficients(
    monkeypatch, way, rare_share, block_rows, C, scale
):
    """The coefficients ``classes`` holds, column by column, then K - 1 intercepts; exact
    where a_ik nears 1 (the same-class blocks are not a difference of two sums), and no
    float32 overflow at C = 1e40 or with a column's values beyond float32's (``scale``;
    compared relative to the diagonal's square roots). The dense way with no rare column,
    some (their entries from their non-zeros, ``_rare_coordinates``), and all rare."""
    monkeypatch.setattr(_rare_coordinates, "RARE_SHARE", rare_share)
    monkeypatch.setattr(_gram_cd, "SPARSE_BLOCK_ROWS", block_rows)
    monkeypatch.setattr(_gram_cd, "SOFTMAX_BLOCK_ELEMENTS", block_rows * 12)
    monkeypatch.setattr(_gram_cd, "EXACT_PRODUCTS", 0.0)  # float32 where X's values fit it
    n, K = 300, 4
    X = sp.random(n, 30, density=0.2, random_state=1, format="csr") * 7
    X = X @ sp.diags(np.where(np.arange(30) == 5, scale, 1.0))
    y = np.arange(n) % K
    dtype = torch.float32 if scale == 1.0 else torch.float64
    objective = LinearObjective(X, y, "multinomial", C=C, dtype=dtype)
    problem = proximal_newton.ColumnProblem(objective)
    logits = np.random.default_rng(2).normal(size=(n, K)) * 3
    logits[::5, 0] += 30  # a_i0 within 1e-12 of 1
    A = np.exp(logits - logits.max(axis=1, keepdims=True))
    A /= A.sum(axis=1, keepdims=True)
    W, b = np.zeros((K, 30)), np.zeros(K)
    features = np.arange(30, dtype=np.int64)
    model = proximal_newton.QuadraticModel(problem, W, b, A, np.zeros_like(A), features, 1.0)
    columns = np.array([1, 5, 6, 17, 29], dtype=np.int64)
    classes = np.random.default_rng(3).random((K, len(columns))) < 0.5
    classes[:, 2] = True  # a column with every class
    position, klass = np.nonzero(classes.T)
    indptr, indices, data = problem.columns()  # X as the solver holds it (float32 values)
    dense = sp.csc_matrix((data, indices, indptr), shape=X.shape)[:, columns].toarray()
    B = np.hstack([dense[:, position], np.ones((n, K - 1))])
    expected = _softmax_hessian(B, np.concatenate([klass, np.arange(K - 1)]), A, problem.c)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if way == "dense":
            G = _gram_cd._softmax_dense_gram(model, columns, classes, K - 1)
            tolerance = {"rtol": 1e-5, "atol": 1e-5}
        else:
            G = np.zeros_like(expected)
            _column_kernels.softmax_sparse_gram(
                *problem.columns(), columns, classes, A, problem.c, K - 1, block_rows, G
            )
            tolerance = {"rtol": 1e-12, "atol": 1e-12}
    assert np.isfinite(G).all()
    roots = np.sqrt(np.diag(expected))
    np.testing.assert_allclose(
        G / np.outer(roots, roots), expected / np.outer(roots, roots), **tolerance
    )
    assert np.linalg.eigvalsh(G / np.abs(G).max()).min() > -1e-6  # positive semidefinite


@pytest.mark.parametrize("rare_share", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("block_elements", [64, None])
def test_rare_columns_without_intercepts_form_the_same_hessian(
    monkeypatch, rare_share, block_elements
):
    """Without intercepts and with every column rare the product has no coordinate: the
    block comes from the rare columns' non-zeros alone (a column in every row, column 0,
    stays dense below a share of 1). The rows where a column is absent count. Blocks of
    rows (64 elements) or the default size: no block of more rows than X has (a 16 GB
    block of 4 million rows with one dense coordinate, before)."""
    monkeypatch.setattr(_rare_coordinates, "RARE_SHARE", rare_share)
    if block_elements is not None:
        monkeypatch.setattr(_gram_cd, "SOFTMAX_BLOCK_ELEMENTS", block_elements)
    n, K, m = 200, 3, 12
    rng = np.random.default_rng(5)
    X = sp.random(n, m, density=0.1, random_state=4, format="lil")
    X[:, 0] = rng.uniform(1.0, 2.0, (n, 1))
    X = X.tocsr()
    y = np.arange(n) % K
    objective = LinearObjective(X, y, "multinomial", C=2.0, fit_intercept=False)
    problem = proximal_newton.ColumnProblem(objective)
    A = rng.dirichlet(np.ones(K), n)
    features = np.arange(m, dtype=np.int64)
    model = proximal_newton.QuadraticModel(
        problem, np.zeros((K, m)), np.zeros(K), A, np.zeros_like(A), features, 1.0
    )
    columns = np.array([0, 2, 3, 7, 11], dtype=np.int64)
    classes = rng.random((K, len(columns))) < 0.6
    classes[:, 0] = True
    position, klass = np.nonzero(classes.T)
    dense = X[:, columns].toarray()[:, position]
    tracemalloc.start()
    G = _gram_cd._softmax_dense_gram(model, columns, classes, 0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2**20  # bytes: X's block of 200 rows, not of SOFTMAX_BLOCK_ELEMENTS
    expected = _softmax_hessian(dense, klass, A, problem.c)
    np.testing.assert_allclose(G, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_the_softmax_forms_its_hessian_where_it_costs_a_few_sweeps():
    """Rent or buy for the softmax: the dense way's syrk over all coordinates plus each
    class's block, the sparse way's pairs of coordinates within rows (each row with its
    K - 1 intercepts); never formed without the coefficients' classes."""
    n, K = 2000, 3
    X = np.zeros((n, 40))
    X[np.arange(n), np.arange(n) % 40] = 1.0  # one non-zero per row
    y = np.arange(n) % K
    problem = proximal_newton.ColumnProblem(LinearObjective(sp.csr_matrix(X), y, "multinomial"))
    columns = np.arange(40, dtype=np.int64)
    classes = np.zeros((K, 40), dtype=bool)
    classes[0, :10] = classes[1, 5:25] = True
    sweep = (n + n) * K  # the columns' non-zeros and the intercepts, times K
    assert _gram_cd.sweep_cost(problem, columns) == sweep
    size = 30 + (K - 1)
    dense = n * (size * size / 2 + (10**2 + 20**2)) / _gram_cd.DENSE_SPEEDUP + sweep
    counts = (X[:, :40] @ classes.sum(axis=0)) + (K - 1)
    sparse = float((counts * (counts + 1)).sum()) / 2 / _gram_cd.SPARSE_SPEEDUP + 2 * sweep
    cost, method = min((dense, "dense"), (sparse, "sparse"))
    sweeps = int(np.ceil(cost / sweep))
    rule = _gram_cd.RentOrBuy(problem, columns, expected=sweeps - 1, classes=classes)
    assert rule.choice() is None
    rule.record_sweep()
    assert rule.choice() == method
    assert rule.forms_soon() == (cost <= _gram_cd.FORM_SOON * sweep)
    assert _gram_cd.RentOrBuy(problem, columns, expected=10**6).choice() is None


def test_a_formed_model_takes_at_most_max_newton_steps(monkeypatch):
    """A tolerance below rounding runs every sweep; the Newton steps stop at the cap."""
    G, grad, lam = _lasso(correlated=0.98)
    steps = []
    real = _gram_cd._newton_step
    monkeypatch.setattr(_gram_cd, "_newton_step", lambda *a: steps.append(1) or real(*a))
    used = _gram_cd.minimise(_column_kernels, G, grad, np.zeros(len(lam)), lam, -1.0, 5000)
    assert used == 5000 and len(steps) == _gram_cd.MAX_NEWTON_STEPS


def test_a_singular_block_is_solved_on_its_range():
    """A softmax column with every class non-zero and no L2 makes ``G_NN`` singular: the
    step is the least-norm solution (Cholesky fails), with nothing along the flat shift."""
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(6, 5))
    block = basis @ basis.T  # rank 5
    rhs = block @ rng.normal(size=6)  # in its range
    x = _solve(block, rhs)
    np.testing.assert_allclose(x, np.linalg.lstsq(block, rhs, rcond=None)[0], atol=1e-10)
    definite = block + np.eye(6)
    np.testing.assert_allclose(
        _solve(definite, rhs), np.linalg.solve(definite, rhs), rtol=1e-10
    )
    assert np.isnan(_solve(np.zeros((2, 2)), np.ones(2))).all()


def _solve(block, rhs):
    """``block^+ rhs`` by the Newton steps' solver of ``block`` on all its coordinates."""
    return _gram_cd.SupportSolvers(block).block_and_solver(np.arange(len(block)))[1](rhs)


def test_newton_steps_on_one_support_factor_its_block_once(monkeypatch):
    """The solver of ``G``'s block is kept for the last support: asked again for it (the
    signs settled), no new factorisation and the same solves; another support, a new one."""
    G, grad, lam = _lasso(correlated=0.9)
    factored = []
    real = _gram_cd._definite_factor
    monkeypatch.setattr(_gram_cd, "_definite_factor",
                        lambda block: factored.append(len(block)) or real(block))
    solvers = _gram_cd.SupportSolvers(G)
    support = np.array([0, 2, 3])
    block, solve = solvers.block_and_solver(support)
    again, same = solvers.block_and_solver(support.copy())
    assert factored == [3] and same is solve
    np.testing.assert_array_equal(block, G[np.ix_(support, support)])
    np.testing.assert_array_equal(again, block)
    rhs = grad[support]
    np.testing.assert_allclose(same(rhs), np.linalg.solve(block, rhs), rtol=1e-10)
    solvers.block_and_solver(np.array([0, 2]))
    assert factored == [3, 2]


def _column_problem(X, kind="binary"):
    y = np.arange(X.shape[0]) % 3
    targets = y == 0 if kind == "binary" else y
    return proximal_newton.ColumnProblem(LinearObjective(X, targets, kind, fit_intercept=False))


@pytest.mark.parametrize("frequent", [False, True])
def test_the_rent_or_buy_rule(frequent):
    """Forming pays once the sweeps cost as much as the cheaper way: dense ``n q^2 /
    DENSE_SPEEDUP`` or the pairs of non-zeros in each row ``/ SPARSE_SPEEDUP``, each plus
    the pass that follows it; a few rare columns are paired sparsely, dense ones densely."""
    n = 2000
    X = np.zeros((n, 60))
    X[np.arange(n), np.arange(n) % 60] = 1.0  # one non-zero per row: rare columns
    if frequent:
        X[:, :40] = np.random.default_rng(0).random((n, 40))  # 40 dense columns
    problem = _column_problem(sp.csr_matrix(X))
    columns = np.arange(60, dtype=np.int64)
    nonzeros = float((X != 0).sum())
    assert _gram_cd.sweep_cost(problem, columns) == nonzeros
    counts = (X != 0).sum(axis=1)
    sparse = float((counts * (counts + 1)).sum()) / 2 / _gram_cd.SPARSE_SPEEDUP + 2 * nonzeros
    dense = n * 60 * 60 / _gram_cd.DENSE_SPEEDUP + nonzeros
    cost, method = min((sparse, "sparse"), (dense, "dense"))
    assert method == ("dense" if frequent else "sparse")
    sweeps = int(np.ceil(cost / nonzeros))
    rule = _gram_cd.RentOrBuy(problem, columns, expected=sweeps - 1)
    assert rule.choice() is None
    rule.record_sweep()
    assert rule.choice() == method
    assert _gram_cd.RentOrBuy(problem, columns, expected=10**6).choice() == method


def test_the_formed_blocks_stay_within_max_columns_squared(monkeypatch):
    """K sigmoid outputs form K blocks: their entries together are bounded, not each."""
    X = sp.csr_matrix(np.eye(200, 60))
    targets = np.eye(4)[np.arange(200) % 4]
    problem = proximal_newton.ColumnProblem(
        LinearObjective(X, targets, "multilabel", fit_intercept=False)
    )
    columns = np.arange(60, dtype=np.int64)
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 120)  # 4 x 60^2 = 120^2
    assert _gram_cd.formable(problem, columns)
    assert not _gram_cd.formable(problem, np.arange(61, dtype=np.int64))


@pytest.mark.parametrize("method", ["dense", "sparse"])
@pytest.mark.parametrize("block_rows", [7, 8192])
@pytest.mark.parametrize("scale", [1.0, 1e20, 1e150])
def test_both_ways_form_the_same_hessian(monkeypatch, method, block_rows, scale):
    """Also where a column's values are beyond float32's (1e20 overflowed its squares in
    the dense way's float32 products, 1e150 made NaN): compared entry by entry relative to
    the diagonal's square roots."""
    monkeypatch.setattr(_gram_cd, "SPARSE_BLOCK_ROWS", block_rows)
    monkeypatch.setattr(_gram_cd, "BLOCK_ELEMENTS", block_rows * 6)
    monkeypatch.setattr(_gram_cd, "EXACT_PRODUCTS", 0.0)  # float32 where X's values fit it
    X = sp.random(300, 50, density=0.1, random_state=1, format="csr")
    X = X @ sp.diags(np.where(np.arange(50) == 5, scale, 1.0))
    y = np.arange(300) % 2
    objective = LinearObjective(X, np.eye(2)[y], "multilabel", C=3.0, dtype=torch.float64)
    problem = proximal_newton.ColumnProblem(objective)
    A = np.random.default_rng(2).uniform(0.05, 0.95, (300, 2))
    features = np.arange(50, dtype=np.int64)
    W, b = np.zeros((2, 50)), np.zeros(2)
    model = proximal_newton.QuadraticModel(problem, W, b, A, np.zeros_like(A), features, 1.0)
    columns = np.array([1, 5, 6, 40, 49], dtype=np.int64)
    B = np.hstack([X[:, columns].toarray(), np.ones((300, 1))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G = _gram_cd.form(model, columns, method)
    for k in range(2):
        expected = B.T @ (B * (3.0 * A[:, k] * (1 - A[:, k]))[:, None])
        roots = np.sqrt(np.diag(expected))
        np.testing.assert_allclose(
            G[k] / np.outer(roots, roots), expected / np.outer(roots, roots), atol=1e-6
        )


def test_dense_rows_rebuild_the_columns_block_by_block():
    X = sp.random(50, 30, density=0.2, random_state=0, format="csc")
    columns = np.array([0, 3, 4, 17, 29], dtype=np.int64)
    positions = X.indptr[columns].astype(np.int64)
    blocks = []
    for stop in (7, 8, 30, 50):  # rows 0-6, 7, 8-29, 30-49
        out = np.full((stop - (sum(len(b) for b in blocks)), 6), 9.0)
        _column_kernels.dense_rows(X.indptr, X.indices, X.data, columns, positions, stop, out)
        assert (out[:, 5] == 9.0).all()  # columns past len(columns) left alone
        blocks.append(out[:, :5])
    np.testing.assert_array_equal(np.vstack(blocks), X[:, columns].toarray())


def _lasso(p=60, correlated=0.0):
    """A lasso-shaped model: ``G`` from rows whose columns share a common factor."""
    rng = np.random.default_rng(0)
    common = rng.normal(size=(400, 1))
    B = np.sqrt(1 - correlated) * rng.normal(size=(400, p)) + np.sqrt(correlated) * common
    grad = B.T @ rng.normal(size=400) * 3
    lam = np.full(p, 12.0)
    lam[-1] = 0.0  # an unpenalised coordinate (the intercept)
    return B.T @ B, grad, lam


def _assert_lasso_optimal(G, start_grad, grad, u, lam):
    np.testing.assert_allclose(grad, start_grad + G @ u, atol=1e-8)  # kept up to date
    nonzero = u != 0
    assert 0 < nonzero.sum() < len(u)
    np.testing.assert_allclose(grad[nonzero], -lam[nonzero] * np.sign(u[nonzero]), atol=1e-7)
    assert (np.abs(grad[~nonzero]) <= lam[~nonzero] + 1e-7).all()


def test_gram_sweeps_meet_the_lasso_optimality_conditions():
    G, grad, lam = _lasso()
    start_grad, u = grad.copy(), np.zeros(len(lam))
    sweeps, largest = _column_kernels.gram_sweeps(G, grad, u, lam, 1e-12, 10_000)
    assert 1 < sweeps < 10_000 and largest <= 1e-12
    _assert_lasso_optimal(G, start_grad, grad, u, lam)


def test_newton_steps_on_the_signs_finish_what_sweeps_crawl_through(monkeypatch):
    """On strongly correlated columns coordinate descent takes hundreds of sweeps; with a
    Newton step on the non-zero coordinates after every two, a few sweeps reach the same
    point (and never a higher model value: each step is checked)."""
    G, grad, lam = _lasso(correlated=0.98)
    start_grad = grad.copy()
    sweeps_only, u_only = grad.copy(), np.zeros(len(lam))
    crawled, _ = _column_kernels.gram_sweeps(G, sweeps_only, u_only, lam, 1e-9, 100_000)
    steps = []
    real = _gram_cd._newton_step
    monkeypatch.setattr(_gram_cd, "_newton_step", lambda *a: steps.append(1) or real(*a))
    u = np.zeros(len(lam))
    used = _gram_cd.minimise(_column_kernels, G, grad, u, lam, 1e-9, 100_000)
    assert crawled > 200 and used < crawled / 10 and len(steps) > 0
    _assert_lasso_optimal(G, start_grad, grad, u, lam)
    np.testing.assert_allclose(u, u_only, atol=1e-7)


def test_a_flat_group_in_the_support_is_stepped_without_an_eigendecomposition(monkeypatch):
    """A softmax column with all K coefficients non-zero and no L2 makes ``G`` flat along
    their common shift: the step holds one of them (Cholesky on the rest), instead of an
    eigendecomposition (OpenBLAS's threaded one took seconds on a few hundred rows)."""
    rng = np.random.default_rng(4)
    basis = rng.normal(size=(8, 6))
    shift = np.zeros(6)
    shift[:3] = 1.0  # the group: coordinates 0, 1, 2
    projector = np.eye(6) - np.outer(shift, shift) / 3
    G = projector @ basis.T @ basis @ projector  # G @ shift == 0
    u = rng.normal(size=6) + np.sign(rng.normal(size=6))
    grad, lam = rng.normal(size=6), np.full(6, 0.1)

    def refuse(*args, **kwargs):
        raise AssertionError("eigh called")

    monkeypatch.setattr(_gram_cd.scipy.linalg, "eigh", refuse)
    before = u.copy()
    assert _gram_cd._newton_step(G, grad, u, lam, flat=[np.arange(3)])
    assert not np.array_equal(u, before)


def test_a_small_ill_conditioned_model_is_formed_in_float64():
    """196 rows, C = 1e4: on a float32 Hessian the fit ran 100 outer iterations short of
    tol = 1e-9; on the exact one (the dense way below EXACT_PRODUCTS) it converges, at the
    sparse way's optimum."""
    rng = np.random.default_rng(1)
    X = sp.random(196, 43, density=0.4, random_state=1, format="csr") * 10
    y = np.arange(196) % 4
    rng.shuffle(y)
    weights = rng.uniform(0, 2, 196) * (rng.random(196) > 0.2)
    values = {}
    for way in ("dense", "sparse"):
        with pytest.MonkeyPatch.context() as patch:
            _form_at_once(patch, way)
            objective = LinearObjective(
                X, y, "multinomial", C=1e4, l2_strength=0.5, sample_weight=weights,
                dtype=torch.float64,
            )  # fmt: skip
            penalty = L1Penalty(0.5, objective.n_outputs * objective.n_features)
            result = solve(objective, "proximal-newton", max_iter=100, tol=1e-9, penalty=penalty)
        assert result.converged
        values[way] = float(objective.value(result.theta) + penalty.value(result.theta))
    assert values["dense"] == pytest.approx(values["sparse"], rel=1e-12)


def test_a_softmax_model_re_forms_its_hessian_from_the_last_one(monkeypatch):
    """The columns of ``G_NN`` for the coordinates ``wanted`` are the full form's, and a
    model that formed ``G`` on one set of coordinates (the L2 part on its diagonal) forms it
    on an overlapping set from those entries plus the new coordinates' columns: the fresh
    form's; beyond REUSE_SHARE new coordinates, a fresh form."""
    n, K = 300, 4
    X = sp.random(n, 30, density=0.3, random_state=4, format="csr") * 3
    y = np.arange(n) % K
    objective = LinearObjective(X, y, "multinomial", C=2.0, l2_strength=0.3, dtype=torch.float64)
    problem = proximal_newton.ColumnProblem(objective)
    logits = np.random.default_rng(5).normal(size=(n, K))
    A = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    W, b = np.zeros((K, 30)), np.zeros(K)
    features = np.arange(30, dtype=np.int64)
    model = proximal_newton.QuadraticModel(problem, W, b, A, np.zeros_like(A), features, 1.0)
    columns = np.array([2, 3, 7, 11, 20, 29], dtype=np.int64)
    rng = np.random.default_rng(6)
    first = rng.random((K, len(columns))) < 0.6
    second = first.copy()
    second[:, 1] = ~second[:, 1]  # one column's coefficients swapped in and out
    second[0, 4] = True
    fresh = {}
    for name, classes in (("first", first), ("second", second)):
        fresh[name] = _gram_cd._softmax_dense_gram(model, columns, classes, K - 1)
    keys = _gram_cd._softmax_keys(columns, first, K - 1)
    wanted = np.arange(len(keys)) % 3 == 1
    part = _gram_cd._softmax_dense_gram(model, columns, first, K - 1, wanted=wanted)
    np.testing.assert_allclose(part, fresh["first"][:, wanted], rtol=1e-12, atol=1e-12)
    G = fresh["first"].copy()
    m = len(keys) - (K - 1)
    G[np.arange(m), np.arange(m)] += problem.alpha
    model.gram = (keys, G)
    new_keys = _gram_cd._softmax_keys(columns, second, K - 1)
    held = np.isin(new_keys, keys)
    assert 0 < np.count_nonzero(~held) <= _gram_cd.REUSE_SHARE * len(new_keys)
    calls = []
    real = _gram_cd._softmax_dense_gram
    monkeypatch.setattr(
        _gram_cd, "_softmax_dense_gram", lambda *a, **k: calls.append(k) or real(*a, **k)
    )
    reused = _gram_cd._reused_dense_gram(model, columns, second, K - 1, new_keys)
    np.testing.assert_allclose(reused, fresh["second"], rtol=1e-12, atol=1e-12)
    assert len(calls) == 1 and calls[0]["wanted"].sum() == np.count_nonzero(~held)
    monkeypatch.setattr(_gram_cd, "REUSE_SHARE", 0.0)
    _gram_cd._reused_dense_gram(model, columns, second, K - 1, new_keys)
    assert calls[-1] == {}


def _softmax_model_at(seed=7, n=300, m=30, K=4):
    """A softmax quadratic model (L2 0.3, L1 1.0) at a sparse ``W`` with random activations
    and residuals."""
    X = sp.random(n, m, density=0.3, random_state=seed, format="csr") * 3
    y = np.arange(n) % K
    objective = LinearObjective(X, y, "multinomial", C=2.0, l2_strength=0.3, dtype=torch.float64)
    problem = proximal_newton.ColumnProblem(objective)
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(K, m)) * (rng.random((K, m)) < 0.1)
    b = rng.normal(size=K)
    _, A, R = problem.loss(problem.net_inputs(W, b), with_activations=True)
    G, _ = problem.gradient(R, W)
    features = proximal_newton.working_set(W, G, 1.0, 12)
    data_gradient = G[:, features] - problem.alpha * W[:, features]
    return proximal_newton.QuadraticModel(problem, W, b, A, R, features, 1.0, data_gradient)


def test_a_softmax_model_after_a_formed_one_starts_on_its_block(monkeypatch):
    """With the sweeps paid for (the last model formed its Hessian) a softmax model forms
    its block on the non-zero and the violating coefficients before any sweep over all
    columns, and ends at the model's minimum as the sweeping start does."""
    events = []
    real_sweep, real_gram = proximal_newton.QuadraticModel.sweep, proximal_newton.solve_on_gram
    monkeypatch.setattr(proximal_newton.QuadraticModel, "sweep",
                        lambda self, chosen: events.append("sweep") or real_sweep(self, chosen))
    monkeypatch.setattr(proximal_newton, "solve_on_gram",
                        lambda *a, **k: events.append("gram") or real_gram(*a, **k))
    swept, started = _softmax_model_at(), _softmax_model_at()
    start = started._violators()
    assert start is not None
    active, joining = start
    grad = started.gradient + started.problem.alpha * started.W[:, started.features]
    violating = (started.W[:, started.features] == 0) & (np.abs(grad) > 1.0)
    assert joining.any() and np.array_equal(joining, violating[:, active])
    swept.solve(1e-10, 1000, expected=0)
    assert events[0] == "sweep"
    events.clear()
    started.solve(1e-10, 1000, expected=proximal_newton.MAX_SWEEPS)
    assert events[0] == "gram" and started.formed
    values = [model.value(model.U, model.Q, model.S) for model in (swept, started)]
    assert values[1] == pytest.approx(values[0], rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(started.U, swept.U, atol=1e-6)


def test_sigmoid_models_and_unformable_blocks_start_with_a_sweep(monkeypatch):
    """No start on the block for sigmoid outputs, for a block too large to form, and for a
    model with no coefficient to start from (all zero and none violating)."""
    model = _softmax_model_at()
    model.U[:] = 0.0
    model.lam = np.inf
    assert model._violators() is None
    model = _softmax_model_at()
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 0)
    assert model._violators() is None
    X = sp.random(100, 10, density=0.3, random_state=1, format="csr")
    objective = LinearObjective(X, np.arange(100) % 2 == 0, "binary", dtype=torch.float64)
    problem = proximal_newton.ColumnProblem(objective)
    W, b = np.zeros((1, 10)), np.zeros(1)
    _, A, R = problem.loss(problem.net_inputs(W, b), with_activations=True)
    binary = proximal_newton.QuadraticModel(problem, W, b, A, R, np.arange(10), 0.1)
    assert binary._violators() is None
