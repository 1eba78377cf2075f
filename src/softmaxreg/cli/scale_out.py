"""``softmaxreg train`` beyond one process's memory: shards folders and ``--distributed``.

- ``softmaxreg train SHARDS_DIR``: one process, the objective summed shard by shard
  (full-batch solvers) or minibatches streamed in shuffled shard order (sgd), bounded memory.
- ``torchrun --nproc-per-node P -m softmaxreg train DATA --distributed``: data-parallel on
  torch.distributed; every rank fits on its rows, sums are all-reduced, rank 0 alone writes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from softmaxreg.cli.console import console
from softmaxreg.cli.run_directory import METRICS_FILE, prepare_output_folder
from softmaxreg.io import MODEL_FILE


def train_at_scale(options, folder: Path, *, distributed: bool, timeout_s: float) -> None:
    """Fit on a shards folder (in one process) or under torchrun; save and summarise."""
    from softmaxreg.distributed import fit_sharded, run_distributed_training

    params = options.estimator_params()
    target = options.target if options.target is not None else "auto"
    if distributed:
        model = run_distributed_training(
            options.dataset, params, folder, target=target, timeout_s=timeout_s
        )
        if int(os.environ.get("RANK", "0")) == 0:
            summary = json.loads((folder / "training.json").read_text(encoding="utf-8"))
            _print(summary, folder)
        return model
    folder = prepare_output_folder(folder)
    started = time.perf_counter()
    model = fit_sharded(options.dataset, **params)
    summary = {
        "data": options.dataset,
        "solver": params["solver"],
        "n_iter": model.n_iter_.tolist(),
        "seconds": time.perf_counter() - started,
        "final_objective": model.loss_history_[-1] if model.loss_history_ else None,
    }
    from softmaxreg import io
    from softmaxreg._atomic import write_bytes_atomic

    io.save(model, folder / MODEL_FILE, metrics=summary)
    write_bytes_atomic(folder / METRICS_FILE, json.dumps({"summary": summary}, indent=2).encode())
    _print(summary, folder)
    return model


def _print(summary: dict, folder: Path) -> None:
    shown = ", ".join(
        f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
        for key, value in summary.items()
        if value is not None
    )
    console.print(shown)
    console.print(f"model: {folder / MODEL_FILE}")
