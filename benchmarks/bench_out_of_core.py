"""Out-of-core training: a generated data set of GB of float32 features, trained from shards.

    python benchmarks/bench_out_of_core.py --gb 8 --dir /tmp/softmaxreg-ooc

1. generates ``--gb`` GB of float32 features (``--features`` columns, ``--classes`` classes,
   seeded; labels from a random linear model) straight into NPY shards, one block at a time;
2. in a fresh process: a few L-BFGS iterations (full-batch gradients accumulated shard by
   shard) and one epoch of minibatch SGD streamed in shard order; prints peak RSS (the
   process's own resident memory, ``ru_maxrss``) and rows per second;
3. in a fresh process: the same on an in-memory data set that fits (``--fit-gb``), with
   ``softmaxreg.LogisticRegression`` on a NumPy array, for the in-memory throughput.
The shards are deleted at the end (``--keep`` keeps them). Each phase prints one JSON line.
Note: after the first pass the shards sit in the kernel's page cache when RAM allows; that
memory belongs to the kernel, not to the training process, and is not in its RSS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from softmaxreg.bench.memory import peak_rss_mb
from softmaxreg.bench.synthetic import synthetic_arrays, synthetic_blocks


def generate(args) -> None:
    from softmaxreg.datasets import write_shards

    n_rows = int(args.gb * 1e9 / (4 * args.features))
    began = time.perf_counter()
    shards = write_shards(synthetic_blocks(n_rows, args.features, args.classes, args.seed),
                          args.dir, args.rows_per_shard, overwrite=True)
    print(json.dumps({"phase": "generate", "rows": shards.n_rows, "shards": shards.n_shards,
                      "feature_gb": shards.n_rows * shards.n_features * 4 / 1e9,
                      "seconds": time.perf_counter() - began, "peak_rss_mb": peak_rss_mb()}))


def train_shards(args) -> None:
    import torch

    from softmaxreg.datasets import Shards
    from softmaxreg.distributed.sharded_objective import ShardedObjective
    from softmaxreg.distributed.train import fit_sharded

    torch.set_num_threads(args.threads)
    shards = Shards(args.dir)
    results = {"phase": "shards", "rows": shards.n_rows}
    objective = ShardedObjective(shards, "multinomial", cache_bytes=0)
    theta = objective.zeros()
    for name in ("first", "second"):
        began = time.perf_counter()
        objective.value_and_grad(theta)
        results[f"gradient_pass_{name}_rows_per_s"] = shards.n_rows / (time.perf_counter() - began)
    results["peak_rss_mb_after_gradients"] = peak_rss_mb()
    began = time.perf_counter()
    fit_sharded(shards, solver="sgd", max_iter=1, tol=None, batch_size=args.batch_size,
                learning_rate=0.05, random_state=0)
    seconds = time.perf_counter() - began
    results["sgd_epoch_seconds"] = seconds
    results["sgd_rows_per_s"] = shards.n_rows / seconds
    if args.lbfgs_iter:
        began = time.perf_counter()
        model = fit_sharded(shards, solver="lbfgs", max_iter=args.lbfgs_iter, tol=1e-12)
        results["lbfgs_seconds"] = time.perf_counter() - began
        results["lbfgs_objective"] = model.loss_history_[-1]
    results["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(results))


def train_in_memory(args) -> None:
    import torch

    from softmaxreg.objective import LinearObjective

    torch.set_num_threads(args.threads)
    n_rows = int(args.fit_gb * 1e9 / (4 * args.features))
    X, y = synthetic_arrays(n_rows, args.features, args.classes, args.seed)
    objective = LinearObjective(X, y, "multinomial")
    theta = objective.zeros()
    began = time.perf_counter()
    for _ in range(3):
        objective.value_and_grad(theta)
    gradient_seconds = (time.perf_counter() - began) / 3
    from softmaxreg.solvers import solve

    began = time.perf_counter()
    solve(objective, "sgd", max_iter=1, tol=None, batch_size=args.batch_size,
          learning_rate=0.05, random_state=0)
    sgd_seconds = time.perf_counter() - began
    print(json.dumps({"phase": "in-memory", "rows": n_rows,
                      "full_batch_rows_per_s": n_rows / gradient_seconds,
                      "sgd_rows_per_s": n_rows / sgd_seconds, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=8.0, help="GB of float32 features")
    parser.add_argument("--fit-gb", type=float, default=0.5, help="GB for the in-memory run")
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rows-per-shard", type=int, default=262_144)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--lbfgs-iter", type=int, default=2, help="0 skips L-BFGS")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on shared cores more threads oversubscribe)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/softmaxreg-ooc-shards"))
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--phase", choices=["all", "generate", "shards", "in-memory"],
                        default="all")
    args = parser.parse_args()
    if args.phase != "all":
        {"generate": generate, "shards": train_shards, "in-memory": train_in_memory}[
            args.phase](args)
        return
    forwarded = [arg for arg in sys.argv[1:] if arg not in ("--keep",)]
    try:
        for phase in ("generate", "shards", "in-memory"):
            subprocess.run([sys.executable, __file__, *forwarded, "--phase", phase], check=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
