"""Training beyond one process's memory and beyond one process: shards and torch.distributed.

- ``ShardedObjective``: the objective summed block by block (out-of-core, or one rank's rows).
- ``ShardStreamObjective``: minibatches in shuffled shard order, one shard in memory.
- ``init_process_group_from_env``: join a torchrun job (gloo on CPU, NCCL on GPU), timeouts.
- ``allreduce_objective``: a rank's objective whose sums are all-reduced over the job.
- ``fit_sharded``, ``train_distributed``, ``run_distributed_training``: fitted
  ``softmaxreg.LogisticRegression`` models; ``split_shards``: whole held-out shards.

Names are imported on first use.
"""

from __future__ import annotations

from softmaxreg._lazy import lazy_exports

_EXPORTS = {
    "ArrayRows": "softmaxreg.distributed.row_sources",
    "ShardedObjective": "softmaxreg.distributed.sharded_objective",
    "ShardStreamObjective": "softmaxreg.distributed.shard_stream",
    "epoch_order": "softmaxreg.distributed.shard_stream",
    "ProcessContext": "softmaxreg.distributed.process_group",
    "DistributedTrainingError": "softmaxreg.distributed.process_group",
    "init_process_group_from_env": "softmaxreg.distributed.process_group",
    "close_process_group": "softmaxreg.distributed.process_group",
    "allreduce_objective": "softmaxreg.distributed.allreduce_objective",
    "allreduce_sum": "softmaxreg.distributed.allreduce_objective",
    "fit_sharded": "softmaxreg.distributed.train",
    "train_distributed": "softmaxreg.distributed.train",
    "run_distributed_training": "softmaxreg.distributed.train",
    "split_shards": "softmaxreg.distributed.train",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
