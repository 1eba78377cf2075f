"""The objective accumulated block by block: data bigger than memory, or split over ranks.

For rows split into blocks ``B_1, B_2, ...`` (pieces of shards, or one rank's part of the
data) the objective is a sum over blocks, so it is evaluated one block at a time:

    f(theta)   = C * sum_blocks sum_{i in B} s_i CE_i  + 0.5 ||W||^2
    grad f     = sum_blocks grad_B                      + [W, 0]
    H v        = sum_blocks H_B v                       + [V, 0]

Each block term is a :class:`~softmaxreg.objective.LinearObjective` with ``penalize=False``
built on the block alone; the penalty is added once, after the block sums have been
reduced. ``reduce`` sums a float64 tensor over processes (the identity in one process, an
all-reduce under torch.distributed), so the same class serves out-of-core training and
data-parallel training. It offers the interface the solvers use (``value_and_grad``,
``hessian_operator``, ``batch_value_and_grad``, ``n_samples``, ``pack`` ...).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from softmaxreg.datasets.shards import READ_BLOCK_ROWS
from softmaxreg.objective import PARAM_DTYPE, LinearObjective, check_gradient_scale

KINDS = ("binary", "multinomial")
CACHE_BYTES = 1 << 29  # keep the block objectives of up to 512 MiB of local data in memory


def _identity(tensor: torch.Tensor) -> torch.Tensor:
    return tensor


class ShardedObjective:
    """``f(theta) = C sum_i s_i CE_i + 0.5 ||W||^2`` summed block by block over a row source.

    ``source``: :class:`~softmaxreg.datasets.Shards` or
    :class:`~softmaxreg.distributed.row_sources.ArrayRows`; this process evaluates the
    global rows ``[start, stop)`` (default: all) and ``reduce`` adds the other processes'
    sums. ``kind="binary"`` models ``P(t_i = positive_class)`` with one sigmoid;
    ``"multinomial"`` all ``K = len(classes)`` classes with a softmax. ``class_weights``
    (one per class) give ``s_i = w_{t_i}``. Local data smaller than ``cache_bytes`` is
    converted once and kept; larger data is read again on every pass (bounded memory).
    """

    def __init__(
        self,
        source,
        kind: str,
        *,
        C: float = 1.0,
        penalize: bool = True,
        fit_intercept: bool = True,
        positive_class: int = 1,
        class_weights=None,
        dtype: torch.dtype = torch.float32,
        device="cpu",
        start: int = 0,
        stop: int | None = None,
        block_rows: int = READ_BLOCK_ROWS,
        reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
        cache_bytes: int = CACHE_BYTES,
    ):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} for sharded data, got {kind!r}")
        if source.n_classes < 2:
            raise ValueError(f"the data holds only the class {source.classes.tolist()}; "
                             "a classifier needs at least 2 classes")
        if not 0 <= positive_class < source.n_classes:
            raise ValueError(f"positive_class must lie in [0, {source.n_classes}), "
                             f"got {positive_class}")
        if block_rows < 1:
            raise ValueError(f"block_rows must be >= 1, got {block_rows}")
        self.source, self.kind, self.C, self.penalize = source, kind, float(C), bool(penalize)
        self.l2_strength = 1.0 if self.penalize else 0.0  # the weight of 0.5 ||W||^2
        self.fit_intercept, self.dtype = bool(fit_intercept), dtype
        self.device = torch.device(device)
        self.positive_class = int(positive_class)
        self.start = int(start)
        self.stop = source.n_rows if stop is None else int(stop)
        self.block_rows = int(block_rows)
        self.reduce = _identity if reduce is None else reduce
        self.class_weights = None if class_weights is None else np.asarray(
            class_weights, dtype=np.float64)
        if self.class_weights is not None and self.class_weights.shape != (source.n_classes,):
            raise ValueError(f"class_weights must hold one weight per class "
                             f"({source.n_classes}), got shape {self.class_weights.shape}")
        self.n_features = source.n_features
        self.n_outputs = 1 if kind == "binary" else source.n_classes
        self.n_params = self.n_outputs * (self.n_features + int(self.fit_intercept))
        self._template = self._block_objective(np.zeros((2, self.n_features)), np.array([0, 1]))
        local_bytes = (self.stop - self.start) * self.n_features * torch.empty(
            0, dtype=dtype).element_size()
        self._cached = None
        if local_bytes <= cache_bytes:
            self._cached = [self._block_objective(X, t) for X, t in self._local_blocks()]
        counts = torch.zeros(2, dtype=PARAM_DTYPE)
        counts[0] = self.stop - self.start
        counts[1] = sum(self._weights(t).sum() if self.class_weights is not None else len(t)
                        for _, t in self._local_targets())
        counts = self.reduce(counts.to(self.device)).cpu()
        self.n_samples, self.weight_sum = int(counts[0]), float(counts[1])
        check_gradient_scale(self.C, self.weight_sum)

    # ------------------------------------------------------------------ parameters
    def pack(self, W, b=None) -> torch.Tensor:
        """``theta = [vec(W) (row-major, K x m), b (K)]`` as a float64 vector."""
        return self._template.pack(W, b)

    def unpack(self, theta: torch.Tensor):
        """``(W (K, m), b (K,) or None)`` as views of ``theta``."""
        return self._template.unpack(theta)

    def zeros(self) -> torch.Tensor:
        """The starting point ``theta = 0``."""
        return self._template.zeros()

    def remove_flat_directions(self, direction: torch.Tensor) -> torch.Tensor:
        """Centre the intercept part of a multinomial direction in place (``softmax(z + c 1)``
        is ``softmax(z)``), as :meth:`LinearObjective.remove_flat_directions` does."""
        return self._template.remove_flat_directions(direction)

    def gradient_scale(self) -> float:
        """``C * sum_i s_i`` over all rows of all processes."""
        return self.C * self.weight_sum

    # ------------------------------------------------------------------ blocks
    def _local_blocks(self):
        for _, X, t in self.source.iter_blocks(self.start, self.stop, self.block_rows):
            yield np.array(X), t

    def _local_targets(self):
        for _, _, t in self.source.iter_blocks(self.start, self.stop, self.block_rows):
            yield None, t

    def _blocks(self):
        """The local block objectives: cached ones, or built from the source one at a time."""
        if self._cached is not None:
            yield from self._cached
            return
        for X, t in self._local_blocks():
            yield self._block_objective(X, t)

    def _weights(self, t: np.ndarray) -> np.ndarray:
        return self.class_weights[t]

    def _block_objective(self, X: np.ndarray, t: np.ndarray, C: float | None = None):
        """``C sum_{i in block} s_i CE_i`` as an unpenalised LinearObjective.

        A multinomial block that lacks the last class gets one extra row of weight 0 with
        that class, so that the block objective has all ``K`` outputs (and adds nothing).
        """
        weights = None if self.class_weights is None else self._weights(t)
        if self.kind == "binary":
            targets = (t == self.positive_class).astype(np.float64)
        else:
            targets = t
            K = self.n_outputs
            if len(t) == 0 or int(t.max()) < K - 1:
                X = np.concatenate([X, np.zeros((1, X.shape[1]), dtype=X.dtype)])
                targets = np.concatenate([t, [K - 1]])
                weights = np.concatenate([np.ones(len(t)) if weights is None else weights, [0.0]])
        return LinearObjective(
            X, targets, self.kind, C=self.C if C is None else C, penalize=False,
            fit_intercept=self.fit_intercept, sample_weight=weights, dtype=self.dtype,
            device=self.device,
        )

    def _penalty(self, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        """``0.5 ||W||^2`` and its gradient ``[W, 0]`` (zero when penalize=False)."""
        grad = torch.zeros_like(theta)
        if self.penalize:
            W, _ = self.unpack(theta)
            grad[: W.numel()] = W.reshape(-1)
        return self._penalty_value(theta), grad

    def _penalty_value(self, theta: torch.Tensor) -> float:
        """``0.5 ||W||^2`` (0 when penalize=False), without its gradient."""
        if not self.penalize:
            return 0.0
        W, _ = self.unpack(theta)
        return 0.5 * float(W.pow(2).sum())

    def _reduced(self, local: torch.Tensor) -> torch.Tensor:
        return self.reduce(local)

    # ------------------------------------------------------------------ full batch
    def value(self, theta: torch.Tensor) -> float:
        """``f(theta) = C sum_blocks sum_{i in B} s_i CE_i + 0.5 ||W||^2``."""
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        total = torch.zeros(1, dtype=PARAM_DTYPE, device=self.device)
        for block in self._blocks():
            total += block.value(theta)
        return float(self._reduced(total)[0]) + self._penalty_value(theta)

    def value_and_grad(self, theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        """``f(theta)`` and ``grad f = sum_blocks C (S (A - Y))^T X_B + [W, 0]``."""
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        total = torch.zeros(1 + self.n_params, dtype=PARAM_DTYPE, device=self.device)
        for block in self._blocks():
            value, grad = block.value_and_grad(theta)
            total[0] += value
            total[1:] += grad
        total = self._reduced(total)
        penalty_value, penalty_grad = self._penalty(theta)
        return float(total[0]) + penalty_value, total[1:] + penalty_grad

    def hessian_vector_product(self, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``H v = sum_blocks C sum_i s_i J_i^T H_i J_i v + [V, 0]``."""
        return self.hessian_operator(theta)[0](v)

    def hessian_operator(
        self, theta: torch.Tensor, rows=None, with_diagonal: bool = False,
        low_precision: bool = False, at_last_pass: bool = False,
    ):
        """``v -> H v`` at ``theta`` and (if asked) ``diag H``, summed over blocks.

        ``rows`` (global indices, the same on every process): estimate the data term on
        those rows only, scaled by ``sum_i s_i / sum_{i in rows} s_i`` (a subsampled
        Hessian, as :meth:`LinearObjective.hessian_operator`). ``low_precision`` and
        ``at_last_pass``: as there, for blocks kept in memory (others are read again for
        every product).
        """
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        scale, blocks = 1.0, self._blocks
        if rows is not None:
            rows = np.asarray(torch.as_tensor(rows).cpu(), dtype=np.int64)
            local = rows[(rows >= self.start) & (rows < self.stop)]
            part = torch.zeros(1, dtype=PARAM_DTYPE, device=self.device)
            part[0] = float(self._row_weights(local).sum())
            scale = self.weight_sum / max(float(self._reduced(part)[0]), 1e-300)
            blocks = self._row_blocks(local)
        keep = self._cached is not None or (
            rows is not None and len(rows) * self.n_features * 8 <= CACHE_BYTES
        )
        operators, local_diagonal = None, None
        if keep:
            pairs = [block.hessian_operator(theta, with_diagonal=with_diagonal,
                                            low_precision=low_precision,
                                            at_last_pass=at_last_pass and rows is None)
                     for block in blocks()]
            operators = [operator for operator, _ in pairs]
            if with_diagonal:
                local_diagonal = sum(diagonal for _, diagonal in pairs)
        elif with_diagonal:
            local_diagonal = sum(block.hessian_operator(theta, with_diagonal=True)[1]
                                 for block in blocks())
        K, m = self.n_outputs, self.n_features

        def hvp(v: torch.Tensor) -> torch.Tensor:
            v = v.to(device=self.device, dtype=PARAM_DTYPE)
            local_sum = torch.zeros(self.n_params, dtype=PARAM_DTYPE, device=self.device)
            if operators is not None:
                for operator in operators:
                    local_sum += operator(v)
            else:
                for block in blocks():
                    local_sum += block.hessian_vector_product(theta, v)
            out = self._reduced(local_sum) * scale
            if self.penalize:
                out[: K * m] += v[: K * m]
            return out

        diagonal = None
        if with_diagonal:
            if not torch.is_tensor(local_diagonal):  # no local rows: sum([]) == 0
                local_diagonal = torch.zeros(self.n_params, dtype=PARAM_DTYPE, device=self.device)
            diagonal = self._reduced(local_diagonal.clone()) * scale
            if self.penalize:
                diagonal[: K * m] += 1.0
        return hvp, diagonal

    def output_curvature(self, theta: torch.Tensor, at_last_pass: bool = False) -> torch.Tensor:
        """``S = C sum_i s_i H_i`` over all rows (see
        :meth:`LinearObjective.output_curvature`), summed over blocks and processes; blocks
        kept in memory reuse their last pass's net inputs under ``at_last_pass``."""
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        K = self.n_outputs
        local = torch.zeros(K, K, dtype=PARAM_DTYPE, device=self.device)
        for block in self._blocks():
            local += block.output_curvature(theta, at_last_pass)
        return self._reduced(local.reshape(-1)).reshape(K, K)

    def feature_gram(self, rows: torch.Tensor) -> torch.Tensor:
        """``sum_r s_r x~_r x~_r^T / sum_r s_r`` over the global ``rows`` (the same on every
        process; see :meth:`LinearObjective.feature_gram`)."""
        rows = np.asarray(torch.as_tensor(rows).cpu(), dtype=np.int64)
        local = rows[(rows >= self.start) & (rows < self.stop)]
        width = self.n_features + int(self.fit_intercept)
        totals = torch.zeros(width * width + 1, dtype=PARAM_DTYPE, device=self.device)
        for block in self._row_blocks(local)():
            block_rows = torch.arange(block.n_samples, device=self.device)
            totals[:-1] += (block.feature_gram(block_rows) * block.weight_sum).reshape(-1)
            totals[-1] += block.weight_sum
        totals = self._reduced(totals)
        return (totals[:-1] / max(float(totals[-1]), 1e-300)).reshape(width, width)

    def _row_weights(self, local_rows: np.ndarray) -> np.ndarray:
        if self.class_weights is None:
            return np.ones(len(local_rows))
        return self._weights(self._take(local_rows)[1])

    def _take(self, local_rows: np.ndarray):
        return self.source.take(local_rows)

    def _row_blocks(self, local_rows: np.ndarray):
        def blocks():
            for a in range(0, len(local_rows), self.block_rows):
                X, t = self._take(local_rows[a : a + self.block_rows])
                yield self._block_objective(X, t)
        return blocks

    # ------------------------------------------------------------------ minibatches
    def batch_value_and_grad(self, theta: torch.Tensor, rows: torch.Tensor):
        """``sum_{i in rows} s_i CE_i / |rows| + ||W||^2 / (2 C n)`` and its gradient.

        ``rows`` are global indices, the same on every process: each process sums the terms
        of the rows it holds, the sums are reduced, then divided by ``|rows|``.
        """
        theta = theta.to(device=self.device, dtype=PARAM_DTYPE)
        index = np.asarray(torch.as_tensor(rows).cpu(), dtype=np.int64)
        local = index[(index >= self.start) & (index < self.stop)]
        total = torch.zeros(1 + self.n_params, dtype=PARAM_DTYPE, device=self.device)
        if local.size:
            X, t = self._take(local)
            value, grad = self._block_objective(X, t, C=1.0).value_and_grad(theta)
            total[0] += value
            total[1:] += grad
        total = self._reduced(total) / index.size
        penalty_value, penalty_grad = self._penalty(theta)
        scale = 1.0 / (self.C * self.n_samples)
        return total[0] + penalty_value * scale, total[1:] + penalty_grad * scale
