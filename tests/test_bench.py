"""``softmaxreg bench``: the MNIST comparison runs each contender in its own process and
reports what it measured; refused set-ups exit 2 before anything runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from softmaxreg.bench.mnist_comparison import CONTENDERS


@pytest.mark.slow  # three contenders, each in its own process
@pytest.mark.mnist
def test_bench_on_a_subset_measures_each_contender_and_reaches_the_target(tmp_path, capsys):
    out = tmp_path / "bench.json"
    status = run_cli(
        "bench",
        "--train-rows",
        2000,
        "--json",
        out,
        "--only",
        "softmaxreg-fullbatch",
        "--only",
        "sklearn-converged",
        "--only",
        "softmaxreg-sgd",
    )
    assert status == 0
    captured = capsys.readouterr()
    printed = captured.out
    progress = captured.err.splitlines()
    assert progress[0].startswith(
        "bench: 3 contender(s), each in its own process, on 2000 training images: "
        "sklearn-converged, softmaxreg-fullbatch, softmaxreg-sgd; estimated total "
    )
    assert [line.split(":")[0] for line in progress[1:]] == [
        "[1/3] sklearn-converged",
        "[1/3] sklearn-converged",
        "[2/3] softmaxreg-fullbatch",
        "[2/3] softmaxreg-fullbatch",
        "[3/3] softmaxreg-sgd",
        "[3/3] softmaxreg-sgd",
    ]
    payload = json.loads(out.read_text())
    results = payload["results"]
    # run in CONTENDERS order, whatever order --only named them in
    assert list(results) == ["sklearn-converged", "softmaxreg-fullbatch", "softmaxreg-sgd"]
    assert payload["train_rows"] == 2000
    sklearn = results["sklearn-converged"]
    assert payload["target_objective"] == sklearn["objective"]
    # the full-batch fit stops once its float32 objective is at scikit-learn's
    assert results["softmaxreg-fullbatch"]["objective"] <= sklearn["objective"] * (1 + 1e-5)
    for name, result in results.items():
        assert result["contender"] == name
        assert result["test_accuracy"] > 0.85, name  # 2000 images: ~88% on the test set
        assert result["fit_seconds"] > 0
        assert result["peak_rss_mb"] >= result["rss_before_fit_mb"] > 50
        assert result["fit_memory_mb"] == pytest.approx(
            result["peak_rss_mb"] - result["rss_before_fit_mb"]
        )
        assert name in printed
    speedup = payload["ratios"]["speedup_fullbatch_vs_sklearn_converged"]
    assert speedup == pytest.approx(
        sklearn["fit_seconds"] / results["softmaxreg-fullbatch"]["fit_seconds"]
    )
    assert f"speedup_fullbatch_vs_sklearn_converged: {speedup:.2f}x" in printed
    assert payload["ratios"]["speedup_sgd_vs_lecture_loop"] is None  # no lecture loop ran


@pytest.mark.parametrize(
    "args, message",
    [
        (["--only", "sklearn-fast"], "unknown contender"),
        (["--train-rows", "500", "--only", "softmaxreg-fullbatch"], "add sklearn-converged"),
        (["--train-rows", "0"], "between 1 and 60000"),
    ],
)
def test_bench_refuses_a_bad_set_up_before_running(args, message, capsys):
    assert run_cli("bench", *args) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_the_plan_and_each_contender_are_announced(monkeypatch):
    """Before anything runs: the contenders and the estimated total; then one line as each
    starts (with its own estimate) and one as it ends (time, fit time, accuracy)."""
    from softmaxreg.bench import mnist_comparison as bench

    clock = iter([100.0, 112.5])
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    lines = []
    on_start, on_done = bench.progress_lines(
        ["softmaxreg-sgd", "sklearn-default"], 30_000, lines.append
    )
    # (17 + 4) s * 30000 / 60000 + 2 starts * 6 s = 22.5 s
    assert lines == [
        "bench: 2 contender(s), each in its own process, on 30000 training images: "
        "sklearn-default, softmaxreg-sgd; estimated total 0.4 min (a quiet 2-core machine)"
    ]
    on_start("sklearn-default")
    on_done("sklearn-default", {"fit_seconds": 8.25, "test_accuracy": 0.9257})
    assert lines[1:] == [
        "[1/2] sklearn-default: fitting (about 14 s) ...",
        "[1/2] sklearn-default: done in 12.5 s (fit 8.2 s, test accuracy 92.57%)",
    ]


def test_every_contender_is_listed_in_the_help(capsys):
    assert run_cli("bench", "--help") == 0
    help_text = "".join(capsys.readouterr().out.split())
    for name in CONTENDERS:
        assert name in help_text


def test_bench_says_it_needs_linux_elsewhere(monkeypatch, capsys):
    monkeypatch.setattr("sys.platform", "darwin")
    assert run_cli("bench", "--only", "softmaxreg-sgd") == 1
    assert "Linux only, not darwin" in " ".join(capsys.readouterr().err.split())


def test_synthetic_data_is_seeded_blockwise_and_the_arrays_are_its_blocks():
    from softmaxreg.bench.synthetic import BLOCK_ROWS, synthetic_arrays, synthetic_blocks

    n_rows = BLOCK_ROWS + 10
    blocks = list(synthetic_blocks(n_rows, 5, 3, seed=7))
    assert [X.shape for X, _ in blocks] == [(BLOCK_ROWS, 5), (10, 5)]
    assert all(X.dtype == np.float32 for X, _ in blocks)
    X, y = synthetic_arrays(n_rows, 5, 3, seed=7)
    np.testing.assert_array_equal(X, np.concatenate([X for X, _ in blocks]))
    np.testing.assert_array_equal(y, np.concatenate([y for _, y in blocks]))
    assert set(np.unique(y)) == {0, 1, 2}
    assert not np.array_equal(synthetic_arrays(100, 5, 3, seed=8)[0], X[:100])


def test_fit_memory_counts_from_a_restarted_peak():
    """The peak a fit is measured by starts at the fit: 200 MB touched and freed before it
    (data generation, a warm-up) is not counted, and what the fit touches is."""
    from softmaxreg.bench.memory import peak_rss_mb, rss_at_fit_start_mb

    before = np.ones(200 * 2**20 // 8)  # touched
    del before
    start = rss_at_fit_start_mb()
    assert peak_rss_mb() < start + 50  # the 200 MB block no longer counts
    during = np.ones(100 * 2**20 // 8)
    assert peak_rss_mb() >= start + 90
    del during
