"""A line search that satisfies the strong Wolfe conditions (Nocedal & Wright, Alg. 3.5/3.6).

Along a descent direction ``d`` with ``phi(alpha) = f(theta + alpha d)`` it finds a step with

    sufficient decrease   phi(alpha) <= phi(0) + c1 alpha phi'(0)
    curvature             |phi'(alpha)| <= c2 |phi'(0)|

by bracketing and then zooming in with safeguarded cubic interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from softmaxreg.solvers._common import l1_norm


@dataclass
class LineSearchResult:
    """The accepted step ``alpha``, ``f`` and ``grad f`` there, how many evaluations it took,
    and the point ``theta + alpha d`` itself (the tensor ``f`` was evaluated at: a solver
    that moves there reuses it, and the objective recognises the point of its last pass)."""

    alpha: float
    value: float
    grad: torch.Tensor
    n_evals: int
    point: torch.Tensor


def _cubic_minimiser(a, fa, ga, b, fb, gb):
    """Minimiser of the cubic through ``(a, fa, ga)`` and ``(b, fb, gb)``, or None."""
    d1 = ga + gb - 3.0 * (fa - fb) / (a - b)
    discriminant = d1 * d1 - ga * gb
    if discriminant < 0:
        return None
    d2 = math.copysign(math.sqrt(discriminant), b - a)
    denominator = gb - ga + 2.0 * d2
    if denominator == 0:
        return None
    return b - (b - a) * (gb + d2 - d1) / denominator


def wolfe_line_search(
    value_and_grad,
    theta: torch.Tensor,
    value0: float,
    grad0: torch.Tensor,
    direction: torch.Tensor,
    alpha0: float = 1.0,
    c1: float = 1e-4,
    c2: float = 0.9,
    max_evals: int = 25,
) -> LineSearchResult | None:
    """Step ``alpha`` along ``direction`` meeting the strong Wolfe conditions.

    Returns None when ``direction`` is not a descent direction or no step decreasing ``f``
    was found within ``max_evals`` evaluations; when the budget runs out after a decrease
    was found, the best decreasing step is returned (sufficient decrease holds for it).
    """
    slope0 = float(grad0 @ direction)
    if not slope0 < 0:
        return None
    evals = 0

    def phi(alpha):
        nonlocal evals
        evals += 1
        point = torch.add(theta, direction, alpha=alpha)  # no temporary alpha * direction
        value, grad = value_and_grad(point)
        return value, grad, float(grad @ direction), point

    def armijo(alpha, value):
        return value <= value0 + c1 * alpha * slope0

    def zoom(lo, hi):
        # lo, hi = (alpha, value, grad, slope, point); lo satisfies sufficient decrease.
        while evals < max_evals:
            a_lo, f_lo, _, s_lo, _ = lo
            a_hi, f_hi, _, s_hi, _ = hi
            width = a_hi - a_lo
            trial = _cubic_minimiser(a_lo, f_lo, s_lo, a_hi, f_hi, s_hi)
            low_bound, high_bound = sorted((a_lo + 0.1 * width, a_hi - 0.1 * width))
            if trial is None or not low_bound <= trial <= high_bound:
                trial = a_lo + 0.5 * width
            point = (trial, *phi(trial))
            f_t, s_t = point[1], point[3]
            if not armijo(trial, f_t) or f_t >= f_lo:
                hi = _end_only(point)
            else:
                if abs(s_t) <= -c2 * slope0:
                    return point
                if s_t * (a_hi - a_lo) >= 0:
                    hi = _end_only(lo)
                lo = point
            del point  # kept only as lo: the next trial's tensors come after it is let go
        return lo if lo[0] > 0 else None

    previous = (0.0, value0, grad0, slope0, theta)
    alpha = alpha0
    point = None
    while evals < max_evals:
        current = (alpha, *phi(alpha))
        f_a, s_a = current[1], current[3]
        if not math.isfinite(f_a):
            alpha = 0.5 * (previous[0] + alpha)
            continue
        if not armijo(alpha, f_a) or (previous[0] > 0 and f_a >= previous[1]):
            current = _end_only(current)  # its gradient and point go before zoom's trials
            point = zoom(previous, current)
            break
        if abs(s_a) <= -c2 * slope0:
            point = current
            break
        if s_a >= 0:
            previous = _end_only(previous)
            point = zoom(current, previous)
            break
        previous = current
        alpha = 4.0 * alpha
    else:
        point = previous if previous[0] > 0 else None
    if point is None:
        return None
    alpha, value, grad, _, at = point
    return LineSearchResult(alpha=alpha, value=value, grad=grad, n_evals=evals, point=at)


def net_input_line_search(
    objective, theta, value0, grad0, direction, alpha0=1.0, overwrite=False
):
    """:func:`wolfe_line_search` (the same conditions, the same trials) on
    ``phi(alpha) = f(theta + alpha d)`` evaluated from the net inputs
    (``objective.along``): ``O(n K)`` a trial instead of a pass over ``X``, and one product
    ``X^T R`` for the gradient at the step taken. Same result; None as there.
    ``overwrite``: where a step is found, its point is written into ``direction`` and its
    gradient into ``grad0`` (the caller's to give up; no new parameter-length tensors);
    without a step both are left as they were."""
    line = objective.along(theta, direction)

    def value_and_slope(point):
        value, slope = line.value_and_slope(float(point[0]))
        return value, torch.tensor([slope], dtype=torch.float64)

    one = torch.ones(1, dtype=torch.float64)
    slope0 = torch.tensor([float(grad0 @ direction)], dtype=torch.float64)
    found = wolfe_line_search(value_and_slope, 0 * one, value0, slope0, one, alpha0)
    if found is None:
        return None
    point, value, grad = line.point(found.alpha, grad_out=grad0 if overwrite else None)
    return LineSearchResult(
        alpha=found.alpha, value=value, grad=grad, n_evals=found.n_evals, point=point
    )


def _end_only(point):
    """A bracket's far end: its step, value and slope (never returned, so its gradient and
    point, each as large as theta, are let go)."""
    return (point[0], point[1], None, point[3], None)


def full_step_if_gradient_falls(objective, theta, value, grad, direction):
    """The full step ``theta + direction`` when ``f`` no longer resolves a decrease: taken if
    ``f`` rises no more than rounding (``64 eps |f|``) and ``||grad f||_1`` falls (the second
    test of scikit-learn's Newton line search, ``_newton_solver.py``); else None. Near the
    optimum a Newton step still shrinks the gradient when ``f`` changes below its precision.
    """
    point = theta + direction
    trial_value, trial_grad = objective.value_and_grad(point)
    rounding = 64 * np.finfo(np.float64).eps * abs(value)
    if trial_value <= value + rounding and l1_norm(trial_grad) < l1_norm(grad):
        return LineSearchResult(
            alpha=1.0, value=trial_value, grad=trial_grad, n_evals=1, point=point
        )
    return None

