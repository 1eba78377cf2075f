"""softmaxreg.nn: the autograd modules, and that they match the manual-gradient models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from softmaxreg import nn, scratch

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_data(kind: str, seed: int = 0):
    """Overlapping Gaussian data: binary labels, 3 classes, or 3 non-exclusive labels."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 4))
    truth = X @ rng.normal(size=(4, 3)) + 0.8 * rng.normal(size=(90, 3))
    if kind == "binary":
        return X, (truth[:, 0] > 0).astype(np.int64)
    if kind == "multiclass":
        return X, truth.argmax(axis=1)
    return X, (truth > 0).astype(np.float64)


def make_pair(kind: str, dtype: torch.dtype):
    """The manual-gradient model and the autograd module of the same kind."""
    if kind == "binary":
        return (
            scratch.LogisticRegression(4, dtype=dtype),
            nn.LogisticRegressionModule(4, dtype=dtype),
        )
    if kind == "multiclass":
        return (
            scratch.SoftmaxRegression(4, 3, dtype=dtype),
            nn.SoftmaxRegressionModule(4, 3, dtype=dtype),
        )
    return scratch.IndependentSigmoids(4, 3, dtype=dtype), nn.IndependentSigmoidsModule(
        4, 3, dtype=dtype
    )


RECIPES = {
    "per-sample": {"batch_size": 1},
    "per-sample-shuffled": {"batch_size": 1, "shuffle": True, "seed": 11},
    "minibatch-shuffled": {"batch_size": 16, "shuffle": True, "seed": 3},
    "minibatch-in-order-sum": {"batch_size": 32, "gradient": "sum"},
    "full-batch-sum": {"gradient": "sum"},
    "full-batch-mean": {"gradient": "mean"},
}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_manual_and_autograd_training_give_the_same_weights_and_cost_traces(kind, recipe):
    X, y = make_data(kind)
    options = RECIPES[recipe]
    learning_rate = 0.01 if options.get("gradient") == "sum" else 0.1
    manual, module = make_pair(kind, torch.float32)
    manual_trace = manual.train(X, y, 4, learning_rate, **options)
    autograd_trace = nn.train(module, X, y, 4, learning_rate, **options)
    assert len(manual_trace) == len(autograd_trace) == 4
    np.testing.assert_allclose(manual_trace, autograd_trace, rtol=0, atol=1e-5)
    torch.testing.assert_close(module.linear.weight.detach(), manual.weights, rtol=0, atol=1e-5)
    torch.testing.assert_close(module.linear.bias.detach(), manual.bias, rtol=0, atol=1e-5)
    assert autograd_trace[-1] < autograd_trace[0] or recipe.startswith("per-sample")


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_manual_and_autograd_agree_to_rounding_in_float64(kind):
    X, y = make_data(kind, seed=1)
    manual, module = make_pair(kind, torch.float64)
    manual_trace = manual.train(X, y, 6, 0.2, batch_size=10, shuffle=True, seed=8)
    autograd_trace = nn.train(module, X, y, 6, 0.2, batch_size=10, shuffle=True, seed=8)
    np.testing.assert_allclose(manual_trace, autograd_trace, rtol=1e-12)
    torch.testing.assert_close(
        module.linear.weight.detach(), manual.weights, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_array_equal(
        module.predict_labels(X).numpy(), manual.predict_labels(X).numpy()
    )


def test_modules_start_at_zero_and_return_logits_and_probabilities():
    x = torch.randn(5, 4)
    binary = nn.LogisticRegressionModule(4)
    logits, probas = binary(x)
    assert logits.shape == probas.shape == (5,)
    assert not logits.any()
    torch.testing.assert_close(probas, torch.full((5,), 0.5))

    softmax = nn.SoftmaxRegressionModule(4, 3)
    softmax.linear.weight.data.normal_(generator=torch.Generator().manual_seed(0))
    logits, probas = softmax(x)
    assert logits.shape == probas.shape == (5, 3)
    torch.testing.assert_close(probas, TF.softmax(logits, dim=1))
    torch.testing.assert_close(probas.sum(dim=1), torch.ones(5))

    multilabel = nn.IndependentSigmoidsModule(4, 3)
    logits, probas = multilabel(x)
    torch.testing.assert_close(probas, torch.sigmoid(logits))
    for module in (nn.LogisticRegressionModule(4), nn.SoftmaxRegressionModule(4, 3)):
        assert all(not parameter.any() for parameter in module.parameters())


def test_losses_are_the_lecture_losses():
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    labels = torch.tensor([0, 2, 1, 1, 0, 2])
    softmax = nn.SoftmaxRegressionModule(2, 3)
    torch.testing.assert_close(softmax.loss(z, labels, "mean"), TF.cross_entropy(z, labels))
    binary = nn.LogisticRegressionModule(2)
    y = (labels > 0).double()
    torch.testing.assert_close(
        binary.loss(z[:, 0], y, "sum"),
        TF.binary_cross_entropy(torch.sigmoid(z[:, 0]), y, reduction="sum"),
    )
    multilabel = nn.IndependentSigmoidsModule(2, 3)
    Y = (z > 0).double()
    per_sample = TF.binary_cross_entropy_with_logits(z, Y, reduction="none").sum(dim=1)
    torch.testing.assert_close(multilabel.loss(z, Y, "mean"), per_sample.mean())
    torch.testing.assert_close(multilabel.loss(z, Y, "sum"), per_sample.sum())


def test_one_full_batch_step_is_w_minus_eta_times_the_autograd_gradient():
    X, y = make_data("multiclass", seed=2)
    module = nn.SoftmaxRegressionModule(4, 3, dtype=torch.float64)
    module.linear.weight.data.normal_(generator=torch.Generator().manual_seed(5))
    start_w = module.linear.weight.detach().clone()
    start_b = module.linear.bias.detach().clone()
    w, b = start_w.clone().requires_grad_(True), start_b.clone().requires_grad_(True)
    loss = TF.cross_entropy(torch.from_numpy(X) @ w.T + b, torch.from_numpy(y))
    grad_w, grad_b = torch.autograd.grad(loss, (w, b))
    trace = nn.train(module, X, y, 1, 0.3)
    torch.testing.assert_close(module.linear.weight.detach(), start_w - 0.3 * grad_w)
    torch.testing.assert_close(module.linear.bias.detach(), start_b - 0.3 * grad_b)
    with torch.no_grad():
        after = TF.cross_entropy(module(torch.from_numpy(X))[0], torch.from_numpy(y))
    assert trace == [pytest.approx(float(after), rel=1e-12)]


def test_predict_labels_follow_the_lecture_rules():
    X, y = make_data("binary", seed=3)
    module = nn.LogisticRegressionModule(4, dtype=torch.float64)
    nn.train(module, X, y, 30, 0.5)
    logits, probas = module(torch.from_numpy(X))
    np.testing.assert_array_equal(module.predict_labels(X).numpy(), (logits > 0).long().numpy())
    np.testing.assert_array_equal(module.predict_labels(X).numpy(), (probas > 0.5).long().numpy())
    assert np.mean(module.predict_labels(X).numpy() == y) > 0.75


def test_training_is_reproducible_from_the_seed():
    X, y = make_data("multiclass", seed=4)

    def fit(seed):
        module = nn.SoftmaxRegressionModule(4, 3)
        nn.train(module, X, y, 2, 0.1, batch_size=8, shuffle=True, seed=seed)
        return module.linear.weight.detach()

    assert torch.equal(fit(7), fit(7))
    assert not torch.equal(fit(7), fit(8))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: nn.train(
                nn.SoftmaxRegressionModule(4, 3), np.zeros((5, 3)), np.zeros(5, int), 1, 0.1
            ),
            r"\(n_samples, 4\)",
        ),
        (
            lambda: nn.train(
                nn.SoftmaxRegressionModule(4, 3), np.zeros((5, 4)), np.zeros(4, int), 1, 0.1
            ),
            r"y must have shape \(5,\), got \(4,\)",
        ),
        (
            lambda: nn.train(nn.SoftmaxRegressionModule(4, 3), np.zeros((2, 4)), [0, 5], 1, 0.1),
            r"\[0, 3\)",
        ),
        (
            lambda: nn.train(nn.LogisticRegressionModule(4), np.zeros((2, 4)), [0, 2], 1, 0.1),
            "0 and 1",
        ),
        (
            lambda: nn.train(nn.LogisticRegressionModule(4), np.zeros((3, 4)), [0, 1], 1, 0.1),
            r"shape \(3,\), got \(2,\)",
        ),
        (
            lambda: nn.train(
                nn.IndependentSigmoidsModule(4, 3), np.zeros((2, 4)), np.zeros((2, 2)), 1, 0.1
            ),
            r"shape \(2, 3\)",
        ),
        (
            lambda: nn.train(
                nn.LogisticRegressionModule(4), np.zeros((2, 4)), [0, 1], 1, 0.1, shuffle=True
            ),
            "explicit integer seed",
        ),
        (
            lambda: nn.train(
                nn.LogisticRegressionModule(4), np.zeros((2, 4)), [0, 1], 1, 0.1, gradient="max"
            ),
            "gradient must be one of",
        ),
        (lambda: nn.SoftmaxRegressionModule(4, 1), "num_classes must be an integer >= 2"),
        (lambda: nn.LogisticRegressionModule(0), "num_features must be an integer >= 1"),
    ],
)
def test_bad_input_is_refused_early_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_matches_cpu_training():
    X, y = make_data("multiclass", seed=5)
    results = {}
    for device in ("cpu", "cuda"):
        manual = scratch.SoftmaxRegression(4, 3, dtype=torch.float64, device=device)
        module = nn.SoftmaxRegressionModule(4, 3, dtype=torch.float64, device=device)
        manual_trace = manual.train(X, y, 3, 0.1, batch_size=16, shuffle=True, seed=2)
        autograd_trace = nn.train(module, X, y, 3, 0.1, batch_size=16, shuffle=True, seed=2)
        assert manual.weights.device.type == module.linear.weight.device.type == device
        results[device] = (manual_trace, autograd_trace, manual.weights.cpu())
    for cpu_value, cuda_value in zip(results["cpu"], results["cuda"], strict=True):
        np.testing.assert_allclose(np.asarray(cpu_value), np.asarray(cuda_value), rtol=1e-10)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0.0, 1.7], "class labels must be integer class indices, got 1.7"),
        ([0, 3], "class index 3 is out of range for num_classes=3 (labels must lie in [0, 3))"),
    ],
)
def test_class_labels_are_checked_like_the_functional_api(labels, message):
    # the same check (and words) as functional.one_hot / cross_entropy_from_logits
    for call in (
        lambda: nn.train(nn.SoftmaxRegressionModule(2, 3), np.zeros((2, 2)), labels, 1, 0.1),
        lambda: scratch.SoftmaxRegression(2, 3).train(np.zeros((2, 2)), labels, 1, 0.1),
        lambda: scratch.OneVsAll(2, 3).evaluate(np.zeros((2, 2)), labels),
    ):
        with pytest.raises(ValueError) as raised:
            call()
        assert str(raised.value) == message
