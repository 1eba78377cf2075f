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
