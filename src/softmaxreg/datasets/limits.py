"""Limits on what a data file may declare where a claim costs memory beyond the file's bytes.

A LIBSVM line ``1 200000000:1`` is 14 bytes but declares 200,000,001 features, and a model
over them needs that many weights per class; a gzipped CSV header of commas declares a
column per comma. Such counts are checked against :func:`max_features` before anything is
allocated. The limit is :data:`DEFAULT_MAX_FEATURES` (the feature count of scikit-learn's
``HashingVectorizer``), raised for a run by the environment variable
``SOFTMAXREG_MAX_FEATURES`` or in Python by :func:`set_max_features`.
"""

from __future__ import annotations

import os

from softmaxreg.errors import DataError

MAX_FEATURES_ENV = "SOFTMAXREG_MAX_FEATURES"
DEFAULT_MAX_FEATURES = 2**20
_override: int | None = None


def max_features() -> int:
    """The largest number of features (columns) a data file may declare."""
    if _override is not None:
        return _override
    value = os.environ.get(MAX_FEATURES_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_FEATURES
    if not value.isdigit() or int(value) < 1:
        raise DataError(f"{MAX_FEATURES_ENV} must be a positive whole number, got {value!r}")
    return int(value)


def set_max_features(limit: int | None) -> None:
    """Set the limit for this process (None: back to the environment variable or default)."""
    global _override
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"the feature limit must be a positive integer or None, got {limit!r}")
    _override = limit


def check_feature_count(count: int, claim: str) -> None:
    """Refuse ``count`` declared features above :func:`max_features`; ``claim`` says who
    declares how many (e.g. "data.svm: feature index 200000000 makes 200,000,001 features")."""
    limit = max_features()
    if count > limit:
        raise DataError(
            f"{claim}, above the limit of {limit:,} features; if the data really are that "
            f"wide, raise the limit with {MAX_FEATURES_ENV}=N"
        )
