"""Pieces shared by the manual-gradient and the autograd training loops.

Both :mod:`softmaxreg.scratch` and :mod:`softmaxreg.nn` check their inputs and draw their
batches from here, so a model trained "the same way" by either sees exactly the same rows in
the same order.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from softmaxreg._arrays import ArrayLike, class_indices, to_tensor

GRADIENT_SCALINGS = ("mean", "sum")


def check_training_arguments(
    num_epochs: int,
    learning_rate: float,
    batch_size: int | None,
    gradient: str,
    shuffle: bool,
    seed: int | None,
) -> None:
    """Raise ``ValueError`` early, naming the bad argument and what would be accepted."""
    if not isinstance(num_epochs, int) or num_epochs < 0:
        raise ValueError(f"num_epochs must be an integer >= 0, got {num_epochs!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(
            f"batch_size must be None (full batch) or an integer >= 1, got {batch_size!r}"
        )
    if gradient not in GRADIENT_SCALINGS:
        raise ValueError(f"gradient must be one of {GRADIENT_SCALINGS}, got {gradient!r}")
    if shuffle and seed is None:
        raise ValueError("shuffle=True needs an explicit integer seed, e.g. seed=123")


def epoch_batches(
    n_samples: int,
    batch_size: int | None,
    order_generator: torch.Generator | None,
    device: torch.device | str = "cpu",
) -> Iterator[torch.Tensor | slice]:
    """Row selections for one epoch: ``slice`` objects in data order, or index tensors.

    ``batch_size=None`` gives one full batch; ``batch_size=1`` walks the samples one by one
    (the lecture's per-sample rule). With ``order_generator`` the rows are permuted first by
    ``torch.randperm(n, generator=order_generator)`` (drawn on the CPU, so every device sees
    the same order), a new permutation every epoch, and moved to ``device``.
    """
    size = n_samples if batch_size is None else batch_size
    size = max(size, 1)
    if order_generator is None:
        for start in range(0, n_samples, size):
            yield slice(start, start + size)
        return
    permutation = torch.randperm(n_samples, generator=order_generator).to(device)
    for start in range(0, n_samples, size):
        yield permutation[start : start + size]


def order_generator_for(shuffle: bool, seed: int | None) -> torch.Generator | None:
    """A CPU generator seeded once with ``seed`` when shuffling, else ``None`` (data order)."""
    if not shuffle:
        return None
    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator


def as_feature_matrix(
    x: ArrayLike, num_features: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``X`` as an ``(n, m)`` tensor of the model's dtype and device, or a clear error.

    Values that are not finite in ``dtype`` (NaN, inf, or 1e300 in float32) are refused: they
    would make every net input of their row NaN.
    """
    features = to_tensor(x)
    if features.ndim != 2 or features.shape[1] != num_features:
        raise ValueError(
            f"X must have shape (n_samples, {num_features}), got {tuple(features.shape)}"
        )
    converted = features.to(dtype=dtype, device=device)
    if converted.is_floating_point() and not bool(torch.isfinite(converted).all()):
        bad = features[~torch.isfinite(converted.to(features.device))].flatten()[0]
        raise ValueError(
            f"X must hold finite numbers of the model's dtype {dtype} (largest "
            f"{torch.finfo(dtype).max:.3g}), got {float(bad):g}"
        )
    return converted


def as_binary_targets(
    y: ArrayLike, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Targets in {0, 1} of the given shape, as floats, or a clear error."""
    targets = to_tensor(y)
    if tuple(targets.shape) != shape:
        raise ValueError(f"y must have shape {shape}, got {tuple(targets.shape)}")
    targets = targets.to(dtype=dtype, device=device)
    if not bool(((targets == 0) | (targets == 1)).all()):
        raise ValueError("y must contain only the labels 0 and 1")
    return targets


def as_class_labels(
    y: ArrayLike, n_samples: int, num_classes: int, device: torch.device
) -> torch.Tensor:
    """Integer class indices ``(n,)`` in ``[0, K)`` as int64, or a clear error."""
    labels = to_tensor(y)
    if tuple(labels.shape) != (n_samples,):
        raise ValueError(f"y must have shape ({n_samples},), got {tuple(labels.shape)}")
    return class_indices(labels, num_classes).to(device)
