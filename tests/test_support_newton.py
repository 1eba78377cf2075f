"""Newton-CG steps on a proximal Newton model's non-zero coordinates (``_support_newton``):
the step keeps the model's bookkeeping exact, lowers the model, and a fit with the steps
ends where coordinate descent alone does, in far fewer sweeps on correlated columns."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from softmaxreg import LogisticRegression
from softmaxreg.objective import LinearObjective
from softmaxreg.penalties import L1Penalty
from softmaxreg.solvers import _gram_cd, _support_newton, solve

pytestmark = pytest.mark.usefixtures("one_torch_thread")
proximal_newton = importlib.import_module("softmaxreg.solvers.proximal_newton")


def _correlated(n=500, m=40, seed=0, density=1.0):
    """Columns sharing a common factor (neighbouring pixels), a 3-class target."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(n, 1))
    X = 0.3 * rng.normal(size=(n, m)) + common + 0.2 * rng.normal(size=(1, m))
    if density < 1:
        X *= rng.random((n, m)) < density
    y = (X[:, :5].sum(axis=1) > np.median(X[:, :5].sum(axis=1))).astype(int)
    y += X[:, 5] > np.quantile(X[:, 5], 0.7)
    return X, y


def _model(kind="multinomial", density=1.0, fit_intercept=True):
    X, y = _correlated(density=density)
    targets = {"multinomial": y, "binary": y == 0, "multilabel": np.eye(3)[y]}[kind]
    objective = LinearObjective(
        sp.csr_matrix(X),
        targets,
        kind,
        C=5.0,
        l2_strength=0.1,
        fit_intercept=fit_intercept,
        dtype=torch.float64,
    )
    problem = proximal_newton.ColumnProblem(objective)
    W, b = problem.split(objective.zeros())
    _, A, R = problem.loss(problem.net_inputs(W, b), with_activations=True)
    features = np.arange(problem.m, dtype=np.int64)
    model = proximal_newton.QuadraticModel(problem, W, b, A, R, features, lam=2.0)
    for _ in range(3):
        model.sweep(features)
    return problem, model, X


def test_net_inputs_come_from_the_columns_with_a_coefficient(monkeypatch):
    """``Z = X W^T + b`` from the non-zero columns only: the same bits as from every column
    (which adds zeros), and no product at all at a zero start."""
    problem, _, X = _model()
    rng = np.random.default_rng(4)
    W = np.zeros((3, problem.m))
    W[:, [2, 7, 30]] = rng.normal(size=(3, 3))
    b = rng.normal(size=3)
    every = np.tile(b, (problem.n, 1))
    problem.kernels.add_selected(*problem.columns(), problem.all_columns, W, every)
    np.testing.assert_array_equal(problem.net_inputs(W, b), every)
    np.testing.assert_allclose(every, X @ W.T + b, rtol=1e-12, atol=1e-12)
    calls = []
    monkeypatch.setattr(problem.kernels, "add_selected", lambda *a: calls.append(1))
    np.testing.assert_array_equal(problem.net_inputs(np.zeros_like(W), b),
                                  np.tile(b, (problem.n, 1)))
    assert calls == []


@pytest.mark.parametrize("kind", ["multinomial", "binary", "multilabel"])
@pytest.mark.parametrize("density", [1.0, 0.05])  # the dense float32 copy, the sparse columns
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_a_step_lowers_the_model_and_keeps_its_net_inputs_exact(kind, density, fit_intercept):
    problem, model, X = _model(kind, density, fit_intercept)
    active = problem.kernels.nonzero_columns(model.U, model.features)
    subset = _support_newton.ActiveColumns(problem, model.features[active])
    assert (subset.dense is not None) == (density == 1.0)
    zeros = model.U == 0
    before = model.value(model.U, model.Q, model.S)
    assert _support_newton.support_newton_step(model, subset, active)
    assert model.value(model.U, model.Q, model.S) < before
    assert (model.U[zeros] == 0).all()  # zeros stay zeros: coordinate descent moves them
    # Q = X (U - W)^T + (Ub - b) and S = sum_k a_k Q_k, in float64 whatever the products
    expected = X @ (model.U - model.W).T + (model.Ub - model.b)
    np.testing.assert_allclose(model.Q, expected, rtol=0, atol=1e-12)
    if problem.softmax:
        np.testing.assert_allclose(model.S, (model.A * model.Q).sum(axis=1), atol=1e-12)


def test_the_dense_and_sparse_products_agree():
    problem, model, X = _model(density=0.5)
    columns = np.arange(0, 40, 3, dtype=np.int64)
    sparse = _support_newton.ActiveColumns(problem, columns)
    dense = _support_newton.ActiveColumns(problem, columns)
    dense.dense = X[:, columns].astype(np.float32)
    sparse.dense = None
    D = np.random.default_rng(0).normal(size=(3, len(columns)))
    np.testing.assert_allclose(dense.times(D), X[:, columns] @ D.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sparse.times(D), X[:, columns] @ D.T, rtol=1e-12)
    np.testing.assert_allclose(dense.times(D, exact=True), X[:, columns] @ D.T, rtol=1e-12)
    R = np.random.default_rng(1).normal(size=(X.shape[0], 3))
    np.testing.assert_allclose(dense.transposed(R), R.T @ X[:, columns], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sparse.transposed(R), R.T @ X[:, columns], rtol=1e-12)


def test_curvatures_beyond_float32_are_scaled_before_its_products():
    """C = 1e40 makes the per-sample curvatures exceed float32's 3.4e38: their products on
    the dense float32 copy are taken on a power-of-two scaled copy (no overflow warning,
    the float64 product's value), and CG's sums of squares stay finite at C = 1e300."""
    problem, model, X = _model()
    columns = np.arange(0, 40, 3, dtype=np.int64)
    dense = _support_newton.ActiveColumns(problem, columns)
    assert dense.dense is not None
    rng = np.random.default_rng(0)
    D, db = rng.normal(size=(3, len(columns))), rng.normal(size=3)
    per_sample = _support_newton.curvature(model, X[:, columns] @ D.T + db)
    model.V *= 1e40
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        product, sums = dense.hessian_times(model, D, db)
        transposed = dense.transposed(1e40 * per_sample)
    expected = 1e40 * per_sample.T @ X[:, columns]
    np.testing.assert_allclose(product, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(transposed, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(sums, 1e40 * per_sample.sum(axis=0), rtol=1e-5)


@pytest.mark.parametrize("scale", [1e-20, 1e20, 1e150])
def test_values_beyond_float32_are_copied_in_float64(scale):
    """Where X's non-zero magnitudes leave DATA_RANGE the dense copy is float64 (a column
    scaled by 1e20 overflowed float32's products, 1e150 made NaN, 1e-20 lost its squares
    below float32's normal range), and its products are the definition's; inside it,
    float32."""
    X, y = _correlated()
    objective = LinearObjective(sp.csr_matrix(X), y, "multinomial", dtype=torch.float64)
    assert _support_newton.copy_dtype(proximal_newton.ColumnProblem(objective)) == np.float32
    X[:, [0, 3]] *= scale
    objective = LinearObjective(sp.csr_matrix(X), y, "multinomial", C=5.0, dtype=torch.float64)
    problem = proximal_newton.ColumnProblem(objective)
    assert problem.magnitudes == (np.abs(X).min(), np.abs(X).max())
    columns = np.arange(0, 40, 3, dtype=np.int64)
    dense = _support_newton.ActiveColumns(problem, columns)
    assert dense.dense.dtype == np.float64
    rng = np.random.default_rng(0)
    D, R = rng.normal(size=(3, len(columns))), rng.normal(size=(X.shape[0], 3))
    np.testing.assert_allclose(dense.times(D), X[:, columns] @ D.T, rtol=1e-12)
    np.testing.assert_allclose(dense.transposed(R), R.T @ X[:, columns], rtol=1e-12)


def test_a_step_too_short_to_reach_zero_is_not_an_overflow():
    """A coefficient of 1 moved towards zero by 1e-310 a unit length reaches it at 1e310,
    beyond float64: the ratio is inf (no warning), and the step blocked by the other
    coefficient, which reaches zero at 1/4096, is tried last."""
    start, direction = np.array([1.0, 1.0]), np.array([-1e-310, -4096.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trials = list(_support_newton.orthant_trials(start, direction, np.sign(start)))
    length, moved = trials[-1]
    assert length == 1 / 4096 and moved[1] == 0.0 and moved[0] == 1.0


@pytest.mark.parametrize("kind", ["binary", "multinomial"])
@pytest.mark.parametrize("scale", [1e20, 1e150])
def test_fits_with_values_beyond_float32_raise_no_runtime_warning(kind, scale):
    """Two columns scaled by ``scale``: no overflow or NaN in any product, finite
    coefficients, and the unscaled fit's accuracy (the scaled columns' coefficients shrink
    by ``scale``, so their penalty all but vanishes; the others' fit stays)."""
    X, y = _correlated(n=3000)
    y = y == 0 if kind == "binary" else y
    baseline = LogisticRegression(l1_ratio=1.0, C=0.5).fit(X, y).score(X, y)
    X[:, [0, 3]] *= scale
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(l1_ratio=1.0, C=0.5, max_iter=30).fit(X, y)
    assert np.isfinite(model.coef_).all()
    assert model.score(X, y) == pytest.approx(baseline, abs=0.01)


@pytest.mark.parametrize("C", [1e40, 1e300])
def test_fits_at_huge_C_raise_no_overflow_warning(C):
    X, y = _correlated()
    X = X[:, :12]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        model = LogisticRegression(l1_ratio=0.5, C=C, max_iter=30).fit(X, y)
    assert np.isfinite(model.coef_).all()


def test_on_many_rows_the_products_use_a_random_subset_scaled_up(monkeypatch):
    """Beyond SUBSAMPLE_MAX_ROWS rows the dense copy holds a random subset of the rows, and
    ``H v`` is the subset's, scaled by ``sum_i c_i / sum_{i in subset} c_i``."""
    monkeypatch.setattr(_support_newton, "SUBSAMPLE_MAX_ROWS", 100)
    monkeypatch.setattr(_support_newton, "SUBSAMPLE_MIN_ROWS", 50)
    monkeypatch.setattr(_support_newton, "SUBSAMPLE_FRACTION", 0.2)
    problem, model, X = _model()
    columns = np.arange(0, 40, 2, dtype=np.int64)
    subset = _support_newton.ActiveColumns(problem, columns)
    rows = subset.rows
    assert len(rows) == 100 and (np.diff(rows) > 0).all() and rows[-1] < problem.n
    np.testing.assert_array_equal(subset.dense, X[rows][:, columns].astype(np.float32))
    rng = np.random.default_rng(0)
    D, db = rng.normal(size=(3, len(columns))), rng.normal(size=3)
    per_sample = _support_newton.curvature(model, X[rows][:, columns] @ D.T + db, rows)
    scale = problem.c.sum() / problem.c[rows].sum()
    product, sums = subset.hessian_times(model, D, db)
    np.testing.assert_allclose(product, scale * per_sample.T @ X[rows][:, columns], rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(sums, scale * per_sample.sum(axis=0), rtol=1e-5, atol=1e-6)
    # the exact products (the net inputs a step is judged by) still use every row
    np.testing.assert_allclose(subset.times(D, exact=True), X[:, columns] @ D.T, rtol=1e-12)
    # a new active loop draws new rows
    assert not np.array_equal(_support_newton.ActiveColumns(problem, columns).rows, rows)


@pytest.mark.parametrize("kind", ["multinomial", "binary"])
def test_subsampled_steps_end_at_the_exact_steps_optimum(monkeypatch, kind):
    exact, exact_value, _ = _fit(kind)
    monkeypatch.setattr(_support_newton, "SUBSAMPLE_MAX_ROWS", 200)
    monkeypatch.setattr(_support_newton, "SUBSAMPLE_MIN_ROWS", 100)
    subsampled, value, optimality = _fit(kind)
    assert subsampled.converged and optimality <= 1e-9
    assert value == pytest.approx(exact_value, rel=1e-11)
    assert torch.equal(exact.theta == 0, subsampled.theta == 0)


def test_subsampled_steps_with_rows_of_weight_zero_fit_as_without_those_rows(monkeypatch):
    """Rows of weight 0 may fill a subset (the scale would divide by 0); the fit is the fit
    of the other rows."""
    monkeypatch.setattr(_support_newton, "SUBSAMPLE_MAX_ROWS", 200)
    monkeypatch.setattr(_support_newton, "SUBSAMPLE_MIN_ROWS", 100)
    X, y = _correlated(n=800, m=60, seed=2)
    weights = np.r_[np.zeros(700), np.ones(100)]
    params = {"C": 20.0, "l1_ratio": 0.5, "tol": 1e-9, "max_iter": 300}
    weighted = LogisticRegression(**params).fit(X, y, sample_weight=weights)
    kept = LogisticRegression(**params).fit(X[700:], y[700:])
    np.testing.assert_allclose(weighted.coef_, kept.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(weighted.coef_ == 0, kept.coef_ == 0)


def _fit(kind):
    X, y = _correlated(n=800, m=60, seed=2)
    targets = {"multinomial": y, "binary": y == 0}[kind]
    objective = LinearObjective(X, targets, kind, C=20.0, dtype=torch.float64)
    penalty = L1Penalty(1.0, objective.n_outputs * objective.n_features)
    result = solve(objective, "proximal-newton", max_iter=200, tol=1e-9, penalty=penalty)
    value, grad = objective.value_and_grad(result.theta)
    scaled = float(penalty.optimality(result.theta, grad).max()) / objective.gradient_scale()
    return result, float(value + penalty.value(result.theta)), scaled


@pytest.mark.parametrize("kind", ["multinomial", "binary"])
def test_fits_with_and_without_the_steps_end_at_the_same_optimum(monkeypatch, kind):
    sweeps = []
    real_sweep = proximal_newton.QuadraticModel.sweep
    monkeypatch.setattr(
        proximal_newton.QuadraticModel,
        "sweep",
        lambda self, chosen: sweeps.append(1) or real_sweep(self, chosen),
    )
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 0)  # column sweeps only
    monkeypatch.setattr(proximal_newton, "NEWTON_EVERY", 10**9)
    crawled, crawled_value, crawled_optimality = _fit(kind)
    crawled_sweeps, sweeps[:] = len(sweeps), []
    monkeypatch.setattr(proximal_newton, "NEWTON_EVERY", 3)
    stepped, stepped_value, stepped_optimality = _fit(kind)
    assert crawled.converged and stepped.converged
    assert max(crawled_optimality, stepped_optimality) <= 1e-9
    assert stepped_value == pytest.approx(crawled_value, rel=1e-11)
    assert torch.equal(crawled.theta == 0, stepped.theta == 0)
    # the steps save most sweeps: 1025 of 4497 (multinomial) and 117 of 298 (binary) on an
    # AVX2 CPU; the rounding of the products, hence the path, differs between CPUs
    assert len(sweeps) < crawled_sweeps / 2


@pytest.mark.parametrize("l1_ratio", [0.3, 1.0])
def test_a_warm_start_at_the_optimum_stays_there(l1_ratio):
    """The softmax's intercepts (and a column with all K coefficients non-zero, without an
    L2 part) are flat directions of ``H_NN``: unprojected, CG ran off along them on the
    polishing model of a fit warm-started at its optimum (a cross-validation path on iris),
    the net inputs lost precision and the fit ended 'no decrease' at 1e-6."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    objective = LinearObjective(X, y, "multinomial", C=1.0, l2_strength=1 - l1_ratio)
    penalty = L1Penalty(l1_ratio, objective.n_outputs * objective.n_features)
    first = solve(objective, "proximal-newton", max_iter=100, tol=1e-9, penalty=penalty)
    assert first.converged
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning
        again = solve(
            objective, "proximal-newton", first.theta, max_iter=100, tol=1e-9, penalty=penalty
        )
    assert again.converged

    def total(theta):
        return float(objective.value(theta) + penalty.value(theta))

    assert total(again.theta) == pytest.approx(total(first.theta), rel=1e-12)
    torch.testing.assert_close(again.theta, first.theta, rtol=0, atol=1e-7)


def test_columns_with_every_class_non_zero_are_centred_on_their_median():
    """Without L2 a softmax column's K coefficients can all shift together at no cost to the
    data term while the L1 term falls (its optimum has a zero in the column for odd K); the
    step projected that direction out and coordinate descent crawled along it: at C = 1e6
    the fit ran to max_iter (1,000 models of 1,000 sweeps) without the centring."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 10))
    y = (X @ rng.normal(size=(3, 10)).T + rng.gumbel(size=(300, 3))).argmax(1)
    objective = LinearObjective(X, y, "multinomial", C=1e6, l2_strength=0.0, dtype=torch.float64)
    penalty = L1Penalty(1.0, objective.n_outputs * objective.n_features)
    result = solve(objective, "proximal-newton", max_iter=50, tol=1e-10, penalty=penalty)
    assert result.converged
    W = result.theta[: 3 * 10].reshape(3, 10)
    assert int((W != 0).sum(dim=0).max()) == 2  # a zero in every column
    value = float(objective.value(result.theta) + penalty.value(result.theta))
    assert value == pytest.approx(128087145.2057, rel=1e-10)  # the crawl's end point (392 models)


def _tester_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 10))
    y = (X @ rng.normal(size=(3, 10)).T + rng.gumbel(size=(300, 3))).argmax(1)
    return X, y


def _steps_and_value(monkeypatch, X, y, **params):
    calls = []
    real = proximal_newton.support_newton_step
    monkeypatch.setattr(
        proximal_newton, "support_newton_step", lambda *a: calls.append(1) or real(*a)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning
        model = LogisticRegression(**params).fit(X, y)
    monkeypatch.undo()
    F = model.C * log_loss(y, model.predict_proba(X), normalize=False)
    F += params["l1_ratio"] * np.abs(model.coef_).sum()
    F += 0.5 * (1 - params["l1_ratio"]) * (model.coef_**2).sum()
    return len(calls), int(model.n_iter_.max()), F


def test_steps_that_fail_are_tried_less_often(monkeypatch):
    """Columns scaled 1e-3..1e3: coordinate descent walks coefficients to zero that every
    Newton direction crosses at lengths below the halvings (a tester's case: 3,703 steps,
    99.8% failing, 73x slower). The step to the first zero and the doubling interval after
    a failure: a handful of steps, the same optimum as without them."""
    X, y = _tester_data()
    X = X * np.logspace(-3, 3, 10)
    params = {"C": 1.0, "l1_ratio": 0.5, "tol": 1e-8}
    steps, _, value = _steps_and_value(monkeypatch, X, y, **params)
    monkeypatch.setattr(proximal_newton, "NEWTON_EVERY", 10**9)
    _, _, without = _steps_and_value(monkeypatch, X, y, **params)
    assert steps <= 40
    assert value == pytest.approx(without, rel=1e-9)


def test_a_model_takes_at_most_max_newton_steps(monkeypatch):
    """Wide sparse data at tol=1e-10: the last (polishing) model's inner tolerance is below
    rounding and it runs all MAX_SWEEPS sweeps; it pays at most MAX_NEWTON_STEPS steps
    (a tester's case: 500 steps, 33x slower than without them)."""
    rng = np.random.default_rng(5)
    X = sp.random(60, 3000, density=0.01, random_state=1, format="csr") * 5
    y = rng.integers(0, 3, 60)
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 0)  # the column sweeps (formed: test_gram_cd)
    steps, n_iter, _ = _steps_and_value(monkeypatch, X, y, C=100.0, l1_ratio=0.5, tol=1e-10)
    assert 0 < steps <= (n_iter + 1) * proximal_newton.MAX_NEWTON_STEPS


@pytest.mark.parametrize(("softmax", "K"), [(True, 5), (False, 5), (False, 1)])
def test_column_hessian_blocks_are_the_same_on_threads(softmax, K):
    """The K x K Hessian blocks of the columns, split over threads by non-zeros, are the
    one-thread blocks bit for bit, and each is the dense formula's (one sigmoid output: a
    scalar loop of its own)."""
    from softmaxreg.solvers import _column_kernels

    rng = np.random.default_rng(4)
    n, m = 3000, 120
    X = sp.random(n, m, density=0.6, format="csc", random_state=5)
    A = rng.dirichlet(np.ones(K), size=n) if softmax else rng.uniform(0.05, 0.95, (n, K))
    c = rng.uniform(0.5, 2.0, n)
    features = np.array([0, 3, 4, 17, 60, 61, 62, 119], dtype=np.int64)
    columns = (X.indptr, X.indices.astype(np.int64), X.data)
    original = _column_kernels.MIN_NONZEROS_PER_THREAD
    blocks = {}
    try:
        _column_kernels.MIN_NONZEROS_PER_THREAD = 1  # split even this small problem
        for threads in (1, 3):
            out = np.empty((len(features), K, K))
            _column_kernels.column_hessians(*columns, A, c, softmax, features, 0.7, out,
                                            threads=threads)
            blocks[threads] = out
    finally:
        _column_kernels.MIN_NONZEROS_PER_THREAD = original
    np.testing.assert_array_equal(blocks[3], blocks[1])
    dense = X.toarray()
    curvature = [np.diag(a) - np.outer(a, a) if softmax else np.diag(a * (1 - a)) for a in A]
    for t, j in enumerate(features):
        expected = sum(c[i] * dense[i, j] ** 2 * curvature[i] for i in range(n)) + 0.7 * np.eye(K)
        np.testing.assert_allclose(blocks[1][t], expected, rtol=1e-10)


@pytest.mark.parametrize("density", [1.0, 0.05])  # the dense float32 copy, the sparse columns
def test_sparse_columns_take_a_step_once_the_sweeps_cost_as_much(monkeypatch, density):
    """With a dense copy the first Newton-CG step comes after ``NEWTON_EVERY`` active
    sweeps; on sparse columns, whose products cost about a sweep each, after
    ``SPARSE_NEWTON_SWEEPS`` (a step's CG products), and each later step as many after."""
    monkeypatch.setattr(_gram_cd, "MAX_COLUMNS", 0)  # never formed: sweeps and steps only
    problem, model, _ = _model(density=density)
    at = []
    real = proximal_newton.support_newton_step
    monkeypatch.setattr(proximal_newton, "support_newton_step",
                        lambda m, *a: at.append(m.active_sweeps) or real(m, *a))
    model.solve(tolerance=1e-14, max_sweeps=200)
    first = {1.0: proximal_newton.NEWTON_EVERY, 0.05: proximal_newton.SPARSE_NEWTON_SWEEPS}
    assert len(at) >= 2 and at[0] == first[density]
    # and the steps after it as far apart (twice as far after a failed step)
    assert min(np.diff(at)) >= first[density]


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_a_model_takes_its_data_gradient_from_the_fits(l2):
    """The fit's gradient ``R^T X + alpha W`` less ``alpha W`` on the working set is the
    model's data gradient: the same bits without L2, within rounding of ``alpha W`` with."""
    X, y = _correlated()
    objective = LinearObjective(sp.csr_matrix(X), y, "multinomial", C=5.0, l2_strength=l2,
                                dtype=torch.float64)
    problem = proximal_newton.ColumnProblem(objective)
    rng = np.random.default_rng(5)
    W, b = rng.normal(size=(problem.K, problem.m)), rng.normal(size=problem.K)
    _, A, R = problem.loss(problem.net_inputs(W, b), with_activations=True)
    G, _ = problem.gradient(R, W)
    features = np.array([1, 4, 7], dtype=np.int64)
    own = proximal_newton.QuadraticModel(problem, W, b, A, R, features, 1.0)
    given = proximal_newton.QuadraticModel(
        problem, W, b, A, R, features, 1.0, G[:, features] - problem.alpha * W[:, features]
    )
    if l2 == 0:
        np.testing.assert_array_equal(given.gradient, own.gradient)
    else:
        np.testing.assert_allclose(given.gradient, own.gradient, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(own.gradient, (X[:, features].T @ R).T, rtol=1e-12)
