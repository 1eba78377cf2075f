"""Scaling: time per epoch against rows, and rows per second in 1 vs P processes (torchrun).

    python benchmarks/bench_scaling.py rows                  # 1e5, 1e6, 1e7 synthetic rows
    python benchmarks/bench_scaling.py processes --rows 1000000 --nproc 2
    python benchmarks/bench_scaling.py rows --device cuda    # the same on a GPU

``rows``: for each size, one full-batch gradient pass (the unit of work of every full-batch
solver: ``value_and_grad``) and one epoch of minibatch SGD (batch ``--batch-size``); sizes
above ``--in-memory-max`` rows are written to NPY shards in /tmp and streamed (deleted at
the end). ``processes``: ``torchrun --nproc-per-node P`` data-parallel gradient passes
(each rank sums its row range, then all-reduce), against the same passes in one process;
prints rows per second for both. Every phase prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from softmaxreg.bench.synthetic import synthetic_arrays, synthetic_blocks


def timed(function) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


def rows_scaling(args) -> None:
    import torch

    from softmaxreg.datasets import write_shards
    from softmaxreg.distributed.shard_stream import ShardStreamObjective
    from softmaxreg.distributed.sharded_objective import ShardedObjective
    from softmaxreg.objective import LinearObjective
    from softmaxreg.solvers import solve

    torch.set_num_threads(args.threads)
    for n_rows in args.sizes:
        folder = None
        if n_rows <= args.in_memory_max:
            X, y = synthetic_arrays(n_rows, args.features, args.classes)
            objective = LinearObjective(X, y, "multinomial", device=args.device)
            minibatch = objective
            where = "memory"
        else:
            folder = tempfile.mkdtemp(prefix="softmaxreg-scaling-", dir="/tmp")
            shards = write_shards(synthetic_blocks(n_rows, args.features, args.classes),
                                  os.path.join(folder, "shards"), 1_048_576)
            objective = ShardedObjective(shards, "multinomial", device=args.device, cache_bytes=0)
            minibatch = ShardStreamObjective(objective, seed=0)
            where = "shards"
        theta = objective.zeros()
        objective.value_and_grad(theta)  # warm up (and, for shards, fill the page cache)
        began = time.perf_counter()
        objective.value_and_grad(theta)
        gradient = time.perf_counter() - began
        sgd = None
        if n_rows <= args.sgd_max:
            began = time.perf_counter()
            solve(minibatch, "sgd", max_iter=1, tol=None, batch_size=args.batch_size,
                  random_state=0)
            sgd = time.perf_counter() - began
        print(json.dumps({"phase": "rows", "rows": n_rows, "data": where, "device": args.device,
                          "gradient_pass_s": gradient, "sgd_epoch_s": sgd,
                          "gradient_rows_per_s": n_rows / gradient,
                          "threads": torch.get_num_threads()}), flush=True)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


def process_worker(args) -> None:
    """One rank: ``--passes`` all-reduced gradient passes over its row range."""
    import torch

    from softmaxreg.distributed.allreduce_objective import allreduce_objective
    from softmaxreg.distributed.process_group import (
        close_process_group,
        init_process_group_from_env,
    )
    from softmaxreg.distributed.row_sources import ArrayRows

    context = init_process_group_from_env(args.device)
    try:
        X, y = synthetic_arrays(args.rows, args.features, args.classes)
        classes = np.arange(args.classes)
        source = ArrayRows(X, y, classes)
        objective = allreduce_objective(source, "multinomial", context)
        theta = objective.zeros()
        objective.value_and_grad(theta)
        torch.distributed.barrier()
        seconds = timed(lambda: [objective.value_and_grad(theta) for _ in range(args.passes)])
        if context.is_main:
            print(json.dumps({"phase": "processes", "world_size": context.world_size,
                              "threads_per_rank": torch.get_num_threads(), "rows": args.rows,
                              "device": str(context.device),
                              "gradient_rows_per_s": args.rows * args.passes / seconds}),
                  flush=True)
    finally:
        close_process_group()


def processes(args) -> None:
    """The same passes in 1 process (1 thread, then all cores' threads) and ``--nproc`` ranks."""
    threads = os.cpu_count() or 1
    for nproc, per_rank in ((1, 1), (1, threads), (args.nproc, max(1, threads // args.nproc))):
        env = {**os.environ, "OMP_NUM_THREADS": str(per_rank)}
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={nproc}", __file__, "worker", "--rows", str(args.rows),
                   "--passes", str(args.passes), "--device", args.device,
                   "--features", str(args.features), "--classes", str(args.classes)]
        subprocess.run(command, check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["rows", "processes", "worker"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--in-memory-max", type=int, default=2_000_000)
    parser.add_argument("--sgd-max", type=int, default=10_000_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads in 'rows' mode")
    args = parser.parse_args()
    {"rows": rows_scaling, "processes": processes, "worker": process_worker}[args.mode](args)


if __name__ == "__main__":
    main()
