"""Minibatch SGD over shards in shard order: sequential reads, one shard in memory.

Drawing batches from a permutation of all ``n`` rows reads the disk at random. Instead,
each epoch ``e`` visits the shards in a shuffled order and the rows of each shard in a
shuffled order, both drawn from ``numpy.random.default_rng([seed, e])``:

    order_e = concat_{s in perm_e(shards)} (offset_s + perm_{e,s}(rows of s))

and the ``k``-th batch of the epoch is ``order_e[k B : (k + 1) B]``. Only the shard being
read is held in memory. :class:`ShardStreamObjective` plugs this order into the minibatch
solvers: it answers ``batch_value_and_grad(theta, rows)`` with the next ``|rows|`` rows of
its own stream (the solver's row indices only set the batch size), so ``solve(..., "sgd")``
runs unchanged and is deterministic given ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch

from softmaxreg.distributed.sharded_objective import ShardedObjective


def epoch_order(shard_rows: list[int], seed: int, epoch: int) -> np.ndarray:
    """``order_e``: global row indices of epoch ``epoch``, shard by shard, both shuffled."""
    rng = np.random.default_rng([int(seed), int(epoch)])
    offsets = np.concatenate([[0], np.cumsum(shard_rows)]).astype(np.int64)
    pieces = [offsets[s] + rng.permutation(shard_rows[s]) for s in rng.permutation(len(shard_rows))]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


class ShardStreamObjective:
    """A :class:`ShardedObjective` whose minibatches follow :func:`epoch_order`.

    Full-batch methods (``value_and_grad``, ``hessian_operator`` ...) are those of the wrapped
    objective; ``batch_value_and_grad`` serves the stream. Holds one shard in memory.
    """

    def __init__(self, objective: ShardedObjective, seed: int):
        source = objective.source
        if not hasattr(source, "shard_rows") or (objective.start, objective.stop) != (
                0, source.n_rows):
            raise ValueError("ShardStreamObjective needs a single-process ShardedObjective "
                             "over all rows of a Shards directory")
        self.objective, self.seed = objective, int(seed)
        self.epoch, self.position = 0, 0
        self.order = epoch_order(source.shard_rows, self.seed, self.epoch)
        self._shard, self._X, self._t = None, None, None

    def __getattr__(self, name):
        return getattr(self.objective, name)

    def _next_rows(self, count: int) -> np.ndarray:
        if self.position >= len(self.order):
            self.epoch, self.position = self.epoch + 1, 0
            self.order = epoch_order(self.objective.source.shard_rows, self.seed, self.epoch)
        rows = self.order[self.position : self.position + count]
        self.position += len(rows)
        return rows

    def _rows_in_memory(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``X[rows]``, ``t[rows]`` with the current shard loaded once (rows span <= 2 shards)."""
        source = self.objective.source
        shard_of = np.searchsorted(source.offsets, rows, side="right") - 1
        X = np.empty((len(rows), source.n_features), dtype=source.dtype)
        t = np.empty(len(rows), dtype=np.int64)
        for shard in np.unique(shard_of):
            if shard != self._shard:
                self._X = np.array(source.shard_features(int(shard)))
                self._t = source.shard_targets(int(shard))
                self._shard = int(shard)
            where = np.flatnonzero(shard_of == shard)
            local = rows[where] - source.offsets[shard]
            X[where], t[where] = self._X[local], self._t[local]
        return X, t

    def batch_value_and_grad(self, theta: torch.Tensor, rows: torch.Tensor):
        """``sum_{i in B} s_i CE_i / |B| + ||W||^2 / (2 C n)`` on the stream's next batch B."""
        objective = self.objective
        theta = theta.to(device=objective.device, dtype=torch.float64)
        batch = self._next_rows(int(torch.as_tensor(rows).numel()))
        X, t = self._rows_in_memory(batch)
        value, grad = objective._block_objective(X, t, C=1.0).value_and_grad(theta)
        penalty_value, penalty_grad = objective._penalty(theta)
        scale = 1.0 / (objective.C * objective.n_samples)
        count = len(batch)
        value_tensor = torch.tensor(value / count + penalty_value * scale, dtype=torch.float64)
        return value_tensor, grad / count + penalty_grad * scale
