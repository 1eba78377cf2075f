"""The first quadratic model of an L1 fit from ``W = 0`` (``_zero_start``): on its exact
Kronecker-factored Hessian it reaches the minimum the column sweeps reach, with the same
net-input change ``Q`` (and ``S``) that the line search reads; a fit from zero uses it."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning

from softmaxreg import LogisticRegression
from softmaxreg.objective import LinearObjective
from softmaxreg.penalties import L1Penalty
from softmaxreg.solvers import _zero_start, solve

pytestmark = pytest.mark.usefixtures("one_torch_thread")
proximal_newton = importlib.import_module("softmaxreg.solvers.proximal_newton")
K, N, M = 4, 400, 40


def _model_at_zero(kind, fit_intercept, weighted, l2_strength, lam=1.0):
    """A quadratic model at ``W = 0`` (random intercepts) over the violating columns."""
    rng = np.random.default_rng(0)
    X = sp.random(N, M, density=0.2, random_state=0, format="csr") * 3
    y = rng.integers(0, K, N)
    targets = {
        "multinomial": y,
        "multilabel": (rng.random((N, K)) < 0.3).astype(float),
        "binary": (y % 2).astype(float),
    }[kind]
    weights = torch.tensor(rng.uniform(0.2, 2.0, N)) if weighted else None
    objective = LinearObjective(
        X, targets, kind, C=2.0, l2_strength=l2_strength, fit_intercept=fit_intercept,
        sample_weight=weights, dtype=torch.float64,
    )  # fmt: skip
    problem = proximal_newton.ColumnProblem(objective)
    W = np.zeros((problem.K, M))
    b = rng.normal(size=problem.K) if fit_intercept else np.zeros(problem.K)
    _, A, R = problem.loss(problem.net_inputs(W, b), with_activations=True)
    G, _ = problem.gradient(R, W)
    features = proximal_newton.working_set(W, G, lam, 12)
    return proximal_newton.QuadraticModel(problem, W, b, A, R, features, lam, G[:, features])


@pytest.mark.parametrize("kind", ["multinomial", "multilabel", "binary"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l2_strength", [0.0, 0.5])
def test_the_factored_model_ends_where_the_column_sweeps_do(
    kind, fit_intercept, weighted, l2_strength
):
    swept = _model_at_zero(kind, fit_intercept, weighted, l2_strength)
    factored = _model_at_zero(kind, fit_intercept, weighted, l2_strength)
    swept.solve(1e-13, 1000)
    sweeps = factored.solve_at_zero(1e-13, 1000)
    assert 1 <= sweeps <= 1000
    assert not factored.formed and factored.active_sweeps == sweeps - 1
    value = swept.value(swept.U, swept.Q, swept.S)
    assert value < 0  # the model moved
    assert factored.value(factored.U, factored.Q, factored.S) == pytest.approx(value, rel=1e-9)
    # Q and S are the net-input change of the factored model's own U and Ub
    problem = factored.problem
    X = sp.csc_matrix((problem.data, problem.indices, problem.indptr), shape=(N, M))
    Q = X @ (factored.U - factored.W).T + (factored.Ub - factored.b)
    np.testing.assert_allclose(factored.Q, Q, atol=1e-12)
    S = (factored.A * Q).sum(axis=1) if problem.softmax else 0.0
    np.testing.assert_allclose(factored.S, S, atol=1e-12)
    if kind != "multinomial" or l2_strength:  # (without L2 the softmax's minimum is a line)
        np.testing.assert_allclose(factored.U, swept.U, atol=1e-5)
    np.testing.assert_array_equal(factored.U[:, ~np.isin(np.arange(M), factored.features)], 0)


def test_the_feature_gram_is_the_weighted_product_with_a_column_of_ones(monkeypatch):
    """``X~^T C X~`` summed over blocks of rows (a block of 7 rows here) is the product."""
    monkeypatch.setattr(_zero_start, "BLOCK_ELEMENTS", 7 * 6)
    model = _model_at_zero("multinomial", True, True, 0.0)
    problem, columns = model.problem, np.array([0, 3, 4, 9, 39], dtype=np.int64)
    X = sp.csc_matrix((problem.data, problem.indices, problem.indptr), shape=(N, M))
    B = np.hstack([X[:, columns].toarray(), np.ones((N, 1))])
    expected = B.T @ (problem.c[:, None] * B)
    np.testing.assert_allclose(_zero_start.feature_gram(problem, columns, True), expected)
    np.testing.assert_allclose(
        _zero_start.feature_gram(problem, columns, False), expected[:-1, :-1]
    )


def test_a_fit_from_zero_solves_its_first_model_factored(monkeypatch):
    """Only the first model of a softmax fit from ``W = 0`` (every row the same
    activations) is solved on the factored Hessian; a warm start from non-zero
    coefficients is not, nor a binary fit."""
    calls = []
    real = proximal_newton.QuadraticModel.solve_at_zero
    monkeypatch.setattr(
        proximal_newton.QuadraticModel, "solve_at_zero",
        lambda self, *a: calls.append(self.W.any()) or real(self, *a),
    )  # fmt: skip
    X = sp.random(N, M, density=0.2, random_state=1, format="csr") * 3
    y = np.random.default_rng(1).integers(0, K, N)
    objective = LinearObjective(X, y, "multinomial", C=2.0, l2_strength=0.0, dtype=torch.float64)
    penalty = L1Penalty(1.0, objective.n_outputs * objective.n_features)
    options = {"penalty": penalty, "max_iter": 100, "tol": 1e-8}
    result = solve(objective, "proximal-newton", **options)
    assert result.converged and result.n_iter > 1 and calls == [False]
    calls.clear()
    warm = solve(objective, "proximal-newton", result.theta, **options)
    assert warm.converged and calls == []
    # sigmoid outputs form their blocks on the active columns at once (binary text-like L1:
    # forming X~^T C X~ on all 256 working columns cost more than the model's sweeps)
    binary = LinearObjective(X, y == 0, "binary", C=2.0, l2_strength=0.0, dtype=torch.float64)
    options["penalty"] = L1Penalty(1.0, binary.n_features)
    assert solve(binary, "proximal-newton", **options).converged and calls == []


def test_correlated_columns_are_solved_with_newton_steps_on_the_support():
    """On correlated columns plain coordinate descent crawls (MNIST's pixels: the fit's
    first model left it 16 outer iterations against 7); the factored solve forms the
    non-zero coordinates' block between sweeps and reaches the column sweeps' minimum in
    as few sweeps as they take."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(N, 3))
    X = base[:, rng.integers(0, 3, M)] + 0.3 * rng.normal(size=(N, M))
    y = (base[:, 0] > 0).astype(int) + 2 * (base[:, 1] > 0)

    def model():
        objective = LinearObjective(X, y, "multinomial", C=1.0, l2_strength=0.1,
                                    dtype=torch.float64)  # fmt: skip
        problem = proximal_newton.ColumnProblem(objective)
        W, b = np.zeros((K, M)), np.zeros(K)
        _, A, R = problem.loss(problem.net_inputs(W, b), with_activations=True)
        G, _ = problem.gradient(R, W)
        features = proximal_newton.working_set(W, G, 1.0, 12)
        return proximal_newton.QuadraticModel(problem, W, b, A, R, features, 1.0, G[:, features])

    swept, factored, plain = model(), model(), model()
    assert swept.solve(1e-6, 1000) < 100
    assert factored.solve_at_zero(1e-6, 1000) < 100
    value = swept.value(swept.U, swept.Q, swept.S)
    assert factored.value(factored.U, factored.Q, factored.S) == pytest.approx(value, rel=1e-9)
    problem, p = plain.problem, len(plain.features)
    gram = _zero_start.feature_gram(problem, plain.features, True)
    grad = np.concatenate([plain.gradient, plain.R.sum(axis=0)[:, None]], axis=1)
    curvature, P = _zero_start.curvature_at(problem, plain.A[0]), np.zeros((K, p + 1))
    changes = [_zero_start.kronecker_sweep(gram, curvature, grad, P, 1.0, 0.1, p)
               for _ in range(500)]  # fmt: skip
    assert min(changes) > 1e-4  # (plain sweeps: far from it after 500)


def test_a_factor_beyond_float64_falls_back_to_the_column_sweeps():
    """A column of ~1e160 makes X~^T C X~ overflow: the first model is swept on the data
    instead, without a numpy warning, and the fit is the one without that column (its
    coefficient is zero; the rule on the subgradient is out of float64's reach there, as
    before: a ConvergenceWarning)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 6))
    y = np.argmax(X[:, :3] + rng.gumbel(size=(150, 3)), axis=1)
    huge = X.copy()
    huge[:, 5] *= 1e160
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # (no numpy overflow warning)
        warnings.simplefilter("ignore", ConvergenceWarning)  # (1e160 x: beyond float64's
        model = LogisticRegression(l1_ratio=1.0).fit(huge, y)  # subgradient rule)
    plain = LogisticRegression(l1_ratio=1.0).fit(X[:, :5], y)
    assert (model.coef_[:, 5] == 0).all()
    np.testing.assert_allclose(model.coef_[:, :5], plain.coef_, atol=1e-6)
    objective = LinearObjective(huge, y, "multinomial", C=1.0, l2_strength=0.0,
                                dtype=torch.float64)  # fmt: skip
    problem = proximal_newton.ColumnProblem(objective)
    W, b = np.zeros((3, 6)), np.zeros(3)
    _, A, R = problem.loss(problem.net_inputs(W, b), with_activations=True)
    G, _ = problem.gradient(R, W)
    features = np.arange(6, dtype=np.int64)
    factored = proximal_newton.QuadraticModel(problem, W, b, A, R, features, 1.0, G)
    assert _zero_start.solve_at_zero(factored, 1e-8, 100) is None
    assert (factored.U == 0).all() and (factored.Q == 0).all()
