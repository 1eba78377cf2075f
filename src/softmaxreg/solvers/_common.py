"""What every solver shares: the result record, the stopping rule and the warning."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from sklearn.exceptions import ConvergenceWarning


@dataclass
class SolverResult:
    """Outcome of a solver run.

    ``theta``: the final parameters (float64 vector); ``n_iter``: iterations (full-batch) or
    epochs (minibatch) done; ``converged``: whether the stopping rule was met; ``history``:
    the objective value after each iteration / epoch.
    """

    theta: torch.Tensor
    n_iter: int
    converged: bool
    history: list[float] = field(default_factory=list)


def gradient_converged(objective, grad: torch.Tensor, tol: float) -> bool:
    """scikit-learn's lbfgs rule: ``max_j |grad_j f| / (C * sum_i s_i) <= tol``."""
    return float(grad.abs().max()) <= tol * objective.gradient_scale()


def scaled_gradient_norm(objective, grad: torch.Tensor) -> float:
    """``max_j |grad_j f| / (C * sum_i s_i)``, the quantity compared with ``tol``."""
    return float(grad.abs().max()) / objective.gradient_scale()


def warn_not_converged(method: str, n_iter: int, detail: str) -> None:
    """Raise scikit-learn's ConvergenceWarning with advice on what to change."""
    warnings.warn(
        f"softmaxreg solver {method!r} did not converge after {n_iter} iterations ({detail}). "
        "Increase max_iter, loosen tol, or scale the features (e.g. StandardScaler); "
        "with float32 data, dtype='float64' allows tighter tolerances.",
        ConvergenceWarning,
        stacklevel=3,
    )


def wants_stop(callback, iteration: int, theta: torch.Tensor, value: float) -> bool:
    """Call ``callback(iteration, theta, value)``; True when it asks the solver to stop."""
    return callback is not None and bool(callback(iteration, theta, value))


def warn_gradient_not_converged(method, n_iter, objective, grad, tol, stalled) -> None:
    """The full-batch solvers' warning: why they stopped and how far the gradient rule is."""
    reason = "the line search found no decrease" if stalled else "max_iter reached"
    norm = scaled_gradient_norm(objective, grad)
    warn_not_converged(method, n_iter, f"{reason}; scaled max|grad| = {norm:.2e} > tol = {tol}")
