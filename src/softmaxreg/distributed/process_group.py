"""Joining a torch.distributed job started by ``torchrun``: backend, device and timeouts.

``torchrun`` (``python -m torch.distributed.run``) starts one process per rank and gives
each the environment variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``. :func:`init_process_group_from_env` reads them and joins the group
with gloo (CPU tensors) or NCCL (one GPU per process, ``cuda:LOCAL_RANK``). Every collective
has a timeout, so a rank that dies or hangs makes the others fail with an error after at
most ``timeout_s`` seconds instead of waiting forever; torchrun then stops the whole job.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from softmaxreg.errors import SoftmaxregError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
DEFAULT_TIMEOUT_S = 300.0


class DistributedTrainingError(SoftmaxregError, RuntimeError):
    """A collective operation failed: another rank crashed, hung or disagreed."""


@dataclass(frozen=True)
class ProcessContext:
    """Where this process stands in the job: rank ``r`` of ``P``, its device and backend."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    timeout_s: float

    @property
    def is_main(self) -> bool:
        """Rank 0 is the only one that writes files."""
        return self.rank == 0


def init_process_group_from_env(device="cpu", timeout_s: float = DEFAULT_TIMEOUT_S):
    """Join the job described by torchrun's environment; return this process's context.

    ``device="cpu"`` uses gloo; ``"cuda"`` uses NCCL with ``cuda:LOCAL_RANK``. An already
    initialised default group is reused.
    """
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing and not dist.is_initialized():
        raise DistributedTrainingError(
            f"distributed training needs the environment set by torchrun (missing: "
            f"{', '.join(missing)}); start it with e.g. "
            "`torchrun --nproc-per-node 2 -m softmaxreg train DATA --distributed --out DIR`"
        )
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    kind = torch.device(device).type
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise DistributedTrainingError(
                "device='cuda' was requested but CUDA is not available on this machine; "
                "use device='cpu' (gloo)")
        torch.cuda.set_device(local_rank)
        resolved = torch.device("cuda", local_rank)
        backend = "nccl"
    elif kind == "cpu":
        resolved, backend = torch.device("cpu"), "gloo"
    else:
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if not dist.is_initialized():
        dist.init_process_group(
            backend=backend, timeout=datetime.timedelta(seconds=float(timeout_s)),
            **({"device_id": resolved} if backend == "nccl" else {}),
        )
    return ProcessContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
        backend=dist.get_backend(), device=resolved, timeout_s=float(timeout_s),
    )


def close_process_group() -> None:
    """Leave the job (no-op when no group is initialised)."""
    if dist.is_initialized():
        dist.destroy_process_group()
