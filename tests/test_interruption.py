"""SIGTERM / SIGINT end every command through its clean-ups: no temporary file, no half
output, no empty run folder, exit status 128 + signal number."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import softmaxreg
from softmaxreg.cli.interruption import Interrupted, signals_raise


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy_run")
    assert run_cli("train", "toy", "--out", folder, "-q", "--no-report") == 0
    return folder


def _leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*") if path.name.endswith(".tmp"))


def test_sigterm_during_a_streaming_predict_removes_its_temporary_file(toy_run, tmp_path):
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(0).normal(size=(1_000_000, 2)))  # ~40 MB of CSV out
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()
    source = str(Path(softmaxreg.__file__).parents[1])
    command = [sys.executable, "-m", "softmaxreg", "predict", str(toy_run), str(rows)]
    command += ["--out", str(output), "--chunk-rows", "1000"]
    environment = {**os.environ, "PYTHONPATH": source, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        written = []
        while time.monotonic() < deadline and process.poll() is None and not written:
            # mid-write: the temporary file exists and already holds rows
            written = [
                path
                for path in output.parent.glob(".predictions.csv.*.tmp")
                if path.stat().st_size > 100_000
            ]
            time.sleep(0.01)
        assert process.poll() is None and written, "predict ended before it could be stopped"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + signal.SIGTERM
    assert err.strip().splitlines()[-1] == "interrupted (SIGTERM)"
    assert "Traceback" not in err
    assert list(output.parent.iterdir()) == []  # no temporary file, no predictions.csv


def _signal_at_first_fsync(monkeypatch, number: int) -> list:
    """A real signal ``number`` to this process the first time a written file is made
    durable: every atomic writer is then inside its ``try``, with a temporary file on disk."""
    fsync = os.fsync
    sent = []

    def signalling_fsync(descriptor):
        if not sent:
            sent.append(descriptor)
            os.kill(os.getpid(), number)
        return fsync(descriptor)

    monkeypatch.setattr(os, "fsync", signalling_fsync)
    return sent


COMMANDS = {
    "train": lambda run, out, data: ["train", "toy", "--out", out / "run", "-q"],
    "predict": lambda run, out, data: [
        "predict",
        run,
        data,
        "--target",
        "label",
        "--out",
        out / "p.csv",
    ],
    "export": lambda run, out, data: ["export", run, "--onnx", out / "m.onnx"],
    "evaluate": lambda run, out, data: [
        "evaluate",
        run,
        data,
        "--target",
        "label",
        "--json",
        out / "m.json",
    ],
    "shard": lambda run, out, data: [
        "shard",
        data,
        out / "shards",
        "--rows-per-shard",
        "10",
        "--target",
        "label",
    ],
}


@pytest.mark.parametrize(
    ("command", "number"),
    [(command, signal.SIGTERM) for command in sorted(COMMANDS)]
    + [("predict", signal.SIGINT), ("train", signal.SIGHUP)],
)
def test_a_signal_while_a_command_writes_leaves_nothing_behind(
    command, number, toy_run, toy_csv, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    # a suite run under nohup ignores SIGHUP, and an ignored signal stays ignored in the
    # command (the next test): here it gets its default handler for the command to take
    ignored = signal.getsignal(number) is signal.SIG_IGN
    if ignored:
        signal.signal(number, signal.SIG_DFL)
    try:
        before = signal.getsignal(number)
        sent = _signal_at_first_fsync(monkeypatch, number)
        assert run_cli(*COMMANDS[command](toy_run, out, toy_csv)) == 128 + number
        assert sent, "the command wrote nothing"
        name = signal.Signals(number).name
        assert capsys.readouterr().err.splitlines()[-1] == f"interrupted ({name})"
        assert list(out.iterdir()) == []  # no output, no temporary file, no run folder
        assert _leftovers(tmp_path) == []
        assert signal.getsignal(number) is before  # the caller's handler is back
    finally:
        if ignored:
            signal.signal(number, signal.SIG_IGN)


def test_signals_raise_in_the_block_and_ignored_signals_stay_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    interrupt = signal.getsignal(signal.SIGINT)  # (ignored too in a background job)
    try:
        with signals_raise():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            with pytest.raises(Interrupted) as raised:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(1)  # the handler runs before this returns
            assert raised.value.exit_status == 143 and str(raised.value) == "SIGTERM"
            # during the clean-up a second SIGTERM would end the process: default handler
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) is interrupt
    finally:
        signal.signal(signal.SIGHUP, previous)
