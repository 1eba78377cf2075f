"""A linear model's objective along a line, from its net inputs: line-search trials without
a pass over ``X``.

Along ``theta + alpha d`` with ``d = [V, v]`` the net inputs are affine in ``alpha``:

    Z(alpha) = X (W + alpha V)^T + (b + alpha v) = Z + alpha D,    D = X V^T + v,

so with ``Z`` (kept by the objective's last pass) and ``D`` (one product with ``X``) each
trial step costs ``O(n K)``:

    phi(alpha)  = C sum_i s_i CE_i(Z_i + alpha D_i) + 0.5 lambda ||W + alpha V||^2
    phi'(alpha) = C sum_i s_i (a_i(alpha) - y_i) . D_i + lambda (W . V + alpha ||V||^2)

and the step taken one product more, ``X^T R`` for the gradient there. A line search on
``f`` itself costs both products per trial, so a rejected trial costs a pass over ``X``.
The idea is liblinear's (its Newton solver keeps ``X d`` for the line search; Galli & Lin,
"A study on truncated Newton methods for linear classification", IEEE TNNLS 2022).

The net inputs at the step are ``Z + alpha D`` rounded, not ``X theta'`` afresh: equal up to
the products' rounding, which builds up over steps; the solvers that use this refresh them
with a pass (newton_cg.py).
"""

from __future__ import annotations

import torch


class NetInputLine:
    """``phi(alpha) = f(theta + alpha d)`` and its slope from the net inputs
    (:meth:`value_and_slope`), and the point, ``f`` and its gradient at a step
    (:meth:`point`).

    ``objective``: a :class:`~softmaxreg.objective.LinearObjective`; ``Z_t``: its net inputs
    at ``theta``, classes-major ``(K, n)`` in the data's dtype.
    """

    def __init__(self, objective, theta: torch.Tensor, direction: torch.Tensor, Z_t):
        self.objective, self.theta, self.direction, self.Z_t = objective, theta, direction, Z_t
        V, v = objective.unpack(direction)
        self.D_t = objective.design.linear(V, v).T.contiguous()
        size = objective.n_outputs * objective.n_features
        W, V = theta[:size], direction[:size]
        strength = objective.l2_strength
        # the penalty along the line: 0.5 lambda ||W||^2 + alpha lambda W.V
        # + 0.5 alpha^2 lambda ||V||^2
        self._penalty = (
            0.5 * strength * float(W @ W), strength * float(W @ V), strength * float(V @ V)
        )
        self._last = None  # (alpha, data term's loss sum, residual^T, net inputs^T)

    def _trial(self, alpha: float):
        if self._last is None or self._last[0] != alpha:
            objective = self.objective
            Z_t = torch.add(self.Z_t, self.D_t, alpha=alpha)
            loss, residual_t = objective._loss_and_residual(
                Z_t, objective.targets, objective.sample_weight
            )
            self._last = (alpha, float(loss.sum(dtype=torch.float64)), residual_t, Z_t)
        return self._last

    def value_and_slope(self, alpha: float) -> tuple[float, float]:
        """``(phi(alpha), phi'(alpha))`` in float64."""
        _, loss, residual_t, _ = self._trial(alpha)
        quadratic, linear, curvature = self._penalty
        C = self.objective.C
        value = C * loss + quadratic + alpha * linear + 0.5 * alpha * alpha * curvature
        data_slope = float((residual_t * self.D_t).sum(dtype=torch.float64))
        return value, C * data_slope + linear + alpha * curvature

    def point(
        self, alpha: float, grad_out: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, float, torch.Tensor]:
        """``(theta + alpha d, f there, grad f there)``, for one product ``X^T R``; the
        objective keeps the point's net inputs as those of its last pass.

        ``grad_out``: a parameter-length float64 tensor the caller gives up (its old
        gradient); the point is then written into ``d`` and the gradient into ``grad_out``,
        no new parameter-length tensors (on the text-like bench's 5.2 million parameters,
        two 42 MB allocations a step less, and as much less peak memory).

        Raises ``ValueError`` when ``grad_out`` is not a tensor of ``d``'s shape, dtype
        and device, or shares memory with ``d`` or ``theta`` (checked before anything is
        written)."""
        if grad_out is not None:
            _check_gradient_out(grad_out, self.direction, self.theta)
        _, loss, residual_t, Z_t = self._trial(alpha)
        into = None if grad_out is None else self.direction
        point = torch.add(self.theta, self.direction, alpha=alpha, out=into)
        self._last = None
        return point, *self.objective.gradient_from_residual(
            point, Z_t, loss, residual_t, out=grad_out
        )


def _check_gradient_out(grad_out: torch.Tensor, direction: torch.Tensor,
                        theta: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``grad_out`` can take the gradient at the step's point
    (written into ``direction``): same shape, dtype and device, no memory shared with
    ``direction`` or ``theta``."""
    alike = (isinstance(grad_out, torch.Tensor) and grad_out.shape == direction.shape
             and grad_out.dtype == direction.dtype and grad_out.device == direction.device)
    if not alike:
        raise ValueError("grad_out must be a tensor of the direction's shape, dtype and "
                         "device")
    if _overlap(grad_out, direction) or _overlap(grad_out, theta):
        raise ValueError("grad_out must not share memory with the direction or the point")


def _overlap(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether the bytes ``a`` and ``b`` span overlap (views of one buffer by any route,
    torch's or NumPy's; torch's strides are never negative); empty tensors span none."""
    if a.numel() == 0 or b.numel() == 0:
        return False

    def span(t: torch.Tensor) -> tuple[int, int]:
        last = sum((size - 1) * stride for size, stride in zip(t.shape, t.stride(), strict=True))
        return t.data_ptr(), t.data_ptr() + (last + 1) * t.element_size()

    (a_start, a_end), (b_start, b_end) = span(a), span(b)
    return a_start < b_end and b_start < a_end
