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


def check(spec: Any, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """``(shift, scale)`` of the spec ``x' = (x - shift) * scale`` as float64 arrays.

    Each is one number or one number per feature, and finite; no scale is 0. Raises
    :class:`~softmaxreg.errors.DataError` naming what is wrong for anything else (other
    keys, strings, NaN or infinite values, a wrong length).
    """
    if not isinstance(spec, dict) or not set(spec) <= {"shift", "scale"}:
        raise DataError(
            f"the preprocessing {spec!r:.80} is not x' = (x - shift) * scale: expected a dict "
            "with 'shift' and/or 'scale'"
        )
    arrays = []
    for name, default in (("shift", 0.0), ("scale", 1.0)):
        value = spec.get(name, default)
        try:
            values = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            raise DataError(
                f"the preprocessing {name} {value!r:.80} is not a number or a list of numbers"
            ) from None
        if values.ndim > 1 or (values.ndim == 1 and values.shape[0] != n_features):
            raise DataError(
                f"the preprocessing {name} has shape {values.shape}, which does not fit "
                f"{n_features} features (one number, or one per feature)"
            )
        if not np.all(np.isfinite(values)):
            raise DataError(f"the preprocessing {name} holds NaN or infinite values")
        if name == "scale" and np.any(values == 0):
            raise DataError(
                "the preprocessing scale holds 0, which would erase a feature (every value "
                "of it becomes 0); a constant feature is scaled by 1"
            )
        arrays.append(values)
    return arrays[0], arrays[1]


def apply(X: Any, spec: dict[str, Any] | None, n_features: int | None = None) -> Any:
    """Apply ``x' = (x - shift) * scale`` to the rows of ``X`` (dense or CSR); None = as is.

    A sparse ``X`` keeps its zeros only when ``shift`` is 0 (a centring would fill it), so
    a non-zero shift on sparse input is refused with an error.
    """
    if not spec:
        return X
    shift, scale = check(spec, X.shape[1] if n_features is None else n_features)
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
