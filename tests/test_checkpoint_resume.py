"""Checkpoints and resume: a training process killed with SIGKILL mid-run continues from its
last checkpoint and ends with the weights of an uninterrupted run with the same seed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import run_cli

from softmaxreg import io

RUN = [
    "train",
    "digits",
    "--epochs",
    "30",
    "--batch-size",
    "8",
    "--seed",
    "3",
    "--checkpoint-every",
    "2",
    "--no-report",
    "-q",
]


def _train_in_background(out):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "softmaxreg", *RUN, "--out", str(out)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _checkpoint_epoch(folder) -> int:
    return int(io.read_metadata(folder / "checkpoint.safetensors")["metrics"]["checkpoint_epoch"])


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_weights(tmp_path):
    interrupted = tmp_path / "interrupted"
    process = _train_in_background(interrupted)
    deadline = time.monotonic() + 120
    checkpoint = interrupted / "checkpoint.safetensors"
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.exists() and _checkpoint_epoch(interrupted) >= 4:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not (interrupted / "model.safetensors").exists()
    killed_at = _checkpoint_epoch(interrupted)
    assert 4 <= killed_at < 30

    assert run_cli("train", "digits", "--resume", interrupted, "-q", "--no-report") == 0
    assert not checkpoint.exists()  # a finished run removes its checkpoint

    uninterrupted = tmp_path / "uninterrupted"
    assert run_cli(*RUN, "--out", uninterrupted) == 0

    resumed = io.load(interrupted / "model.safetensors")
    reference = io.load(uninterrupted / "model.safetensors")
    np.testing.assert_allclose(resumed.coef_, reference.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(resumed.intercept_, reference.intercept_, rtol=1e-6, atol=1e-9)
    history = json.loads((interrupted / "metrics.json").read_text())["history"]
    assert history["epoch"] == list(range(1, 31))  # the epochs before the kill are kept


def test_resume_without_a_checkpoint_says_so(tmp_path, capsys):
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert run_cli("train", "digits", "--resume", tmp_path) == 1
    assert "no checkpoint.safetensors" in capsys.readouterr().err


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_checkpoints_are_refused_for_full_batch_solvers(solver, tmp_path, capsys):
    args = ["train", "toy", "--solver", solver, "--checkpoint-every", "1", "--out", tmp_path]
    assert run_cli(*args) == 2
    assert "minibatch" in capsys.readouterr().err
