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

from softmaxreg.solvers._common import MAX_SEED

PENALTIES = ("l1", "l2", "elasticnet", None, "deprecated")
# scikit-learn's solver names, then softmaxreg's own
SKLEARN_SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
SOLVERS = ("auto", *SKLEARN_SOLVERS, "gd", "sgd", "sample-sgd")
# the solvers that accept the non-smooth penalties 'l1' and 'elasticnet'
NONSMOOTH_SOLVERS = ("auto", "liblinear", "saga")
# how each solver name is served: the composite solver for a non-smooth penalty, else this
SMOOTH_SOLVER_OF = {
    "sag": "newton-cg",
    "saga": "newton-cg",
    "liblinear": "newton-cg",
}
# what every solver name runs for an L1 part, whatever the problem's shape (see
# solvers/proximal_newton.py: column coordinate descent with working sets)
COMPOSITE_SOLVER = "proximal-newton"
DUAL_SOLVER = "dual-cd"  # liblinear's dual=True
MULTI_CLASS = ("auto", "multinomial", "ovr")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Settings:
    """The estimator's parameters after checking, in the form the fit needs."""

    solver: str  # the softmaxreg solver that runs (a key of softmaxreg.solvers.SOLVERS)
    penalty: str | None  # 'l2', 'l1', 'elasticnet' or None, after the 1.8+ spelling
    l1_ratio: float  # share of the L1 term: 0 for 'l2', 1 for 'l1'
    C: float  # the C of the objective (1.0 when there is no penalty)
    max_iter: int
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


def _positive_int(name: str, value, *, allow_none: bool = False, smallest: int = 1) -> None:
    """An int or any NumPy integer ``>= smallest`` (``None`` too when allowed)."""
    if value is None and allow_none:
        return
    if not _is_int(value) or value < smallest:
        accepted = f"an integer >= {smallest}" + (" or None" if allow_none else "")
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
        if not 0 <= random_state <= MAX_SEED:
            raise ValueError(
                f"random_state must be an integer in [0, 2**32 - 1] (NumPy's and "
                f"scikit-learn's seeds), got {random_state}"
            )
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    raise ValueError(
        "random_state must be None, an integer seed or a numpy RandomState/Generator, "
        f"got {random_state!r}"
    )


def resolve_penalty(estimator) -> tuple[str | None, float, float]:
    """``(penalty, l1_ratio, C)`` from both spellings, with scikit-learn's warnings.

    scikit-learn 1.8+ spelling: ``penalty`` left at 'deprecated', ``l1_ratio`` in [0, 1]
    (0: 'l2', 1: 'l1', between: 'elasticnet') and ``C=np.inf`` for no penalty. The older
    spelling ``penalty='l1' | 'l2' | 'elasticnet' | None`` still works and warns as
    scikit-learn does (same categories and wording). The returned C is the objective's:
    1.0 when there is no penalty (the minimiser then does not depend on C).
    """
    C, l1_ratio, given = estimator.C, estimator.l1_ratio, estimator.penalty
    if not _is_number(C) or np.isnan(C) or C <= 0:
        raise ValueError(f"C must be a finite number > 0 or np.inf, got {C!r}")
    if l1_ratio is not None and (not _is_number(l1_ratio) or not 0 <= l1_ratio <= 1):
        raise ValueError(f"l1_ratio must be a number in [0, 1] or None, got {l1_ratio!r}")
    if given == "deprecated":
        if l1_ratio is None:
            warnings.warn(
                "'l1_ratio=None' was deprecated in version 1.8 and will trigger an error in "
                "1.10. Use 0<=l1_ratio<=1 instead.",
                FutureWarning,
                stacklevel=3,
            )
        penalty = {0: "l2", 1: "l1"}.get(l1_ratio or 0, "elasticnet")
        if np.inf == C:
            penalty = None
    else:
        penalty = given
        warnings.warn(
            "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid "
            "this warning, leave 'penalty' set to its default value and use 'l1_ratio' or "
            "'C' instead. Use l1_ratio=0 instead of penalty='l2', l1_ratio=1 instead of "
            "penalty='l1', l1_ratio set to a float between 0 and 1 instead of "
            "penalty='elasticnet', and C=np.inf instead of penalty=None.",
            FutureWarning,
            stacklevel=3,
        )
        if penalty != "elasticnet" and l1_ratio is not None and 0 < l1_ratio < 1:
            warnings.warn(
                f"l1_ratio parameter is only used when penalty is 'elasticnet'. Got "
                f"(penalty={penalty})",
                UserWarning,
                stacklevel=3,
            )
        if (penalty == "l2" and l1_ratio != 0) or (penalty == "l1" and l1_ratio != 1):
            warnings.warn(
                f"Inconsistent values: penalty={penalty} with l1_ratio={l1_ratio}. penalty is "
                "deprecated. Please use l1_ratio only.",
                UserWarning,
                stacklevel=3,
            )
        if penalty == "elasticnet" and l1_ratio is None:
            raise ValueError("l1_ratio must be specified when penalty is elasticnet.")
        if penalty is None and C != 1.0:
            warnings.warn(
                "Setting penalty=None will ignore the C and l1_ratio parameters",
                UserWarning,
                stacklevel=3,
            )
        if penalty in ("l2", "l1", "elasticnet") and np.inf == C:
            penalty = None
    ratio = {"l2": 0.0, "l1": 1.0, None: 0.0}.get(penalty, float(l1_ratio or 0.0))
    return penalty, ratio, (1.0 if penalty is None else float(C))


def check_solver(solver: str, penalty: str | None, dual: bool) -> None:
    """scikit-learn's ``_check_solver``: which solver allows which penalty (same messages).

    softmaxreg's own full-batch and minibatch solvers ('gd', 'sgd', 'sample-sgd') need a
    smooth objective ('l2' or None); 'auto' takes every penalty.
    """
    if solver not in NONSMOOTH_SOLVERS and penalty not in ("l2", None):
        raise ValueError(
            f"Solver {solver} supports only 'l2' or None penalties, got {penalty} penalty."
        )
    if solver != "liblinear" and dual:
        raise ValueError(f"Solver {solver} supports only dual=False, got dual={dual}")
    if solver == "liblinear" and penalty is None:
        raise ValueError(
            "C=np.inf as well as penalty=None is not supported for the liblinear solver"
        )
    if solver == "liblinear" and dual and penalty != "l2":
        raise ValueError(
            f"Unsupported set of arguments: The combination of penalty='{penalty}' and "
            "loss='logistic_regression' are not supported when dual=True, Parameters: "
            f"penalty='{penalty}', loss='logistic_regression', dual=True"
        )
    if penalty == "elasticnet" and solver not in ("saga", "auto"):
        raise ValueError(f"Only 'saga' solver supports elasticnet penalty, got solver={solver}.")


def check_parameters(estimator, default_solver: str) -> Settings:
    """Check every constructor parameter of ``LogisticRegression``; return the resolved settings."""
    _choice("penalty", estimator.penalty, PENALTIES)
    if not isinstance(estimator.fit_intercept, (bool, np.bool_)):
        raise ValueError(f"fit_intercept must be True or False, got {estimator.fit_intercept!r}")
    _choice("solver", estimator.solver, SOLVERS)
    penalty, l1_ratio, C = resolve_penalty(estimator)
    if not isinstance(estimator.dual, (bool, np.bool_)):
        raise ValueError(f"dual must be True or False, got {estimator.dual!r}")
    check_solver(estimator.solver, penalty, estimator.dual)
    _positive_int("max_iter", estimator.max_iter, smallest=0)
    _positive_number("intercept_scaling", estimator.intercept_scaling)
    if estimator.n_jobs is not None and not _is_int(estimator.n_jobs):
        raise ValueError(f"n_jobs must be None or an integer, got {estimator.n_jobs!r}")
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
    if estimator.n_jobs is not None:
        warnings.warn(
            "'n_jobs' has no effect since 1.8 and will be removed in 1.10. You provided "
            f"'n_jobs={estimator.n_jobs}', please leave it unspecified.",
            FutureWarning,
            stacklevel=3,
        )
    if penalty in ("l1", "elasticnet") and l1_ratio > 0:
        solver = COMPOSITE_SOLVER
    elif estimator.solver == "auto":
        solver = default_solver
    elif estimator.solver == "liblinear" and estimator.dual:
        solver = DUAL_SOLVER
    else:
        solver = SMOOTH_SOLVER_OF.get(estimator.solver, estimator.solver)
    if estimator.tol is None and solver not in ("sgd", "sample-sgd"):
        raise ValueError(
            f"tol=None (no early stopping) is only for the minibatch solvers 'sgd' and "
            f"'sample-sgd'; solver={estimator.solver!r} needs a tolerance such as tol=1e-4"
        )
    return Settings(
        solver=solver,
        penalty=penalty,
        l1_ratio=l1_ratio,
        C=C,
        max_iter=int(estimator.max_iter),
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
