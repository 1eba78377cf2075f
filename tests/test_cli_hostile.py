"""Hostile input to the command line: swapped or foreign column names, a run stopped while
it writes its results, out-of-range integer options, an unnameable shards folder."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli


def _rows(path, header, X, y=None):
    lines = [header] + [
        ",".join(repr(float(v)) for v in row) + ("" if y is None else f",{int(label)}")
        for row, label in zip(X, y if y is not None else [None] * len(X), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def ab_run(tmp_path_factory):
    """A model trained on columns a, b (label: a > 0) and its data."""
    folder = tmp_path_factory.mktemp("ab")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] > 0).astype(int)
    data = _rows(folder / "ab.csv", "a,b,label", X, y)
    run = folder / "run"
    assert run_cli("train", data, "--solver", "lbfgs", "--out", run, "-q", "--no-report") == 0
    return run, X, y


def test_predict_puts_named_columns_in_the_models_order(ab_run, tmp_path, capsys):
    run, X, _ = ab_run
    capsys.readouterr()
    assert run_cli("predict", run, _rows(tmp_path / "ab.csv", "a,b", X[:5])) == 0
    straight = capsys.readouterr().out
    assert run_cli("predict", run, _rows(tmp_path / "ba.csv", "b,a", X[:5, ::-1])) == 0
    assert capsys.readouterr().out == straight
    labels = [line.split(",")[0] for line in straight.splitlines()[1:]]
    assert labels == [str(int(x > 0)) for x in X[:5, 0]]


def test_predict_refuses_other_column_names(ab_run, tmp_path, capsys):
    run, X, _ = ab_run
    path = _rows(tmp_path / "xy.csv", "x,y", X[:3])
    assert run_cli("predict", run, path) == 1
    assert capsys.readouterr().err == (
        f"error: {str(path)!r}: its columns do not match the model's features: missing 'a', "
        "'b'; unexpected 'x', 'y'; expected 'a', 'b'\n"
    )


def test_predict_names_an_unexpected_label_column(ab_run, tmp_path, capsys):
    run, X, y = ab_run
    path = _rows(tmp_path / "bal.csv", "b,a,label", X[:3, ::-1], y[:3])
    assert run_cli("predict", run, path) == 1
    assert capsys.readouterr().err == (
        f"error: {str(path)!r}: its columns do not match the model's features: unexpected "
        "'label'; expected 'a', 'b'; if the file has a label column, name it with --target\n"
    )
    assert run_cli("predict", run, path, "--target", "label") == 0


def test_files_without_names_stay_positional(ab_run, tmp_path, capsys):
    run, X, _ = ab_run
    capsys.readouterr()
    np.save(tmp_path / "rows.npy", X[:4])
    assert run_cli("predict", run, tmp_path / "rows.npy") == 0
    from_npy = capsys.readouterr().out
    headerless = tmp_path / "rows.csv"
    headerless.write_text("\n".join(",".join(repr(float(v)) for v in r) for r in X[:4]) + "\n")
    assert run_cli("predict", run, headerless) == 0
    from_csv = capsys.readouterr().out
    # (the same labels; CSV parsing may change a probability's last bit)
    assert [line.split(",")[0] for line in from_csv.splitlines()] == [
        line.split(",")[0] for line in from_npy.splitlines()
    ]


def test_evaluate_puts_named_columns_in_the_models_order(ab_run, tmp_path, capsys):
    run, X, y = ab_run
    path = _rows(tmp_path / "ba.csv", "b,a,label", X[:, ::-1], y)
    assert run_cli("evaluate", run, path) == 0
    assert "accuracy 100.00%" in " ".join(capsys.readouterr().out.split())  # (rich wraps)
    other = _rows(tmp_path / "xb.csv", "x,b,label", X, y)
    assert run_cli("evaluate", run, other) == 1
    assert capsys.readouterr().err == (
        f"error: {str(other)!r}: its columns do not match the model's features: missing 'a'; "
        "unexpected 'x'; expected 'a', 'b'\n"
    )


def test_long_name_lists_are_shortened():
    from softmaxreg.datasets.columns import column_order
    from softmaxreg.errors import DataError

    expected = [f"f{i}" for i in range(64)]
    with pytest.raises(DataError) as refused:
        column_order(["g"], expected, "'d.csv'")
    message = str(refused.value)
    assert message.endswith(
        "expected " + ", ".join(f"'f{i}'" for i in range(10)) + ", ... (64 in all)"
    )
    assert "\n" not in message


# -- a run stopped while it writes its results ---------------------------------------------


def _signal_at_picture(monkeypatch, number=signal.SIGTERM):
    """A real signal to this process when the report draws its reliability diagram (after
    the loss curve and the confusion matrices are written)."""
    from softmaxreg.report import write

    drawn = write.reliability_diagram_figure
    sent = []

    def signalling(*args, **kwargs):
        sent.append(True)
        os.kill(os.getpid(), number)
        return drawn(*args, **kwargs)

    monkeypatch.setattr(write, "reliability_diagram_figure", signalling)
    return sent


def test_a_run_stopped_while_drawing_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    sent = _signal_at_picture(monkeypatch)
    out = tmp_path / "runs" / "r"
    assert run_cli("train", "toy", "--epochs", "3", "--out", out, "-q") == 143
    assert sent
    assert capsys.readouterr().err.splitlines()[-1] == "interrupted (SIGTERM)"
    assert list(tmp_path.iterdir()) == []


def test_a_stopped_run_leaves_an_earlier_run_in_the_folder_as_it_was(tmp_path, monkeypatch):
    out = tmp_path / "r"
    assert run_cli("train", "toy", "--epochs", "2", "--out", out, "-q") == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert {"model.safetensors", "metrics.json", "report.html", "loss_curve.png"} <= set(before)
    _signal_at_picture(monkeypatch)
    assert run_cli("train", "toy", "--epochs", "4", "--out", out, "-q") == 143
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_run_stopped_while_drawing_keeps_its_checkpoint_to_resume(tmp_path, monkeypatch):
    out = tmp_path / "r"
    _signal_at_picture(monkeypatch)
    command = ["train", "toy", "--epochs", "3", "--checkpoint-every", "1", "-q"]
    assert run_cli(*command, "--out", out) == 143
    assert sorted(path.name for path in out.iterdir()) == ["checkpoint.safetensors"]
    monkeypatch.undo()
    assert run_cli("train", "toy", "--resume", out, "-q") == 0
    names = {path.name for path in out.iterdir()}
    assert {"model.safetensors", "metrics.json", "report.html"} <= names
    assert "checkpoint.safetensors" not in names
    assert run_cli("evaluate", out, "toy") == 0


def test_a_signal_while_the_files_are_moved_in_place_waits_for_the_move(tmp_path, monkeypatch):
    from softmaxreg.cli import run_directory

    replace = os.replace
    sent = []

    def signalling_replace(source, target):
        moved = Path(source)  # a finished file, not an atomic writer's temporary one
        if not sent and moved.parent.name.startswith(".staging.") and moved.name[0] != ".":
            sent.append(target)
            os.kill(os.getpid(), signal.SIGTERM)
        return replace(source, target)

    monkeypatch.setattr(run_directory.os, "replace", signalling_replace)
    out = tmp_path / "r"
    assert run_cli("train", "toy", "--epochs", "2", "--out", out, "-q") == 143
    assert sent
    names = sorted(path.name for path in out.iterdir())
    assert {"model.safetensors", "metrics.json", "report.html", "reliability.png"} <= set(names)
    assert not [name for name in names if name.startswith(".")]


def test_claiming_a_folder_removes_a_killed_runs_staging_folder(tmp_path):
    from softmaxreg.cli.run_directory import claimed_run_folder

    stale = tmp_path / ".staging.999999999.0123abcd.tmp"
    stale.mkdir()
    (stale / "loss_curve.png").write_bytes(b"png")
    with claimed_run_folder(tmp_path):
        pass
    assert list(tmp_path.iterdir()) == []


# -- integer options out of range ----------------------------------------------------------


def test_max_seed_is_the_librarys():
    from softmaxreg.bench.inference_comparison import MIN_ROWS
    from softmaxreg.cli.bench_command import INFERENCE_MIN_ROWS
    from softmaxreg.cli.train_command import MAX_SEED
    from softmaxreg.solvers._common import MAX_SEED as LIBRARY_MAX_SEED

    assert MAX_SEED == LIBRARY_MAX_SEED
    assert INFERENCE_MIN_ROWS == MIN_ROWS


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["train", "toy", "--seed", "-1"],
            "Error: Invalid value for --seed: must be an integer from 0 to 2**32 - 1 "
            "(4294967295), got -1",
        ),
        (
            ["train", "toy", "--seed", "99999999999999999999"],
            "Error: Invalid value for --seed: must be an integer from 0 to 2**32 - 1 "
            "(4294967295), got 99999999999999999999",
        ),
        (
            ["bench", "--suite", "inference", "--rows", "-5"],
            "Error: Invalid value for --rows: must be at least 1000, got -5",
        ),
    ],
)
def test_out_of_range_integers_are_usage_errors(args, line, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli(*args) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == line
    assert list(tmp_path.iterdir()) == []


def test_the_largest_seed_is_accepted(tmp_path):
    out = tmp_path / "r"
    assert (
        run_cli(
            "train",
            "toy",
            "--seed",
            "4294967295",
            "--epochs",
            "1",
            "--out",
            out,
            "-q",
            "--no-report",
        )
        == 0
    )


# -- shard --overwrite of a folder that cannot be replaced ----------------------------------


def test_shard_refuses_to_overwrite_the_current_folder(toy_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli("shard", toy_csv, ".", "--overwrite") == 1
    assert capsys.readouterr().err == (
        "error: refusing to replace '.': the shards folder must be given by its name (not "
        "'.', '..' or '/'), e.g. ../shards\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["toy.csv"]


def test_shard_refuses_to_overwrite_a_folder_that_is_no_shards_folder(toy_csv, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    assert run_cli("shard", toy_csv, other, "--overwrite") == 1
    assert capsys.readouterr().err == (
        f"error: refusing to replace {other}: it is not a shards directory (no manifest.json)\n"
    )
    shards = tmp_path / "shards"
    assert run_cli("shard", toy_csv, shards, "--rows-per-shard", "10") == 0
    assert run_cli("shard", toy_csv, shards, "--rows-per-shard", "20", "--overwrite") == 0


def test_train_validation_file_is_read_in_the_training_files_column_order(tmp_path, capsys):
    import json

    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] > 0.3).astype(int)
    train = _rows(tmp_path / "train.csv", "a,b,label", X[:60], y[:60])
    straight = _rows(tmp_path / "ab.csv", "a,b,label", X[60:], y[60:])
    swapped = _rows(tmp_path / "ba.csv", "b,a,label", X[60:, ::-1], y[60:])
    fit = ("train", train, "--solver", "lbfgs", "-q", "--no-report", "--validation")
    summaries = []
    for held_out, out in ((straight, "r1"), (swapped, "r2")):
        assert run_cli(*fit, held_out, "--out", tmp_path / out) == 0
        summaries.append(json.loads((tmp_path / out / "metrics.json").read_text())["summary"])
    assert summaries[1]["test_accuracy"] == summaries[0]["test_accuracy"]
    assert summaries[1]["test_log_loss"] == summaries[0]["test_log_loss"]
    foreign = _rows(tmp_path / "xb.csv", "x,b,label", X[60:], y[60:])
    capsys.readouterr()
    assert run_cli(*fit, foreign, "--out", tmp_path / "r3") == 1
    assert capsys.readouterr().err == (
        f"error: {foreign}: its columns do not match the training file {train}'s columns: "
        "missing 'a'; unexpected 'x'; expected 'a', 'b'\n"
    )
    assert not (tmp_path / "r3").exists()


def test_a_run_without_report_removes_an_earlier_runs_report(tmp_path):
    from softmaxreg.report import FIGURE_FILES, REPORT_FILE

    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    data = _rows(tmp_path / "d.csv", "a,b,label", X, (X[:, 1] > 0).astype(int))
    run = tmp_path / "run"
    assert run_cli("train", data, "--solver", "lbfgs", "-q", "--out", run) == 0
    drawn = {path.name for path in run.iterdir()} & {REPORT_FILE, *FIGURE_FILES.values()}
    assert REPORT_FILE in drawn and len(drawn) >= 3
    assert run_cli("train", data, "--solver", "lbfgs", "-q", "--out", run, "--no-report") == 0
    assert sorted(path.name for path in run.iterdir()) == ["metrics.json", "model.safetensors"]


def test_a_full_disk_while_writing_the_run_names_the_run_folder(tmp_path, monkeypatch, capsys):
    import errno

    real_write = os.write

    def full(descriptor, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "r"
    monkeypatch.setattr(os, "write", full)
    try:
        code = run_cli("train", "toy", "--epochs", "2", "--out", out, "-q", "--no-report")
    finally:
        monkeypatch.setattr(os, "write", real_write)
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: cannot write {str(out / 'model.safetensors')!r}: No space left on device\n"
    )
    assert list(tmp_path.iterdir()) == []  # the new folder goes with the failed run


def test_an_unwritable_run_folder_is_named_in_one_line(tmp_path, monkeypatch, capsys):
    from softmaxreg.cli import run_directory

    def refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    out = tmp_path / "r"
    out.mkdir()
    monkeypatch.setattr(run_directory.Path, "mkdir", refused)
    assert run_cli("train", "toy", "--epochs", "2", "--out", out, "-q", "--no-report") == 1
    assert capsys.readouterr().err == (
        f"error: cannot write {str(out)!r}: Permission denied\n"
    )
    assert list(out.iterdir()) == []


def test_a_full_disk_while_sharding_names_the_shards_folder(toy_csv, tmp_path, monkeypatch, capsys):
    import errno

    from softmaxreg.datasets import shards

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # (a write names no file)

    monkeypatch.setattr(shards, "_write_npy_pieces", full)
    out = tmp_path / "s"
    assert run_cli("shard", toy_csv, out, "--rows-per-shard", "40") == 1
    assert capsys.readouterr().err == f"error: cannot write {str(out)!r}: No space left on device\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["toy.csv"]


def test_sharding_removes_what_a_killed_shard_left_beside_its_folder(toy_csv, tmp_path):
    killed = tmp_path / ".s.999999999.0123abcd.tmp"  # a process that no longer runs
    killed.mkdir()
    (killed / "shard-00000.X.npy").write_bytes(b"half")
    running = tmp_path / f".s.{os.getpid()}.0123abcd.tmp"  # a writer still at work
    running.mkdir()
    other = tmp_path / ".t.999999999.0123abcd.tmp"  # another target's: not this write's
    other.mkdir()
    assert run_cli("shard", toy_csv, tmp_path / "s", "--rows-per-shard", "40") == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [running.name, other.name, "s", "toy.csv"]
    )


def test_shard_overwrite_keeps_files_that_are_not_shards(toy_csv, tmp_path, capsys):
    out = tmp_path / "s"
    assert run_cli("shard", toy_csv, out, "--rows-per-shard", "40") == 0
    manifest = (out / "manifest.json").read_bytes()
    (out / "notes.txt").write_text("precious")
    assert run_cli("shard", toy_csv, out, "--overwrite", "--rows-per-shard", "50") == 1
    assert capsys.readouterr().err == (
        f"error: refusing to replace {out}: it holds files that are not its shards "
        "(notes.txt); move them away or choose another folder\n"
    )
    assert (out / "notes.txt").read_text() == "precious"
    assert (out / "manifest.json").read_bytes() == manifest


def test_shard_overwrite_refuses_the_folder_its_input_lies_in(toy_csv, tmp_path, capsys):
    out = tmp_path / "s"
    assert run_cli("shard", toy_csv, out, "--rows-per-shard", "40") == 0
    inside = out / "input.csv"
    inside.write_bytes(toy_csv.read_bytes())
    assert run_cli("shard", inside, out, "--overwrite", "--rows-per-shard", "50") == 1
    assert capsys.readouterr().err == (
        f"error: refusing to replace {out}: the input {inside} lies inside it\n"
    )
    assert inside.read_bytes() == toy_csv.read_bytes()


def test_shard_overwrite_refuses_a_folder_with_a_foreign_manifest(toy_csv, tmp_path, capsys):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "manifest.json").write_text("{}")
    (fake / "important.txt").write_text("precious")
    assert run_cli("shard", toy_csv, fake, "--overwrite") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: refusing to replace {fake}: it is not a valid shards directory")
    assert err.count("\n") == 1
    assert (fake / "important.txt").read_text() == "precious"


def test_a_signal_whose_exception_python_discards_still_stops_the_run(tmp_path, monkeypatch):
    """A signal handled while a finaliser runs: Python prints "Exception ignored" and goes
    on; the run must still stop (exit 130) and leave the earlier run's files as they were."""
    from softmaxreg.report import write

    out = tmp_path / "r"
    assert run_cli("train", "toy", "--epochs", "2", "--out", out, "-q") == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    class SignalsWhenCollected:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # its handler runs inside this finaliser

    drawn = write.reliability_diagram_figure

    def drawing(*args, **kwargs):
        SignalsWhenCollected()  # collected at once: the exception is discarded
        return drawn(*args, **kwargs)

    discarded = []
    monkeypatch.setattr(write, "reliability_diagram_figure", drawing)
    monkeypatch.setattr(sys, "unraisablehook", lambda raised: discarded.append(raised.exc_type))
    assert run_cli("train", "toy", "--epochs", "4", "--out", out, "-q") == 130
    assert [kind.__name__ for kind in discarded] == ["Interrupted"]
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_a_label_index_is_looked_up_by_name_in_a_named_validation_file(tmp_path, capsys):
    import json

    rng = np.random.default_rng(5)
    X = rng.normal(size=(80, 2))
    y = (X[:, 0] > 0).astype(int)
    # the label first in the training file, last in the validation file
    train = tmp_path / "train.csv"
    rows = [f"{label},{a!r},{b!r}" for (a, b), label in zip(X[:60].tolist(), y[:60], strict=True)]
    train.write_text("label,a,b\n" + "\n".join(rows) + "\n")
    held_out = _rows(tmp_path / "ba.csv", "b,a,label", X[60:, ::-1], y[60:])
    command = ["train", train, "--target", "0", "--solver", "lbfgs", "-q", "--no-report"]
    assert run_cli(*command, "--validation", held_out, "--out", tmp_path / "r") == 0
    summary = json.loads((tmp_path / "r" / "metrics.json").read_text())["summary"]
    assert summary["test_accuracy"] == 1.0
    assert "warning" not in capsys.readouterr().err


def test_named_columns_for_an_unnamed_model_are_read_by_position_with_a_warning(
    tmp_path, capsys
):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(int)
    plain = tmp_path / "plain.csv"
    lines = [f"{a!r},{b!r},{label}" for (a, b), label in zip(X.tolist(), y, strict=True)]
    plain.write_text("\n".join(lines) + "\n")
    run = tmp_path / "run"
    fit = ("train", plain, "--target", "-1", "--solver", "lbfgs", "-q", "--no-report")
    assert run_cli(*fit, "--out", run) == 0
    named = _rows(tmp_path / "named.csv", "u,v", X[:3])
    capsys.readouterr()
    assert run_cli("predict", run, named) == 0
    assert capsys.readouterr().err == (
        f"warning: {str(named)!r}: its columns are named but the model's features are not "
        "(trained on data without column names); they are read by position\n"
    )


def test_training_from_shards_refuses_another_label_column(toy_csv, tmp_path, capsys):
    shards = tmp_path / "s"
    assert run_cli("shard", toy_csv, shards, "--rows-per-shard", "25") == 0
    command = ["train", shards, "--solver", "lbfgs", "-q", "--no-report"]
    assert run_cli(*command, "--target", "x1", "--out", tmp_path / "r") == 1
    assert capsys.readouterr().err == (
        f"error: --target x1: the shards {shards} hold their labels in 'label' (chosen when "
        "they were written); leave --target out or give 'label'\n"
    )
    assert not (tmp_path / "r").exists()
    assert run_cli(*command, "--target", "label", "--out", tmp_path / "r") == 0


def test_wide_name_lists_are_compared_as_sets():
    """200,000 names against 200,000 others: compared by sets (a list scan would take
    hours: 4e10 comparisons)."""
    from softmaxreg.datasets.columns import column_order
    from softmaxreg.errors import DataError

    found = [f"a{k}" for k in range(200_000)]
    with pytest.raises(DataError, match=r"missing 'b0', .*\(200000 in all\); unexpected 'a0'"):
        column_order(found, [f"b{k}" for k in range(200_000)], "'w.csv'")
    with pytest.raises(DataError, match=r"repeated 'a7'"):
        column_order(["a0", "a7", "a7"], ["a0", "a7"], "'w.csv'")


def test_a_run_on_two_string_labels_writes_its_report(tmp_path):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 2))
    names = np.where(X[:, 0] > 0, "yes", "no")
    lines = [f"{a!r},{b!r},{label}" for (a, b), label in zip(X.tolist(), names, strict=True)]
    data = tmp_path / "yn.csv"
    data.write_text("a,b,label\n" + "\n".join(lines) + "\n")
    out = tmp_path / "r"
    assert run_cli("train", data, "--solver", "lbfgs", "-q", "--out", out) == 0
    assert {"report.html", "reliability.png", "model.safetensors"} <= {
        path.name for path in out.iterdir()
    }


def test_a_symlinked_run_file_is_written_through_and_a_folder_in_place_refuses_the_run(
    tmp_path, capsys
):
    """A run file that is a symlink is written through (the link stays, the file it points
    to is replaced), as every softmaxreg write; a folder where a run file goes refuses the
    run in one line before any file of the folder is replaced (none half-written)."""
    out, elsewhere = tmp_path / "r", tmp_path / "elsewhere.json"
    assert run_cli("train", "toy", "--epochs", "2", "--out", out, "-q") == 0
    (out / "metrics.json").rename(elsewhere)
    (out / "metrics.json").symlink_to(elsewhere)
    assert run_cli("train", "toy", "--epochs", "3", "--out", out, "-q") == 0
    assert (out / "metrics.json").is_symlink()
    assert json.loads(elsewhere.read_text())["history"]["epoch"] == [1, 2, 3]  # this run's
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    (out / "loss_curve.png").unlink()
    (out / "loss_curve.png").mkdir()
    capsys.readouterr()
    assert run_cli("train", "toy", "--epochs", "4", "--out", out, "-q") == 1
    assert capsys.readouterr().err == (
        f"error: cannot write {str(out / 'loss_curve.png')!r}: a folder is in its place; "
        "move it away or choose another run folder (--out)\n"
    )
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    del before["loss_curve.png"]
    assert after == before  # nothing replaced
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_run_files_that_lead_to_one_file_or_a_folder_refuse_the_run(tmp_path, capsys):
    """Two run files that lead to the same file (a symlink to another run file) would
    overwrite one with the other (the metrics lost, exit 0); a run file that is a symlink to
    a folder is refused as a folder, saying where it leads. Both before any file is
    replaced."""
    out = tmp_path / "r"
    assert run_cli("train", "toy", "--epochs", "2", "--out", out, "-q") == 0
    (out / "metrics.json").unlink()
    (out / "metrics.json").symlink_to("model.safetensors")
    before = (out / "model.safetensors").read_bytes()
    capsys.readouterr()
    assert run_cli("train", "toy", "--epochs", "3", "--out", out, "-q") == 1
    assert capsys.readouterr().err == (
        f"error: cannot write {str(out / 'metrics.json')!r} (a symlink to "
        f"{str(out / 'model.safetensors')!r}): it leads to the same file as "
        f"{str(out / 'model.safetensors')!r}, which this run also writes; remove the symlink "
        "or choose another run folder (--out)\n"
    )
    assert (out / "model.safetensors").read_bytes() == before
    (out / "metrics.json").unlink()
    (tmp_path / "other").mkdir()
    (out / "loss_curve.png").unlink()
    (out / "loss_curve.png").symlink_to(tmp_path / "other")
    assert run_cli("train", "toy", "--epochs", "3", "--out", out, "-q") == 1
    assert capsys.readouterr().err == (
        f"error: cannot write {str(out / 'loss_curve.png')!r} (a symlink to "
        f"{str(tmp_path / 'other')!r}): a folder is in its place; move it away or choose "
        "another run folder (--out)\n"
    )
    assert (out / "model.safetensors").read_bytes() == before
