"""Data-parallel training on torch.distributed: real torchrun jobs of 2 and 3 processes (gloo).

The jobs run this file as their worker (see ``_worker`` at the bottom) or the real entry
``python -m softmaxreg.distributed``; their results are compared with single-process fits
of the same rows held in memory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from test_cli import RUN_FILES

import softmaxreg
from softmaxreg.datasets.shards import Shards, write_shards
from softmaxreg.distributed.process_group import (
    DistributedTrainingError,
    init_process_group_from_env,
)
from softmaxreg.distributed.train import split_shards
from softmaxreg.io import load

JOB_TIMEOUT_S = 120
WORKER_PARAMS = {
    "lbfgs": {"solver": "lbfgs", "C": 0.5, "tol": 1e-10, "max_iter": 500, "dtype": "float64"},
    "newton-cg": {
        "solver": "newton-cg",
        "C": 0.1,
        # 1e-10 stalls in the line search at float64 precision (iteration counts then
        # depend on the order of the sums); 1e-8 is reached cleanly by both
        "tol": 1e-8,
        "max_iter": 100,
        "dtype": "float64",
    },
    "sgd": {
        "solver": "sgd",
        "batch_size": 64,
        "learning_rate": 0.05,
        "max_iter": 3,
        "tol": None,
        "random_state": 7,
        "dtype": "float64",
    },
}


def _data(n: int, seed: int = 0):
    """Three classes of Gaussian blobs in 5 dimensions (labels as strings)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 5)) + y[:, None] * np.array([1.0, -0.5, 0.3, 0.0, 0.8])
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def _torchrun(nproc: int, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        *args,
    ]
    began = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=JOB_TIMEOUT_S, env=env)
    return done, time.perf_counter() - began


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def _centred(intercept: np.ndarray) -> np.ndarray:
    """Softmax is unchanged by one constant added to every intercept: compare centred ones."""
    return intercept - intercept.mean()


@pytest.mark.slow  # starts a torchrun job
def test_two_ranks_equal_one_process_full_batch_and_sgd(tmp_path):
    """2 ranks: L-BFGS on shards, Newton-CG (subsampled Hessian) on in-memory row ranges and
    minibatch SGD with the same global batches give the single-process results."""
    X, y = _data(24_000)
    write_shards((X, y), tmp_path / "shards", 5_000, dtype="float64")
    done, _ = _torchrun(2, __file__, "fit", str(tmp_path / "shards"), str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["world_size"] == 2
    for name, params in WORKER_PARAMS.items():
        reference = softmaxreg.LogisticRegression(**params).fit(X, y)
        coef = np.array(results[name]["coef"])
        intercept = np.array(results[name]["intercept"])
        assert _relative(coef, reference.coef_) < 1e-6, name
        assert _relative(_centred(intercept), _centred(reference.intercept_)) < 1e-6, name
        assert results[name]["classes"] == reference.classes_.tolist()
        assert results[name]["n_iter"] == reference.n_iter_.tolist(), name
    # the SGD run really moved away from zero and matches the loss history epoch by epoch
    sgd = softmaxreg.LogisticRegression(**WORKER_PARAMS["sgd"]).fit(X, y)
    np.testing.assert_allclose(results["sgd"]["loss_history"], sgd.loss_history_, rtol=1e-9)


@pytest.mark.slow  # starts a torchrun job
def test_three_ranks_torchrun_entry_point_writes_one_model(tmp_path):
    """``torchrun -m softmaxreg train SHARDS --distributed`` with 3 ranks: rank 0 alone writes
    the run folder every ``train`` writes (model, metrics.json, report), with the held-out
    shard scored; the model equals fitting the training shards in one process."""
    X, y = _data(3_001, seed=1)
    shards = write_shards((X, y), tmp_path / "shards", 700, dtype="float64")
    out = tmp_path / "run"
    done, _ = _torchrun(
        3,
        "-m",
        "softmaxreg",
        "train",
        str(shards.path),
        "--distributed",
        "--solver",
        "auto",
        "--out",
        str(out),
        "--tol",
        "1e-10",
        "--dtype",
        "float64",
        "--C",
        "2.0",
        "-q",
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES  # as from shards in one process
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary["world_size"] == 3 and summary["backend"] == "gloo"
    assert summary["weights_identical_on_all_ranks"] is True
    training, held_out = split_shards(shards, None, seed=0)
    assert (summary["n_train"], summary["n_test"]) == (training.n_rows, held_out.n_rows)
    X, t = training.read_all()
    y = training.labels(t)
    model = load(out / "model.safetensors")
    X_test, t_test = held_out.read_all()
    assert summary["test_accuracy"] == model.score(X_test, held_out.labels(t_test))
    reference = softmaxreg.LogisticRegression(C=2.0, tol=1e-10, dtype="float64").fit(X, y)
    assert _relative(model.coef_, reference.coef_) < 1e-6
    assert _relative(_centred(model.intercept_), _centred(reference.intercept_)) < 1e-6
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))


@pytest.mark.slow  # starts a torchrun job
def test_a_failing_rank_fails_the_whole_job_quickly(tmp_path):
    """Rank 1 raises after 2 iterations: the job exits with an error naming the failure well
    within the bound, instead of rank 0 waiting forever in an all-reduce."""
    X, y = _data(2_000, seed=2)
    write_shards((X, y), tmp_path / "shards", 500, dtype="float64")
    done, seconds = _torchrun(2, __file__, "fail", str(tmp_path / "shards"), str(tmp_path))
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "injected failure on rank 1" in output
    assert seconds < 90
    assert not (tmp_path / "results.json").exists()


@pytest.mark.slow  # starts a torchrun job
def test_a_hanging_rank_times_out_instead_of_blocking_the_job(tmp_path):
    """Rank 1 stops answering (sleeps 300 s): rank 0's all-reduce gives up after the 3 s
    timeout with a message saying so, and torchrun ends the job long before 300 s."""
    X, y = _data(2_000, seed=2)
    write_shards((X, y), tmp_path / "shards", 500, dtype="float64")
    done, seconds = _torchrun(2, __file__, "hang", str(tmp_path / "shards"), str(tmp_path))
    assert done.returncode != 0
    assert "did not answer within the 3 s timeout" in done.stdout + done.stderr
    assert seconds < 90


def test_init_outside_torchrun_says_how_to_start(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DistributedTrainingError, match="torchrun --nproc-per-node"):
        init_process_group_from_env("cpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nccl_on_one_gpu_equals_cpu(tmp_path):
    X, y = _data(3_000, seed=3)
    shards = write_shards((X, y), tmp_path / "shards", 1_000, dtype="float64")
    done, _ = _torchrun(
        1,
        "-m",
        "softmaxreg",
        "train",
        str(shards.path),
        "--distributed",
        "--solver",
        "auto",
        "--C",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--tol",
        "1e-10",
        "--dtype",
        "float64",
        "--device",
        "cuda",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "metrics.json").read_text())["summary"]
    assert summary["backend"] == "nccl"
    reference = softmaxreg.LogisticRegression(tol=1e-10, dtype="float64").fit(X, y)
    assert _relative(load(tmp_path / "run" / "model.safetensors").coef_, reference.coef_) < 1e-6


# ------------------------------------------------------------------------- the worker
def _worker(scenario: str, shards_dir: str, out_dir: str) -> None:
    from softmaxreg.distributed.process_group import close_process_group
    from softmaxreg.distributed.row_sources import ArrayRows
    from softmaxreg.distributed.train import train_distributed

    context = init_process_group_from_env("cpu", timeout_s=3 if scenario == "hang" else 30)
    try:
        shards = Shards(shards_dir)
        if scenario in ("fail", "hang"):

            def fail_on_rank_1(model, iteration, value):
                if context.rank == 1 and iteration == 2:
                    if scenario == "hang":
                        time.sleep(300)
                    raise RuntimeError("injected failure on rank 1")

            train_distributed(shards, WORKER_PARAMS["lbfgs"], context, callback=fail_on_rank_1)
            Path(out_dir, "results.json").write_text("{}")
            return
        start, stop = shards.row_range(context.rank, context.world_size)
        X, t = shards.read_rows(start, stop)
        in_memory = ArrayRows(X, t, shards.classes, offset=start, n_rows=shards.n_rows)
        results = {"world_size": context.world_size}
        for name, params in WORKER_PARAMS.items():
            source = shards if name == "lbfgs" else in_memory
            model = train_distributed(source, params, context, block_rows=2_000)
            results[name] = {
                "coef": model.coef_.tolist(),
                "intercept": model.intercept_.tolist(),
                "classes": model.classes_.tolist(),
                "n_iter": model.n_iter_.tolist(),
                "loss_history": model.loss_history_,
            }
        if context.is_main:
            Path(out_dir, "results.json").write_text(json.dumps(results))
    finally:
        close_process_group()


if __name__ == "__main__":
    from torch.distributed.elastic.multiprocessing.errors import record

    record(_worker)(*sys.argv[1:4])
