"""The lecture's math: activations, losses and the gradients it derives.

Notation follows the lecture: net input (logit) ``z = w^T x + b``, activation
``a = sigma(z)`` (binary) or ``A = softmax(Z)`` (K classes), targets ``y`` in {0, 1}
or one-hot rows ``Y``. Every function accepts NumPy arrays or torch tensors and
answers in the same kind (NumPy in, NumPy out; tensors keep device and autograd).

All functions are numerically stable: they work from logits through log-sum-exp and
log-sigmoid, so ``|z|`` up to 1e4 gives finite values in float32 and float64 (softmax and
log-softmax stay finite for any non-NaN ``z``, infinities included).

Targets are checked the same way everywhere: class labels (``one_hot``,
``cross_entropy_from_logits``) must be integer indices in ``[0, K)`` (1.7 is refused, never
read as 1); binary and one-hot targets must lie in ``[0, 1]``. A bad target raises a one-line
``ValueError`` naming the first bad value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from softmaxreg._arrays import (
    ArrayLike,
    class_indices,
    floating,
    like_input,
    target_probabilities,
    to_tensor,
)

REDUCTIONS = ("none", "mean", "sum")

# PyTorch's binary_cross_entropy clamps log(p) at -100 so that p = 0 gives a finite loss;
# we do the same, so the "from probabilities" losses agree with torch.nn.functional.
_LOG_FLOOR = -100.0


def _reduce(losses: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return losses
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _clamped_log(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p).clamp(min=_LOG_FLOOR)


def _finite(z: torch.Tensor) -> torch.Tensor:
    """``z`` with ``+-inf`` replaced by the largest finite value of its dtype (NaN stays NaN).

    A softmax over ``[inf, 1]`` or ``[-inf, -inf]`` would compute ``inf - inf = NaN``; over the
    clamped scores it gives the limits ``[1, 0]`` and ``[1/2, 1/2]``.
    """
    largest = torch.finfo(z.dtype).max
    return z.clamp(min=-largest, max=largest)


# ----------------------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------------------


def sigmoid(z: ArrayLike) -> ArrayLike:
    """Logistic sigmoid, ``sigma(z) = 1 / (1 + e^{-z})``."""
    return like_input(torch.sigmoid(floating(to_tensor(z))), z)


def log_sigmoid(z: ArrayLike) -> ArrayLike:
    """``log sigma(z) = -log(1 + e^{-z})``, computed without overflow for large ``|z|``."""
    return like_input(F.logsigmoid(floating(to_tensor(z))), z)


def logit(p: ArrayLike) -> ArrayLike:
    """Inverse of the sigmoid, ``logit(p) = log(p / (1 - p))``; ``logit(sigma(z)) = z``."""
    p_tensor = floating(to_tensor(p))
    return like_input(torch.log(p_tensor) - torch.log1p(-p_tensor), p)


def softmax(z: ArrayLike, dim: int = -1) -> ArrayLike:
    """``softmax(z)_t = e^{z_t} / sum_j e^{z_j}`` along ``dim`` (the class axis).

    Finite for every non-NaN ``z``: infinite scores count as the largest finite ones.
    """
    return like_input(torch.softmax(_finite(floating(to_tensor(z))), dim=dim), z)


def log_softmax(z: ArrayLike, dim: int = -1) -> ArrayLike:
    """``log softmax(z)_t = z_t - log sum_j e^{z_j}`` (log-sum-exp, stable).

    Infinite scores count as the largest finite ones, as in :func:`softmax`.
    """
    return like_input(torch.log_softmax(_finite(floating(to_tensor(z))), dim=dim), z)


def one_hot(y: ArrayLike, num_classes: int | None = None) -> ArrayLike:
    """One-hot rows: ``Y[i, k] = 1 if y[i] == k else 0`` (float, shape ``(n, K)``).

    ``num_classes`` defaults to ``max(y) + 1``. Labels must be integers in ``[0, K)``.
    """
    labels = class_indices(y, num_classes)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.numel() else 0
    encoded = F.one_hot(labels, num_classes).to(torch.get_default_dtype())
    return like_input(encoded, y)


# ----------------------------------------------------------------------------------------
# Likelihood and losses
# ----------------------------------------------------------------------------------------


def bernoulli_likelihood(a: ArrayLike, y: ArrayLike) -> ArrayLike:
    """Bernoulli probability of each label, ``P(y | x) = a^y (1 - a)^(1 - y)``."""
    a_tensor, y_tensor = floating(to_tensor(a)), target_probabilities(y)
    return like_input(a_tensor**y_tensor * (1 - a_tensor) ** (1 - y_tensor), a, y)


def negative_log_likelihood(a: ArrayLike, y: ArrayLike, reduction: str = "sum") -> ArrayLike:
    """``-log prod_i P(y[i] | x[i]) = -sum_i log(a^y (1 - a)^(1 - y))``.

    Computed from the likelihood itself, the way the lecture defines it; it is the same
    quantity as :func:`binary_cross_entropy` (which sums the log terms directly).
    """
    likelihood = floating(to_tensor(bernoulli_likelihood(to_tensor(a), to_tensor(y))))
    return like_input(_reduce(-_clamped_log(likelihood), reduction), a, y)


def binary_cross_entropy(a: ArrayLike, y: ArrayLike, reduction: str = "mean") -> ArrayLike:
    """Binary cross-entropy from probabilities, ``L = -(y log a + (1 - y) log(1 - a))``.

    ``log`` is floored at -100 (as in PyTorch) so ``a`` of exactly 0 or 1 stays finite.
    """
    a_tensor, y_tensor = floating(to_tensor(a)), target_probabilities(y)
    losses = -(y_tensor * _clamped_log(a_tensor) + (1 - y_tensor) * _clamped_log(1 - a_tensor))
    return like_input(_reduce(losses, reduction), a, y)


def binary_cross_entropy_from_logits(
    z: ArrayLike, y: ArrayLike, reduction: str = "mean"
) -> ArrayLike:
    """Binary cross-entropy from the net input: ``L = -(y log sigma(z) + (1 - y) log sigma(-z))``.

    Uses ``log sigma(-z) = log sigma(z) - z`` so it is exact for any finite ``z``.
    """
    z_tensor, y_tensor = floating(to_tensor(z)), target_probabilities(y)
    losses = (1 - y_tensor) * z_tensor - F.logsigmoid(z_tensor)
    return like_input(_reduce(losses, reduction), z, y)


def cross_entropy(a: ArrayLike, y_onehot: ArrayLike, reduction: str = "mean") -> ArrayLike:
    """Multi-category cross-entropy from probabilities, ``L_i = -sum_k Y[i, k] log A[i, k]``.

    ``a`` and ``y_onehot`` have shape ``(n, K)``; ``log`` is floored at -100.
    """
    a_tensor, y_tensor = floating(to_tensor(a)), target_probabilities(y_onehot)
    if a_tensor.shape != y_tensor.shape:
        raise ValueError(
            f"probabilities {tuple(a_tensor.shape)} and one-hot targets "
            f"{tuple(y_tensor.shape)} must have the same shape"
        )
    losses = -(y_tensor * _clamped_log(a_tensor)).sum(dim=-1)
    return like_input(_reduce(losses, reduction), a, y_onehot)


def cross_entropy_from_logits(z: ArrayLike, y: ArrayLike, reduction: str = "mean") -> ArrayLike:
    """Cross-entropy from net inputs and integer labels, ``L_i = -log softmax(z_i)_{y_i}``.

    Equal to ``torch.nn.functional.cross_entropy(z, y)``; ``z`` is ``(n, K)``, ``y`` is ``(n,)``.
    ``ValueError`` when a label is not an integer in ``[0, K)``.
    """
    z_tensor = floating(to_tensor(z))
    labels = class_indices(y, z_tensor.shape[-1])
    log_a = torch.log_softmax(_finite(z_tensor), dim=-1)
    losses = -log_a.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return like_input(_reduce(losses, reduction), z, y)


# ----------------------------------------------------------------------------------------
# Gradients derived in the lecture
# ----------------------------------------------------------------------------------------


def sigmoid_grad(z: ArrayLike) -> ArrayLike:
    """Derivative of the sigmoid, ``d sigma / dz = sigma(z) (1 - sigma(z))``."""
    s = torch.sigmoid(floating(to_tensor(z)))
    return like_input(s * (1 - s), z)


def binary_cross_entropy_grad_a(a: ArrayLike, y: ArrayLike) -> ArrayLike:
    """Derivative of the loss with respect to the activation, ``dL/da = (a - y) / (a - a^2)``."""
    a_tensor, y_tensor = floating(to_tensor(a)), target_probabilities(y)
    return like_input((a_tensor - y_tensor) / (a_tensor - a_tensor**2), a, y)


def binary_cross_entropy_grad_z(z: ArrayLike, y: ArrayLike) -> ArrayLike:
    """Chain rule ``dL/dz = dL/da * da/dz = a - y`` for one sample (elementwise)."""
    z_tensor, y_tensor = floating(to_tensor(z)), target_probabilities(y)
    return like_input(torch.sigmoid(z_tensor) - y_tensor, z, y)


def softmax_jacobian(z: ArrayLike) -> ArrayLike:
    """Jacobian of the softmax, ``da_j / dz_k = a_j (delta_jk - a_k)``.

    For ``z`` of shape ``(..., K)`` returns ``(..., K, K)``; the diagonal is
    ``a_j (1 - a_j)`` and the off-diagonal ``-a_j a_k``, as on the slide.
    """
    a = torch.softmax(floating(to_tensor(z)), dim=-1)
    jacobian = torch.diag_embed(a) - a.unsqueeze(-1) * a.unsqueeze(-2)
    return like_input(jacobian, z)


def cross_entropy_grad_z(z: ArrayLike, y_onehot: ArrayLike) -> ArrayLike:
    """Gradient of the per-sample cross-entropy with respect to the net inputs, ``A - Y``."""
    z_tensor, y_tensor = floating(to_tensor(z)), target_probabilities(y_onehot)
    return like_input(torch.softmax(z_tensor, dim=-1) - y_tensor, z, y_onehot)


def cross_entropy_grad_a(a: ArrayLike, y_onehot: ArrayLike) -> ArrayLike:
    """Derivative of the cross-entropy with respect to each activation, ``dL/da_j = -y_j / a_j``."""
    a_tensor, y_tensor = floating(to_tensor(a)), target_probabilities(y_onehot)
    return like_input(-y_tensor / a_tensor, a, y_onehot)


# ----------------------------------------------------------------------------------------
# From probabilities to labels
# ----------------------------------------------------------------------------------------


def threshold(a: ArrayLike, cutoff: float = 0.5) -> ArrayLike:
    """Labels from probabilities, ``1 if a > cutoff else 0`` (int64).

    With the default cutoff this equals ``1 if z > 0 else 0`` on the net input.
    """
    return like_input((floating(to_tensor(a)) > cutoff).long(), a)


def argmax_labels(scores: ArrayLike) -> ArrayLike:
    """Class labels from per-class scores or probabilities, ``argmax_k scores[i, k]``."""
    return like_input(to_tensor(scores).argmax(dim=-1), scores)
