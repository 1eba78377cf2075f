"""A Kronecker-factored preconditioner for Newton-CG on a linear model's objective.

The data term of the Hessian is ``C sum_i s_i (x~_i x~_i^T) (x) H_i`` with the per-sample
curvature ``H_i`` (``K x K``: ``diag(a_i) - a_i a_i^T`` for softmax, ``diag(a_i (1 - a_i))``
for sigmoids) and ``x~_i = [x_i, 1]``. Treating the features and the curvatures as
uncorrelated gives the Kronecker product

    H ~ A (x) S + alpha I,    A = sum_i s_i x~_i x~_i^T / sum_i s_i,    S = C sum_i s_i H_i

(the idea of K-FAC, Martens & Grosse 2015, applied to one linear layer). Its inverse is
cheap from the eigendecompositions ``A = U diag(lambda) U^T`` and ``S = V diag(mu) V^T``:
for the parameters as a ``K x m'`` matrix ``P = [W, b]``,

    (A (x) S + alpha I)^-1 P = V ((V^T P U) / (mu lambda^T + alpha)) U^T.

At ``theta = 0`` of a multinomial model every ``H_i`` is the same and the product is the
exact Hessian (bar the unpenalised intercept): CG then needs one or two iterations. On
MNIST (60000 x 784, C=1, float32) exact-Hessian Newton-CG to ``tol=1e-4`` took 11
iterations and 168 Hessian-vector products with the Jacobi preconditioner, 9 and 61 with
this one.

``A`` does not depend on ``theta``; it is estimated once from at most ``GRAM_ROWS`` rows
and decomposed once (``O(m'^3)``); ``S`` is recomputed at each outer iteration from the
activations the gradient pass kept (no pass of its own). The estimate is built only where that is
cheap beside one pass over the data (see :func:`kronecker_preconditioner`).
"""

from __future__ import annotations

import math

import torch

# rows used to estimate the feature second moments A (a random subset on larger data):
# 10000 x 785 takes about 40 ms on two cores, a sixth of MNIST's full 221 ms
GRAM_ROWS = 10_000
# feature counts (with the intercept column) beyond which the m' x m' decomposition is
# skipped: 2048^3 flops are ~0.3 s on two cores
MAX_FEATURES = 2_048
# the decomposition may cost at most this many passes' worth of products with X
MAX_SETUP_PASSES = 10
# relative floor of the eigenvalues of (A (x) S + alpha I): collinear or constant features
# make A singular, the softmax's class-mean direction makes S singular, and with little or
# no penalty rounding noise in those directions must not be amplified beyond 1e8 (at 1e-12
# CG met no decrease on a collinear problem; at C=1e300 the unfloored 1/alpha turned L-BFGS's
# first step into noise). What drift remains along the flat class mean, newton-cg removes
# at the end (centred_on_flat_directions)
EIGENVALUE_FLOOR = 1e-8
# features whose second moments differ by more than this factor (a Unix-timestamp column
# beside the intercept's 1: 3e18) leave the Kronecker product far from H in the small
# directions: the diagonal preconditioner, which is scale-invariant, takes over there
# (MNIST's rare pixels against the intercept: 1.8e7)
MAX_SCALE_RATIO = 1e10
# bfloat16 Hessian-vector products only while the Kronecker model's largest eigenvalue is
# at most this multiple of the penalty's (the products' relative rounding, ~4e-3, weighs
# more in the weakly curved directions of worse-conditioned problems). Measured: MNIST at
# C=1, 2.3e5, the same 9 iterations with them; 30000 x 50 at C=1e4, 6.7e7, 13 against 7
MAX_LOW_PRECISION_CONDITION = 1e6


class KroneckerPreconditioner:
    """``r -> (A (x) S + alpha I)^-1 r`` for the objective's parameter vector ``r``."""

    def __init__(self, objective, gram: torch.Tensor):
        self.objective = objective
        self.feature_values, self.feature_vectors = torch.linalg.eigh(gram)
        self.feature_values.clamp_(min=0)

    def at(self, theta: torch.Tensor, at_last_pass: bool = False):
        """The preconditioner for the Hessian at ``theta`` (``S`` evaluated there; with
        ``at_last_pass`` from the activations of the objective's last pass, see
        ``LinearObjective.hessian_operator``).

        Also sets ``condition``: the Kronecker model's largest eigenvalue over the penalty's
        (``inf`` without a penalty), which decides whether CG's products may be rounded."""
        objective = self.objective
        output_values, output_vectors = torch.linalg.eigh(
            objective.output_curvature(theta, at_last_pass)
        )
        data = output_values.clamp(min=0).unsqueeze(1) * self.feature_values.unsqueeze(0)
        alpha = objective.l2_strength
        largest = float(data.max()) + alpha
        self.condition = largest / alpha if alpha > 0 else math.inf
        inverse = 1.0 / (data + alpha).clamp(min=EIGENVALUE_FLOOR * largest)
        if objective.kind == "multinomial" and alpha == 0:
            # S's smallest eigenvector is the class mean (S 1 = 0), along which an
            # unpenalised f is flat and the gradient has no part: nothing to amplify there
            inverse[0] = 0.0
        K, m = objective.n_outputs, objective.n_features
        U = self.feature_vectors

        def precondition(r: torch.Tensor) -> torch.Tensor:
            P = torch.empty(K, U.shape[0], dtype=r.dtype, device=r.device)
            P[:, :m] = r[: K * m].view(K, m)
            if objective.fit_intercept:
                P[:, m] = r[K * m :]
            P = output_vectors @ ((output_vectors.T @ P @ U) * inverse) @ U.T
            out = torch.empty_like(r)
            out[: K * m] = P[:, :m].reshape(-1)
            if objective.fit_intercept:
                out[K * m :] = P[:, m]
            return out

        return precondition


def kronecker_preconditioner(objective, generator: torch.Generator):
    """A :class:`KroneckerPreconditioner` for ``objective``, or None where it does not apply.

    It applies to objectives that offer ``feature_gram`` (in memory or sharded) with at
    most ``MAX_FEATURES`` columns (with the intercept) whose decomposition, ``m'^3``
    flops, costs at most ``MAX_SETUP_PASSES`` passes (``n m' K`` flops each), and whose
    sampled ``A`` (from rows with positive weight) is finite and has second moments within
    ``MAX_SCALE_RATIO`` of each other; elsewhere the diagonal preconditioner takes over.
    """
    if not hasattr(objective, "feature_gram"):
        return None
    n, K = objective.n_samples, objective.n_outputs
    width = objective.n_features + int(objective.fit_intercept)
    if width > MAX_FEATURES or width**2 > MAX_SETUP_PASSES * n * K:
        return None
    # rows that carry weight (A of rows that do not would be no estimate)
    weights = getattr(objective, "sample_weight", None)
    pool = torch.arange(n) if weights is None else torch.nonzero(weights.cpu() > 0).squeeze(1)
    if len(pool) == 0:
        return None
    rows = pool[torch.randperm(len(pool), generator=generator)[:GRAM_ROWS]].sort().values
    gram = objective.feature_gram(rows.to(objective.device))
    if not bool(torch.isfinite(gram).all()):  # features beyond ~1e19 overflow float32
        return None
    moments = torch.diagonal(gram)
    moments = moments[moments > 0]
    if len(moments) == 0 or float(moments.max()) > MAX_SCALE_RATIO * float(moments.min()):
        return None
    return KroneckerPreconditioner(objective, gram)
