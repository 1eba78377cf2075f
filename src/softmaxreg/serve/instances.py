"""Turn the JSON rows of a /predict request into the matrix ``X`` (n, m), or say what is wrong.

Accepted per row: a list of exactly ``m`` JSON numbers, or (for models with feature names)
an object with exactly those names as keys and numbers as values. Numbers must be finite
(no NaN, Infinity, or integers too large for a float64); ``true``/``false`` and strings are
refused. The batch must hold between 1 and ``max_rows`` rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_NUMBER_TYPES = {int, float}


class InstancesError(ValueError):
    """A /predict body that cannot become a feature matrix; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def instances_matrix(
    instances: Any, n_features: int, feature_names: list[str] | None, max_rows: int
) -> np.ndarray:
    """``X`` float64 (n, m) with ``X[i, j]`` = feature j of row i, checked as described above."""
    if not isinstance(instances, list):
        raise InstancesError(f"'instances' must be a list of rows, got {_json_type(instances)}")
    if not instances:
        raise InstancesError("'instances' is empty; send at least one row")
    if len(instances) > max_rows:
        raise InstancesError(
            f"too many rows: {len(instances)} in one request, at most {max_rows} are accepted; "
            "split the batch",
            status=413,
        )
    X = np.empty((len(instances), n_features), dtype=np.float64)
    for i, row in enumerate(instances):
        X[i] = _row_values(row, i, n_features, feature_names)
    return X


def _row_values(row: Any, i: int, n_features: int, feature_names: list[str] | None) -> np.ndarray:
    if isinstance(row, dict):
        row = _named_row(row, i, feature_names)
    elif not isinstance(row, list):
        raise InstancesError(
            f"instances[{i}] is {_json_type(row)}; each row must be a list of {n_features} "
            "numbers" + (" or an object keyed by feature name" if feature_names else "")
        )
    if len(row) != n_features:
        raise InstancesError(
            f"instances[{i}] has {len(row)} values, but the model expects {n_features} features"
        )
    if not set(map(type, row)) <= _NUMBER_TYPES:
        j, value = next((j, v) for j, v in enumerate(row) if type(v) not in _NUMBER_TYPES)
        raise InstancesError(
            f"instances[{i}][{j}] is {_json_type(value)}; features must be numbers"
        )
    try:
        values = np.asarray(row, dtype=np.float64)
    except OverflowError:
        values = np.asarray([_to_float(v) for v in row])
    if not np.isfinite(values).all():
        j = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InstancesError(
            f"instances[{i}][{j}] is {_short(row[j])}; features must be finite numbers "
            "(no NaN or Infinity)"
        )
    return values


def _to_float(value: float | int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _named_row(row: dict, i: int, feature_names: list[str] | None) -> list:
    if feature_names is None:
        raise InstancesError(
            f"instances[{i}] is an object, but this model has no feature names; send each "
            "row as a list of numbers"
        )
    missing = [name for name in feature_names if name not in row]
    unknown = [name for name in row if name not in set(feature_names)]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing[:10]))}")
        if unknown:
            parts.append(f"unknown {', '.join(map(repr, unknown[:10]))}")
        raise InstancesError(
            f"instances[{i}]: {'; '.join(parts)}; the model's features are "
            f"{', '.join(map(repr, feature_names[:20]))}"
            + (" ..." if len(feature_names) > 20 else "")
        )
    return [row[name] for name in feature_names]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a string ({_short(value)})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
