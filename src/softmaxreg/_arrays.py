"""Small helpers that let the math accept NumPy arrays and torch tensors alike.

Every public function in :mod:`softmaxreg.functional` converts its inputs with
:func:`to_tensor` and hands the result back with :func:`like_input`, so a NumPy
caller gets NumPy back and a torch caller keeps autograd and the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

ArrayLike = Any  # numpy.ndarray | torch.Tensor | nested lists of numbers


def to_tensor(x: ArrayLike, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Return ``x`` as a torch tensor without copying when it already is one (or NumPy)."""
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(dtype)
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"expected numbers, got an array of dtype {array.dtype}")
    # (np.ascontiguousarray would turn a 0-d scalar into shape (1,))
    tensor = torch.from_numpy(array if array.flags.c_contiguous else array.copy())
    return tensor if dtype is None else tensor.to(dtype)


def dense_array(x, dtype=None) -> np.ndarray:
    """``x`` as a NumPy array: a scipy.sparse matrix densified (``coef_`` after
    ``sparsify()``), anything else through ``np.asarray`` (no copy where none is needed)."""
    if hasattr(x, "toarray") and hasattr(x, "nnz"):  # scipy.sparse, without importing it
        x = x.toarray()
    return np.asarray(x, dtype=dtype)


def is_numpy_input(*inputs: ArrayLike) -> bool:
    """True when none of the inputs is a torch tensor (results then go back as NumPy)."""
    return not any(isinstance(x, torch.Tensor) for x in inputs)


def like_input(result: torch.Tensor, *inputs: ArrayLike) -> ArrayLike:
    """Give ``result`` back in the caller's type: NumPy unless some input was a tensor."""
    if is_numpy_input(*inputs):
        return result.detach().cpu().numpy()
    return result


def floating(x: torch.Tensor) -> torch.Tensor:
    """Promote integer or boolean tensors to the default float dtype; keep float dtypes."""
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def class_indices(y: ArrayLike, num_classes: int | None = None) -> torch.Tensor:
    """Class labels ``y`` as int64 indices in ``[0, K)``, or a one-line ``ValueError``.

    The one label check of the functional API, the scratch and the nn models: a float label
    must be a whole finite number (1.7, NaN and inf are refused, never truncated), no index
    may be negative, and with ``num_classes = K`` none may be ``>= K``.
    """
    labels = to_tensor(y)
    if labels.is_floating_point():
        bad = ~torch.isfinite(labels) | (labels != labels.round())
        if bool(bad.any()):
            value = float(labels[bad].flatten()[0])
            raise ValueError(f"class labels must be integer class indices, got {value:g}")
    labels = labels.long()
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"class indices must be >= 0, got {int(labels.min())}")
    if num_classes is not None and labels.numel() and int(labels.max()) >= num_classes:
        raise ValueError(
            f"class index {int(labels.max())} is out of range for num_classes={num_classes} "
            f"(labels must lie in [0, {num_classes}))"
        )
    return labels


def target_probabilities(y: ArrayLike) -> torch.Tensor:
    """Targets ``y`` (labels 0/1, one-hot rows, or probabilities) as floats in ``[0, 1]``.

    Raises a one-line ``ValueError`` naming the first value outside ``[0, 1]`` (or NaN).
    """
    targets = floating(to_tensor(y))
    bad = ~((targets >= 0) & (targets <= 1))
    if bool(bad.any()):
        value = float(targets[bad].flatten()[0])
        raise ValueError(
            f"targets must be labels 0 or 1 (or probabilities in [0, 1]), got {value:g}"
        )
    return targets
