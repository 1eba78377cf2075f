"""The lecture's three notebooks as functions that return their results (LECTURE.md section 8).

- :func:`toy_logistic_regression`: binary logistic regression on the 2-D toy set, trained
  twice (manual gradients and autograd) exactly as the notebook does; published test
  accuracy 96.00% and identical cost traces.
- :func:`iris_softmax_regression`: softmax regression on two iris features, full batch;
  published 80.00% (with the notebook's bias bug; here the bias gradient is correct).
- :func:`mnist_softmax_regression`: softmax regression on MNIST with minibatch SGD; published
  92.16% and first four test predictions ``[7, 2, 1, 0]``.

Data come from :mod:`softmaxreg.datasets` (files found through ``$SOFTMAXREG_DATA``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from softmaxreg import nn, scratch

__all__ = [
    "IrisSoftmaxResult",
    "MnistSoftmaxResult",
    "ToyLogisticResult",
    "iris_softmax_regression",
    "mnist_softmax_regression",
    "toy_logistic_regression",
]


def _accuracy(predictions: torch.Tensor, labels: np.ndarray) -> float:
    return float(np.mean(predictions.cpu().numpy() == labels))


@contextlib.contextmanager
def _intra_op_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(num_threads)``, then restore the old value.

    The lecture's tensors are small (at most 256 x 784 per step): one thread runs them
    fastest, and more threads slow down sharply when the cores are shared with other work.
    ``None`` leaves torch's setting alone.
    """
    if num_threads is None:
        yield
        return
    if not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be None or an integer >= 1, got {num_threads!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class ToyLogisticResult:
    """What the toy notebook prints and plots; the data are standardised with train statistics."""

    train_accuracy: float
    test_accuracy: float
    cost_trace: list[float]  # manual-gradient model, mean NLL on the train set after each epoch
    cost_trace_autograd: list[float]  # the nn.Module trained the same way
    weights: np.ndarray  # (2,)  w1, w2
    bias: float
    weights_autograd: np.ndarray
    bias_autograd: float
    test_predictions: np.ndarray  # (25,) int64
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def decision_boundary(self, x1: np.ndarray) -> np.ndarray:
        """The line where ``z = w1 x1 + w2 x2 + b = 0``: ``x2 = -(w1 x1 + b) / w2``."""
        w1, w2 = self.weights
        return -(w1 * np.asarray(x1, dtype=np.float64) + self.bias) / w2


def toy_logistic_regression(
    *, num_epochs: int = 30, learning_rate: float = 0.1, num_threads: int | None = 1
) -> ToyLogisticResult:
    """The toy notebook: ``a = sigma(w^T x + b)`` by full-batch GD on the summed gradient.

    Recipe: ``toydata.txt`` as float32; shuffle with NumPy seed 123, first 25 rows test, the
    other 75 train; ``x := (x - mu_train) / sigma_train``; ``w = 0, b = 0``; 30 epochs of
    ``w := w - eta sum_i (a[i] - y[i]) x[i]`` with ``eta = 0.1``. Both the manual-gradient
    :class:`softmaxreg.scratch.LogisticRegression` and :class:`softmaxreg.nn.
    LogisticRegressionModule` (autograd, ``torch.optim.SGD``, summed BCE) are trained.
    ``num_threads``: torch's intra-op threads while training (see :func:`_intra_op_threads`).
    """
    from softmaxreg.datasets import load_toy, toy_notebook_split

    X, y = load_toy()
    X_train, y_train, X_test, y_test = toy_notebook_split(X.astype(np.float32), y)

    with _intra_op_threads(num_threads):
        manual = scratch.LogisticRegression(num_features=2)
        cost_trace = manual.train(X_train, y_train, num_epochs, learning_rate, gradient="sum")

        module = nn.LogisticRegressionModule(num_features=2)
        cost_trace_autograd = nn.train(
            module, X_train, y_train, num_epochs, learning_rate, gradient="sum"
        )

    return ToyLogisticResult(
        train_accuracy=_accuracy(manual.predict_labels(X_train), y_train),
        test_accuracy=_accuracy(manual.predict_labels(X_test), y_test),
        cost_trace=cost_trace,
        cost_trace_autograd=cost_trace_autograd,
        weights=manual.weights[0].double().numpy(),
        bias=float(manual.bias[0]),
        weights_autograd=module.linear.weight.detach()[0].double().numpy(),
        bias_autograd=float(module.linear.bias.detach()[0]),
        test_predictions=manual.predict_labels(X_test).numpy(),
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
    )


IRIS_FEATURE_COLUMNS = (1, 3)  # the notebook's x2 and x4: sepal width and petal width (cm)


@dataclass(frozen=True)
class IrisSoftmaxResult:
    """What the iris notebook prints; features are standardised with train statistics."""

    train_accuracy: float
    test_accuracy: float
    cost_trace: list[float]  # manual gradients, mean cross-entropy on the train set per epoch
    cost_trace_autograd: list[float]
    weights: np.ndarray  # (3, 2)
    bias: np.ndarray  # (3,)
    weights_autograd: np.ndarray
    bias_autograd: np.ndarray
    test_predictions: np.ndarray  # (30,) int64
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def iris_softmax_regression(
    *, num_epochs: int = 50, learning_rate: float = 0.1, num_threads: int | None = 1
) -> IrisSoftmaxResult:
    """The iris notebook: ``A = softmax(X W^T + b)`` by full-batch GD on the mean gradient.

    Recipe: ``iris.data`` columns x2 and x4 (sepal width, petal width) as float32; the
    notebook's 80/20 split after ``torch.manual_seed(123)``; ``randperm`` (see
    :func:`softmaxreg.datasets.iris_notebook_split`), standardised with the train mean and
    sample std; ``W = 0, b = 0``; 50 epochs of ``W := W + eta/n (X^T (Y - A))^T`` and the
    *correct* per-class bias step ``b := b + eta/n sum_i (Y - A)[i]``, ``eta = 0.1``.
    ``num_threads``: torch's intra-op threads while training (see :func:`_intra_op_threads`).
    """
    from softmaxreg.datasets import iris_notebook_split, load_iris

    X, y = load_iris()
    X_train, y_train, X_test, y_test = iris_notebook_split(
        X[:, list(IRIS_FEATURE_COLUMNS)].astype(np.float32), y
    )

    with _intra_op_threads(num_threads):
        manual = scratch.SoftmaxRegression(num_features=2, num_classes=3)
        cost_trace = manual.train(X_train, y_train, num_epochs, learning_rate, gradient="mean")

        module = nn.SoftmaxRegressionModule(num_features=2, num_classes=3)
        cost_trace_autograd = nn.train(
            module, X_train, y_train, num_epochs, learning_rate, gradient="mean"
        )

    return IrisSoftmaxResult(
        train_accuracy=_accuracy(manual.predict_labels(X_train), y_train),
        test_accuracy=_accuracy(manual.predict_labels(X_test), y_test),
        cost_trace=cost_trace,
        cost_trace_autograd=cost_trace_autograd,
        weights=manual.weights.double().numpy(),
        bias=manual.bias.double().numpy(),
        weights_autograd=module.linear.weight.detach().double().numpy(),
        bias_autograd=module.linear.bias.detach().double().numpy(),
        test_predictions=manual.predict_labels(X_test).numpy(),
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
    )


@dataclass(frozen=True)
class MnistSoftmaxResult:
    """What the MNIST notebook prints, plus the weights (one 28x28 template per digit)."""

    train_accuracy: float
    test_accuracy: float
    cost_trace: list[float]  # mean cross-entropy on the 60,000 training images per epoch
    weights: np.ndarray  # (10, 784) float32
    bias: np.ndarray  # (10,)
    test_predictions: np.ndarray  # (10000,) int64
    training_seconds: float


def mnist_softmax_regression(
    *,
    num_epochs: int = 25,
    batch_size: int = 256,
    learning_rate: float = 0.1,
    seed: int = 123,
    device: str | torch.device = "cpu",
    num_threads: int | None = 1,
    root: str | None = None,
) -> MnistSoftmaxResult:
    """The MNIST notebook: minibatch SGD on ``mean_i -log softmax(W x_i + b)_{y_i}``.

    Recipe: pixels ``x = X / 255`` (float32, 784 per image); ``W = 0, b = 0``;
    :class:`softmaxreg.nn.SoftmaxRegressionModule` trained by ``torch.optim.SGD`` with
    ``eta = 0.1``, batches of 256 drawn from a fresh permutation every epoch (a
    ``torch.Generator`` seeded with ``seed``), cross-entropy on the logits, 25 epochs.

    Speed: the images are converted to one float32 tensor once and batches are taken by
    indexing it (no DataLoader). ``num_threads`` sets torch's intra-op threads while training
    on the CPU (see :func:`_intra_op_threads`); the old setting is restored.
    """
    from softmaxreg.datasets import load_mnist

    X_train_raw, y_train = load_mnist("train", root=root)
    X_test_raw, y_test = load_mnist("test", root=root)
    X_train = torch.from_numpy(X_train_raw).to(device=device, dtype=torch.float32) / 255.0
    X_test = torch.from_numpy(X_test_raw).to(device=device, dtype=torch.float32) / 255.0

    with _intra_op_threads(num_threads if torch.device(device).type == "cpu" else None):
        model = nn.SoftmaxRegressionModule(num_features=784, num_classes=10, device=device)
        start = time.perf_counter()
        cost_trace = nn.train(
            model,
            X_train,
            y_train,
            num_epochs,
            learning_rate,
            batch_size=batch_size,
            gradient="mean",
            shuffle=True,
            seed=seed,
        )
        training_seconds = time.perf_counter() - start
        test_predictions = model.predict_labels(X_test)
        train_predictions = model.predict_labels(X_train)

    return MnistSoftmaxResult(
        train_accuracy=_accuracy(train_predictions, y_train),
        test_accuracy=_accuracy(test_predictions, y_test),
        cost_trace=cost_trace,
        weights=model.linear.weight.detach().cpu().numpy(),
        bias=model.linear.bias.detach().cpu().numpy(),
        test_predictions=test_predictions.cpu().numpy(),
        training_seconds=training_seconds,
    )
