"""The feature transform a model was trained with, stored beside its weights.

One affine form covers what the data sets apply: ``x' = (x - shift) * scale``, with
``shift`` and ``scale`` scalars or one value per feature. MNIST's pixels / 255 is
``{"shift": 0, "scale": 1/255}``; the lecture's standardisation ``(x - mu) / sigma`` is
``{"shift": mu, "scale": 1/sigma}``. Saved in the model file's metadata (plain JSON), so
``softmaxreg predict`` and ``softmaxreg serve`` apply exactly what training applied.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from softmaxreg.errors import DataError


def affine(shift: Any = 0.0, scale: Any = 1.0) -> dict[str, Any]:
    """The spec of ``x' = (x - shift) * scale`` as JSON-ready values."""
    return {"shift": _plain(shift), "scale": _plain(scale)}


def standardization(mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    """``x' = (x - mu) / sigma``; features with ``sigma = 0`` are only centred."""
    std = np.asarray(std, dtype=np.float64)
    return affine(mean, 1.0 / np.where(std > 0, std, 1.0))


def apply(X: Any, spec: dict[str, Any] | None, n_features: int | None = None) -> Any:
    """Apply ``x' = (x - shift) * scale`` to the rows of ``X`` (dense or CSR); None = as is.

    A sparse ``X`` keeps its zeros only when ``shift`` is 0 (a centring would fill it), so
    a non-zero shift on sparse input is refused with an error.
    """
    if not spec:
        return X
    shift = np.asarray(spec.get("shift", 0.0), dtype=np.float64)
    scale = np.asarray(spec.get("scale", 1.0), dtype=np.float64)
    width = X.shape[1] if n_features is None else n_features
    for name, values in (("shift", shift), ("scale", scale)):
        if values.ndim not in (0, 1) or (values.ndim == 1 and values.shape[0] != width):
            raise DataError(
                f"the model's preprocessing {name} has shape {values.shape}, which does not "
                f"fit {width} features"
            )
    if sp.issparse(X):
        if np.any(shift != 0):
            raise DataError(
                "this model centres its features, which cannot be applied to sparse input; "
                "pass the features as a dense array"
            )
        return sp.csr_matrix(X.multiply(scale.reshape(1, -1) if scale.ndim else scale))
    dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
    return ((np.asarray(X, dtype=np.float64) - shift) * scale).astype(dtype, copy=False)


def _plain(values: Any) -> float | list[float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array) if array.ndim == 0 else [float(value) for value in array]
