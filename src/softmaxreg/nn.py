"""The lecture's models as ``torch.nn.Module``s, trained with autograd and ``torch.optim.SGD``.

Each module wraps one ``torch.nn.Linear`` layer whose weight and bias start at zero (as in the
lecture), returns ``(logits, probas)`` from ``forward`` and knows its own loss. :func:`train`
runs the same recipes as :mod:`softmaxreg.scratch` (per-sample, minibatch, full batch with the
summed or mean gradient, the same seeded batch order), so the two versions trained the same
way reach the same weights and cost traces.
"""

from __future__ import annotations

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

__all__ = [
    "IndependentSigmoidsModule",
    "LogisticRegressionModule",
    "SoftmaxRegressionModule",
    "train",
]


class _ZeroInitLinearModel(torch.nn.Module):
    """``Z = X W^T + b`` through ``torch.nn.Linear(m, K)`` with ``W = 0`` and ``b = 0``."""

    def __init__(
        self,
        num_features: int,
        num_outputs: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(num_features, int) or num_features < 1:
            raise ValueError(f"num_features must be an integer >= 1, got {num_features!r}")
        self.num_features = num_features
        self.linear = torch.nn.Linear(num_features, num_outputs, dtype=dtype, device=device)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.zero_()

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``Z = X W^T + b``, shape ``(n, K)``."""
        return self.linear(x)

    def features(self, x: ArrayLike) -> torch.Tensor:
        """``X`` as an ``(n, m)`` tensor of the layer's dtype and device, or a clear error."""
        weight = self.linear.weight
        return as_feature_matrix(x, self.num_features, weight.dtype, weight.device)


class LogisticRegressionModule(_ZeroInitLinearModel):
    """Binary logistic regression: logits ``z = w^T x + b`` (n,), probas ``sigma(z)`` (n,)."""

    def __init__(
        self,
        num_features: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(num_features, 1, dtype=dtype, device=device)

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``z = w^T x + b``, shape ``(n,)``."""
        return self.linear(x)[:, 0]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z = w^T x + b`` and ``a = sigma(z)``, both of shape ``(n,)``."""
        logits = self.net_input(x)
        return logits, torch.sigmoid(logits)

    def targets(self, y: ArrayLike, n_samples: int) -> torch.Tensor:
        """``y`` in {0, 1} as a float tensor of shape ``(n,)``, or a clear error."""
        weight = self.linear.weight
        return as_binary_targets(y, (n_samples,), weight.dtype, weight.device)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        """Binary cross-entropy ``-(y log sigma(z) + (1 - y) log(1 - sigma(z)))``, reduced."""
        return functional.binary_cross_entropy_from_logits(logits, targets, reduction)

    @torch.no_grad()
    def predict_labels(self, x: ArrayLike) -> torch.Tensor:
        """``1 if sigma(z) > 0.5 else 0``, computed as ``1 if z > 0 else 0`` (int64, ``(n,)``)."""
        return functional.threshold(self.net_input(self.features(x)), 0.0)


class SoftmaxRegressionModule(_ZeroInitLinearModel):
    """Softmax regression: logits ``Z = X W^T + b`` and probas ``softmax(Z)``, both ``(n, K)``."""

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        super().__init__(num_features, num_classes, dtype=dtype, device=device)
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Z = X W^T + b`` and ``A = softmax(Z)`` along the class axis."""
        logits = self.net_input(x)
        return logits, functional.softmax(logits, dim=1)

    def targets(self, y: ArrayLike, n_samples: int) -> torch.Tensor:
        """Integer class indices in ``[0, K)`` as an int64 tensor of shape ``(n,)``."""
        return as_class_labels(y, n_samples, self.num_classes, self.linear.weight.device)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        """Cross-entropy on logits, ``L_i = -log softmax(z_i)_{y_i}`` (``F.cross_entropy``)."""
        return functional.cross_entropy_from_logits(logits, targets, reduction)

    @torch.no_grad()
    def predict_labels(self, x: ArrayLike) -> torch.Tensor:
        """``argmax_t P(y = t | x) = argmax_t z_t`` (int64, shape ``(n,)``)."""
        return functional.argmax_labels(self.net_input(self.features(x)))


class IndependentSigmoidsModule(_ZeroInitLinearModel):
    """Multi-label model: logits ``Z = X W^T + b`` and one sigmoid per label, ``sigma(Z)``."""

    def __init__(
        self,
        num_features: int,
        num_labels: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        if not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels must be an integer >= 1, got {num_labels!r}")
        super().__init__(num_features, num_labels, dtype=dtype, device=device)
        self.num_labels = num_labels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``Z = X W^T + b`` and ``A = sigma(Z)`` elementwise (rows need not sum to 1)."""
        logits = self.net_input(x)
        return logits, torch.sigmoid(logits)

    def targets(self, y: ArrayLike, n_samples: int) -> torch.Tensor:
        """``Y`` in {0, 1}^K as a float tensor of shape ``(n, K)``, or a clear error."""
        weight = self.linear.weight
        return as_binary_targets(y, (n_samples, self.num_labels), weight.dtype, weight.device)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, reduction: str) -> torch.Tensor:
        """Per sample ``sum_k -(Y log sigma(Z) + (1 - Y) log(1 - sigma(Z)))[i, k]``, reduced."""
        per_sample = functional.binary_cross_entropy_from_logits(logits, targets, "none").sum(1)
        return per_sample.sum() if reduction == "sum" else per_sample.mean()

    @torch.no_grad()
    def predict_labels(self, x: ArrayLike) -> torch.Tensor:
        """Label sets ``1 if sigma(z_k) > 0.5 else 0`` = ``1 if z_k > 0`` (int64, ``(n, K)``)."""
        return functional.threshold(self.net_input(self.features(x)), 0.0)


LectureModule = LogisticRegressionModule | SoftmaxRegressionModule | IndependentSigmoidsModule


def train(
    model: LectureModule,
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
    """Minimise the model's loss with autograd and ``torch.optim.SGD``: ``theta -= eta grad``.

    For every batch: forward pass to the logits, loss (``reduction=gradient``: ``"sum"`` or
    ``"mean"`` over the batch), ``zero_grad``, ``backward``, ``step``. ``batch_size=1`` is
    per-sample SGD, ``None`` the full batch; ``shuffle=True`` (with ``seed``) permutes the
    rows every epoch exactly as :mod:`softmaxreg.scratch` does. Returns the cost trace: the
    mean loss over the whole training set after each epoch. A run whose cost explodes stops
    with a ``ConvergenceWarning`` and keeps the weights of its lowest cost.
    """
    check_training_arguments(num_epochs, learning_rate, batch_size, gradient, shuffle, seed)
    features = model.features(x).detach()  # the data are constants, only W and b learn
    n_samples = features.shape[0]
    targets = model.targets(y, n_samples)
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    order_generator = order_generator_for(shuffle, seed)
    gather_buffer = _batch_buffer(features, batch_size, order_generator)
    with torch.no_grad():
        start_cost = float(model.loss(model.net_input(features), targets, "mean"))
    guard = DivergenceGuard(
        f"nn.{type(model).__name__}", learning_rate, list(model.parameters()), start_cost
    )
    cost_trace = []
    for epoch in range(1, num_epochs + 1):
        for rows in epoch_batches(n_samples, batch_size, order_generator, features.device):
            x_batch = _select_rows(features, rows, gather_buffer)
            logits = model.net_input(x_batch)  # forward pass (the probabilities are not needed)
            cost = model.loss(logits, targets[rows], gradient)
            optimizer.zero_grad()
            cost.backward()
            optimizer.step()
        with torch.no_grad():
            cost = float(model.loss(model.net_input(features), targets, "mean"))
        if guard.diverged(epoch, cost):  # the best weights are back; a warning says why
            break
        cost_trace.append(cost)
    return cost_trace


def _batch_buffer(
    features: torch.Tensor, batch_size: int | None, order_generator: torch.Generator | None
) -> torch.Tensor | None:
    """A reusable ``(batch_size, m)`` block for shuffled batches (None when none is needed).

    Gathering shuffled rows into one preallocated block instead of a new tensor per batch
    saves an allocation (and the page faults behind it) on every step; the block is only
    overwritten after the previous step's backward pass and update are done.
    """
    if order_generator is None or batch_size is None:
        return None
    return features.new_empty((min(batch_size, features.shape[0]), features.shape[1]))


def _select_rows(
    features: torch.Tensor, rows: torch.Tensor | slice, buffer: torch.Tensor | None
) -> torch.Tensor:
    """``X[rows]``: a view for a slice, else the rows gathered (into ``buffer`` when given)."""
    if isinstance(rows, slice):
        return features[rows]
    if buffer is None:
        return features[rows]
    return torch.index_select(features, 0, rows, out=buffer[: rows.shape[0]])
