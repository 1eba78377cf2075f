"""Minibatch steps of the multinomial objective on dense CPU data: NumPy and one compiled pass.

For a batch ``B`` of rows (``k = |B|``) one step of minibatch SGD is

    Z = X_B W^T + b,   P = softmax(Z),   loss = sum_{i in B} (log sum_k e^{z_ik} - z_{i y_i}) / k
    W := (1 - eta / (C n)) W - (eta / k) (P - Y_B)^T X_B,   b := b - (eta / k) sum_i (p_i - y_i)

exactly the step ``theta := theta - eta * grad`` of ``LinearObjective.batch_value_and_grad``
(the penalty ``||W||^2 / (2 C n)`` included when the objective penalises). The step is the
same arithmetic written for speed:

- the rows arrive gathered into one buffer, by ``_prefetch`` on a second thread ahead of
  the steps;
- the two products are BLAS calls on the data's own dtype (float32 for float32 data, with
  ``W`` kept in that dtype during an epoch), on one thread;
- the softmax, the loss, ``P - Y_B`` and the intercepts' step are one compiled pass in place.

On MNIST (batch 256, quiet 2-core machine) an epoch of 235 steps takes about 49 ms: 36 ms
of products and 13 ms of the rest, with the gathers (21 ms) on the other core. Before the
prefetching and the compiled pass it took 73 ms; through the general tensor path, twice that.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
from numba import njit
from threadpoolctl import ThreadpoolController


@functools.cache
def _blas_pools() -> ThreadpoolController:
    # finding the loaded BLAS libraries walks every shared object of the process (about
    # 1.3 ms): done once, not once per epoch (tiny fits were 90% this)
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread():
    """A context in which NumPy's BLAS runs on one thread (for products of a few hundred
    rows, threads cost more in synchronisation than they gain, as ``sgd._threads_for`` says
    for torch) and overflow is silent: a diverging run is the callers' to detect (non-finite
    losses), as with torch tensors."""
    with _blas_pools().limit(limits=1, user_api="blas"), np.errstate(all="ignore"):
        yield


def applies(objective) -> bool:
    """Whether the fast steps can stand in for ``batch_value_and_grad``: a multinomial
    :class:`~softmaxreg.objective.LinearObjective` with an intercept, dense data on CPU and
    no sample weights."""
    from softmaxreg._design.matrix import DenseDesign
    from softmaxreg.objective import LinearObjective

    return (
        type(objective) is LinearObjective
        and objective.kind == "multinomial"
        and objective.fit_intercept
        and objective.sample_weight is None
        and objective.device.type == "cpu"
        and isinstance(objective.design, DenseDesign)
    )


class SoftmaxSteps:
    """The parameters ``W (K, m)``, ``b (K,)`` of one epoch and the step that updates them."""

    def __init__(self, objective):
        self.X = objective.design.X.numpy()
        self.y = objective.targets.numpy()
        self.K, self.m = objective.n_outputs, objective.n_features
        self.decay = 1.0 / (objective.C * objective.n_samples) if objective.penalize else 0.0
        self.W = np.zeros((self.K, self.m), dtype=self.X.dtype)
        self.b = np.zeros(self.K, dtype=self.X.dtype)

    def load(self, theta: torch.Tensor) -> None:
        """Take the parameters from ``theta`` (float64, ``W`` row-major then ``b``)."""
        values = theta.detach().numpy()
        self.W[...] = values[: self.K * self.m].reshape(self.K, self.m)
        self.b[...] = values[self.K * self.m :]

    def store(self, theta: torch.Tensor) -> None:
        """Write the parameters back into ``theta``."""
        theta[: self.K * self.m] = torch.from_numpy(self.W.reshape(-1))
        theta[self.K * self.m :] = torch.from_numpy(self.b)

    def step(self, X_batch: np.ndarray, y_batch: np.ndarray, eta: float) -> float:
        """One step on the rows ``X_batch`` (``(k, m)``, C-contiguous) with labels ``y_batch``;
        returns the batch's loss at the parameters before it."""
        k = len(y_batch)
        Z = X_batch @ self.W.T
        loss = _scaled_residuals(Z, self.b, y_batch, eta / k) / k
        if self.decay:
            loss += 0.5 * self.decay * float(np.dot(self.W.ravel(), self.W.ravel()))
            self.W *= 1.0 - eta * self.decay
        self.W -= Z.T @ X_batch
        return loss


@njit(cache=True)
def _scaled_residuals(Z, b, y, scale):
    """Turn the net inputs ``Z = X_B W^T`` (``(k, K)``) into ``scale (P - Y_B)`` in place and
    take the intercepts' step ``b -= scale sum_i (p_i - y_i)``; returns the batch's summed
    cross-entropy ``sum_i log sum_k e^{z_ik + b_k} - z_{i y_i} - b_{y_i}`` (in float64).

    One compiled pass in place of a dozen NumPy calls on a ``(256, 10)`` array, whose
    overheads were a fifth of an MNIST step.
    """
    k, K = Z.shape
    step = np.zeros(K, dtype=np.float64)
    total = 0.0
    for i in range(k):
        row = Z[i]
        largest = -np.inf
        for j in range(K):
            row[j] += b[j]
            largest = max(largest, row[j])
        label = y[i]
        picked = row[label] - largest  # before the exponential, which may underflow to 0
        sum_exp = 0.0
        for j in range(K):
            row[j] = np.exp(row[j] - largest)
            sum_exp += row[j]
        total += np.log(sum_exp) - picked
        for j in range(K):
            row[j] = scale * (row[j] / sum_exp - (1.0 if j == label else 0.0))
            step[j] += row[j]
    for j in range(K):
        b[j] -= step[j]
    return total
