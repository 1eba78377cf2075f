"""The library's own exceptions.

Every error softmaxreg raises on purpose derives from :class:`SoftmaxregError`, so a caller
can catch "anything this library refused" in one ``except``. The concrete classes also derive
from the built-in exception a Python user would expect (``ValueError`` for bad values,
``FileNotFoundError`` for missing data), so code written against the built-ins keeps working.

Messages name the problem, the input at fault (file, column, row) and what would be accepted.
"""

from __future__ import annotations


class SoftmaxregError(Exception):
    """Base class of every error raised on purpose by softmaxreg."""


class DataError(SoftmaxregError, ValueError):
    """Input data that cannot be used: unreadable, corrupt, malformed, non-numeric, NaN/inf."""


class DataNotFoundError(DataError, FileNotFoundError):
    """A data set or file that is not where it was looked for (and could not be downloaded)."""


class ModelFileError(SoftmaxregError, ValueError):
    """A saved model that cannot be loaded: truncated, checksum mismatch, unknown format."""


class InferenceError(SoftmaxregError, ValueError):
    """Standard errors, tests or intervals that cannot be computed for this model and data."""


class PerfectSeparationError(InferenceError):
    """The features separate the classes: the maximum-likelihood estimate does not exist.

    (statsmodels raises an exception of the same name for ``Logit`` / ``MNLogit``.)
    """


class SingularHessianError(InferenceError):
    """The Hessian at the optimum is singular: some parameters are not identified."""


__all__ = [
    "DataError",
    "DataNotFoundError",
    "InferenceError",
    "ModelFileError",
    "PerfectSeparationError",
    "SingularHessianError",
    "SoftmaxregError",
]
