"""The non-smooth part of the objective: an L1 penalty on the coefficients ``W``.

A composite solver minimises ``F(theta) = f(theta) + g(theta)`` where ``f`` is the smooth
:class:`~softmaxreg.objective.LinearObjective` (``C * sum_i s_i CE_i + 0.5 (1 - r) ||W||^2``)
and

    g(theta) = r * ||W||_1 = r * sum_{k, j} |W_kj|            (b is not penalised)

with ``r = l1_ratio`` (``r = 1``: the lasso penalty 'l1'; ``0 < r < 1``: scikit-learn's
'elasticnet'). This is scikit-learn's objective for ``penalty='l1'`` / ``'elasticnet'``.
The penalty owns its value, its proximal operator and the optimality test of ``F``:
``0`` must lie in the subdifferential ``grad f + r * sign(W)`` (``[-r, r]`` where
``W_kj = 0``).
"""

from __future__ import annotations

import torch


class L1Penalty:
    """``g(theta) = strength * sum |theta_j|`` over the first ``n_penalized`` entries of theta.

    ``theta`` is the objective's parameter vector (``W`` row-major first, then ``b``), so
    ``n_penalized = K * m`` penalises ``W`` and leaves the intercept free.
    """

    def __init__(self, strength: float, n_penalized: int):
        if not strength >= 0:
            raise ValueError(f"the L1 strength must be >= 0, got {strength!r}")
        self.strength, self.n_penalized = float(strength), int(n_penalized)

    def weights(self, theta: torch.Tensor) -> torch.Tensor:
        """The per-entry strength ``lambda_j`` (``strength`` on W, 0 on b), shaped like theta."""
        lam = torch.zeros_like(theta)
        lam[: self.n_penalized] = self.strength
        return lam

    def value(self, theta: torch.Tensor) -> float:
        """``g(theta) = strength * ||W||_1``."""
        return self.strength * float(torch.linalg.vector_norm(theta[: self.n_penalized], 1))

    def proximal(self, theta: torch.Tensor, step: float) -> torch.Tensor:
        """``prox_{step g}(theta) = sign(theta) max(|theta| - step lambda, 0)`` (soft threshold)."""
        shrunk = theta.clone()
        head = shrunk[: self.n_penalized]
        shrunk[: self.n_penalized] = head.sign() * (head.abs() - step * self.strength).clamp_min(0)
        return shrunk

    def optimality(self, theta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The smallest element of ``grad f + dg(theta)`` in absolute value, entry by entry.

        ``W_kj != 0``: ``|grad_kj + r sign(W_kj)|``; ``W_kj = 0``: ``max(|grad_kj| - r, 0)``;
        unpenalised entries: ``|grad_j|``. ``F`` is minimal exactly where all are 0.
        """
        out = grad.abs()
        head, g = theta[: self.n_penalized], grad[: self.n_penalized]
        nonzero = (g + self.strength * head.sign()).abs()
        at_zero = (g.abs() - self.strength).clamp_min(0)
        out[: self.n_penalized] = torch.where(head != 0, nonzero, at_zero)
        return out
