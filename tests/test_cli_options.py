"""Misused options are usage errors (exit 2, the option named as typed) refused before any
data is loaded; run folders that cannot be made are one-line errors (exit 1)."""

from __future__ import annotations

import os

import pytest
from conftest import run_cli

LOADED = "labels from column"  # what train prints once it has read the data


@pytest.fixture
def tiny_csv(tmp_path):
    path = tmp_path / "tiny.csv"
    rows = ["a,b,label"] + [f"{i % 4},{(i * 3) % 5},{i % 2}" for i in range(12)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _usage_error(capsys, option: str) -> str:
    err = capsys.readouterr().err
    assert f"Invalid value for {option}:" in err
    assert LOADED not in err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--lr", "nan"),
        ("--lr", "inf"),
        ("--lr", "-inf"),
        ("--C", "nan"),
        ("--C", "-inf"),
        ("--C", "0"),
        ("--tol", "-1"),
        ("--tol", "nan"),
        ("--tol", "inf"),
        ("--timeout", "-1"),
        ("--timeout", "0"),
        ("--timeout", "nan"),
        ("--timeout", "inf"),
        ("--validation", "0"),
        ("--validation", "1.0"),
        ("--validation", "1"),
        ("--validation", "-0.5"),
        ("--validation", "nan"),
    ],
)
def test_bad_train_numbers_are_usage_errors(option, value, tiny_csv, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", tiny_csv, option, value, "--out", out, "-q") == 2
    _usage_error(capsys, option)
    assert not out.exists()


def test_messages_say_what_is_accepted(tiny_csv, tmp_path, capsys):
    out = tmp_path / "run"
    expected = {
        ("--lr", "nan"): "must be > 0 and finite, got nan",
        ("--C", "nan"): "must be > 0 (or inf: no penalty), got nan",
        ("--tol", "-1"): "must be >= 0 and finite, got -1.0",
        ("--timeout", "-1"): "must be > 0 and finite, got -1.0",
        ("--validation", "0"): "a fraction must lie in (0, 1), e.g. 0.2; got 0",
    }
    for (option, value), message in expected.items():
        assert run_cli("train", tiny_csv, option, value, "--out", out) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last == f"Error: Invalid value for {option}: {message}"


def test_validation_fraction_is_checked_before_a_shards_folder_is_read(tmp_path, capsys):
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "manifest.json").write_text("{}")  # unreadable as shards: never opened
    for value in ("0", "1.0"):
        assert run_cli("train", shards, "--validation", value, "--out", tmp_path / "r") == 2
        _usage_error(capsys, "--validation")
    assert not (tmp_path / "r").exists()


def test_c_inf_is_no_penalty_and_accepted(tiny_csv, tmp_path, capsys):
    out = tmp_path / "run"
    args = ("train", tiny_csv, "--C", "inf", "--solver", "lbfgs", "--out", out)
    assert run_cli(*args, "-q", "--no-report") == 0
    assert (out / "model.safetensors").is_file()


def test_empty_out_is_refused(tiny_csv, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert run_cli("train", tiny_csv, "--out", "", "-q") == 2
    _usage_error(capsys, "--out")
    assert list(work.iterdir()) == []


def test_out_through_a_file_is_one_line(tiny_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    assert run_cli("train", tiny_csv, "--out", "afile/sub", "-q") == 1
    assert capsys.readouterr().err == (
        "error: cannot use 'afile/sub' as the run folder: 'afile' is a file, not a folder\n"
    )
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.parametrize("out", ["dangling", "dangling/sub"])
def test_out_through_a_dangling_symlink_is_one_line(out, tiny_csv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    target = str(tmp_path / "gone")
    os.symlink(target, "dangling")
    assert run_cli("train", tiny_csv, "--out", out, "-q") == 1
    assert capsys.readouterr().err == (
        f"error: cannot use {out!r} as the run folder: 'dangling' is a symlink to a missing "
        f"target {target!r}\n"
    )
    assert os.path.islink("dangling") and not os.path.exists(target)


def test_serve_refuses_too_many_workers_before_loading(tmp_path, capsys):
    assert run_cli("serve", tmp_path / "no-such-run", "--workers", "100000") == 2
    err = _usage_error(capsys, "--workers")
    assert f"must be at most {4 * (os.cpu_count() or 1)}" in err


def test_serve_workers_cap_is_the_librarys():
    pytest.importorskip("fastapi")
    from softmaxreg.cli.serve_command import WORKERS_PER_CPU
    from softmaxreg.serve import WORKERS_PER_CPU as LIBRARY_WORKERS_PER_CPU

    assert WORKERS_PER_CPU == LIBRARY_WORKERS_PER_CPU


def test_predict_out_suffix_is_a_usage_error(tmp_path, capsys):
    out = tmp_path / "x.txt"
    assert run_cli("predict", tmp_path / "no-such-run", tmp_path / "in.csv", "--out", out) == 2
    err = _usage_error(capsys, "--out")
    assert ".csv, .json, .jsonl" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--train-rows", "0"], "must be between 1 and 60000 (the MNIST training images), got 0"),
        (
            ["--train-rows", "60001"],
            "must be between 1 and 60000 (the MNIST training images), got 60001",
        ),
        (["--suite", "mnist-l2", "--train-rows", "-3"], "must be >= 1, got -3"),
    ],
)
def test_bench_train_rows_is_named_as_typed(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli("bench", *args) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"Error: Invalid value for --train-rows: {message}"
    assert "train_rows" not in err
    assert list(tmp_path.iterdir()) == []


def test_the_command_lines_solvers_are_the_estimators(tiny_csv, tmp_path, capsys):
    from softmaxreg._validation import SOLVERS
    from softmaxreg.cli.train_command import SOLVERS as CLI_SOLVERS

    assert sorted(CLI_SOLVERS) == sorted(SOLVERS)
    assert run_cli("train", tiny_csv, "--solver", "bogus", "--out", tmp_path / "r") == 2
    err = _usage_error(capsys, "--solver")
    assert "got 'bogus'" in " ".join(err.split())
    assert not (tmp_path / "r").exists()


def test_liblinear_without_a_penalty_is_a_usage_error(tiny_csv, tmp_path, capsys):
    for extra in ([], ["--C", "inf"]):
        out = tmp_path / "r"
        assert run_cli("train", tiny_csv, "--solver", "liblinear", *extra, "--out", out) == 2
        err = _usage_error(capsys, "--solver")
        assert "liblinear fits penalised models only: give --C (e.g. --C 1)" in " ".join(
            err.split()
        )
        assert not out.exists()
    command = ["train", tiny_csv, "--solver", "liblinear", "--C", "1", "-q", "--no-report"]
    assert run_cli(*command, "--out", tmp_path / "ok") == 0


def test_the_command_line_starts_without_torch_or_scikit_learn():
    """Options are checked (and --help printed) before the heavy libraries load: the
    constants the CLI copies for that are checked against the library's above."""
    import subprocess
    import sys

    code = (
        "import sys; from softmaxreg.cli import main; import softmaxreg.cli.train_command, "
        "softmaxreg.cli.bench_command, softmaxreg.cli.predict_command, "
        "softmaxreg.cli.evaluate_command, softmaxreg.cli.export_command, "
        "softmaxreg.cli.serve_command, softmaxreg.cli.shard_command; "
        "print(sorted(name for name in ('torch', 'sklearn') if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
