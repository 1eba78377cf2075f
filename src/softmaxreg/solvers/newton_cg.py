"""Newton-CG (truncated Newton) with a Kronecker-factored or a Jacobi preconditioner.

Each outer iteration solves the Newton system ``H p = -grad f`` approximately with
preconditioned conjugate gradients, where ``H v`` is the Hessian-vector product. Where the
features are few enough (dense MNIST-like data, see :mod:`softmaxreg.solvers._kronecker`)
the preconditioner is the inverse of a Kronecker approximation of ``H`` and ``H v`` is
exact (in bfloat16 while CG's tolerance is loose, on large data and CPUs with native
bfloat16 products). Elsewhere (wide data) it is ``diag(H)^-1`` and, on large data, the data
term of ``H v`` is estimated on a random subset of the rows (a "subsampled Hessian": on
sparse data its Newton system is solved on the columns those rows use, exactly on the
others, ``_row_subproblem.py``; and the line search's trials are evaluated from the net
inputs, ``net_input_line_search``, so a rejected trial costs no pass over ``X``: on the
text-like bench data, to scikit-learn lbfgs's objective, 4.5-4.7 s -> 3.5-4.0 s); on
float32 data CG's vectors are float32 there while its tolerance is loose (``_cg_dtype``: the
text-like bench fit, 5.2 million parameters, 6.96 -> 4.41 s and 730 -> 495 MB), and on
sparse data they hold ``W`` transposed, the layout of scipy's products (``_Layout``: no
transposes per product; to saga's objective 11.7-12.6 s -> 10.0-11.0 s). CG
stops when ``||r|| <= min(0.5, sqrt(||g||)) ||g||`` (the forcing sequence of scikit-learn's
newton-cg) or on negative curvature; the step length comes from a strong-Wolfe line search
starting at the Newton step ``alpha = 1`` (with a subsampled Hessian: at 1.5 times the last
accepted step, at most 1). The gradient and the value are always exact, so the stopping
rule is the same as for the other full-batch solvers. On data of at most
``EXACT_HESSIAN_MAX_ROWS`` rows one more Newton step follows the rule (the polishing step).

Sources: Nocedal & Wright, *Numerical Optimization*, 2nd ed., ch. 7 (Newton-CG, forcing
terms); scikit-learn ``sklearn/utils/optimize.py`` (``_newton_cg``); Martens & Grosse 2015
(Kronecker-factored curvature).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import torch

from softmaxreg._row_subproblem import row_subproblem
from softmaxreg.solvers._common import (
    SolverResult,
    gradient_converged,
    max_abs,
    wants_stop,
    warn_gradient_not_converged,
)
from softmaxreg.solvers._kronecker import (
    MAX_LOW_PRECISION_CONDITION,
    kronecker_preconditioner,
)
from softmaxreg.solvers._line_search import (
    LineSearchResult,
    full_step_if_gradient_falls,
    net_input_line_search,
    wolfe_line_search,
)
from softmaxreg.solvers.newton_cholesky import (
    centred_on_flat_directions,
    fixed_coordinates,
    newton_direction,
)

# Data sets up to this many rows use the exact Hessian; larger ones a subsample of
# max(SUBSAMPLE_MIN_ROWS, SUBSAMPLE_FRACTION * n) rows, redrawn each outer iteration. The
# subsample is the fit's one copy of data rows, so its size sets the fit's memory: 5% keeps
# the MNIST fit at about a third of scikit-learn's fit memory (softmaxreg bench). 10% took
# fewer outer iterations on MNIST (19 against 24) in about the same time, each
# Hessian-vector product costing twice as much; the exact gradient keeps the stopping rule.
EXACT_HESSIAN_MAX_ROWS = 20_000
SUBSAMPLE_FRACTION = 0.05
SUBSAMPLE_MIN_ROWS = 2_500
MAX_CG_ITER = 200
# CG tolerance of the polishing step, relative to ||grad f||: tight enough that equal
# problems (weighted rows / repeated rows) end at the same point to ~1e-9
POLISH_FORCING = 1e-10
# bfloat16 Hessian-vector products (about 3 significant digits) are used only while CG's
# relative tolerance is at least this, and on data of at least this many entries n * m
# (smaller data is cheap to multiply in full precision)
LOW_PRECISION_MIN_FORCING = 0.1
LOW_PRECISION_MIN_SIZE = 1_000_000
# The polishing step solves the Newton system exactly where forming the dense Hessian costs
# at most this many flops (n p^2; digits' 1797 x 650 is 7.6e8): on ill-conditioned small
# problems (digits' unscaled pixels, C=1) CG stopped at MAX_CG_ITER short of POLISH_FORCING
EXACT_POLISH_FLOPS = 2e9
# elsewhere its CG runs for at most as many iterations as all earlier CG runs together
# (at least this many)
POLISH_MIN_CG_ITER = 20
# CG's vectors may be float32 (on float32 data with Jacobi's preconditioner, see _cg_dtype)
# while its relative tolerance is at least this (float32 keeps ~7 digits, and CG's residual
# recurrence loses some), and while max |grad f| is below FLOAT32_MAX_GRAD (float32 ends at
# 3.4e38; a product that overflows anyway sends CG back to float64)
FLOAT32_MIN_FORCING = 1e-3
FLOAT32_MAX_GRAD = 1e30
# With a subsampled Hessian the Newton step is systematically too long (the inverse of a
# sample Hessian overestimates H^-1 on average): on MNIST the accepted steps settle at
# 0.1-0.4, so a line search from alpha = 1 spends a rejected trial (one pass over the data)
# nearly every iteration. It starts instead at this factor times the last accepted step
# (capped at 1), which cut MNIST's passes from 49 to 35; exact Hessians keep alpha = 1.
SUBSAMPLED_STEP_GROWTH = 1.5
# steps of line searches on the net inputs between two passes over X (which end the
# rounding that Z + alpha D builds up)
NET_INPUT_REFRESH = 16


def preconditioned_cg(hvp, rhs, precondition, tolerance, max_iter):
    """Approximate solution of ``H p = rhs`` by CG preconditioned with ``M^-1 = precondition``.

    ``rhs`` becomes the residual ``r`` (it is overwritten: pass a copy to keep it); the
    vectors ``p, r, z, d, H d`` are held in ``rhs``'s dtype and updated in place (on wide
    data each is tens of MB); ``precondition(r)`` may return the same buffer each call.
    Returns ``(p, iterations)``; stops at ``||r|| <= tolerance``, at ``max_iter``, or when a
    direction of non-positive curvature ``d^T H d <= 0`` appears (at the first iteration
    ``p = rhs``, the steepest descent). ``p`` is None when ``d^T H d`` is not finite (a
    product overflowed the dtype).
    """
    r = rhs
    p = torch.zeros_like(r)
    z = precondition(r)
    rz = float(r @ z)
    if not rz > 0:  # nothing of r is left after preconditioning: the steepest descent
        return r, 0
    d = z.clone()
    for iteration in range(1, max_iter + 1):
        Hd = hvp(d).to(r.dtype)
        curvature = float(d @ Hd)
        if not math.isfinite(curvature):
            return None, iteration
        if curvature <= 0:
            return (p if iteration > 1 else r), iteration  # r is still rhs at the first
        step = rz / curvature
        p.add_(d, alpha=step)
        r.add_(Hd, alpha=-step)
        del Hd  # before the next product allocates its own
        if float(r.norm()) <= tolerance:
            return p, iteration
        z = precondition(r)
        rz_next = float(r @ z)
        if not rz_next > 0:
            return p, iteration
        d.mul_(rz_next / rz).add_(z)
        rz = rz_next
    return p, max_iter


class _Layout:
    """The order of CG's vectors: theta's, or ``W`` transposed (``(m, K)`` rows, then
    ``b``) where the objective's products prefer it (``prefers_features_major``, sparse
    data on CPU) and the caller allows it (Jacobi's preconditioner, which is elementwise)."""

    def __init__(self, objective, allowed: bool):
        self.objective = objective
        self.features_major = allowed and getattr(objective, "prefers_features_major", False)
        self.option = {"features_major": True} if self.features_major else {}

    def negated(self, grad: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``-grad`` as a new tensor of ``dtype`` in this order (CG's right-hand side,
        which CG overwrites)."""
        if not self.features_major:
            return grad.to(dtype, copy=True).neg_()
        return self._reordered(grad, dtype, to_features_major=True).neg_()

    def in_theta_order(self, vector: torch.Tensor) -> torch.Tensor:
        """A vector of this order as a float64 vector in theta's order."""
        if not self.features_major:
            return vector.to(torch.float64)
        return self._reordered(vector, torch.float64, to_features_major=False)

    def _reordered(self, vector, dtype, to_features_major: bool) -> torch.Tensor:
        out = torch.empty(vector.shape, dtype=dtype, device=vector.device)
        view = self.objective.weight_view
        view(out, to_features_major).copy_(view(vector, not to_features_major))
        size = self.objective.n_outputs * self.objective.n_features
        out[size:] = vector[size:]
        return out


def _jacobi(diagonal: torch.Tensor, dtype: torch.dtype):
    """``r -> r / diag H`` into one reused buffer of ``dtype`` (``diagonal`` is consumed)."""
    inverse = diagonal.clamp_min_(1e-12).reciprocal_().to(dtype)
    out = torch.empty_like(inverse)
    return partial(torch.mul, other=inverse, out=out)


def exact_class_mean_step(objective, theta, direction):
    """Replace the class-mean part of a multinomial direction by its exact Newton step.

    Along ``u = (v, ..., v)`` (the same change for every class) softmax is unchanged, so
    ``H u = alpha u`` and the gradient's part there is ``alpha * mean_k W_k``: the exact
    Newton step is ``-mean_k W_k``, which puts ``sum_k W_k = 0`` (a property of the L2
    optimum) at once. The Jacobi preconditioner would otherwise let the class mean drift.
    ``direction`` is changed in place and returned.
    """
    if objective.kind != "multinomial" or not getattr(objective, "penalize", False):
        return direction
    K, m = objective.n_outputs, objective.n_features
    D = direction[: K * m].view(K, m)
    D -= D.mean(dim=0, keepdim=True) + theta[: K * m].view(K, m).mean(dim=0, keepdim=True)
    return direction


def _polishing_step(objective, theta, value, direction):
    """The full Newton step from a point that meets the rule (no line search: there the
    quadratic model is accurate, and a search could reject the step for rounding alone,
    stopping equal problems at different points); None if ``f`` rises beyond rounding."""
    point = theta + direction
    trial_value, trial_grad = objective.value_and_grad(point)
    if trial_value > value + 64 * np.finfo(np.float64).eps * abs(value):
        return None
    return LineSearchResult(alpha=1.0, value=trial_value, grad=trial_grad, n_evals=1, point=point)


def _exact_polishing_direction(objective, theta, grad):
    """The exact Newton direction (a symmetric factorisation of the dense Hessian, flat
    directions held fixed, then centred) where forming ``H`` costs at most
    ``EXACT_POLISH_FLOPS``; None elsewhere or when ``H`` is singular there."""
    if not hasattr(objective, "hessian_in_theta_order"):
        return None
    if objective.n_samples * objective.n_params**2 > EXACT_POLISH_FLOPS:
        return None
    fixed = fixed_coordinates(objective)
    H = objective.hessian_in_theta_order(theta).cpu().numpy()
    direction = newton_direction(H, grad.cpu().numpy(), fixed)
    if direction is None:
        return None
    return centred_on_flat_directions(objective, torch.from_numpy(direction).to(theta), fixed)


def _cg_dtype(objective, grad, relative_forcing, exact) -> torch.dtype:
    """float32 for CG's vectors on float32 data with Jacobi's preconditioner while CG's
    relative tolerance is loose and the gradient far from float32's range; else float64.

    There ``H v`` comes from float32 products with ``X`` in either case, and on wide data
    the vectors are the fit's largest objects: with 5.2 million parameters (text-like bench
    data) five float64 vectors are 210 MB. ``exact``: the Kronecker path (few parameters,
    CG's accuracy matters more than its memory) and the polishing step keep float64.
    """
    if exact or getattr(objective, "dtype", None) != torch.float32:
        return torch.float64
    if relative_forcing < FLOAT32_MIN_FORCING or not max_abs(grad) < FLOAT32_MAX_GRAD:
        return torch.float64
    return torch.float32


def _hessian_rows(n, generator):
    if n <= EXACT_HESSIAN_MAX_ROWS:
        return None
    size = max(SUBSAMPLE_MIN_ROWS, int(SUBSAMPLE_FRACTION * n))
    return torch.randperm(n, generator=generator)[:size].sort().values


def newton_cg(
    objective, theta0, *, max_iter=100, tol=1e-4, random_state=None, verbose=0, callback=None,
    **_unused,
) -> SolverResult:
    """Minimise ``f`` by (subsampled) Newton-CG until ``max|grad f| / (C sum s_i) <= tol``,
    then one more Newton step."""
    generator = torch.Generator().manual_seed(0 if random_state is None else int(random_state))
    kronecker = kronecker_preconditioner(objective, generator)
    theta = theta0  # never changed in place: each step is a new tensor
    value, grad = objective.value_and_grad(theta)
    history, n_iter, stalled, last_alpha, cg_total = [], 0, False, 1.0, 0
    # with a subsampled Hessian, line searches on the net inputs where the objective
    # offers them (a rejected trial costs no pass over X; net_input_line_search)
    along_net_inputs, net_input_steps = hasattr(objective, "along"), 0
    converged = gradient_converged(objective, grad, tol)
    # once the rule holds, one more Newton step: near the optimum Newton converges
    # quadratically, so this step takes the objective gap to about its square for the cost
    # of one iteration (the default fit then stops closer to the optimum than scikit-learn's
    # default on every data set of benchmarks/bench_tol.py)
    # (with the exact Hessian only: on large data a subsampled Hessian's step is no better)
    polish = objective.n_samples <= EXACT_HESSIAN_MAX_ROWS
    polished = not polish
    while not (converged and polished) and n_iter < max_iter:
        # the exact Hessian with the Kronecker preconditioner, else a subsample with Jacobi's;
        # the polishing step (small data) is an exact solve where the Hessian is small enough
        # to factor, else CG with Jacobi's preconditioner as before the Kronecker one
        use_kronecker = kronecker is not None and not converged
        rows = None if kronecker is not None else _hessian_rows(objective.n_samples, generator)
        # the previous operator (and its copy of the subsampled rows) goes before the next
        hvp = diagonal = None
        direction = _exact_polishing_direction(objective, theta, grad) if converged else None
        cg_iter = 0
        if direction is None:
            grad_norm = float(grad.norm())
            relative_forcing = min(0.5, math.sqrt(grad_norm))
            # theta is the point of the objective's last pass (the line search's own
            # tensor): the Hessian reuses its activations
            if use_kronecker:
                precondition = kronecker.at(theta, at_last_pass=True)
            # far from the optimum CG runs to a loose relative tolerance: there its products
            # may use bfloat16 on large, well-conditioned data (MNIST: the same 9 iterations,
            # each product twice as fast); near it, and elsewhere, they stay exact
            low_precision = (
                use_kronecker
                and relative_forcing >= LOW_PRECISION_MIN_FORCING
                and objective.n_samples * objective.n_features >= LOW_PRECISION_MIN_SIZE
                and kronecker.condition <= MAX_LOW_PRECISION_CONDITION
            )
            # a subsampled Hessian of sparse data: its Newton system on the columns its rows
            # use, as a problem of its own (exact on the others, see _row_subproblem)
            # (at theta, the tensor of the last pass: its rows' net inputs from that pass)
            sub = None if rows is None else row_subproblem(
                objective, rows, theta, at_last_pass=True
            )
            system = objective if sub is None else sub.objective
            system_grad = grad if sub is None else sub.compact(grad)
            # Jacobi's CG on sparse data runs on W^T's layout (no transposes per product)
            layout = _Layout(system, not use_kronecker)
            system_hessian = (
                partial(objective.hessian_operator, theta, rows, at_last_pass=True)
                if sub is None else sub.hessian_operator
            )
            hvp, diagonal = system_hessian(
                with_diagonal=not use_kronecker, low_precision=low_precision, **layout.option
            )
            cg_dtype = _cg_dtype(objective, grad, relative_forcing, use_kronecker or converged)
            if not use_kronecker:
                precondition = _jacobi(diagonal, cg_dtype)
                diagonal = None
            forcing = relative_forcing * grad_norm
            # the polishing step: accurate, the same for equal problems, and costing at
            # most the fit so far (a wide sparse 4000 x 16384 fit: 25 products in 7
            # iterations, then 200 in the polishing step, 3x the time)
            limit = MAX_CG_ITER
            if converged:
                forcing = POLISH_FORCING * grad_norm
                limit = min(MAX_CG_ITER, max(POLISH_MIN_CG_ITER, cg_total))
            direction, cg_iter = preconditioned_cg(
                hvp, layout.negated(system_grad, cg_dtype), precondition, forcing, limit
            )
            if direction is None and cg_dtype != torch.float64:  # a float32 product overflowed
                precondition = _jacobi(
                    system_hessian(with_diagonal=True, **layout.option)[1], torch.float64
                )
                direction, cg_iter = preconditioned_cg(
                    hvp, layout.negated(system_grad, torch.float64), precondition, forcing,
                    limit,
                )
            # back in theta's order and float64 (not even float64 holding H d: the
            # steepest descent)
            direction = -system_grad if direction is None else layout.in_theta_order(direction)
            if sub is not None:
                direction = sub.expand(direction, grad)
                sub = system = system_hessian = system_grad = None
        cg_total += cg_iter
        # the Jacobi preconditioner would otherwise drift along f's flat directions (both
        # in place: the direction is this iteration's own tensor)
        direction = objective.remove_flat_directions(direction)
        direction = exact_class_mean_step(objective, theta, direction)
        first_alpha = 1.0 if rows is None else min(1.0, SUBSAMPLED_STEP_GROWTH * last_alpha)
        if converged:
            step = _polishing_step(objective, theta, value, direction)
            step = step if step is not None and step.value < value else None
        elif rows is not None and along_net_inputs:
            # the step's point and gradient overwrite this iteration's direction and the
            # gradient it replaces (two parameter-length tensors fewer at the fit's peak)
            step = net_input_line_search(
                objective, theta, value, grad, direction, first_alpha, overwrite=True
            )
            net_input_steps += 1
        else:
            step = wolfe_line_search(
                objective.value_and_grad, theta, value, grad, direction, first_alpha
            )
            if step is None or not step.value < value:
                # f no longer resolves the decrease (a tol near float precision)
                step = full_step_if_gradient_falls(objective, theta, value, grad, direction)
        # no step, or one that no longer lowers f at this precision: nothing is left to gain
        # (a tol below what float arithmetic can reach would otherwise run to max_iter)
        if step is None:
            stalled = not converged
            break
        n_iter += 1
        last_alpha = step.alpha
        theta, value, grad = step.point, step.value, step.grad
        history.append(value)
        if verbose:
            print(f"newton-cg iter {n_iter}: f = {value:.6f}, cg iterations = {cg_iter}, "
                  f"step = {step.alpha:.3g}, line-search evals = {step.n_evals}")
        polished = converged or not polish  # this step started where the rule already held
        converged = gradient_converged(objective, grad, tol)
        if net_input_steps and (converged or net_input_steps == NET_INPUT_REFRESH):
            # the stopping rule from a pass over X, and the net inputs afresh every
            # NET_INPUT_REFRESH steps (Z + alpha D keeps the products' rounding)
            value, grad = objective.value_and_grad(theta)
            converged = gradient_converged(objective, grad, tol)
            net_input_steps = 0
        if wants_stop(callback, n_iter, theta, value):
            break
    if not converged and (n_iter >= max_iter or stalled):
        warn_gradient_not_converged("newton-cg", n_iter, objective, grad, tol, stalled)
    # f is flat along the intercepts' mean (and without a penalty the class mean of W) of
    # a softmax: the centred representative, as scikit-learn's (rounding in CG drifts there)
    theta = centred_on_flat_directions(objective, theta, fixed_coordinates(objective))
    return SolverResult(theta=theta, n_iter=n_iter, converged=converged, history=history)
