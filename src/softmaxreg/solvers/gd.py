"""Full-batch gradient descent: ``theta := theta - eta * grad f(theta) / (C sum_i s_i)``.

The gradient is scaled to the mean loss (as in the lecture's iris example, which uses the
mean gradient). With ``learning_rate=None`` the step length comes from a strong-Wolfe line
search instead of a fixed ``eta`` (steepest descent with line search).
"""

from __future__ import annotations

from softmaxreg.solvers._common import (
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
            theta = theta - (learning_rate / scale) * grad
            value, grad = objective.value_and_grad(theta)
        n_iter += 1
        history.append(value)
        if verbose:
            print(f"gd iter {n_iter}: f = {value:.6f}")
        converged = gradient_converged(objective, grad, tol)
        if wants_stop(callback, n_iter, theta, value):
            break
    if not converged and (n_iter >= max_iter or stalled):
        warn_gradient_not_converged("gd", n_iter, objective, grad, tol, stalled)
    return SolverResult(theta=theta, n_iter=n_iter, converged=converged, history=history)
