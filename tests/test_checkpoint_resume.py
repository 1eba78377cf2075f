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


# ---------------------------------------------------------------------------------------------
# a run stopped after its last checkpoint, and the inputs --resume refuses
# ---------------------------------------------------------------------------------------------

SHORT_RUN = ["train", "toy", "--epochs", "4", "--batch-size", "16", "--seed", "5", "-q"]


def _sigterm_before_writing(monkeypatch, name: str, occurrence: int = 1) -> None:
    """A real SIGTERM to this process just before the run writes the file ``name`` for the
    ``occurrence``-th time (the CLI turns it into an exception, as for ``kill PID``)."""
    from softmaxreg import _atomic

    check_output_path, seen = _atomic.check_output_path, []

    def signalling_check(path):
        if os.path.basename(path) == name:
            seen.append(path)
            if len(seen) == occurrence:
                os.kill(os.getpid(), signal.SIGTERM)
        return check_output_path(path)

    monkeypatch.setattr(_atomic, "check_output_path", signalling_check)


def _interrupted_run(folder, name: str, occurrence: int = 1, report: str = "--no-report"):
    with pytest.MonkeyPatch.context() as monkeypatch:
        _sigterm_before_writing(monkeypatch, name, occurrence)
        assert run_cli(*SHORT_RUN, "--checkpoint-every", "2", "--out", folder, report) == 143


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    assert run_cli(*SHORT_RUN, "--checkpoint-every", "2", "--out", folder, "--no-report") == 0
    return folder


@pytest.mark.parametrize("stopped_before", ["model.safetensors", "metrics.json", "report.html"])
def test_a_run_stopped_after_its_last_checkpoint_is_finished_by_resume(
    stopped_before, uninterrupted, tmp_path, capsys
):
    folder = tmp_path / "run"
    report = "--report" if stopped_before == "report.html" else "--no-report"
    _interrupted_run(folder, stopped_before, report=report)
    assert "interrupted (SIGTERM)" in capsys.readouterr().err
    assert _checkpoint_epoch(folder) == 4  # the last epoch: only the final writes are missing
    assert not (folder / stopped_before).exists()

    assert run_cli("train", "toy", "--resume", folder, report) == 0
    ended = "; the fit had ended, writing its results"
    assert f"resuming {folder} at epoch 4 of 4{ended}\n" in capsys.readouterr().err
    assert not (folder / "checkpoint.safetensors").exists()
    written = {path.name for path in folder.iterdir() if path.suffix != ".png"}
    assert written == {"model.safetensors", "metrics.json"} | (
        {"report.html"} if report == "--report" else set()
    )
    resumed = io.load(folder / "model.safetensors")
    reference = io.load(uninterrupted / "model.safetensors")
    assert np.array_equal(resumed.coef_, reference.coef_)
    assert np.array_equal(resumed.intercept_, reference.intercept_)
    assert resumed.classes_.tolist() == reference.classes_.tolist()
    assert resumed.n_iter_.tolist() == reference.n_iter_.tolist() == [4]
    assert resumed.loss_history_ == reference.loss_history_
    assert len(reference.loss_history_) == 4
    metrics = json.loads((folder / "metrics.json").read_text())
    expected = json.loads((uninterrupted / "metrics.json").read_text())
    assert metrics["history"] == expected["history"]
    del metrics["summary"]["fit_seconds"], expected["summary"]["fit_seconds"]
    assert metrics["summary"] == expected["summary"]


def test_a_run_stopped_early_then_killed_before_its_save_is_finished_not_trained_on(
    tmp_path, capsys
):
    # tol 10: no epoch improves the loss by 10, so sgd stops after 1 + 5 epochs of 50
    run = ["train", "toy", "--epochs", "50", "--tol", "10", "--checkpoint-every", "4", "-q"]
    run += ["--batch-size", "16", "--no-report"]
    folder = tmp_path / "run"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _sigterm_before_writing(monkeypatch, "model.safetensors")
        assert run_cli(*run, "--out", folder) == 143
    saved = io.read_metadata(folder / "checkpoint.safetensors")["metrics"]
    assert (saved["checkpoint_epoch"], saved["fit_done"]) == (6, True)
    capsys.readouterr()
    assert run_cli("train", "toy", "--resume", folder, "--no-report") == 0
    assert "at epoch 6 of 50; the fit had ended" in capsys.readouterr().err

    assert run_cli(*run, "--out", tmp_path / "uninterrupted") == 0
    resumed = io.load(folder / "model.safetensors")
    reference = io.load(tmp_path / "uninterrupted" / "model.safetensors")
    assert resumed.n_iter_.tolist() == reference.n_iter_.tolist() == [6]
    assert np.array_equal(resumed.coef_, reference.coef_)
    assert np.array_equal(resumed.intercept_, reference.intercept_)
    assert resumed.loss_history_ == reference.loss_history_
    history = json.loads((folder / "metrics.json").read_text())["history"]
    assert history["epoch"] == [1, 2, 3, 4, 5, 6]


def test_resume_says_where_it_continues_and_ends_with_the_uninterrupted_weights(
    uninterrupted, tmp_path, capsys
):
    folder = tmp_path / "run"
    _interrupted_run(folder, "checkpoint.safetensors", occurrence=2)  # stopped in epoch 4
    capsys.readouterr()
    assert _checkpoint_epoch(folder) == 2
    # options given again with the values the run started with are accepted
    assert run_cli("train", "toy", "--resume", folder, "--epochs", "4", "--seed", "5") == 0
    assert f"resuming {folder} at epoch 2 of 4\n" in capsys.readouterr().err
    resumed = io.load(folder / "model.safetensors")
    reference = io.load(uninterrupted / "model.safetensors")
    np.testing.assert_allclose(resumed.coef_, reference.coef_, rtol=1e-6, atol=1e-9)
    assert resumed.loss_history_ == pytest.approx(reference.loss_history_, rel=1e-6)


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """A toy run stopped (SIGTERM) before its second checkpoint: it holds the epoch-2 one."""
    folder = tmp_path_factory.mktemp("checkpointed") / "run"
    _interrupted_run(folder, "checkpoint.safetensors", occurrence=2)
    return folder


def _refused(capsys, *args) -> str:
    capsys.readouterr()
    assert run_cli(*args) == 1
    err = capsys.readouterr().err
    # one error line, no traceback, after at most the notice naming the label column
    *notices, last = err.splitlines()
    assert len(notices) <= 1 and all(": labels from column " in line for line in notices), err
    assert last.startswith("error: ") and err.endswith("\n"), err
    return last[len("error: ") :]


def _copy(folder, tmp_path):
    import shutil

    return shutil.copytree(folder, tmp_path / "copy")


def test_resume_refuses_a_missing_folder_or_a_file(tmp_path, capsys):
    missing, afile = tmp_path / "nowhere", tmp_path / "file"
    afile.write_text("x")
    assert _refused(capsys, "train", "toy", "--resume", missing) == (
        f"--resume {str(missing)!r}: no such folder"
    )
    assert not missing.exists()
    assert _refused(capsys, "train", "toy", "--resume", afile) == (
        f"--resume {str(afile)!r} is a file; give the run folder (train --out) to continue"
    )


def test_resume_refuses_an_out_other_than_its_folder(checkpointed, tmp_path, capsys):
    other = tmp_path / "other"
    assert run_cli("train", "toy", "--resume", checkpointed, "--out", other) == 2
    assert "a resumed run writes to its own folder" in capsys.readouterr().err
    assert not other.exists()
    assert (checkpointed / "checkpoint.safetensors").is_file()


def test_resume_of_a_finished_run_says_it_finished(uninterrupted, capsys):
    assert _refused(capsys, "train", "toy", "--resume", uninterrupted) == (
        f"--resume {str(uninterrupted)!r}: there is no checkpoint.safetensors "
        "(its run already finished)"
    )


FOREIGN = (
    "is a model file but not a checkpoint of `softmaxreg train --checkpoint-every` "
    "(it lacks the run's options and epoch)"
)


def _rewrite_checkpoint(folder, **changes):
    """The checkpoint saved again with some of its stored metrics replaced (None: dropped)."""
    path = folder / "checkpoint.safetensors"
    model = io.load(path)
    metrics = {**model.metrics_, **changes}
    io.save(model, path, metrics={k: v for k, v in metrics.items() if v is not None})


@pytest.mark.parametrize(
    "changes",
    [
        {"options": None},  # a plain model: its metrics are a summary (a KeyError before)
        {"checkpoint_epoch": None},
        {"checkpoint_epoch": "2"},
        {"checkpoint_epoch": True},
        {"history": [1, 2]},
        {"history": {"epoch": 2}},
        {"fit_done": "yes"},
        {"options": {"dataset": "toy"}},  # fields without defaults missing
        {"options": "toy"},
        {"n_train": 1.5},
    ],
)
def test_resume_refuses_a_model_that_is_not_a_checkpoint(changes, checkpointed, tmp_path, capsys):
    folder = _copy(checkpointed, tmp_path)
    _rewrite_checkpoint(folder, **changes)
    path = folder / "checkpoint.safetensors"
    assert (
        _refused(capsys, "train", "toy", "--resume", folder) == f"--resume: {str(path)!r} {FOREIGN}"
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [("solver", 3), ("epochs", "4"), ("seed", 1.5), ("lr", 0.1), ("batch_size", None)],
)
def test_resume_refuses_stored_options_of_the_wrong_kind(
    option, value, checkpointed, tmp_path, capsys
):
    folder = _copy(checkpointed, tmp_path)
    options = io.load(folder / "checkpoint.safetensors").metrics_["options"]
    _rewrite_checkpoint(folder, options={**options, option: value})
    assert FOREIGN in _refused(capsys, "train", "toy", "--resume", folder)


def test_resume_refuses_a_plain_model_saved_as_checkpoint(uninterrupted, tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "checkpoint.safetensors").write_bytes(
        (uninterrupted / "model.safetensors").read_bytes()
    )
    path = folder / "checkpoint.safetensors"
    assert (
        _refused(capsys, "train", "toy", "--resume", folder) == f"--resume: {str(path)!r} {FOREIGN}"
    )


def test_resume_refuses_a_full_batch_or_overlong_checkpoint(checkpointed, tmp_path, capsys):
    folder = _copy(checkpointed, tmp_path)
    options = io.load(folder / "checkpoint.safetensors").metrics_["options"]
    _rewrite_checkpoint(folder, options={**options, "solver": "lbfgs"})
    assert FOREIGN in _refused(capsys, "train", "toy", "--resume", folder)
    _rewrite_checkpoint(folder, options=options, checkpoint_epoch=9)
    path = folder / "checkpoint.safetensors"
    assert _refused(capsys, "train", "toy", "--resume", folder) == (
        f"--resume: {str(path)!r} says it was written after epoch 9 of a 4-epoch run; "
        "the checkpoint is damaged"
    )


def test_resume_refuses_a_corrupted_checkpoint(checkpointed, tmp_path, capsys):
    folder = _copy(checkpointed, tmp_path)
    path = folder / "checkpoint.safetensors"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # a weight byte: the checksum no longer matches
    path.write_bytes(bytes(data))
    message = _refused(capsys, "train", "toy", "--resume", folder)
    assert str(path) in message and "SHA-256" in message
    assert not (folder / "model.safetensors").exists()


KEEPS = "; a resumed run keeps its options (leave them out, or start a new run)"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "iris"], " continues a run on 'toy', not 'iris'"),
        (
            ["train", "toy", "--epochs", "9"],
            ": the run was started with --epochs 4, not --epochs 9",
        ),
        (["train", "toy", "--lr", "0.5"], ": the run was started with --lr 0.1, not --lr 0.5"),
        (
            ["train", "toy", "--solver", "sample-sgd"],
            ": the run was started with --solver sgd, not --solver sample-sgd",
        ),
        (["train", "toy", "--C", "2"], ": the run was started without --C, not --C 2.0"),
    ],
)
def test_resume_refuses_another_data_set_or_other_options(args, message, checkpointed, capsys):
    before = (checkpointed / "checkpoint.safetensors").read_bytes()
    refusal = _refused(capsys, *args, "--resume", checkpointed)
    expected = f"--resume {str(checkpointed)!r}{message}"
    assert refusal == (expected if args[1] == "iris" else expected + KEEPS)
    assert (checkpointed / "checkpoint.safetensors").read_bytes() == before


def test_resume_refuses_data_that_changed_since_the_checkpoint(toy_csv, tmp_path, capsys):
    table = toy_csv
    folder = tmp_path / "run"
    run = ["train", table, "--target", "label", "--epochs", "4", "--checkpoint-every", "2", "-q"]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _sigterm_before_writing(monkeypatch, "checkpoint.safetensors", occurrence=2)
        assert run_cli(*run, "--out", folder, "--no-report") == 143
    table.write_text("".join(table.read_text().splitlines(keepends=True)[:61]))  # 60 rows
    refusal = _refused(capsys, "train", table, "--resume", folder)
    assert refusal == (
        f"--resume {str(folder)!r}: the checkpoint was trained on 75 rows of 2 features with "
        f"classes [0, 1], but {str(table)!r} now gives 45 rows of 2 features with classes "
        "[0, 1]; the data changed, start a new run"
    )


def test_checkpoints_are_refused_where_one_vs_rest_fits_classes_in_turn(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "iris", "--multi-class", "ovr", "--checkpoint-every", "1", "--out", out]
    assert _refused(capsys, *args) == (
        "--checkpoint-every with --multi-class ovr: the 3 classes are fitted one after the "
        "other, which a checkpoint's single epoch cannot resume; use --multi-class "
        "multinomial or auto"
    )
    assert not out.exists()
