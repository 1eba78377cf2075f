"""Solvers that see only a :class:`~softmaxreg.objective.LinearObjective`.

``solve(objective, method, theta0, *, max_iter, tol, ...)`` dispatches to one of
``SOLVERS``; each lives in its own file:

- ``"lbfgs"`` (lbfgs.py): L-BFGS, two-loop recursion (started from the Kronecker-factored
  Hessian's inverse where the features are few, as in newton-cg), strong-Wolfe line search.
- ``"newton-cholesky"`` (newton_cholesky.py): Newton's method with the exact Hessian solved
  by a symmetric factorisation, for many samples and few parameters; L-BFGS finishes the run
  when the Hessian is singular.
- ``"newton-cg"`` (newton_cg.py): truncated Newton, CG on the Hessian-vector product
  preconditioned by a Kronecker-factored Hessian where the features are few
  (_kronecker.py), else by its diagonal (subsampled rows on large data); strong-Wolfe
  line search.
- ``"gd"`` (gd.py): full-batch gradient descent (fixed ``learning_rate`` on the mean-scaled
  gradient, or a line search when ``learning_rate=None``).
- ``"sgd"`` (sgd.py): minibatch SGD, seeded shuffling each epoch, ``max_iter`` = epochs.
- ``"sample-sgd"`` (sample_sgd.py): the lecture's per-sample rule.
- ``"dual-cd"`` (dual_cd.py): coordinate descent on the dual of binary L2 logistic
  regression (liblinear's ``dual=True``), with its own stopping rule (see there).
- ``"proximal-newton"`` (proximal_newton.py): the composite solver for ``f + g`` with an L1
  ``penalty`` (:mod:`softmaxreg.penalties`): Newton models (exact Hessian) solved by
  coordinate descent over the columns of ``X`` (numba-compiled, working sets, Anderson
  extrapolation), Newton-CG steps on the non-zero coefficients (_support_newton.py) and,
  the active set's Hessian formed when that pays (sigmoid outputs: on its columns;
  softmax: on its non-zero coefficients; _gram_cd.py); on the CPU in float64 whatever the
  objective's device and dtype.

Convergence rule of the full-batch solvers (scikit-learn's lbfgs rule, which hands scipy the
objective divided by ``C * sum_i s_i`` and ``gtol=tol``): converged when

    max_j |d f / d theta_j| / (C * sum_i s_i) <= tol.

L-BFGS also stops (converged, like scipy's ``ftol``) when the relative decrease of ``f`` in
an iteration is below ``64 * eps``. The minibatch solvers use scikit-learn's SGDClassifier
rule instead (see sgd.py); ``tol=None`` disables it. The composite solver applies the same
rule to the smallest subgradient of ``f + g``. ``max_iter=0`` returns ``theta0`` with a
ConvergenceWarning. A solver that stops without meeting its
rule (``max_iter`` reached, or a line search that finds no decrease) warns with
``sklearn.exceptions.ConvergenceWarning``; a callback that returns True stops it silently.
Every solver runs with NumPy's BLAS limited to torch's thread count
(``torch.set_num_threads``, the setting the whole fit follows).
The fixed-step methods ('sgd', 'sample-sgd', 'gd' with a ``learning_rate``) also stop when
they diverge (a non-finite loss, or more than 100 times the starting one): with a
ConvergenceWarning that names the learning rate and feature scaling, returning the best
finite parameters seen (``_common.DivergenceGuard``).
"""

from __future__ import annotations

import numbers

import torch
from threadpoolctl import threadpool_limits

from softmaxreg.solvers import _fork  # noqa: F401 (registers its at-fork hook)
from softmaxreg.solvers._common import MAX_SEED, SolverResult, warn_not_converged
from softmaxreg.solvers.dual_cd import dual_coordinate_descent
from softmaxreg.solvers.gd import gradient_descent
from softmaxreg.solvers.lbfgs import lbfgs
from softmaxreg.solvers.newton_cg import newton_cg
from softmaxreg.solvers.newton_cholesky import newton_cholesky
from softmaxreg.solvers.proximal_newton import proximal_newton
from softmaxreg.solvers.sample_sgd import sample_sgd
from softmaxreg.solvers.sgd import minibatch_sgd

SOLVERS = {
    "lbfgs": lbfgs,
    "newton-cg": newton_cg,
    "newton-cholesky": newton_cholesky,
    "gd": gradient_descent,
    "sgd": minibatch_sgd,
    "sample-sgd": sample_sgd,
    "proximal-newton": proximal_newton,
    "dual-cd": dual_coordinate_descent,
}
COMPOSITE_SOLVERS = ("proximal-newton",)
MINIBATCH_SOLVERS = ("sgd", "sample-sgd")
DEFAULT_SOLVER = "newton-cg"

__all__ = [
    "COMPOSITE_SOLVERS", "DEFAULT_SOLVER", "MINIBATCH_SOLVERS", "SOLVERS", "SolverResult", "solve",
]


def solve(
    objective,
    method: str,
    theta0=None,
    *,
    max_iter: int,
    tol: float | None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    random_state: int | None = None,
    verbose: int = 0,
    callback=None,
    batch_callback=None,
    start_epoch: int = 0,
    penalty=None,
) -> SolverResult:
    """Minimise ``f(theta) = C sum_i s_i CE_i + 0.5 ||W||^2`` with ``method`` from ``theta0``.

    ``theta0=None`` starts from zeros. ``max_iter`` counts iterations (full batch) or epochs
    (minibatch); ``tol`` is the tolerance of the method's stopping rule (see module doc).
    Minibatch methods only: ``batch_callback(epoch, batch, n_batches, loss)`` after each step,
    and ``start_epoch`` to resume after that many epochs (see sgd.py). Composite methods
    only: ``penalty``, the non-smooth ``g`` (an :class:`~softmaxreg.penalties.L1Penalty`).
    """
    if method not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {method!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got {max_iter!r}")
    if (penalty is None) == (method in COMPOSITE_SOLVERS):
        raise ValueError(f"a penalty is given exactly to the composite solvers {COMPOSITE_SOLVERS}")
    if tol is None and method not in MINIBATCH_SOLVERS:
        raise ValueError(f"tol=None (no early stopping) is only for {MINIBATCH_SOLVERS}")
    if tol is not None and not tol >= 0:
        raise ValueError(f"tol must be >= 0 or None, got {tol!r}")
    if random_state is not None and not (
        isinstance(random_state, numbers.Integral) and 0 <= random_state <= MAX_SEED
    ):
        raise ValueError(f"random_state must be None or an integer in [0, 2**32 - 1], got "
                         f"{random_state!r}")
    if theta0 is None:
        theta0 = objective.zeros()
    theta0 = torch.as_tensor(theta0).to(device=objective.device, dtype=torch.float64)
    if theta0.shape != (objective.n_params,):
        raise ValueError(
            f"theta0 must have shape ({objective.n_params},), got {tuple(theta0.shape)}"
        )
    if not bool(torch.isfinite(theta0).all()):
        raise ValueError("theta0 must be finite; it holds NaN or inf values")
    minibatch_options = {}
    if method in MINIBATCH_SOLVERS:
        minibatch_options = {"batch_callback": batch_callback, "start_epoch": start_epoch}
    elif batch_callback is not None or start_epoch:
        raise ValueError(f"batch_callback and start_epoch are only for {MINIBATCH_SOLVERS}")
    if penalty is not None:
        minibatch_options["penalty"] = penalty
    if max_iter == 0:
        warn_not_converged(method, 0, "max_iter=0: the starting point is returned")
        return SolverResult(theta=theta0.clone(), n_iter=0, converged=False, history=[])
    # NumPy's and SciPy's BLAS (the composite solver's float32 products, the Kronecker
    # factor's X^T X) run on as many threads as torch's products: its pool otherwise keeps
    # its own count (all cores), and a fit on a busy machine with torch.set_num_threads(1)
    # spent 86 of 90 s in 3 x 19000 products on two OpenBLAS threads (0.34 s each, 0.7 ms
    # on one)
    with threadpool_limits(limits=torch.get_num_threads(), user_api="blas"):
        return SOLVERS[method](
            objective, theta0, max_iter=int(max_iter), tol=tol, batch_size=batch_size,
            learning_rate=learning_rate, random_state=random_state, verbose=verbose,
            callback=callback, **minibatch_options,
        )
