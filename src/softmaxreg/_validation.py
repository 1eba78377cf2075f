"""Checks of the estimator's constructor parameters and of where and how it computes.

scikit-learn's convention is that ``__init__`` only stores parameters and ``fit`` checks them;
:func:`check_parameters` is that check. Every message names the parameter, the value given
and what would be accepted.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass

import numpy as np
import torch

PENALTIES = ("l2", None)
SOLVERS = ("auto", "lbfgs", "newton-cg", "gd", "sgd", "sample-sgd")
MULTI_CLASS = ("auto", "multinomial", "ovr")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Settings:
    """The estimator's parameters after checking, in the form the fit needs."""

    solver: str
    dtype: torch.dtype | None  # None: follow X (float32 stays float32, else float64)
    device: torch.device
    random_state: int | None


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive_number(name: str, value, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not _is_number(value) or not np.isfinite(value) or value <= 0:
        accepted = "a finite number > 0" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {accepted}, got {value!r}")


def _positive_int(name: str, value, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not _is_int(value) or value < 1:
        accepted = "an integer >= 1" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {accepted}, got {value!r}")


def _choice(name: str, value, choices: tuple) -> None:
    if not any(value is choice or value == choice for choice in choices):
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def resolve_device(device) -> torch.device:
    """``'cpu'``, ``'cuda'`` or ``'cuda:N'`` as a torch device, refusing CUDA when it is absent."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r} ({error})"
        ) from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available here "
                "(torch.cuda.is_available() is False: no NVIDIA GPU, or a CPU-only build of "
                "PyTorch); use device='cpu'"
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(
                f"device={device!r} was requested but only {count} CUDA device(s) exist "
                f"(cuda:0 .. cuda:{count - 1})"
            )
    return resolved


def resolve_dtype(dtype) -> torch.dtype | None:
    """``None`` (follow X), ``'float32'`` or ``'float64'`` (NumPy/torch dtypes also accepted)."""
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = repr(dtype)
    if name not in DTYPES:
        raise ValueError(f"dtype must be None, 'float32' or 'float64', got {dtype!r}")
    return DTYPES[name]


def resolve_random_state(random_state) -> int | None:
    """An integer seed (or ``None``); a ``RandomState`` draws one seed from its stream."""
    if random_state is None:
        return None
    if _is_int(random_state):
        if random_state < 0:
            raise ValueError(f"random_state must be an integer >= 0, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    raise ValueError(
        "random_state must be None, an integer seed or a numpy RandomState/Generator, "
        f"got {random_state!r}"
    )


def check_parameters(estimator, default_solver: str) -> Settings:
    """Check every constructor parameter of ``LogisticRegression``; return the resolved settings."""
    _positive_number("C", estimator.C)
    _choice("penalty", estimator.penalty, PENALTIES)
    if not isinstance(estimator.fit_intercept, (bool, np.bool_)):
        raise ValueError(f"fit_intercept must be True or False, got {estimator.fit_intercept!r}")
    _choice("solver", estimator.solver, SOLVERS)
    _positive_int("max_iter", estimator.max_iter)
    if estimator.tol is not None and (
        not _is_number(estimator.tol) or not np.isfinite(estimator.tol) or estimator.tol < 0
    ):
        raise ValueError(f"tol must be a finite number >= 0 or None, got {estimator.tol!r}")
    _choice("multi_class", estimator.multi_class, MULTI_CLASS)
    _positive_int("batch_size", estimator.batch_size, allow_none=True)
    _positive_number("learning_rate", estimator.learning_rate, allow_none=True)
    if not isinstance(estimator.warm_start, (bool, np.bool_)):
        raise ValueError(f"warm_start must be True or False, got {estimator.warm_start!r}")
    if not _is_int(estimator.verbose) or estimator.verbose < 0:
        raise ValueError(f"verbose must be an integer >= 0, got {estimator.verbose!r}")
    solver = default_solver if estimator.solver == "auto" else estimator.solver
    if estimator.tol is None and solver not in ("sgd", "sample-sgd"):
        raise ValueError(
            f"tol=None (no early stopping) is only for the minibatch solvers 'sgd' and "
            f"'sample-sgd'; solver={solver!r} needs a tolerance such as tol=1e-4"
        )
    return Settings(
        solver=solver,
        dtype=resolve_dtype(estimator.dtype),
        device=resolve_device(estimator.device),
        random_state=resolve_random_state(estimator.random_state),
    )


def as_tensor(X, dtype: torch.dtype):
    """A validated dense NumPy ``X`` as a torch tensor, sharing memory when the dtype matches.

    Read-only arrays (memory maps) are shared as well: the objective only reads ``X``.
    """
    array = np.ascontiguousarray(X)
    with warnings.catch_warnings():
        # torch warns that it cannot protect a read-only buffer; nothing here writes to X.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        tensor = torch.from_numpy(array)
    return tensor if tensor.dtype == dtype else tensor.to(dtype)
