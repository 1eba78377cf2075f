"""``torchrun --nproc-per-node P -m softmaxreg.distributed DATA --out DIR [options]``.

Data-parallel training of ``softmaxreg.LogisticRegression`` (see
:func:`softmaxreg.distributed.train.run_distributed_training`): DATA is a shards directory
or a data set name / file; rank 0 writes ``DIR/model.safetensors`` and ``DIR/training.json``.
"""

from __future__ import annotations

import argparse

from torch.distributed.elastic.multiprocessing.errors import record

from softmaxreg.distributed.process_group import DEFAULT_TIMEOUT_S
from softmaxreg.distributed.train import run_distributed_training


def parse_arguments(argv=None) -> argparse.Namespace:
    """The command line: DATA, --out and the estimator's parameters."""
    parser = argparse.ArgumentParser(prog="python -m softmaxreg.distributed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("data", help="shards directory, data set name (mnist, iris ...) or file")
    parser.add_argument("--out", required=True, help="folder for model.safetensors and "
                        "training.json (written by rank 0)")
    parser.add_argument("--target", default="auto", help="label column of a data file")
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--multi-class", default="auto")
    parser.add_argument("--dtype", default=None, choices=["float32", "float64"])
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds a rank waits for the others before failing")
    return parser.parse_args(argv)


@record
def main(argv=None) -> None:
    """Parse the command line and run :func:`run_distributed_training`."""
    args = parse_arguments(argv)
    params = {
        "C": args.C, "solver": args.solver, "max_iter": args.max_iter, "tol": args.tol,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "random_state": args.random_state, "multi_class": args.multi_class,
        "dtype": args.dtype, "device": args.device,
    }
    run_distributed_training(args.data, params, args.out, target=args.target,
                             timeout_s=args.timeout)


if __name__ == "__main__":
    main()
