"""LinearObjective: value against a direct float64 formula and scikit-learn, gradient and
Hessian-vector product against torch autograd and finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import make_problem
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
from sklearn.linear_model._linear_loss import LinearModelLoss

from softmaxreg.objective import LinearObjective

N, M, K, C = 40, 5, 3, 0.7
KINDS = ("binary", "multinomial", "multilabel")


def reference_value(theta, X, y, kind, weights, fit_intercept, penalize):
    """``C sum_i s_i CE_i + 0.5 ||W||^2`` written out directly with autograd-able torch ops."""
    X = torch.as_tensor(X, dtype=torch.float64)
    K_out = 1 if kind == "binary" else K
    W = theta[: K_out * M].reshape(K_out, M)
    Z = X @ W.T + (theta[K_out * M :] if fit_intercept else 0.0)
    if kind == "multinomial":
        P = torch.exp(Z) / torch.exp(Z).sum(dim=1, keepdim=True)
        Y = torch.nn.functional.one_hot(torch.as_tensor(y), K).double()
        ce = -(Y * torch.log(P)).sum(dim=1)
    else:
        A = 1.0 / (1.0 + torch.exp(-Z))
        Y = torch.as_tensor(y, dtype=torch.float64).reshape(N, -1)
        ce = -(Y * torch.log(A) + (1 - Y) * torch.log(1 - A)).sum(dim=1)
    s = torch.ones(N, dtype=torch.float64) if weights is None else torch.as_tensor(weights)
    return C * (s * ce).sum() + (0.5 * (W**2).sum() if penalize else 0.0)


CASES = [
    (kind, sparse, weighted, fit_intercept, penalize)
    for kind in KINDS
    for sparse in (False, True)
    for weighted, fit_intercept, penalize in (
        (False, True, True),
        (True, False, True),
        (True, True, False),
    )
]


def make_objective(kind, sparse, weighted, fit_intercept, penalize):
    """``(X, y, sample_weight or None, LinearObjective)`` of one of the CASES, in float64."""
    X, y, weights = make_problem(kind)
    s = weights if weighted else None
    objective = LinearObjective(
        sp.csr_matrix(X) if sparse else X,
        y,
        kind,
        C=C,
        penalize=penalize,
        fit_intercept=fit_intercept,
        sample_weight=s,
        dtype=torch.float64,
    )
    return X, y, s, objective


@pytest.mark.parametrize("kind, sparse, weighted, fit_intercept, penalize", CASES)
def test_value_gradient_hvp_match_autograd(kind, sparse, weighted, fit_intercept, penalize):
    X, y, s, objective = make_objective(kind, sparse, weighted, fit_intercept, penalize)
    rng = np.random.default_rng(1)
    theta = torch.from_numpy(rng.normal(size=objective.n_params))
    v = torch.from_numpy(rng.normal(size=objective.n_params))

    leaf = theta.clone().requires_grad_(True)
    expected = reference_value(leaf, X, y, kind, s, fit_intercept, penalize)
    (expected_grad,) = torch.autograd.grad(expected, leaf, create_graph=True)
    (expected_hvp,) = torch.autograd.grad(expected_grad @ v, leaf)

    value, grad = objective.value_and_grad(theta)
    assert value == pytest.approx(expected.item(), rel=1e-12)
    assert objective.value(theta) == pytest.approx(expected.item(), rel=1e-12)
    torch.testing.assert_close(grad, expected_grad.detach(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        objective.hessian_vector_product(theta, v), expected_hvp, rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("kind", KINDS)
def test_gradient_and_hvp_match_finite_differences(kind):
    X, y, weights = make_problem(kind, seed=3)
    objective = LinearObjective(X, y, kind, C=C, sample_weight=weights, dtype=torch.float64)
    rng = np.random.default_rng(2)
    theta = torch.from_numpy(rng.normal(size=objective.n_params))
    v = torch.from_numpy(rng.normal(size=objective.n_params))
    h = 1e-6
    _, grad = objective.value_and_grad(theta)
    directional = (objective.value(theta + h * v) - objective.value(theta - h * v)) / (2 * h)
    assert float(grad @ v) == pytest.approx(directional, rel=1e-6)
    grad_difference = (
        objective.value_and_grad(theta + h * v)[1] - objective.value_and_grad(theta - h * v)[1]
    ) / (2 * h)
    torch.testing.assert_close(
        objective.hessian_vector_product(theta, v), grad_difference, rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("kind", ["binary", "multinomial"])
def test_value_and_gradient_equal_scikit_learn_times_c_n(kind):
    """scikit-learn's LinearModelLoss at l2_reg_strength = 1 / (C sum s) is f / (C sum s)."""
    X, y, weights = make_problem(kind, seed=5)
    objective = LinearObjective(X, y, kind, C=C, sample_weight=weights, dtype=torch.float64)
    rng = np.random.default_rng(4)
    theta = rng.normal(size=objective.n_params)
    base = HalfMultinomialLoss(n_classes=K) if kind == "multinomial" else HalfBinomialLoss()
    sk_loss = LinearModelLoss(base_loss=base, fit_intercept=True)
    W = theta[: objective.n_outputs * M].reshape(objective.n_outputs, M)
    b = theta[objective.n_outputs * M :]
    coef = np.hstack([W, b[:, None]]) if kind == "multinomial" else np.append(W[0], b)
    scale = C * weights.sum()
    sk_value, sk_grad = sk_loss.loss_gradient(
        coef.ravel(order="F") if kind == "multinomial" else coef,
        X,
        y.astype(np.float64),
        sample_weight=weights,
        l2_reg_strength=1.0 / scale,
    )
    # scikit-learn divides by the weight sum since 1.x; older releases did not
    value, grad = objective.value_and_grad(torch.from_numpy(theta))
    sk_value = (
        sk_value * scale if abs(sk_value * scale - value) < abs(sk_value - value) else sk_value
    )
    assert value == pytest.approx(sk_value, rel=1e-10)
    sk_grad = np.asarray(sk_grad).reshape(coef.shape, order="F" if kind == "multinomial" else "C")
    ours = grad.numpy()
    ours_coef = np.hstack(
        [ours[: objective.n_outputs * M].reshape(-1, M), ours[objective.n_outputs * M :, None]]
    )
    np.testing.assert_allclose(
        ours_coef.reshape(sk_grad.shape) / scale, sk_grad, rtol=1e-8, atol=1e-12
    )


def test_float32_data_gives_float64_value_close_to_float64_data():
    X, y, _ = make_problem("multinomial", seed=7)
    theta = torch.linspace(-1, 1, K * (M + 1), dtype=torch.float64)
    exact = LinearObjective(X, y, "multinomial", dtype=torch.float64).value_and_grad(theta)
    single = LinearObjective(X, y, "multinomial", dtype=torch.float32).value_and_grad(theta)
    assert isinstance(single[0], float)
    assert single[1].dtype == torch.float64
    assert single[0] == pytest.approx(exact[0], rel=1e-6)
    torch.testing.assert_close(single[1], exact[1], rtol=1e-4, atol=1e-4)


def test_batch_gradient_is_mean_cross_entropy_gradient():
    """penalize=False, no weights: the lecture's F.cross_entropy(logits, y) on the batch."""
    X, y, _ = make_problem("multinomial", seed=8)
    objective = LinearObjective(X, y, "multinomial", penalize=False, dtype=torch.float64)
    rows = torch.tensor([3, 7, 11, 20])
    theta = torch.linspace(-0.5, 0.5, objective.n_params, dtype=torch.float64)
    leaf = theta.clone().requires_grad_(True)
    W, b = leaf[: K * M].view(K, M), leaf[K * M :]
    logits = torch.from_numpy(X)[rows] @ W.T + b
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)[rows])
    (expected,) = torch.autograd.grad(loss, leaf)
    value, grad = objective.batch_value_and_grad(theta, rows)
    assert float(value) == pytest.approx(loss.item(), rel=1e-12)
    torch.testing.assert_close(grad, expected)


def test_batch_gradients_average_to_scaled_full_gradient():
    X, y, weights = make_problem("multilabel", seed=9)
    objective = LinearObjective(X, y, "multilabel", C=C, sample_weight=weights, dtype=torch.float64)
    theta = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    halves = [torch.arange(0, N // 2), torch.arange(N // 2, N)]
    mean_grad = sum(objective.batch_value_and_grad(theta, r)[1] for r in halves) / 2
    full = objective.value_and_grad(theta)[1] / (C * N)
    torch.testing.assert_close(mean_grad, full)


def test_subsampled_hessian_on_all_rows_is_exact_and_diagonal_is_diag_h():
    X, y, weights = make_problem("multinomial", seed=10)
    objective = LinearObjective(
        X, y, "multinomial", C=C, sample_weight=weights, dtype=torch.float64
    )
    theta = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    hvp, diagonal = objective.hessian_operator(theta, torch.arange(N), with_diagonal=True)
    eye = torch.eye(objective.n_params, dtype=torch.float64)
    H = torch.stack([objective.hessian_vector_product(theta, e) for e in eye])
    torch.testing.assert_close(torch.stack([hvp(e) for e in eye]), H)
    torch.testing.assert_close(diagonal, torch.diagonal(H))


def test_pack_unpack_round_trip():
    X, y, _ = make_problem("multinomial")
    objective = LinearObjective(X, y, "multinomial")
    W = torch.arange(K * M, dtype=torch.float64).reshape(K, M)
    b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    theta = objective.pack(W, b)
    assert objective.n_params == theta.numel() == K * (M + 1)
    W2, b2 = objective.unpack(theta)
    torch.testing.assert_close(W2, W)
    torch.testing.assert_close(b2, b)


@pytest.mark.parametrize(
    "kind, targets, match",
    [
        ("binary", np.array([0.0, 2.0]), "0 or 1"),
        ("multinomial", np.array([0.5, 1.0]), "integer class indices"),
        ("multinomial", np.array([0, 0]), "at least 2 classes"),
        ("multilabel", np.array([0.0, 1.0]), r"shape \(2, K\)"),
        ("ordinal", np.array([0, 1]), "kind must be one of"),
    ],
)
def test_bad_targets_are_rejected_with_a_clear_message(kind, targets, match):
    with pytest.raises(ValueError, match=match):
        LinearObjective(np.ones((2, 3)), targets, kind)


def test_bad_weights_and_c_are_rejected():
    X, y = np.ones((2, 3)), np.array([0.0, 1.0])
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        LinearObjective(X, y, "binary", sample_weight=[1.0])
    with pytest.raises(ValueError, match="finite and >= 0"):
        LinearObjective(X, y, "binary", sample_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="C must be a positive"):
        LinearObjective(X, y, "binary", C=0.0)
    with pytest.raises(TypeError, match="X must hold numbers"):
        LinearObjective(np.array([["a", "b"], ["c", "d"]]), y, "binary")


def _block_layout(matrix, n_outputs, fit_intercept):
    """A matrix over theta = [vec(W), b] reordered to the (K, p, K, p) blocks [w_k, b_k]."""
    order = []
    for k in range(n_outputs):
        order += [k * M + j for j in range(M)]
        if fit_intercept:
            order.append(n_outputs * M + k)
    p = M + int(fit_intercept)
    return matrix[order][:, order].reshape(n_outputs, p, n_outputs, p)


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("kind, sparse, weighted, fit_intercept, penalize", CASES)
def test_hessian_matrix_and_score_outer_product_match_autograd(
    kind, sparse, weighted, fit_intercept, penalize
):
    X, y, s, objective = make_objective(kind, sparse, weighted, fit_intercept, penalize)
    theta = torch.from_numpy(np.random.default_rng(1).normal(size=objective.n_params))
    expected = torch.autograd.functional.hessian(
        lambda t: reference_value(t, X, y, kind, s, fit_intercept, penalize), theta
    )
    K_out = objective.n_outputs
    blocks = _block_layout(expected, K_out, fit_intercept)
    torch.testing.assert_close(objective.hessian_matrix(theta), blocks, rtol=1e-10, atol=1e-10)
    # the same matrix in theta's own order (W row by row, then b), for the composite solver
    torch.testing.assert_close(
        objective.hessian_in_theta_order(theta), expected, rtol=1e-10, atol=1e-10
    )
    kept = [1, 2] if kind == "multinomial" else [0]
    torch.testing.assert_close(
        objective.hessian_matrix(theta, outputs=kept),
        blocks[kept][:, :, kept],
        rtol=1e-10,
        atol=1e-10,
    )

    # scores g_i = -d CE_i / d theta, one sample at a time: sum_i s_i g_i g_i^T
    def per_sample_losses(t):  # CE_i: the objective with weight 1 on sample i only
        return torch.stack(
            [
                reference_value(t, X, y, kind, np.eye(N)[i], fit_intercept, False) / C
                for i in range(N)
            ]
        )

    unweighted = torch.autograd.functional.jacobian(per_sample_losses, theta, vectorize=True)
    weight = np.ones(N) if s is None else s
    meat = sum(w * torch.outer(g, g) for w, g in zip(weight, unweighted, strict=True))
    torch.testing.assert_close(
        objective.score_outer_product(theta),
        _block_layout(meat, K_out, fit_intercept),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_float32_products_scaled_by_a_huge_c_stay_finite(sparse):
    """C times a float32 product exceeds float32's range (1e34 x 1e6): the gradient and
    H v are accumulated in float64, as for float64 data."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3)) * 1e4
    y = np.arange(200) % 3
    theta = torch.from_numpy(rng.normal(size=12) * 1e-4)
    wide = LinearObjective(X, y, "multinomial", C=1e34, dtype=torch.float64)
    X32 = sp.csr_matrix(X, dtype=np.float32) if sparse else X.astype(np.float32)
    narrow = LinearObjective(X32, y, "multinomial", C=1e34, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, grad = narrow.value_and_grad(theta)
        product = narrow.hessian_vector_product(theta, theta)
    torch.testing.assert_close(grad, wide.value_and_grad(theta)[1], rtol=1e-4, atol=0)
    torch.testing.assert_close(product, wide.hessian_vector_product(theta, theta), rtol=1e-3,
                               atol=0)
