"""A subsampled Hessian as a small problem of its own: rows of a sparse ``X`` restricted to
the columns they use.

On large data Newton-CG estimates the Hessian's data term on a random subset ``r`` of the
rows (``solvers/newton_cg.py``):

    H_r = C (sum_i s_i / sum_{i in r} s_i) sum_{i in r} s_i J_i^T H_i J_i + lambda [I, 0]

with the per-sample curvature ``H_i`` and ``J_i`` the Jacobian of ``z_i`` in ``theta``
(see ``LinearObjective.hessian_operator``). Rows of sparse data use a fraction of the
columns (on the text-like bench data, 5,000 rows of 100,000 touch about 97,000 of 2^18
columns), and ``H_r`` is ``lambda I`` on every other column's coefficients. So
``H_r p = -g`` splits: on the unused columns ``p = -g / lambda`` exactly (0 without a
penalty: ``H_r`` has no curvature there to take a step from), and on the used ones it is
the Newton system of a :class:`~softmaxreg.objective.LinearObjective` on ``X_r`` restricted
to those columns, with ``C`` scaled by ``sum_i s_i / sum_{i in r} s_i``. CG then runs on
vectors of that size, and its products with ``X_r`` read a compact block of them, instead
of ``K m`` entries a vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from softmaxreg._design.matrix import SparseDesign
from softmaxreg.objective import PARAM_DTYPE, LinearObjective


@dataclass
class RowSubproblem:
    """The rows' problem (``objective``) and the columns of the full problem it keeps
    (``columns``: the full problem's column of each of its columns, in its order)."""

    objective: LinearObjective
    columns: torch.Tensor
    full: LinearObjective
    net_inputs_t: torch.Tensor

    def hessian_operator(self, **options):
        """The rows' problem's :meth:`~softmaxreg.objective.LinearObjective.hessian_operator`
        at the full problem's point, from its rows' net inputs (no product, no compacted
        point)."""
        return self.objective.hessian_operator(None, net_inputs_t=self.net_inputs_t, **options)

    def compact(self, vector: torch.Tensor) -> torch.Tensor:
        """A parameter vector of the full problem (``[vec W, b]``) restricted to the kept
        columns: a parameter vector of the rows' problem."""
        full = self.full
        size = full.n_outputs * full.n_features
        # (indexing, not index_select: 3.6-3.8 against 6.7-9.2 ms for 97,000 of 2^18
        # columns x 20 classes on two cores, columns sorted; in the products' frequency
        # order the same gather takes about 22 ms alone, 27-35 ms within a fit)
        W = vector[:size].view(full.n_outputs, full.n_features)[:, self.columns]
        return torch.cat([W.reshape(-1), vector[size:]])

    def expand(self, direction: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The full problem's Newton direction from the rows' problem's ``direction`` (in
        theta order): ``-grad / lambda`` on the other columns (0 without a penalty)."""
        full = self.full
        K, m, size = full.n_outputs, full.n_features, full.n_outputs * full.n_features
        out = torch.empty(full.n_params, dtype=PARAM_DTYPE, device=grad.device)
        W = out[:size].view(K, m)
        if full.penalize:
            torch.mul(grad[:size].view(K, m), -1.0 / full.l2_strength, out=W)
        else:
            W.zero_()
        kept = direction[: K * self.columns.numel()].view(K, -1).to(PARAM_DTYPE)
        W.index_copy_(1, self.columns, kept)
        out[size:] = direction[K * self.columns.numel() :]
        return out


def row_subproblem(objective: LinearObjective, rows: torch.Tensor, theta: torch.Tensor,
                   at_last_pass: bool = False) -> RowSubproblem | None:
    """The subsampled Hessian's problem for ``rows`` of a sparse design at ``theta``; None
    for dense designs (whose rows use every column), objectives without one design (sharded
    data) and rows that weigh nothing. ``at_last_pass``: the caller's promise that ``theta``
    is the tensor of the objective's last pass (its rows' net inputs are then gathered from
    that pass's, see ``LinearObjective.rows_net_inputs``)."""
    design = getattr(objective, "design", None)  # sharded objectives have none
    if not isinstance(design, SparseDesign):
        return None
    index = rows.cpu().numpy()
    weights = None if objective.sample_weight is None else objective.sample_weight[rows]
    part = index.size if weights is None else float(weights.sum(dtype=torch.float64))
    scaled_C = objective.C * objective.weight_sum / part if part > 0 else np.inf
    if not np.isfinite(scaled_C):
        return None
    # the rows as the full products run on them (on large, wide X their columns by
    # frequency, and the rows' problem's columns in that order: its products then read the
    # frequent columns' rows together; compact and expand gather in any order)
    subset, order = design.rows_in_product_order(index)
    used = np.bincount(subset.indices, minlength=objective.n_features) > 0
    kept = np.flatnonzero(used)
    columns = kept if order is None else order[kept]
    renumber = np.cumsum(used, dtype=subset.indices.dtype) - 1
    compact = sp.csr_matrix(
        (subset.data, renumber[subset.indices], subset.indptr),
        shape=(index.size, columns.size),
    )
    targets = objective.targets[rows]
    kind = objective.kind
    rows_objective = LinearObjective(
        SparseDesign(compact, objective.dtype, objective.device, frequency_order=False),
        targets.reshape(-1) if kind == "binary" else targets,
        kind,
        C=scaled_C,
        l2_strength=objective.l2_strength,
        fit_intercept=objective.fit_intercept,
        sample_weight=weights,
        dtype=objective.dtype,
        device=objective.device,
        n_classes=objective.n_outputs if kind == "multinomial" else None,
    )
    columns = torch.from_numpy(columns).to(objective.device)
    net_inputs_t = objective.rows_net_inputs(theta, rows, at_last_pass)
    return RowSubproblem(rows_objective, columns, objective, net_inputs_t)
