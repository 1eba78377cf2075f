"""Full-batch gradient descent: ``theta := theta - eta * grad f(theta) / (C sum_i s_i)``.

The gradient is scaled to the mean loss (as in the lecture's iris example, which uses the
mean gradient). With ``learning_rate=None`` the step length comes from a strong-Wolfe line
search instead of a fixed ``eta`` (steepest descent with line search). A fixed ``eta`` too
large for the data (unscaled features) diverges: the run then stops with a
``ConvergenceWarning`` and returns the iterate with the lowest objective (see
``_common.DivergenceGuard``).
"""

from __future__ import annotations

from softmaxreg.solvers._common import (
    DivergenceGuard,
    SolverResult,
    gradient_converged,
    wants_stop,
    warn_gradient_not_converged,
)
from softmaxreg.solvers._line_search import wolfe_line_search


def gradient_descent(
    objective, theta0, *, max_iter=100, tol=1e-4, learning_rate=None, verbose=0, callback=None,
    **_unused,
) -> SolverResult:
    """``theta_{t+1} = theta_t - eta grad f(theta_t) / (C sum s_i)`` until the rule holds."""
    scale = objective.gradient_scale()
    theta = theta0.clone()
    value, grad = objective.value_and_grad(theta)
    history, n_iter, stalled = [], 0, False
    converged = gradient_converged(objective, grad, tol)
    step_length = 1.0
    guard = None
    if learning_rate is not None:
        guard = DivergenceGuard("gd", learning_rate, [theta], start_loss=value / scale,
                                unit="iteration")
    while not converged and n_iter < max_iter:
        if learning_rate is None:
            step = wolfe_line_search(
                objective.value_and_grad, theta, value, grad, -grad / scale, step_length
            )
            if step is None:
                stalled = True
                break
            theta = theta - (step.alpha / scale) * grad
            value, grad, step_length = step.value, step.grad, step.alpha
        else:
            theta.sub_(grad, alpha=learning_rate / scale)
            value, grad = objective.value_and_grad(theta)
            if guard.diverged(n_iter + 1, value / scale):
                n_iter += 1
                break
        n_iter += 1
        history.append(value)
        if verbose:
            print(f"gd iter {n_iter}: f = {value:.6f}")
        converged = gradient_converged(objective, grad, tol)
        if wants_stop(callback, n_iter, theta, value):
            break
    if not converged and (n_iter >= max_iter or stalled) and not (guard and guard.stopped):
        warn_gradient_not_converged("gd", n_iter, objective, grad, tol, stalled)
    return SolverResult(theta=theta, n_iter=n_iter, converged=converged, history=history)
