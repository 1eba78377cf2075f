"""Dual coordinate descent for L2-penalised binary logistic regression (liblinear's
``dual=True``).

The primal problem (no separate intercept: liblinear's intercept is the penalised weight
of a constant feature, which the estimator appends) is

    min_w  0.5 ||w||^2 + sum_i C_i log(1 + exp(-y_i w^T x_i)),   y_i in {-1, +1},

with ``C_i = C s_i``. Its dual (Yu, Huang & Lin 2011) is

    min_alpha  0.5 alpha^T Q alpha
               + sum_i [alpha_i log alpha_i + (C_i - alpha_i) log(C_i - alpha_i)]
    subject to 0 < alpha_i < C_i,  Q_ij = y_i y_j x_i^T x_j,

and ``w = sum_i alpha_i y_i x_i``. Each outer iteration visits the samples in a random
order (``random_state``) and minimises over one ``alpha_i`` at a time by a safeguarded
Newton method on the one-dimensional sub-problem (on ``alpha_i`` or ``C_i - alpha_i``,
whichever is away from its bound), updating ``w`` in place: ``O(nnz(x_i))`` per sample.
It stops when the largest derivative of the sub-problems seen in an outer iteration is
below ``tol`` (liblinear's rule, which scikit-learn's ``tol`` means for this solver), or at
``max_iter`` outer iterations. Fast when there are many more features than samples.

Source: H.-F. Yu, F.-L. Huang and C.-J. Lin, "Dual coordinate descent methods for logistic
regression and maximum entropy models", Machine Learning 85 (2011); liblinear's
``solve_l2r_lr_dual``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from softmaxreg.solvers._common import SolverResult, wants_stop, warn_not_converged

# the sub-problems' first tolerance, shrunk tenfold per outer iteration (liblinear's)
FIRST_INNER_TOL = 1e-2


def _rows(design):
    """``X`` as float64 NumPy: a dense array or a CSR matrix (the solver reads rows)."""
    if hasattr(design, "scipy"):
        return sp.csr_matrix(design.scipy, dtype=np.float64)
    return np.ascontiguousarray(design.X.cpu().numpy(), dtype=np.float64)


def dual_coordinate_descent(
    objective,
    theta0,
    *,
    max_iter=100,
    tol=1e-4,
    random_state=None,
    verbose=0,
    callback=None,
    **_unused,
) -> SolverResult:
    """Minimise the primal ``f`` through its dual until the largest sub-problem derivative of
    an outer iteration is ``<= tol``. Binary, or multi-label (independent sigmoids: one dual
    per output, visited in the same order). ``theta0`` is not used: each dual starts from its
    own interior point (liblinear's). Raises ValueError for other kinds, a separate intercept
    or a penalty other than the full L2."""
    if (
        objective.kind not in ("binary", "multilabel")
        or objective.fit_intercept
        or objective.l2_strength != 1.0
    ):
        raise ValueError(
            "dual coordinate descent solves binary and multi-label problems with the L2 "
            "penalty and the intercept as a penalised feature (liblinear's model)"
        )
    from softmaxreg.solvers import _dual_kernels as kernels  # numba: only when this runs

    X = _rows(objective.design)
    n = X.shape[0]
    Y = np.where(objective.targets.reshape(n, -1).cpu().numpy() > 0, 1.0, -1.0)
    weights = (
        np.ones(n)
        if objective.sample_weight is None
        else objective.sample_weight.cpu().numpy().astype(np.float64)
    )
    # overflow (C or features near float64's limit) shows as non-finite coefficients,
    # which the estimator refuses with the reason
    with np.errstate(over="ignore", invalid="ignore"):
        cost = objective.C * weights
        squared_norms = (
            np.asarray(X.multiply(X).sum(axis=1)).ravel() if sp.issparse(X) else (X * X).sum(axis=1)
        )
        start = np.minimum(1e-3 * cost, 1e-8)
        alphas = [np.concatenate([start, cost - start]) for _ in range(Y.shape[1])]
        W = np.ascontiguousarray(
            (Y * start[:, None]).T @ X if not sp.issparse(X) else (X.T @ (Y * start[:, None])).T,
            dtype=np.float64,
        )
    rng = np.random.default_rng(random_state)
    inner_tol, smallest_inner = FIRST_INNER_TOL, min(1e-8, tol)
    done = np.zeros(Y.shape[1], dtype=bool)
    history, converged, n_iter, largest = [], False, 0, np.inf
    while n_iter < max_iter:
        order = rng.permutation(n)
        largest = 0.0
        for k in np.flatnonzero(~done):
            y, alpha, w = np.ascontiguousarray(Y[:, k]), alphas[k], W[k]
            if sp.issparse(X):
                worst = kernels.epoch_sparse(
                    X.indptr,
                    X.indices,
                    X.data,
                    y,
                    cost,
                    squared_norms,
                    alpha,
                    w,
                    order,
                    inner_tol,
                )
            else:
                worst = kernels.epoch_dense(X, y, cost, squared_norms, alpha, w, order, inner_tol)
            done[k] = worst < tol
            largest = max(largest, worst)
        n_iter += 1
        if verbose:
            print(f"dual-cd iter {n_iter}: largest sub-problem derivative = {largest:.3e}")
        if done.all():
            converged = True
            break
        inner_tol = max(smallest_inner, 0.1 * inner_tol)
        if callback is not None:
            theta = torch.from_numpy(W.reshape(-1).copy()).to(objective.device)
            if wants_stop(callback, n_iter, theta, objective.value(theta)):
                break
    theta = torch.from_numpy(W.reshape(-1)).to(device=objective.device, dtype=torch.float64)
    history.append(objective.value(theta))
    if not converged and n_iter >= max_iter:
        warn_not_converged(
            "dual-cd", n_iter, f"max_iter reached; largest dual derivative {largest:.2e} > tol"
        )
    return SolverResult(theta=theta, n_iter=n_iter, converged=converged, history=history)
