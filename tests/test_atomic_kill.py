"""SIGKILL during save leaves the old model or the new one, never a broken file.

A real writer process saves two different models to the same path, alternately and without
pause, and is killed with SIGKILL at a random moment; the path must then load, checksum and
all, as exactly one of the two models (weights and metadata from the same model). To fit
many kills in a few seconds, the writers are forked from one small "zygote" process that
has already imported softmaxreg and built the models.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import softmaxreg

N_KILLS = 40
N_CLASSES, N_FEATURES = 10, 20_000  # 1.6 MB of weights: a save takes tens of milliseconds

ZYGOTE = r"""
import os, sys
import numpy as np
from softmaxreg.io import save

N_CLASSES, N_FEATURES = int(sys.argv[2]), int(sys.argv[3])


class Fitted:
    # the fitted attributes of a LogisticRegression, with weights drawn from a seed
    def __init__(self, seed):
        rng = np.random.default_rng(seed)
        self.coef_ = rng.normal(size=(N_CLASSES, N_FEATURES))
        self.intercept_ = rng.normal(size=N_CLASSES)
        self.classes_ = np.arange(N_CLASSES) * 10 + seed
        self.kind_, self.n_features_in_ = "multinomial", N_FEATURES
        self.n_iter_, self.loss_history_ = seed, [float(seed)] * seed
        self.seed = seed

    def get_params(self, deep=True):
        return {"C": float(self.seed)}


models = [Fitted(1), Fitted(2)]
save(models[0], sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    first = int(line)
    pid = os.fork()
    if pid == 0:  # the writer: save the two models in turn until killed
        turn = first
        while True:
            save(models[turn % 2], sys.argv[1])
            turn += 1
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(status, flush=True)
"""


def _expected(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N_CLASSES, N_FEATURES)), rng.normal(size=N_CLASSES)


def _temporary_files(folder: Path) -> set[Path]:
    return set(folder.glob(".model.safetensors.*.tmp"))


def _wait_for_new_temporary_file(folder: Path, timeout: float) -> None:
    before = _temporary_files(folder)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _temporary_files(folder) - before:
        time.sleep(0.0005)  # leave the CPU to the writer


def test_sigkill_during_save_leaves_old_or_new_model(tmp_path):
    path = tmp_path / "model.safetensors"
    expected = {seed: _expected(seed) for seed in (1, 2)}
    source = str(Path(softmaxreg.__file__).parents[1])
    environment = {**os.environ, "PYTHONPATH": source}
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE, str(path), str(N_CLASSES), str(N_FEATURES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    rng = random.Random(20261129)
    seen, leftovers, writer = {1: 0, 2: 0}, 0, None
    try:
        assert zygote.stdout.readline().strip() == "ready"
        for kill in range(N_KILLS):
            zygote.stdin.write(f"{kill}\n")
            zygote.stdin.flush()
            writer = int(zygote.stdout.readline())
            if kill % 2:  # at a random moment: a few saves' worth of time
                time.sleep(rng.uniform(0.0, 0.12))
            else:  # while a temporary file is being written (at worst just after its rename)
                _wait_for_new_temporary_file(tmp_path, timeout=2.0)
            os.kill(writer, signal.SIGKILL)
            status = int(zygote.stdout.readline())
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                "the writer stopped before it was killed"
            )
            model = softmaxreg.load(path)  # raises ModelFileError on a damaged file
            seed = int(model.get_params()["C"])
            coef, intercept = expected[seed]
            assert np.array_equal(model.coef_, coef) and np.array_equal(model.intercept_, intercept)
            assert model.classes_.tolist() == list(range(seed, 10 * N_CLASSES + seed, 10))
            assert model.n_iter_ == seed and model.loss_history_ == [float(seed)] * seed
            seen[seed] += 1
            leftovers = len(_temporary_files(tmp_path))
    finally:
        if writer is not None:  # never leave a writer running, even when an assert failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(writer, signal.SIGKILL)
        with contextlib.suppress(BrokenPipeError):
            zygote.stdin.close()
        try:
            zygote.wait(timeout=30)
        except subprocess.TimeoutExpired:
            zygote.kill()
            zygote.wait()
    assert zygote.returncode == 0
    assert seen[1] > 0 and seen[2] > 0, seen  # both models were written and survived kills
    # kills that landed mid-write leave a stray temporary file (and nothing else) behind
    assert leftovers >= N_KILLS // 8, leftovers
    names = {entry.name for entry in tmp_path.iterdir()}
    assert all(name == "model.safetensors" or name.endswith(".tmp") for name in names)
    print(
        f"\n{N_KILLS} kills: model 1 survived {seen[1]}, model 2 {seen[2]}; "
        f"{leftovers} kills interrupted a write"
    )
