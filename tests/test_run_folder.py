"""The run folder of ``train``: made only for a run that writes something, and one run at a
time (a second ``train`` to a folder in use is refused; a killed run does not block it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

import softmaxreg
from softmaxreg.cli.run_directory import claimed_run_folder


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "{data}/missing.csv"], "data file not found"),
        (["train", "{data}/toy.csv", "--target", "lable"], "lable"),  # misspelled
        (["train", "{data}/toy.csv", "--target", "label", "--device", "tpu"], "device"),
        (["train", "no-such-set"], "unknown data set"),
    ],
)
def test_a_failed_train_leaves_no_run_folder(args, message, toy_csv, tmp_path, capsys):
    out = tmp_path / "runs" / "x"
    command = [arg.format(data=toy_csv.parent) for arg in args]
    assert run_cli(*command, "--out", out) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # neither the run folder nor its parent


def test_a_failed_train_with_the_default_out_leaves_no_runs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", "missing.csv") == 1
    assert list(tmp_path.iterdir()) == []


def test_a_failed_train_keeps_a_folder_it_did_not_make(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    assert run_cli("train", "missing.csv", "--out", out) == 1
    assert out.is_dir()


def _folder_in_use(folder: Path) -> str:
    return (
        f"error: --out {str(folder)!r} is in use by another `softmaxreg train`; wait for it to "
        "finish or give another --out\n"
    )


def test_a_second_train_to_a_folder_in_use_is_refused_until_the_first_ends(tmp_path, capsys):
    folder = tmp_path / "run"
    source = str(Path(softmaxreg.__file__).parents[1])
    command = [sys.executable, "-m", "softmaxreg", "train", "digits", "--epochs", "1000"]
    command += ["--batch-size", "8", "--checkpoint-every", "1", "-q", "--no-report"]
    environment = {**os.environ, "PYTHONPATH": source, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(
        [*command, "--out", str(folder)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        checkpoint = folder / "checkpoint.safetensors"
        while time.monotonic() < deadline and first.poll() is None and not checkpoint.exists():
            time.sleep(0.02)
        assert first.poll() is None and checkpoint.exists(), "the first run did not start"

        assert run_cli("train", "toy", "--out", folder) == 1
        assert capsys.readouterr().err == _folder_in_use(folder)
        assert run_cli("train", "digits", "--resume", folder) == 1
        assert capsys.readouterr().err == _folder_in_use(folder).replace("--out '", "--resume '", 1)
        assert first.poll() is None and checkpoint.exists()  # the first run goes on untouched
        assert not (folder / "model.safetensors").exists()
    finally:
        first.send_signal(signal.SIGKILL)  # a kill leaves no lock behind: the kernel drops it
        first.wait(timeout=30)
    assert run_cli("train", "toy", "--out", folder, "-q", "--no-report") == 0
    assert (folder / "model.safetensors").is_file()


def test_the_lock_is_held_for_the_block_and_released_after(tmp_path):
    folder = tmp_path / "a" / "run"
    with claimed_run_folder(folder) as path:
        assert path == folder and folder.is_dir()
        with pytest.raises(softmaxreg.errors.DataError) as refused, claimed_run_folder(folder):
            pass
        assert str(refused.value) == _folder_in_use(folder)[len("error: ") : -1]
        (folder / "file").write_text("x")
    with claimed_run_folder(folder):  # released: claimed again
        pass
    with pytest.raises(RuntimeError), claimed_run_folder(tmp_path / "b" / "run"):
        raise RuntimeError("the run failed before writing anything")
    assert not (tmp_path / "b").exists()
    assert (folder / "file").is_file()


def test_claiming_a_run_folder_removes_what_killed_writers_left(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    assert dead.wait() == 0  # its pid now names no process
    folder = tmp_path / "run"
    folder.mkdir()
    names = {
        f".model.safetensors.{dead.pid}.0123abcd.tmp": False,  # its writer is gone: removed
        f".metrics.json.{os.getpid()}.89abcdef.tmp": True,  # a live writer's (this process)
        f"model.safetensors.{dead.pid}.0123abcd.tmp": True,  # not a name atomic_write gives
        f".report.html.{dead.pid}.xyz.tmp": True,
        "notes.tmp": True,
    }
    for name in names:
        (folder / name).write_text("x")
    with claimed_run_folder(folder):
        kept = {path.name for path in folder.iterdir()}
    assert kept == {name for name, stays in names.items() if stays}
