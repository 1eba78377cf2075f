"""The lecture's models with hand-written gradients ("from scratch"), written to be read.

Every class keeps its parameters as plain tensors, ``weights`` ``W`` of shape ``(K, m)`` and
``bias`` ``b`` of shape ``(K,)`` (``K = 1`` for the binary model), starting at zero as in the
lecture. Training runs the lecture's loop, in its order, for every batch:

1. forward pass: net input ``Z = X W^T + b`` and activation ``A``;
2. gradients: ``grad_W = -(X^T (Y - A))^T``, ``grad_b = -sum_i (Y - A)[i]``;
3. update: ``W := W + eta * (-grad_W)``, ``b := b + eta * (-grad_b)``.

``batch_size=1`` is the per-sample learning rule of the slide, ``batch_size=None`` is
full-batch gradient descent, anything in between is minibatch SGD; ``gradient="sum"`` uses the
summed gradient, ``gradient="mean"`` divides it by the batch size. ``train`` returns the cost
trace: the mean loss over the training set after each epoch. A run whose cost explodes (a
learning rate too large for unscaled features) stops with a ``ConvergenceWarning`` and keeps
the weights of its lowest cost (``softmaxreg.solvers._common.DivergenceGuard``).

Inputs may be NumPy arrays or tensors; results are tensors on the model's device.
"""

from __future__ import annotations

import functools

import torch

from softmaxreg import functional
from softmaxreg._arrays import ArrayLike
from softmaxreg._training import (
    as_binary_targets,
    as_class_labels,
    as_feature_matrix,
    check_training_arguments,
    epoch_batches,
    order_generator_for,
)
from softmaxreg.solvers._common import DivergenceGuard

__all__ = ["IndependentSigmoids", "LogisticRegression", "OneVsAll", "SoftmaxRegression"]


class _ManualGradientModel:
    """Zero-initialised ``W (K, m)`` and ``b (K,)`` plus the lecture's training loop.

    Subclasses say what the activation is (:meth:`_activation`), what the targets look like
    (:meth:`_targets`) and what the loss is (:meth:`_cost`); the gradient has the same form
    ``-(X^T (Y - A))^T`` for all three models of the lecture.
    """

    def __init__(
        self,
        num_features: int,
        num_outputs: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be an integer >= 1, got {num_features!r}")
        self.num_features = num_features
        self.weights = torch.zeros(num_outputs, num_features, dtype=dtype, device=device)
        self.bias = torch.zeros(num_outputs, dtype=dtype, device=device)

    @property
    def device(self) -> torch.device:
        return self.weights.device

    @property
    def dtype(self) -> torch.dtype:
        return self.weights.dtype

    def _features(self, x: ArrayLike) -> torch.Tensor:
        return as_feature_matrix(x, self.num_features, self.dtype, self.device)

    def net_input(self, x: ArrayLike) -> torch.Tensor:
        """Net inputs (logits) ``Z = X W^T + b``, shape ``(n, K)``."""
        return self._features(x) @ self.weights.T + self.bias

    def _gradients(
        self, x: torch.Tensor, targets: torch.Tensor, probas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``grad_W = -(X^T (Y - A))^T`` (K, m) and ``grad_b = -sum_i (Y - A)[i]`` (K,), summed."""
        error = targets - probas
        return -(x.T @ error).T, -error.sum(dim=0)

    def _train(
        self,
        x: ArrayLike,
        y: ArrayLike,
        num_epochs: int,
        learning_rate: float,
        batch_size: int | None,
        gradient: str,
        shuffle: bool,
        seed: int | None,
    ) -> list[float]:
        check_training_arguments(num_epochs, learning_rate, batch_size, gradient, shuffle, seed)
        features = self._features(x)
        n_samples = features.shape[0]
        targets = self._targets(y, n_samples).reshape(n_samples, -1)  # (n, K)
        order_generator = order_generator_for(shuffle, seed)
        guard = DivergenceGuard(
            f"scratch.{type(self).__name__}",
            learning_rate,
            [self.weights, self.bias],
            start_loss=self._cost(features, targets),
        )
        cost_trace = []
        for epoch in range(1, num_epochs + 1):
            for rows in epoch_batches(n_samples, batch_size, order_generator, self.device):
                x_batch, y_batch = features[rows], targets[rows]
                probas = self._activation(x_batch @ self.weights.T + self.bias)  # 1. forward
                grad_w, grad_b = self._gradients(x_batch, y_batch, probas)  # 2. gradients
                if gradient == "mean":
                    grad_w, grad_b = grad_w / x_batch.shape[0], grad_b / x_batch.shape[0]
                self.weights += learning_rate * (-grad_w)  # 3. update
                self.bias += learning_rate * (-grad_b)
            cost = self._cost(features, targets)
            if guard.diverged(epoch, cost):  # the best weights are back; a warning says why
                break
            cost_trace.append(cost)
        return cost_trace


class LogisticRegression(_ManualGradientModel):
    """Binary logistic regression, ``a = sigma(w^T x + b)``, with the lecture's gradients.

    ``weights`` has shape ``(1, m)`` and ``bias`` shape ``(1,)``; targets are ``y`` in {0, 1}.
    """

    def __init__(
        self,
        num_features: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(num_features, 1, dtype=dtype, device=device)

    _activation = staticmethod(functional.sigmoid)

    def _targets(self, y: ArrayLike, n_samples: int) -> torch.Tensor:
        return as_binary_targets(y, (n_samples,), self.dtype, self.device)

    def net_input(self, x: ArrayLike) -> torch.Tensor:
        """Net input ``z = w^T x + b`` for every row, shape ``(n,)``."""
        return super().net_input(x)[:, 0]

    def forward(self, x: ArrayLike) -> torch.Tensor:
        """Activation ``a = sigma(z) = 1 / (1 + e^{-z})``, shape ``(n,)``."""
        return self._activation(self.net_input(x))

    def backward(
        self, x: ArrayLike, y: ArrayLike, probas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed ``dL/dw_j = -sum_i (y[i] - a[i]) x_j[i]``, ``dL/db = -sum_i (y[i] - a[i])``.

        Shapes ``(1, m)`` and ``(1,)``. For one sample this is the slide's
        ``grad_w = -(y - y_hat) x``, ``grad_b = -(y - y_hat)`` (chain rule, ``dL/dz = a - y``).
        """
        features = self._features(x)
        targets = self._targets(y, features.shape[0])
        grad_w, grad_b = self._gradients(features, targets[:, None], probas.reshape(-1, 1))
        return grad_w, grad_b

    def predict_proba(self, x: ArrayLike) -> torch.Tensor:
        """``P(y = 1 | x) = sigma(w^T x + b)``, shape ``(n,)``."""
        return self.forward(x)

    def predict_labels(self, x: ArrayLike) -> torch.Tensor:
        """``1 if sigma(z) > 0.5 else 0`` (int64), computed as the identical ``1 if z > 0 else 0``.

        (On the net input the rule is exact even where ``sigma(z)`` rounds to 0.5.)
        """
        return functional.threshold(self.net_input(x), 0.0)

    def cost(self, x: ArrayLike, y: ArrayLike) -> float:
        """Mean negative log-likelihood ``1/n sum_i -(y log a + (1 - y) log(1 - a))``."""
        features = self._features(x)
        return self._cost(features, self._targets(y, features.shape[0]).reshape(-1, 1))

    def _cost(self, features: torch.Tensor, targets: torch.Tensor) -> float:
        logits = features @ self.weights.T + self.bias  # (n, 1), like the targets
        return float(functional.binary_cross_entropy_from_logits(logits, targets, "mean"))

    def evaluate(self, x: ArrayLike, y: ArrayLike) -> float:
        """Accuracy, the fraction of rows with ``predict_labels(x) == y``."""
        features = self._features(x)
        targets = self._targets(y, features.shape[0])
        return float((self.predict_labels(features) == targets).double().mean())

    def train(
        self,
        x: ArrayLike,
        y: ArrayLike,
        num_epochs: int,
        learning_rate: float,
        *,
        batch_size: int | None = None,
        gradient: str = "mean",
        shuffle: bool = False,
        seed: int | None = None,
    ) -> list[float]:
        """Gradient descent on ``L = sum_i -(y log a + (1 - y) log(1 - a))``; cost per epoch.

        ``batch_size=1`` runs the slide's per-sample rule, in data order unless
        ``shuffle=True`` (then ``seed`` is required); ``batch_size=None`` is full-batch
        descent with the summed (``gradient="sum"``) or mean (``"mean"``) gradient.
        """
        return self._train(x, y, num_epochs, learning_rate, batch_size, gradient, shuffle, seed)


class SoftmaxRegression(_ManualGradientModel):
    """Multinomial logistic regression, ``A = softmax(X W^T + b)``, mutually exclusive classes.

    ``weights`` has shape ``(K, m)`` (the lecture's ``h x m``), ``bias`` shape ``(K,)``;
    targets are integer class indices, one-hot encoded inside.
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        super().__init__(num_features, num_classes, dtype=dtype, device=device)
        self.num_classes = num_classes

    _activation = staticmethod(functools.partial(functional.softmax, dim=1))

    def _targets(self, y: ArrayLike, n_samples: int) -> torch.Tensor:
        labels = as_class_labels(y, n_samples, self.num_classes, self.device)
        return functional.one_hot(labels, self.num_classes).to(self.dtype)

    def forward(self, x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``Z = X W^T + b`` and probabilities ``A = softmax(Z)``, both ``(n, K)``."""
        logits = self.net_input(x)
        return logits, self._activation(logits)

    def backward(
        self, x: ArrayLike, y_onehot: ArrayLike, probas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``grad_W = -(X^T (Y - A))^T`` (K, m) and ``grad_b = -sum_i (Y - A)[i]`` (K,), summed.

        The bias gradient keeps one value per class (the lecture's scratch notebook also
        summed over the classes, which is always ~0; that bug is not reproduced here).
        """
        features = self._features(x)
        targets = torch.as_tensor(y_onehot, dtype=self.dtype, device=self.device)
        if targets.shape != probas.shape:
            raise ValueError(
                f"one-hot targets {tuple(targets.shape)} and probabilities "
                f"{tuple(probas.shape)} must have the same shape"
            )
        return self._gradients(features, targets, probas)

    def predict_proba(self, x: ArrayLike) -> torch.Tensor:
        """``P(y = t | x) = e^{z_t} / sum_j e^{z_j}``, shape ``(n, K)``."""
        return self.forward(x)[1]

    def predict_labels(self, x: ArrayLike) -> torch.Tensor:
        """``argmax_t P(y = t | x)`` (int64, shape ``(n,)``)."""
        return functional.argmax_labels(self.net_input(x))

    def cost(self, x: ArrayLike, y: ArrayLike) -> float:
        """Mean cross-entropy ``1/n sum_i sum_k -Y[i, k] log A[i, k]`` for class labels ``y``."""
        features = self._features(x)
        return self._cost(features, self._targets(y, features.shape[0]))

    def _cost(self, features: torch.Tensor, targets: torch.Tensor) -> float:
        logits = features @ self.weights.T + self.bias
        labels = targets.argmax(dim=1)
        return float(functional.cross_entropy_from_logits(logits, labels, "mean"))

    def evaluate(self, x: ArrayLike, y: ArrayLike) -> float:
        """Accuracy, the fraction of rows with ``predict_labels(x) == y``."""
        features = self._features(x)
        labels = as_class_labels(y, features.shape[0], self.num_classes, self.device)
        return float((self.predict_labels(features) == labels).double().mean())

    def train(
        self,
        x: ArrayLike,
        y: ArrayLike,
        num_epochs: int,
        learning_rate: float,
        *,
        batch_size: int | None = None,
        gradient: str = "mean",
        shuffle: bool = False,
        seed: int | None = None,
    ) -> list[float]:
        """Gradient descent on ``H = sum_i sum_k -Y[i, k] log A[i, k]``; cost per epoch.

        ``batch_size=1`` per sample, an integer for minibatches, ``None`` for the full batch;
        ``shuffle=True`` (with ``seed``) permutes the rows anew every epoch.
        """
        return self._train(x, y, num_epochs, learning_rate, batch_size, gradient, shuffle, seed)


class IndependentSigmoids(_ManualGradientModel):
    """One sigmoid per class, ``A = sigma(X W^T + b)``: multi-label, not mutually exclusive.

    Targets are ``Y`` in {0, 1}^K (an image can show a beach *and* the sea); the loss is the
    binary cross-entropy summed over the K outputs, so ``dL/dZ = A - Y`` and the gradients
    have the same form as softmax regression's.
    """

    def __init__(
        self,
        num_features: int,
        num_labels: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be an integer >= 1, got {num_labels!r}")
        super().__init__(num_features, num_labels, dtype=dtype, device=device)
        self.num_labels = num_labels

    _activation = staticmethod(functional.sigmoid)

    def _targets(self, y: ArrayLike, n_samples: int) -> torch.Tensor:
        return as_binary_targets(y, (n_samples, self.num_labels), self.dtype, self.device)

    def forward(self, x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``Z = X W^T + b`` and per-label probabilities ``A = sigma(Z)``, ``(n, K)``."""
        logits = self.net_input(x)
        return logits, self._activation(logits)

    def backward(
        self, x: ArrayLike, y: ArrayLike, probas: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``grad_W = -(X^T (Y - A))^T`` (K, m) and ``grad_b = -sum_i (Y - A)[i]`` (K,), summed."""
        features = self._features(x)
        return self._gradients(features, self._targets(y, features.shape[0]), probas)

    def predict_proba(self, x: ArrayLike) -> torch.Tensor:
        """``P(y_k = 1 | x) = sigma(z_k)`` per label, shape ``(n, K)``; rows need not sum to 1."""
        return self.forward(x)[1]

    def predict_labels(self, x: ArrayLike) -> torch.Tensor:
        """Label sets ``1 if sigma(z_k) > 0.5 else 0`` = ``1 if z_k > 0`` (int64, ``(n, K)``)."""
        return functional.threshold(self.net_input(x), 0.0)

    def cost(self, x: ArrayLike, y: ArrayLike) -> float:
        """Mean over samples of ``sum_k -(Y log A + (1 - Y) log(1 - A))[i, k]``."""
        features = self._features(x)
        return self._cost(features, self._targets(y, features.shape[0]))

    def _cost(self, features: torch.Tensor, targets: torch.Tensor) -> float:
        logits = features @ self.weights.T + self.bias
        losses = functional.binary_cross_entropy_from_logits(logits, targets, "none")
        return float(losses.sum(dim=1).mean())

    def evaluate(self, x: ArrayLike, y: ArrayLike) -> float:
        """Subset accuracy: the fraction of rows whose whole label set is predicted exactly."""
        features = self._features(x)
        targets = self._targets(y, features.shape[0])
        return float((self.predict_labels(features) == targets).all(dim=1).double().mean())

    def train(
        self,
        x: ArrayLike,
        y: ArrayLike,
        num_epochs: int,
        learning_rate: float,
        *,
        batch_size: int | None = None,
        gradient: str = "mean",
        shuffle: bool = False,
        seed: int | None = None,
    ) -> list[float]:
        """Gradient descent on ``sum_i sum_k BCE(A[i, k], Y[i, k])``; cost per epoch."""
        return self._train(x, y, num_epochs, learning_rate, batch_size, gradient, shuffle, seed)


class OneVsAll:
    """One-vs-all: K independent binary :class:`LogisticRegression` models, one per class.

    Model ``k`` learns ``y == k`` against the rest; a sample gets the class whose model gives
    the highest score, ``argmax_k z_k`` (the same as ``argmax_k sigma(z_k)``).
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        self.num_features = num_features
        self.num_classes = num_classes
        self.classifiers = [
            LogisticRegression(num_features, dtype=dtype, device=device) for _ in range(num_classes)
        ]

    @property
    def weights(self) -> torch.Tensor:
        """The K binary models' weights stacked, shape ``(K, m)``."""
        return torch.cat([model.weights for model in self.classifiers])

    @property
    def bias(self) -> torch.Tensor:
        """The K binary models' biases stacked, shape ``(K,)``."""
        return torch.cat([model.bias for model in self.classifiers])

    def decision_scores(self, x: ArrayLike) -> torch.Tensor:
        """Every binary model's net input ``z_k = w_k^T x + b_k``, shape ``(n, K)``."""
        return torch.stack([model.net_input(x) for model in self.classifiers], dim=1)

    def predict_proba(self, x: ArrayLike) -> torch.Tensor:
        """Per-class scores ``sigma(z_k)`` (independent; rows need not sum to 1), ``(n, K)``."""
        return functional.sigmoid(self.decision_scores(x))

    def predict_labels(self, x: ArrayLike) -> torch.Tensor:
        """``argmax_k z_k``, the class whose binary model is most confident (int64, ``(n,)``)."""
        return functional.argmax_labels(self.decision_scores(x))

    def evaluate(self, x: ArrayLike, y: ArrayLike) -> float:
        """Accuracy, the fraction of rows with ``predict_labels(x) == y``."""
        predictions = self.predict_labels(x)
        labels = as_class_labels(y, predictions.shape[0], self.num_classes, predictions.device)
        return float((predictions == labels).double().mean())

    def train(
        self,
        x: ArrayLike,
        y: ArrayLike,
        num_epochs: int,
        learning_rate: float,
        *,
        batch_size: int | None = None,
        gradient: str = "mean",
        shuffle: bool = False,
        seed: int | None = None,
    ) -> list[list[float]]:
        """Train model ``k`` on the binary targets ``1 if y == k else 0``; one cost trace per class.

        All K models see the rows in the same order (the same ``seed``).
        """
        check_training_arguments(num_epochs, learning_rate, batch_size, gradient, shuffle, seed)
        first = self.classifiers[0]
        features = as_feature_matrix(x, self.num_features, first.dtype, first.device)
        labels = as_class_labels(y, features.shape[0], self.num_classes, first.device)
        return [
            model.train(
                features,
                (labels == k).to(first.dtype),
                num_epochs,
                learning_rate,
                batch_size=batch_size,
                gradient=gradient,
                shuffle=shuffle,
                seed=seed,
            )
            for k, model in enumerate(self.classifiers)
        ]
