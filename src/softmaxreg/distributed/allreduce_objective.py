"""Data-parallel objectives: each rank sums its own rows, an all-reduce adds the ranks' sums.

With the rows split over ``P`` ranks, every term of the objective is a sum over rows, so

    f(theta) = sum_r [C sum_{i in rank r} s_i CE_i] + 0.5 ||W||^2

and likewise for the gradient, Hessian-vector products, counts and weight sums. Each rank
packs its sums into one float64 tensor, ``all_reduce(SUM)`` makes the total known to all
ranks, and the penalty is added once after the reduction. Every rank then runs the same
deterministic solver on the same numbers, so all ranks take the same steps and end with
identical weights (checked by :func:`check_identical`).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from softmaxreg.datasets.shards import row_range
from softmaxreg.distributed.process_group import DistributedTrainingError, ProcessContext
from softmaxreg.distributed.sharded_objective import ShardedObjective


def allreduce_sum(context: ProcessContext):
    """A function ``t -> sum over ranks of t`` (float64, on the backend's device).

    A failed collective (a rank died, or the timeout passed) becomes a
    :class:`DistributedTrainingError` that says which rank saw it and why.
    """

    def reduce(tensor: torch.Tensor) -> torch.Tensor:
        buffer = tensor.to(device=context.device, dtype=torch.float64).contiguous()
        try:
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        except (RuntimeError, dist.DistBackendError) as error:
            raise DistributedTrainingError(
                f"rank {context.rank}/{context.world_size}: all-reduce failed; another rank "
                f"probably crashed or did not answer within the {context.timeout_s:.0f} s "
                f"timeout ({type(error).__name__}: {error})"
            ) from error
        return buffer.to(tensor.device)

    return reduce


def allreduce_objective(source, kind: str, context: ProcessContext, **options):
    """The rank's :class:`ShardedObjective` over its rows, reduced over all ranks.

    Rank ``r`` of ``P`` owns the rows ``[floor(r n / P), floor((r + 1) n / P))`` of
    ``source``; ``options`` are those of :class:`ShardedObjective`.
    """
    start, stop = row_range(source.n_rows, context.rank, context.world_size)
    return ShardedObjective(
        source, kind, start=start, stop=stop, reduce=allreduce_sum(context),
        device=options.pop("device", context.device), **options,
    )


def check_identical(theta: torch.Tensor, context: ProcessContext) -> None:
    """Raise unless every rank holds bit-identical ``theta`` (max and min over ranks agree)."""
    local = theta.detach().to(device=context.device, dtype=torch.float64).contiguous()
    highest, lowest = local.clone(), local.clone()
    dist.all_reduce(highest, op=dist.ReduceOp.MAX)
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    if not torch.equal(highest, lowest):
        gap = float((highest - lowest).abs().max())
        raise DistributedTrainingError(
            f"the ranks ended with different weights (largest difference {gap:.3g}); "
            "every rank must run the same solver with the same seed and settings"
        )
