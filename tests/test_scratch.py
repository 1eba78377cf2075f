"""softmaxreg.scratch: the manual-gradient models against the slides, autograd and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

from softmaxreg import functional as F
from softmaxreg.scratch import (
    IndependentSigmoids,
    LogisticRegression,
    OneVsAll,
    SoftmaxRegression,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def blobs(n_per_class: int, centers: list[list[float]], spread: float, seed: int):
    """Gaussian blobs (float64) with labels 0..K-1, in class order."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, spread, size=(n_per_class, len(c))) for c in centers])
    y = np.repeat(np.arange(len(centers)), n_per_class)
    return X, y


@pytest.fixture
def binary_data():
    return blobs(30, [[-1.0, -0.5], [1.0, 0.8]], 1.2, seed=1)


@pytest.fixture
def three_class_data():
    return blobs(40, [[-2.0, 0.0], [2.0, 0.5], [0.0, 2.5]], 1.3, seed=2)


# ----------------------------------------------------------------------------------------
# LogisticRegression
# ----------------------------------------------------------------------------------------


def test_logistic_regression_starts_at_zero():
    model = LogisticRegression(3)
    assert model.weights.shape == (1, 3) and model.bias.shape == (1,)
    assert model.weights.dtype == torch.float32
    assert not model.weights.any() and not model.bias.any()
    np.testing.assert_array_equal(model.predict_proba(np.ones((2, 3))), [0.5, 0.5])


def test_logistic_backward_is_the_lecture_gradient_and_matches_autograd(binary_data):
    X, y = binary_data
    model = LogisticRegression(2, dtype=torch.float64)
    model.weights[:] = torch.tensor([[0.3, -0.7]])
    model.bias[:] = 0.2
    probas = model.forward(X)
    grad_w, grad_b = model.backward(X, y, probas)

    w = model.weights.clone().requires_grad_(True)
    b = model.bias.clone().requires_grad_(True)
    logits = torch.from_numpy(X) @ w[0] + b[0]
    loss = F.binary_cross_entropy_from_logits(logits, torch.from_numpy(y).double(), "sum")
    autograd_w, autograd_b = torch.autograd.grad(loss, (w, b))
    torch.testing.assert_close(grad_w, autograd_w, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_b, autograd_b, rtol=1e-12, atol=1e-12)

    # one sample: grad_w = -(y - y_hat) x, grad_b = -(y - y_hat), dL/dz = a - y
    a0 = float(probas[0])
    grad_w0, grad_b0 = model.backward(X[:1], y[:1], probas[:1])
    np.testing.assert_allclose(grad_w0[0].numpy(), -(y[0] - a0) * X[0], rtol=1e-14)
    assert float(grad_b0[0]) == pytest.approx(-(y[0] - a0), rel=1e-14)


def slide_learning_rule(X, y, num_epochs, eta):
    """The slide's per-sample rule written out with Python floats, independent of the library."""
    w = [0.0] * X.shape[1]
    b = 0.0
    for _ in range(num_epochs):
        for x_i, y_i in zip(X.tolist(), y.tolist(), strict=True):
            y_hat = 1.0 / (
                1.0 + math.exp(-(sum(wj * xj for wj, xj in zip(w, x_i, strict=True)) + b))
            )
            grad_w = [-(y_i - y_hat) * xj for xj in x_i]
            grad_b = -(y_i - y_hat)
            w = [wj + eta * (-gj) for wj, gj in zip(w, grad_w, strict=True)]
            b = b + eta * (-grad_b)
    return np.array(w), b


def test_per_sample_training_is_the_slides_learning_rule_in_its_order(binary_data):
    X, y = binary_data
    model = LogisticRegression(2, dtype=torch.float64)
    trace = model.train(X, y, num_epochs=3, learning_rate=0.1, batch_size=1)
    w, b = slide_learning_rule(X, y, num_epochs=3, eta=0.1)
    np.testing.assert_allclose(model.weights[0].numpy(), w, rtol=1e-12)
    assert float(model.bias[0]) == pytest.approx(b, rel=1e-12)
    assert len(trace) == 3


def test_full_batch_summed_gradient_equals_mean_gradient_with_n_times_the_rate(binary_data):
    X, y = binary_data
    n = X.shape[0]
    summed = LogisticRegression(2, dtype=torch.float64)
    summed_trace = summed.train(X, y, 20, 0.01, gradient="sum")
    mean = LogisticRegression(2, dtype=torch.float64)
    mean_trace = mean.train(X, y, 20, 0.01 * n, gradient="mean")
    torch.testing.assert_close(summed.weights, mean.weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(summed_trace, mean_trace, rtol=1e-12)
    # one full-batch step by hand: w := w - eta * sum_i (a_i - y_i) x_i from w = 0 (a = 0.5)
    one_step = LogisticRegression(2, dtype=torch.float64)
    one_step.train(X, y, 1, 0.01, gradient="sum")
    np.testing.assert_allclose(one_step.weights[0].numpy(), -0.01 * ((0.5 - y) @ X), rtol=1e-12)


def test_cost_trace_is_the_mean_loss_after_each_epoch_and_decreases(binary_data):
    X, y = binary_data
    model = LogisticRegression(2, dtype=torch.float64)
    trace = model.train(X, y, 25, 0.05, gradient="mean")
    assert all(later < earlier for earlier, later in zip(trace, trace[1:], strict=False))
    probas = model.predict_proba(X).numpy()
    log_loss = -np.mean(y * np.log(probas) + (1 - y) * np.log(1 - probas))
    assert trace[-1] == pytest.approx(log_loss, rel=1e-12)
    assert model.cost(X, y) == pytest.approx(log_loss, rel=1e-12)
    # epoch by epoch training gives the same trace
    stepwise = LogisticRegression(2, dtype=torch.float64)
    assert [stepwise.train(X, y, 1, 0.05)[0] for _ in range(25)] == pytest.approx(trace, rel=1e-12)


def test_labels_come_from_the_threshold_not_from_training(binary_data):
    X, y = binary_data
    model = LogisticRegression(2, dtype=torch.float64)
    model.train(X, y, 50, 0.5)
    z = model.net_input(X)
    torch.testing.assert_close(model.predict_proba(X), torch.sigmoid(z))
    np.testing.assert_array_equal(model.predict_labels(X).numpy(), (z > 0).long().numpy())
    np.testing.assert_array_equal(
        model.predict_labels(X).numpy(), (model.predict_proba(X) > 0.5).long().numpy()
    )
    assert model.evaluate(X, y) == pytest.approx(np.mean(model.predict_labels(X).numpy() == y))
    assert model.evaluate(X, y) > 0.75


def test_logistic_regression_converges_to_scikit_learns_unpenalised_fit(binary_data):
    X, y = binary_data
    model = LogisticRegression(2, dtype=torch.float64)
    model.train(X, y, 300, 2.0, gradient="mean")
    reference = SklearnLogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(model.weights.numpy(), reference.coef_, rtol=1e-6)
    np.testing.assert_allclose(model.bias.numpy(), reference.intercept_, rtol=1e-6)


# ----------------------------------------------------------------------------------------
# SoftmaxRegression
# ----------------------------------------------------------------------------------------


def test_softmax_regression_starts_at_zero_with_uniform_probabilities():
    model = SoftmaxRegression(4, 3)
    assert model.weights.shape == (3, 4) and model.bias.shape == (3,)
    assert not model.weights.any() and not model.bias.any()
    logits, probas = model.forward(np.ones((2, 4)))
    assert not logits.any()
    torch.testing.assert_close(probas, torch.full((2, 3), 1 / 3))


def test_softmax_backward_is_the_vectorised_gradient_with_per_class_bias(three_class_data):
    X, y = three_class_data
    model = SoftmaxRegression(2, 3, dtype=torch.float64)
    model.weights[:] = torch.tensor([[0.2, -0.1], [0.0, 0.4], [-0.3, 0.1]])
    model.bias[:] = torch.tensor([0.1, -0.2, 0.05])
    y_onehot = F.one_hot(torch.from_numpy(y), 3).double()
    _, probas = model.forward(X)
    grad_w, grad_b = model.backward(X, y_onehot, probas)

    w = model.weights.clone().requires_grad_(True)
    b = model.bias.clone().requires_grad_(True)
    loss = F.cross_entropy_from_logits(torch.from_numpy(X) @ w.T + b, torch.from_numpy(y), "sum")
    autograd_w, autograd_b = torch.autograd.grad(loss, (w, b))
    torch.testing.assert_close(grad_w, autograd_w, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_b, autograd_b, rtol=1e-12, atol=1e-12)
    # the notebook's bug (summing over classes too) would give one number close to 0
    assert grad_b.shape == (3,)
    assert float(grad_b.abs().max()) > 1.0
    assert float(grad_b.sum()) == pytest.approx(0.0, abs=1e-10)

    # the slide's element: dL/dw_{1,2} = -(y_1 - a_1) x_2 for one sample (class 1, feature 2)
    single_w, _ = model.backward(X[:1], y_onehot[:1], probas[:1])
    expected = -(float(y_onehot[0, 0]) - float(probas[0, 0])) * X[0, 1]
    assert float(single_w[0, 1]) == pytest.approx(expected, rel=1e-14)


def test_softmax_training_reaches_scikit_learns_unpenalised_probabilities(three_class_data):
    X, y = three_class_data
    model = SoftmaxRegression(2, 3, dtype=torch.float64)
    trace = model.train(X, y, 300, 2.0, gradient="mean")
    reference = SklearnLogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(
        model.predict_proba(X).numpy(), reference.predict_proba(X), atol=1e-6
    )
    np.testing.assert_array_equal(model.predict_labels(X).numpy(), reference.predict(X))
    # gradient descent from zero keeps sum_k w_k = 0, the same gauge as scikit-learn's
    np.testing.assert_allclose(model.weights.numpy(), reference.coef_, atol=1e-5)
    assert trace[-1] == pytest.approx(model.cost(X, y), rel=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, None])
def test_softmax_training_by_sample_minibatch_and_full_batch_lowers_the_cost(
    three_class_data, batch_size
):
    X, y = three_class_data
    model = SoftmaxRegression(2, 3)
    initial = model.cost(X, y)
    assert initial == pytest.approx(math.log(3), rel=1e-6)
    trace = model.train(X, y, 10, 0.1, batch_size=batch_size, shuffle=True, seed=5)
    assert len(trace) == 10
    assert trace[-1] < 0.75 * initial
    best = SklearnLogisticRegression(C=np.inf, max_iter=1000).fit(X, y).score(X, y)
    assert model.evaluate(X, y) >= best - 0.05  # the blobs overlap: the MLE scores ~0.79


def test_minibatch_steps_follow_the_seeded_permutation(three_class_data):
    X, y = three_class_data
    model = SoftmaxRegression(2, 3, dtype=torch.float64)
    model.train(X, y, 1, 0.1, batch_size=50, shuffle=True, seed=9)
    # the same steps by hand: permutation from a generator seeded once, batches of 50
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(9)).numpy()
    W, b = np.zeros((3, 2)), np.zeros(3)
    Y = np.eye(3)[y]
    for start in range(0, len(y), 50):
        rows = order[start : start + 50]
        A = F.softmax(X[rows] @ W.T + b)
        W -= 0.1 * (-(X[rows].T @ (Y[rows] - A)).T) / len(rows)
        b -= 0.1 * (-(Y[rows] - A).sum(axis=0)) / len(rows)
    np.testing.assert_allclose(model.weights.numpy(), W, rtol=1e-12)
    np.testing.assert_allclose(model.bias.numpy(), b, rtol=1e-12, atol=1e-15)


def test_same_seed_same_model_other_seed_other_model(three_class_data):
    X, y = three_class_data

    def fit(seed):
        model = SoftmaxRegression(2, 3)
        model.train(X, y, 2, 0.1, batch_size=8, shuffle=True, seed=seed)
        return model.weights

    assert torch.equal(fit(1), fit(1))
    assert not torch.equal(fit(1), fit(2))


# ----------------------------------------------------------------------------------------
# One-vs-all and independent sigmoids
# ----------------------------------------------------------------------------------------


def test_one_vs_all_trains_k_binary_models_and_picks_the_highest_score(three_class_data):
    X, y = three_class_data
    ova = OneVsAll(2, 3, dtype=torch.float64)
    traces = ova.train(X, y, 200, 0.5)
    assert len(ova.classifiers) == 3 and len(traces) == 3
    for k, model in enumerate(ova.classifiers):
        alone = LogisticRegression(2, dtype=torch.float64)
        alone.train(X, (y == k).astype(float), 200, 0.5)
        torch.testing.assert_close(model.weights, alone.weights, rtol=1e-12, atol=1e-14)
    scores = ova.decision_scores(X)
    assert scores.shape == (len(y), 3)
    np.testing.assert_array_equal(ova.predict_labels(X).numpy(), scores.argmax(1).numpy())
    np.testing.assert_array_equal(
        ova.predict_labels(X).numpy(), ova.predict_proba(X).argmax(1).numpy()
    )
    best = SklearnLogisticRegression(C=np.inf, max_iter=1000).fit(X, y).score(X, y)
    assert ova.evaluate(X, y) >= best - 0.05


def test_one_vs_all_equals_independent_sigmoids_on_one_hot_targets(three_class_data):
    X, y = three_class_data
    ova = OneVsAll(2, 3, dtype=torch.float64)
    traces = ova.train(X, y, 5, 0.2, batch_size=16, shuffle=True, seed=3)
    sigmoids = IndependentSigmoids(2, 3, dtype=torch.float64)
    trace = sigmoids.train(X, np.eye(3)[y], 5, 0.2, batch_size=16, shuffle=True, seed=3)
    torch.testing.assert_close(ova.weights, sigmoids.weights, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(ova.bias, sigmoids.bias, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.sum(traces, axis=0), trace, rtol=1e-12)


def test_independent_sigmoids_predict_label_sets_that_are_not_exclusive():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 3))
    Y = (X[:, [0, 1, 2]] + 0.2 * rng.normal(size=(300, 3)) > 0).astype(np.float64)  # multi-label
    model = IndependentSigmoids(3, 3, dtype=torch.float64)
    trace = model.train(X, Y, 300, 0.5)
    assert trace[-1] < trace[0]
    probas = model.predict_proba(X)
    labels = model.predict_labels(X)
    assert labels.shape == (300, 3) and labels.dtype == torch.int64
    np.testing.assert_array_equal(labels.numpy(), (probas > 0.5).long().numpy())
    counts = labels.sum(dim=1)
    assert int((counts >= 2).sum()) > 30 and int((counts == 0).sum()) > 10  # not one per row
    assert not torch.allclose(probas.sum(dim=1), torch.ones(300, dtype=torch.float64))
    assert model.evaluate(X, Y) > 0.7  # whole label set right
    assert model.evaluate(X, Y) == pytest.approx(np.mean((labels.numpy() == Y).all(axis=1)))


def test_independent_sigmoids_backward_matches_autograd():
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(20, 4)), (rng.random((20, 3)) > 0.5).astype(np.float64)
    model = IndependentSigmoids(4, 3, dtype=torch.float64)
    model.weights[:] = torch.from_numpy(rng.normal(size=(3, 4)))
    _, probas = model.forward(X)
    grad_w, grad_b = model.backward(X, Y, probas)
    w = model.weights.clone().requires_grad_(True)
    b = model.bias.clone().requires_grad_(True)
    logits = torch.from_numpy(X) @ w.T + b
    loss = F.binary_cross_entropy_from_logits(logits, torch.from_numpy(Y), "sum")
    autograd_w, autograd_b = torch.autograd.grad(loss, (w, b))
    torch.testing.assert_close(grad_w, autograd_w, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_b, autograd_b, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------
# Inputs and errors
# ----------------------------------------------------------------------------------------


def test_numpy_and_tensor_inputs_train_the_same_model(three_class_data):
    X, y = three_class_data
    from_numpy = SoftmaxRegression(2, 3)
    from_numpy.train(X, y, 3, 0.1)
    from_tensor = SoftmaxRegression(2, 3)
    from_tensor.train(torch.from_numpy(X).float(), torch.from_numpy(y), 3, 0.1)
    torch.testing.assert_close(from_numpy.weights, from_tensor.weights)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: LogisticRegression(2).train(np.zeros((3, 5)), [0, 1, 0], 1, 0.1),
            r"\(n_samples, 2\)",
        ),
        (
            lambda: LogisticRegression(2).train(np.zeros((3, 2)), [0, 2, 0], 1, 0.1),
            "only the labels 0 and 1",
        ),
        (lambda: LogisticRegression(2).train(np.zeros((3, 2)), [0, 1], 1, 0.1), r"shape \(3,\)"),
        (lambda: SoftmaxRegression(2, 3).train(np.zeros((2, 2)), [0, 3], 1, 0.1), r"\[0, 3\)"),
        (
            lambda: SoftmaxRegression(2, 3).train(np.zeros((2, 2)), [0.5, 1], 1, 0.1),
            "integer class",
        ),
        (lambda: SoftmaxRegression(2, 1), "num_classes must be an integer >= 2"),
        (lambda: LogisticRegression(0), "num_features must be an integer >= 1"),
        (
            lambda: SoftmaxRegression(2, 3).train(np.zeros((2, 2)), [0, 1], 1, 0.1, gradient="avg"),
            "gradient must be one of",
        ),
        (
            lambda: SoftmaxRegression(2, 3).train(np.zeros((2, 2)), [0, 1], 1, 0.1, batch_size=0),
            "batch_size must be None",
        ),
        (
            lambda: SoftmaxRegression(2, 3).train(np.zeros((2, 2)), [0, 1], 1, 0.0),
            "learning_rate must be > 0",
        ),
        (
            lambda: SoftmaxRegression(2, 3).train(np.zeros((2, 2)), [0, 1], -1, 0.1),
            "num_epochs must be",
        ),
        (
            lambda: SoftmaxRegression(2, 3).train(np.zeros((2, 2)), [0, 1], 1, 0.1, shuffle=True),
            "explicit integer seed",
        ),
        (
            lambda: IndependentSigmoids(2, 3).train(np.zeros((2, 2)), np.zeros((2, 2)), 1, 0.1),
            r"shape \(2, 3\)",
        ),
        (lambda: OneVsAll(2, 3).train(np.zeros((2, 2)), [0, 4], 1, 0.1), r"\[0, 3\)"),
    ],
)
def test_bad_input_is_refused_early_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
