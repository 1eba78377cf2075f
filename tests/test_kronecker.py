"""Newton-CG's Kronecker-factored preconditioner: its factors against direct formulas, exact
inversion where the Kronecker product is the Hessian, where it applies (and the hostile
inputs where it must not), the objective's kept net inputs, bfloat16 products, the
polishing step's budget, and L-BFGS started from it."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import make_problem

from softmaxreg.objective import LinearObjective
from softmaxreg.solvers._kronecker import KroneckerPreconditioner, kronecker_preconditioner

N, M, K, C = 60, 4, 3, 0.8


def _problem(kind, seed=0):
    return make_problem(kind, seed, n=N, m=M, k=K)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_factors_match_their_formulas(sparse, fit_intercept):
    X, y, weights = _problem("multinomial")
    objective = LinearObjective(sp.csr_matrix(X) if sparse else X, y, "multinomial", C=C,
                                fit_intercept=fit_intercept, sample_weight=weights,
                                dtype=torch.float64)
    rows = torch.tensor([1, 4, 5, 17, 30, 59])
    X_tilde = np.column_stack([X, np.ones(N)]) if fit_intercept else X
    s = weights[rows.numpy()]
    expected_gram = (X_tilde[rows.numpy()].T * s) @ X_tilde[rows.numpy()] / s.sum()
    np.testing.assert_allclose(objective.feature_gram(rows).numpy(), expected_gram, rtol=1e-12)
    theta = 0.3 * torch.randn(objective.n_params, generator=torch.Generator().manual_seed(1),
                              dtype=torch.float64)
    W, b = objective.unpack(theta)
    Z = X @ W.numpy().T + (b.numpy() if fit_intercept else 0.0)
    A = np.exp(Z - Z.max(axis=1, keepdims=True))
    A /= A.sum(axis=1, keepdims=True)
    expected = C * sum(w * (np.diag(a) - np.outer(a, a)) for w, a in zip(weights, A, strict=True))
    np.testing.assert_allclose(objective.output_curvature(theta).numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["binary", "multinomial", "multilabel"])
def test_at_zero_without_intercept_it_inverts_the_hessian_exactly(kind):
    """At theta = 0 every sample has the same curvature H_i, so A (x) S + I is the Hessian."""
    X, y, weights = _problem(kind)
    objective = LinearObjective(X, y, kind, C=C, fit_intercept=False, sample_weight=weights,
                                dtype=torch.float64)
    theta = objective.zeros()
    gram = objective.feature_gram(torch.arange(N))
    precondition = KroneckerPreconditioner(objective, gram).at(theta)
    hvp = objective.hessian_operator(theta)[0]
    generator = torch.Generator().manual_seed(2)
    for _ in range(3):
        v = torch.randn(objective.n_params, generator=generator, dtype=torch.float64)
        torch.testing.assert_close(precondition(hvp(v)), v, rtol=1e-10, atol=1e-10)


def test_it_applies_only_where_its_decomposition_is_cheap():
    generator = torch.Generator().manual_seed(0)
    X, y, _ = _problem("multinomial")
    assert kronecker_preconditioner(LinearObjective(X, y, "multinomial"), generator) is not None
    wide = np.random.default_rng(0).normal(size=(N, 300))
    # 301^2 > 10 passes of 60 x 301 x 3 flops: the decomposition would cost more than it saves
    assert kronecker_preconditioner(LinearObjective(wide, y, "multinomial"), generator) is None


def test_features_that_overflow_the_gram_matrix_fall_back_to_jacobi():
    X, y, _ = _problem("multinomial")
    huge = LinearObjective(X * 1e25, y, "multinomial", dtype=torch.float32)
    assert kronecker_preconditioner(huge, torch.Generator().manual_seed(0)) is None
    # the fit goes on (before the check: torch.linalg.eigh failed on the infinite matrix)
    from sklearn.exceptions import ConvergenceWarning

    from softmaxreg import LogisticRegression

    with pytest.warns(ConvergenceWarning, match="newton-cg' did not converge"):
        LogisticRegression().fit((X * 1e25).astype(np.float32), y)


def test_the_hessian_reuses_net_inputs_only_at_the_same_theta():
    X, y, weights = _problem("multinomial")
    kept = LinearObjective(X, y, "multinomial", C=C, sample_weight=weights, dtype=torch.float64)
    fresh = LinearObjective(X, y, "multinomial", C=C, sample_weight=weights, dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    theta, other, v = (torch.randn(kept.n_params, generator=generator, dtype=torch.float64)
                       for _ in range(3))
    kept.value_and_grad(theta)
    for point in (theta, other):
        torch.testing.assert_close(kept.hessian_operator(point)[0](v),
                                   fresh.hessian_operator(point)[0](v), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(kept.output_curvature(point), fresh.output_curvature(point),
                                   rtol=1e-13, atol=1e-13)


def test_rounded_products_far_from_the_optimum_reach_the_same_optimum(monkeypatch):
    """Large data: CG's products run on a rounded copy of X (bfloat16 where the CPU has
    native bfloat16 products, else float32 for float64 X) while its tolerance is loose; the
    fit ends where the full-precision fit ends (the gradient and the stopping rule stay
    exact)."""
    import softmaxreg._design.matrix as design_matrix
    from softmaxreg import LogisticRegression
    from softmaxreg.solvers.newton_cg import LOW_PRECISION_MIN_SIZE

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 60)) * rng.uniform(0.1, 3.0, 60)
    y = (X @ rng.normal(size=(60, 4)) + rng.gumbel(size=(20_000, 4))).argmax(axis=1)
    assert X.size >= LOW_PRECISION_MIN_SIZE
    fits, copies = {}, []
    make_copy = design_matrix.DenseDesign.low_precision

    def counted(design):
        copy = make_copy(design)
        copies.append(None if copy is None else copy.X.dtype)
        return copy

    monkeypatch.setattr(design_matrix.DenseDesign, "low_precision", lambda design: None)
    exact = LogisticRegression(tol=1e-7).fit(X, y)
    monkeypatch.setattr(design_matrix.DenseDesign, "low_precision", counted)
    for native, dtype in ((False, torch.float32), (True, torch.bfloat16)):
        monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda native=native: native)
        fits[native] = LogisticRegression(tol=1e-7).fit(X, y)
        assert dtype in copies and set(copies) <= {dtype, None}  # used, and only that copy
        copies.clear()
        assert fits[native].n_iter_[0] <= exact.n_iter_[0] + 2
        np.testing.assert_allclose(fits[native].coef_, exact.coef_, rtol=0, atol=2e-5)


def test_lbfgs_starts_its_two_loop_recursion_from_the_kronecker_inverse():
    """solver='lbfgs' where the Kronecker Hessian applies: scikit-learn's optimum in a
    fraction of its iterations (digits / 16: 53 against 301 at tol=1e-8)."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

    from softmaxreg import LogisticRegression

    X, y = load_digits(return_X_y=True)
    X = X / 16
    objective = LinearObjective(X, y, "multinomial")
    assert kronecker_preconditioner(objective, torch.Generator().manual_seed(0)) is not None
    theirs = SklearnLogisticRegression(tol=1e-8, max_iter=5000).fit(X, y)
    ours = LogisticRegression(solver="lbfgs", tol=1e-8, dtype="float64").fit(X, y)
    assert ours.n_iter_[0] * 3 < theirs.n_iter_[0]
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=0, atol=1e-4)


def test_newton_cg_polishing_step_costs_at_most_the_fit_so_far(monkeypatch):
    """Wide sparse data (no exact polishing, no Kronecker): the final tight CG solve is
    limited to the CG iterations spent before it (it took 200, three times the fit)."""
    from softmaxreg.bench.synthetic import text_like

    # the module itself: the package's attribute of that name is the solver function
    module = importlib.import_module("softmaxreg.solvers.newton_cg")
    X, y = text_like(1500, 2**12, n_classes=5, words_per_row=60)[:2]
    objective = LinearObjective(X.astype(np.float32), y, "multinomial", C=10.0)
    assert kronecker_preconditioner(objective, torch.Generator()) is None
    calls = []
    real_cg = module.preconditioned_cg

    def recorded(hvp, rhs, precondition, tolerance, max_iter):
        direction, iterations = real_cg(hvp, rhs, precondition, tolerance, max_iter)
        calls.append((max_iter, iterations))
        return direction, iterations

    monkeypatch.setattr(module, "preconditioned_cg", recorded)
    result = module.newton_cg(objective, objective.zeros(), tol=1e-4)
    assert result.converged
    *fit, polish = calls
    spent = sum(iterations for _, iterations in fit)
    assert all(limit == module.MAX_CG_ITER for limit, _ in fit)
    assert polish[0] == min(module.MAX_CG_ITER, max(module.POLISH_MIN_CG_ITER, spent)) < 200


def test_half_precision_objectives_get_their_gram_matrix_in_float32():
    """NumPy has no bfloat16: the Gram matrix of a bfloat16 objective is a torch product."""
    X, y, _ = _problem("multinomial")
    rows = torch.arange(N)
    single = LinearObjective(X, y, "multinomial", dtype=torch.float32).feature_gram(rows)
    for dtype in (torch.bfloat16, torch.float16):
        half = LinearObjective(X, y, "multinomial", dtype=dtype).feature_gram(rows)
        torch.testing.assert_close(half, single, rtol=2e-2, atol=2e-2)


def _blobs(n, m, K, sep=1.0, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    return X, (X @ rng.normal(size=(K, m)).T * sep + rng.gumbel(size=(n, K))).argmax(axis=1)


def test_features_on_wildly_different_scales_keep_the_diagonal_preconditioner():
    """A Unix-timestamp column beside the intercept (second moments 3e18 against 1): the
    Kronecker product is far from H in the small directions (the tester's finding: 1000
    iterations and a worse optimum); the diagonal preconditioner converges in 11."""
    from softmaxreg import LogisticRegression

    rng = np.random.default_rng(0)
    X = np.c_[1.7e9 + 3e7 * rng.random(5000), rng.normal(size=(5000, 5))]
    y = (X[:, 1] + rng.logistic(size=5000) > 0).astype(int)
    assert kronecker_preconditioner(LinearObjective(X, y, "binary"), torch.Generator()) is None
    model = LogisticRegression().fit(X, y)
    z = X @ model.coef_.ravel() + model.intercept_[0]
    value = np.logaddexp(0, z).sum() - (y * z).sum() + 0.5 * (model.coef_**2).sum()
    assert model.n_iter_[0] < 50
    assert value == pytest.approx(2958.4529, abs=1e-3)


def test_gram_rows_are_drawn_from_rows_with_weight():
    X, y = _blobs(30_000, 10, 3, sep=0.3)
    heavy = np.zeros(30_000)
    heavy[:300] = 1.0
    objective = LinearObjective(X, y, "multinomial", sample_weight=heavy, dtype=torch.float64)
    preconditioner = kronecker_preconditioner(objective, torch.Generator().manual_seed(0))
    X_tilde = np.c_[X[:300], np.ones(300)]
    np.testing.assert_allclose(preconditioner.feature_values.numpy(),
                               np.linalg.eigvalsh(X_tilde.T @ X_tilde / 300), rtol=1e-9)
    nobody = LinearObjective(X, y, "multinomial", sample_weight=np.zeros(30_000))
    assert kronecker_preconditioner(nobody, torch.Generator()) is None


def test_unpenalised_softmax_fits_end_centred_in_memory_and_sharded():
    """Without a penalty f is flat along the class mean of W: CG's rounding drifted there
    (a sharded fit's class sums reached 55); the result is the centred representative."""
    from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

    from softmaxreg.distributed.row_sources import ArrayRows
    from softmaxreg.distributed.train import fit_sharded

    X, y = _blobs(12_000, 20, 4, sep=0.5)
    X = X.astype(np.float32)
    sharded = fit_sharded(ArrayRows(X, y, np.arange(4)), tol=1e-6, C=np.inf)
    theirs = SklearnLogisticRegression(C=np.inf, tol=1e-10, max_iter=100_000).fit(
        X.astype(np.float64), y)
    assert np.abs(sharded.coef_.sum(axis=0)).max() < 1e-6
    np.testing.assert_allclose(sharded.coef_, theirs.coef_, rtol=0,
                               atol=1e-4 * np.abs(theirs.coef_).max())


def test_bfloat16_products_are_skipped_where_x_does_not_fit_bfloat16(monkeypatch):
    """float64 values beyond float32's range overflow a bfloat16 copy (the fit stopped at
    iteration 0 with zero coefficients): the products stay in float64 there."""
    import softmaxreg._design.matrix as design_matrix
    from softmaxreg import LogisticRegression

    monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda: True)
    X, y = _blobs(25_000, 40, 3, sep=0.5)
    big = LinearObjective(X * 1e39, y, "multinomial", dtype=torch.float64)
    assert big.design.low_precision() is None
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="line search found no decrease"):
        model = LogisticRegression(dtype="float64", C=1e80).fit(X * 1e39, y)  # as before
    # the same problem as C * 1e78 = 1e158 on X: unpenalised in effect
    reference = LogisticRegression(dtype="float64", C=np.inf, tol=1e-6).fit(X, y)
    np.testing.assert_allclose(model.coef_ * 1e39, reference.coef_, rtol=0, atol=1e-2)


def test_bfloat16_products_only_while_the_kronecker_model_is_well_conditioned(monkeypatch):
    """C=1e4 on 30000 x 50: the model's condition 6.7e7 > 1e6; rounded products took 13
    iterations against 7 there, so they stay exact."""
    import softmaxreg._design.matrix as design_matrix
    from softmaxreg import LogisticRegression

    monkeypatch.setattr(design_matrix, "fast_bfloat16_products", lambda: True)
    X, y = _blobs(30_000, 50, 5, sep=0.3)
    used = []
    make_copy = design_matrix.DenseDesign.low_precision
    monkeypatch.setattr(design_matrix.DenseDesign, "low_precision",
                        lambda design: used.append(1) or make_copy(design))
    LogisticRegression(C=1e4).fit(X, y)
    assert not used
    LogisticRegression(C=1.0).fit(X, y)
    assert used
