"""Newton's method with the exact Hessian, factored (scikit-learn's ``'newton-cholesky'``).

Each iteration forms the exact Hessian ``H`` of ``f`` (``n_params x n_params``, built
blockwise from ``X`` by :meth:`~softmaxreg.objective.LinearObjective.hessian_in_theta_order`)
and solves the Newton system ``H d = -grad f`` by a symmetric factorisation
(``scipy.linalg.solve(assume_a="sym")``, as scikit-learn's ``NewtonCholeskySolver``), then
takes a strong-Wolfe line search step from ``alpha = 1``. Cost per iteration
``O(n p^2 + p^3)`` with ``p = n_params``: the method for many samples and few features
(a few hundred parameters), where it converges in a handful of iterations.

The directions in which ``f`` is flat are removed before factoring, as scikit-learn does:
for the multinomial model with an intercept the last class's intercept is held fixed, and
without a penalty the last class's whole block (softmax is unchanged by adding the same
vector to every class); the result is then centred along them (class means zero).

When ``H`` is singular or too ill-conditioned to factor reliably (scipy's
``LinAlgWarning``), or the Newton step is not a descent direction, it warns with
``scipy.linalg.LinAlgWarning`` and finishes with L-BFGS from the current point, with the
iterations left (the failed Newton iteration uses one of them), as scikit-learn does.
Stopping rule: that of every full-batch solver (see :mod:`softmaxreg.solvers`).

Source: scikit-learn ``sklearn/linear_model/_glm/_newton_solver.py`` (Lorentzen et al.);
Nocedal & Wright, *Numerical Optimization*, 2nd ed., ch. 3.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch

from softmaxreg.solvers._common import (
    SolverResult,
    gradient_converged,
    wants_stop,
    warn_gradient_not_converged,
)
from softmaxreg.solvers._line_search import full_step_if_gradient_falls, wolfe_line_search
from softmaxreg.solvers.lbfgs import lbfgs

# The Hessian is formed densely: refuse sizes whose matrix alone needs more than ~2 GB.
MAX_PARAMS = 16_000


def fixed_coordinates(objective) -> list[int]:
    """The coordinates held at their value so that ``H`` has no flat direction."""
    if objective.kind != "multinomial":
        return []
    K, m = objective.n_outputs, objective.n_features
    fixed = [K * m + K - 1] if objective.fit_intercept else []
    if not objective.penalize:
        fixed += list(range((K - 1) * m, K * m))
    return fixed


def newton_direction(H: np.ndarray, grad: np.ndarray, fixed: list[int]) -> np.ndarray | None:
    """``d`` solving ``H d = -grad`` on the free coordinates (``d = 0`` on ``fixed``), or
    None when ``H`` is singular or ill-conditioned there, or ``d`` is not a descent direction.
    """
    free = np.setdiff1d(np.arange(len(grad)), fixed)
    direction = np.zeros_like(grad)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            direction[free] = scipy.linalg.solve(
                H[np.ix_(free, free)], -grad[free], check_finite=False, assume_a="sym"
            )
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning, ValueError):
        return None
    if not np.all(np.isfinite(direction)) or not float(grad @ direction) < 0:
        return None
    return direction


def newton_cholesky(
    objective, theta0, *, max_iter=100, tol=1e-4, verbose=0, callback=None, **_unused
) -> SolverResult:
    """Minimise ``f`` by Newton's method until ``max|grad f| / (C sum s_i) <= tol``.

    Raises ValueError when the Hessian would have more than ``MAX_PARAMS`` rows.
    """
    if objective.n_params > MAX_PARAMS:
        gigabytes = 8 * objective.n_params**2 / 1e9
        raise ValueError(
            f"solver='newton-cholesky' forms the {objective.n_params} x {objective.n_params} "
            f"Hessian ({gigabytes:.1f} GB); for more than {MAX_PARAMS} parameters use "
            "'newton-cg' or 'lbfgs'"
        )
    fixed = fixed_coordinates(objective)
    theta = theta0.clone()
    value, grad = objective.value_and_grad(theta)
    history, n_iter, stalled = [], 0, False
    converged = gradient_converged(objective, grad, tol)
    while not converged and n_iter < max_iter:
        H = objective.hessian_in_theta_order(theta).cpu().numpy()
        step_np = newton_direction(H, grad.cpu().numpy(), fixed)
        if step_np is None:
            warnings.warn(
                f"softmaxreg solver 'newton-cholesky' met a singular or very ill-conditioned "
                f"Hessian at iteration {n_iter + 1} and finishes with lbfgs; remove collinear "
                "features or increase the penalty (lower C) to avoid it.",
                scipy.linalg.LinAlgWarning,
                stacklevel=3,
            )
            rest = lbfgs(
                objective,
                theta,
                max_iter=max_iter - n_iter - 1,
                tol=tol,
                verbose=verbose,
                callback=_shifted(callback, n_iter),
            )
            rest.n_iter += n_iter
            rest.history[:0] = history
            rest.finished_by = "lbfgs"
            rest.theta = centred_on_flat_directions(objective, rest.theta, fixed)
            return rest
        direction = torch.from_numpy(step_np).to(theta)
        step = wolfe_line_search(objective.value_and_grad, theta, value, grad, direction, 1.0)
        if step is None or not step.value < value:
            # f no longer resolves the decrease: scikit-learn's rule, the full Newton step
            # when f stays within rounding and sum |grad f| falls
            step = full_step_if_gradient_falls(objective, theta, value, grad, direction)
        # no step that lowers f or, within rounding, the gradient: nothing is left to gain
        if step is None:
            stalled = True
            break
        n_iter += 1
        theta, value, grad = step.point, step.value, step.grad
        history.append(value)
        if verbose:
            print(f"newton-cholesky iter {n_iter}: f = {value:.6f}, step = {step.alpha:.3g}")
        converged = gradient_converged(objective, grad, tol)
        if wants_stop(callback, n_iter, theta, value):
            break
    if not converged and (n_iter >= max_iter or stalled):
        warn_gradient_not_converged("newton-cholesky", n_iter, objective, grad, tol, stalled)
    return SolverResult(
        theta=centred_on_flat_directions(objective, theta, fixed),
        n_iter=n_iter,
        converged=converged,
        history=history,
    )


def centred_on_flat_directions(objective, theta, fixed):
    """``theta`` moved along ``f``'s flat directions (``f`` unchanged) to the centred
    representative the other solvers and scikit-learn give: class-mean-zero intercepts, and
    without a penalty class-mean-zero coefficients."""
    if not fixed:
        return theta
    theta = theta.clone()
    K, m = objective.n_outputs, objective.n_features
    if objective.fit_intercept:
        centre_classes(theta[K * m :].view(K, 1))
    if not objective.penalize:
        centre_classes(theta[: K * m].view(K, m))
    return theta


def centre_classes(values: torch.Tensor) -> None:
    """Subtract the mean over the rows (the classes) in place, unless it is 0 to rounding
    (at most ``4 eps max|values|``): centring a centred point again would move it by
    rounding alone (a warm start that takes no step returns its start unchanged; along a
    path of C the norms of scikit-learn's test_multinomial_cv_iris fell by 7e-15)."""
    if values.numel() == 0:
        return
    mean = values.mean(dim=0, keepdim=True)
    if float(mean.abs().max()) > 4 * torch.finfo(values.dtype).eps * float(values.abs().max()):
        values -= mean


def _shifted(callback, done: int):
    """``callback`` seeing iteration numbers that continue after ``done`` iterations."""
    if callback is None:
        return None
    return lambda iteration, theta, value: callback(done + iteration, theta, value)
