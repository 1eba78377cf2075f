"""Proximal Newton for ``F = f + g``: a smooth objective plus an L1 penalty (glmnet's scheme).

Each outer iteration builds the local quadratic model of the smooth part at ``theta``,

    q(d) = grad f^T d + 0.5 d^T H d + g(theta + d),

with the exact Hessian ``H`` (dense, ``p x p``), and minimises it by cyclic coordinate
descent (each coordinate's one-dimensional problem has the closed-form soft-threshold
solution, so zeros are exact), first over all coordinates, then over the non-zero ones until
they settle, then over all again (an active set, as glmnet does). A backtracking line search
on ``F`` (Armijo rule with ``Delta = grad f^T d + g(theta + d) - g(theta)``) makes the step
safe far from the optimum; near it the full step is taken and convergence is fast.

Stopping rule, the same meaning of ``tol`` as for the smooth full-batch solvers: converged
when the smallest subgradient of ``F`` is small in every entry,

    max_j min_{v in dF_j(theta)} |v| / (C * sum_i s_i) <= tol

(see :meth:`softmaxreg.penalties.L1Penalty.optimality`).
"""

from __future__ import annotations

import numpy as np
import torch

from softmaxreg.solvers._common import SolverResult, wants_stop, warn_not_converged

ARMIJO = 1e-4
MAX_HALVINGS = 50
MAX_SWEEPS = 10_000


def soft_threshold(z: float, threshold: float) -> float:
    """``sign(z) * max(|z| - threshold, 0)``."""
    if z > threshold:
        return z - threshold
    if z < -threshold:
        return z + threshold
    return 0.0


def _sweep(H, g, lam, diagonal, u, Hd, coordinates) -> float:
    """One cycle of coordinate descent on ``q`` over ``coordinates``; returns the largest
    change ``|delta_j| * H_jj`` (in gradient units). Updates the point ``u`` and
    ``Hd = H (u - x)`` in place."""
    largest = 0.0
    for j in coordinates:
        h = diagonal[j]
        new = soft_threshold(u[j] - (g[j] + Hd[j]) / h, lam[j] / h)
        delta = new - u[j]
        if delta != 0.0:
            u[j] = new  # exactly 0.0 when thresholded
            Hd += delta * H[j]
            largest = max(largest, abs(delta) * h)
    return largest


def quadratic_model_step(H, g, x, lam, tolerance) -> np.ndarray:
    """The point ``u = x + d`` minimising ``g^T d + 0.5 d^T H d + sum_j lam_j |x_j + d_j|``,
    by coordinate descent to changes below ``tolerance`` (coordinates with ``H_jj = 0`` stay
    put), within ``MAX_SWEEPS`` sweeps in all; ``tolerance`` is floored at what float64 can
    resolve in ``u``."""
    u, Hd = x.copy(), np.zeros(len(x))
    diagonal = np.diag(H).copy()
    movable = np.flatnonzero(diagonal > 0)
    free = lam[movable] == 0
    tolerance = max(
        tolerance, 16 * np.finfo(np.float64).eps * max(1.0, float(np.abs(x).max(initial=0)))
    )
    sweeps = 0
    while sweeps < MAX_SWEEPS:
        sweeps += 1
        if _sweep(H, g, lam, diagonal, u, Hd, movable) <= tolerance:
            break
        active = movable[free | (u[movable] != 0)]
        while sweeps < MAX_SWEEPS:
            sweeps += 1
            if _sweep(H, g, lam, diagonal, u, Hd, active) <= tolerance:
                break
    return u


def _full_step_if_optimality_falls(objective, penalty, point, total, theta, grad):
    """``(point, f, grad f, F)`` at ``point`` if ``F`` rises no more than rounding and the
    summed minimal subgradient falls; else None."""
    value, point_grad = objective.value_and_grad(point)
    point_total = value + penalty.value(point)
    rounding = 64 * np.finfo(np.float64).eps * abs(total)
    before = float(penalty.optimality(theta, grad).sum())
    after = float(penalty.optimality(point, point_grad).sum())
    if point_total <= total + rounding and after < before:
        return point, value, point_grad, point_total
    return None


def proximal_newton(
    objective,
    theta0,
    *,
    penalty,
    max_iter=100,
    tol=1e-4,
    verbose=0,
    callback=None,
    **_unused,
) -> SolverResult:
    """Minimise ``f(theta) + g(theta)`` until the subgradient rule holds or ``max_iter``."""
    scale = objective.gradient_scale()
    theta = theta0.clone()
    value, grad = objective.value_and_grad(theta)
    total = value + penalty.value(theta)
    lam = penalty.weights(theta).cpu().numpy()
    history, n_iter, stalled = [], 0, False
    optimality = float(penalty.optimality(theta, grad).max())
    converged = optimality <= tol * scale
    while not converged and n_iter < max_iter:
        H = objective.hessian_in_theta_order(theta).cpu().numpy()
        x, g = theta.cpu().numpy(), grad.cpu().numpy()
        # inexact inner solves, tighter as the outer iterate converges (superlinear rate)
        tolerance = optimality * min(0.1, np.sqrt(optimality / scale))
        tolerance = max(tolerance, 0.01 * tol * scale)
        point = torch.from_numpy(quadratic_model_step(H, g, x, lam, tolerance)).to(theta)
        d = point - theta
        decrease = float(grad @ d) + penalty.value(point) - penalty.value(theta)
        alpha, accepted = 1.0, None
        for _ in range(MAX_HALVINGS):
            trial = point if alpha == 1.0 else theta + alpha * d
            trial_value, trial_grad = objective.value_and_grad(trial)
            trial_total = trial_value + penalty.value(trial)
            rounding = 8 * np.finfo(np.float64).eps * abs(total)
            if trial_total <= total + ARMIJO * alpha * decrease + rounding:
                accepted = (trial, trial_value, trial_grad, trial_total)
                break
            alpha /= 2
        if accepted is None or not accepted[3] < total:
            # F no longer resolves the decrease (a tol near float precision): the full step
            # if F stays within rounding and the subgradient shrinks, as for the smooth
            # Newton solvers (_line_search.full_step_if_gradient_falls)
            accepted = _full_step_if_optimality_falls(objective, penalty, point, total, theta, grad)
        # no step that lowers F or, within rounding, the subgradient: nothing is left to gain
        # (a tol below what float arithmetic can reach would otherwise run to max_iter)
        if accepted is None:
            stalled = True
            break
        n_iter += 1
        theta, value, grad, total = accepted
        history.append(total)
        optimality = float(penalty.optimality(theta, grad).max())
        if verbose:
            print(
                f"proximal-newton iter {n_iter}: F = {total:.6f}, step = {alpha:.3g}, "
                f"scaled optimality = {optimality / scale:.3e}, "
                f"non-zero = {int((theta[: penalty.n_penalized] != 0).sum())}"
            )
        converged = optimality <= tol * scale
        if wants_stop(callback, n_iter, theta, total):
            break
    if not converged and (n_iter >= max_iter or stalled):
        reason = "the line search found no decrease" if stalled else "max_iter reached"
        warn_not_converged(
            "proximal-newton",
            n_iter,
            f"{reason}; scaled optimality {optimality / scale:.2e} > tol = {tol}",
        )
    return SolverResult(theta=theta, n_iter=n_iter, converged=converged, history=history)
