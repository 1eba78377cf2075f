"""The lecture's three notebooks reproduced (LECTURE.md section 8), on the real data files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from softmaxreg import recipes


@pytest.fixture(scope="module")
def lecture_data() -> Path:
    """The data folder; CI sets SOFTMAXREG_DATA, and then a missing file is a failure."""
    folder = os.environ.get("SOFTMAXREG_DATA")
    if not folder:
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it to the lecture's data folder)")
    return Path(folder)


@pytest.fixture(scope="module")
def toy(lecture_data):
    assert (lecture_data / "stat453" / "toydata.txt").is_file()
    return recipes.toy_logistic_regression()


@pytest.fixture(scope="module")
def iris(lecture_data):
    assert (lecture_data / "stat453" / "iris.data").is_file()
    return recipes.iris_softmax_regression()


@pytest.fixture(scope="module")
def mnist(lecture_data):
    """The MNIST notebook's full recipe (25 epochs), run once for all MNIST tests."""
    assert (lecture_data / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
    return recipes.mnist_softmax_regression()


# ----------------------------------------------------------------------------------------
# Toy data, binary logistic regression
# ----------------------------------------------------------------------------------------


def test_toy_recipe_reaches_the_published_96_percent(toy):
    assert len(toy.y_test) == 25 and len(toy.y_train) == 75
    assert toy.test_accuracy == 0.96  # 24 of 25, as published
    assert np.sum(toy.test_predictions == toy.y_test) == 24
    assert toy.train_accuracy > 0.9


def test_toy_data_are_standardised_with_the_training_statistics(toy):
    np.testing.assert_allclose(toy.X_train.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(toy.X_train.std(axis=0), 1.0, rtol=1e-5)
    assert toy.X_train.dtype == np.float32


def test_toy_manual_and_autograd_versions_print_identical_cost_traces(toy):
    assert len(toy.cost_trace) == len(toy.cost_trace_autograd) == 30
    np.testing.assert_allclose(toy.cost_trace, toy.cost_trace_autograd, rtol=0, atol=1e-5)
    assert [f"{c:.3f}" for c in toy.cost_trace] == [f"{c:.3f}" for c in toy.cost_trace_autograd]
    np.testing.assert_allclose(toy.weights, toy.weights_autograd, atol=1e-5)
    assert toy.bias == pytest.approx(toy.bias_autograd, abs=1e-5)
    assert all(b < a for a, b in zip(toy.cost_trace, toy.cost_trace[1:], strict=False))


def test_toy_decision_boundary_is_the_line_where_the_net_input_is_zero(toy):
    w1, w2 = toy.weights
    x1 = np.linspace(-2, 2, 9)
    x2 = toy.decision_boundary(x1)
    np.testing.assert_allclose(w1 * x1 + w2 * x2 + toy.bias, 0.0, atol=1e-12)
    # every test point is predicted 1 exactly when it lies on the positive side of the line
    above = toy.X_test[:, 1] > toy.decision_boundary(toy.X_test[:, 0])
    positive_side = above if w2 > 0 else ~above
    np.testing.assert_array_equal(toy.test_predictions, positive_side.astype(np.int64))


def test_recipes_restore_torchs_thread_setting_and_check_it(lecture_data):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        recipes.toy_logistic_regression(num_epochs=1, num_threads=1)
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="num_threads must be None or an integer >= 1"):
            recipes.toy_logistic_regression(num_epochs=1, num_threads=0)
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------
# Iris, softmax regression with the corrected bias gradient
# ----------------------------------------------------------------------------------------


def test_iris_recipe_reaches_at_least_the_published_80_percent(iris):
    assert len(iris.y_train) == 120 and len(iris.y_test) == 30
    assert iris.test_accuracy >= 0.80
    assert iris.test_accuracy == pytest.approx(np.mean(iris.test_predictions == iris.y_test))
    assert iris.train_accuracy >= 0.80


def test_iris_manual_and_autograd_versions_agree(iris):
    assert len(iris.cost_trace) == 50
    np.testing.assert_allclose(iris.cost_trace, iris.cost_trace_autograd, rtol=0, atol=1e-5)
    np.testing.assert_allclose(iris.weights, iris.weights_autograd, atol=1e-5)
    np.testing.assert_allclose(iris.bias, iris.bias_autograd, atol=1e-5)
    assert iris.cost_trace[-1] < iris.cost_trace[0] < np.log(3)


def test_iris_bias_is_learned_per_class_not_the_notebooks_near_zero_scalar(iris):
    assert iris.bias.shape == (3,)
    assert np.ptp(iris.bias) > 1e-3  # the notebook's bug moves all biases by the same ~0
    assert abs(iris.bias.sum()) < 1e-6  # gradient descent from zero keeps sum_k b_k = 0


# ----------------------------------------------------------------------------------------
# MNIST, softmax regression with minibatch SGD (the full 25-epoch recipe, run once)
# ----------------------------------------------------------------------------------------


@pytest.mark.mnist
def test_mnist_recipe_reaches_92_percent(mnist):
    assert mnist.test_accuracy >= 0.920
    assert mnist.train_accuracy >= 0.915


@pytest.mark.mnist
def test_mnist_first_four_test_predictions_are_the_published_ones(mnist):
    np.testing.assert_array_equal(mnist.test_predictions[:4], [7, 2, 1, 0])
    assert mnist.test_predictions.shape == (10000,)


@pytest.mark.mnist
def test_mnist_predictions_are_the_argmax_of_the_returned_weights(mnist):
    from softmaxreg.datasets import load_mnist

    X_test, y_test = load_mnist("test")
    logits = (X_test[:500].astype(np.float32) / 255.0) @ mnist.weights.T + mnist.bias
    np.testing.assert_array_equal(logits.argmax(axis=1), mnist.test_predictions[:500])
    assert mnist.test_accuracy == np.mean(mnist.test_predictions == y_test)


@pytest.mark.mnist
def test_mnist_cost_trace_has_one_falling_value_per_epoch(mnist):
    assert len(mnist.cost_trace) == 25
    assert mnist.cost_trace[0] < np.log(10)  # below the zero-initialised model's cost
    assert mnist.cost_trace[-1] < mnist.cost_trace[0]
    assert mnist.cost_trace[-1] < 0.30
    assert mnist.weights.shape == (10, 784) and mnist.weights.dtype == np.float32
