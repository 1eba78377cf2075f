"""``softmaxreg bench --suite``: each suite's quick form at tiny sizes reaches the reference
objective; skipped peers, the plan and the sparse text-like generator."""

from __future__ import annotations

import dataclasses
import json
from functools import partial

import numpy as np
import pytest
from conftest import run_cli
from threadpoolctl import threadpool_limits

from softmaxreg.bench import contenders, suites
from softmaxreg.bench.contenders import objective_float64
from softmaxreg.bench.synthetic import text_like


def test_sparse_suite_runs_each_contender_in_its_own_process_and_reaches_the_reference(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "sparse.json"
    status = run_cli(
        "bench",
        "--suite",
        "sparse",
        "--quick",
        "--train-rows",
        300,
        "--only",
        "sklearn-lbfgs",
        "--only",
        "softmaxreg-at-reference",
        "--json",
        out,
    )
    assert status == 0
    captured = capsys.readouterr()
    payload = json.loads(out.read_text())
    assert payload["contenders"] == ["sklearn-lbfgs", "softmaxreg-at-reference"]
    assert payload["train_rows"] == 300
    results = payload["results"]
    reference = results["sklearn-lbfgs"]["objective"]
    assert payload["reference_objective"] == reference
    assert results["softmaxreg-at-reference"]["objective"] <= reference * (1 + 1e-5)
    ratio = payload["ratios"]["softmaxreg-at-reference"]["sklearn-lbfgs"]
    reached = results["softmaxreg-at-reference"]["reached_seconds"]["sklearn-lbfgs"]
    assert 0 < reached <= results["softmaxreg-at-reference"]["fit_seconds"]
    assert ratio == pytest.approx(results["sklearn-lbfgs"]["fit_seconds"] / reached)
    assert (
        f"softmaxreg-at-reference vs sklearn-lbfgs: {ratio:.2f}x (at sklearn-lbfgs's "
        f"objective, reached at {reached:.2f} s)" in captured.out
    )
    assert captured.err.startswith(
        "bench sparse (quick): 2 contender(s) on 300 training rows, each in its own process: "
        "sklearn-lbfgs, softmaxreg-at-reference; estimated "
    )
    assert "[2/2] softmaxreg-at-reference ..." in captured.err
    at_reference = payload["results"]["softmaxreg-at-reference"]
    assert (
        f"[2/2] softmaxreg-at-reference: fit {at_reference['fit_seconds']:.2f} s, objective "
        f"{at_reference['objective']:.4f}, zeros {at_reference['exact_zeros']}, "
        f"{at_reference['notes']}\n" in captured.err
    )


@pytest.mark.mnist
def test_mnist_suite_quick_form_reaches_scikit_learns_objective():
    payload = suites.run_suite(
        "mnist-l2",
        quick=True,
        rows=600,
        isolate=False,
        only=["sklearn-lbfgs", "softmaxreg-default", "softmaxreg-at-reference"],
    )
    results = payload["results"]
    reference = results["sklearn-lbfgs"]["objective"]
    assert results["softmaxreg-at-reference"]["objective"] <= reference * (1 + 1e-5)
    assert results["softmaxreg-default"]["objective"] <= reference * (1 + 1e-3)
    # L2: only the weights of pixels blank in every training image stay exactly zero
    blank = int((suites._mnist(600, 1.0).X_train.max(axis=0) == 0).sum())
    assert [r["exact_zeros"] for r in results.values()] == [10 * blank] * 3
    assert set(payload["ratios"]) == {"softmaxreg-default", "softmaxreg-at-reference"}


@pytest.mark.mnist
def test_sgd_suite_quick_form_matches_the_pytorch_loop():
    """The same recipe (batch 256, lr 0.1, 25 epochs, no penalty): the same objective up to
    the shuffling, and the same test accuracy within a point."""
    results = suites.run_suite("sgd", quick=True, rows=600, isolate=False)["results"]
    torch_loop, own = results["torch-loop"], results["softmaxreg-sgd"]
    assert own["objective"] == pytest.approx(torch_loop["objective"], rel=0.05)
    assert own["test_accuracy"] == pytest.approx(torch_loop["test_accuracy"], abs=0.01)
    assert own["notes"].startswith("sgd, n_iter=25")


@pytest.mark.mnist
def test_time_to_accuracy_rows_are_the_first_setting_that_reaches_the_target(monkeypatch):
    monkeypatch.setattr(suites, "QUICK_TARGET_ACCURACY", 0.8)  # 600 rows: ~85% at best
    results = suites.run_suite(
        "time-to-accuracy",
        quick=True,
        rows=600,
        isolate=False,
        only=["softmaxreg-default", "softmaxreg-sgd"],
    )["results"]
    for result in results.values():
        assert result["test_accuracy"] >= 0.8
    assert results["softmaxreg-sgd"]["notes"].startswith("epochs=")
    assert results["softmaxreg-default"]["notes"].startswith("tol=")


def test_a_peer_that_diverged_is_shown_but_neither_a_target_nor_compared(monkeypatch):
    """A fit above the all-zero coefficients' objective (cyanure on the text-like data)
    failed: softmaxreg does not stop at its objective, and no ratio is taken against it."""
    sparse = suites.SUITES["sparse"]

    def diverging(problem, _targets):
        K, m = len(np.unique(problem.y_train)), problem.X_train.shape[1]
        W = np.random.default_rng(0).normal(size=(K, m)) * 1e3
        return contenders.Fit(W, np.zeros(K), 1.0, 0.0, "auto solver")

    peer = suites.Contender("cyanure", diverging, (1.0, 1.0))
    reference = next(c for c in sparse.contenders if c.name == "sklearn-lbfgs")
    suite = dataclasses.replace(sparse, contenders=(reference, peer, suites.AT_REFERENCE))
    monkeypatch.setitem(suites.SUITES, "sparse", suite)
    payload = suites.run_suite("sparse", quick=True, rows=200, isolate=False)
    results = payload["results"]
    assert results["cyanure"]["diverged"] and not results["sklearn-lbfgs"]["diverged"]
    assert results["cyanure"]["notes"] == (
        "auto solver, diverged: objective above all-zero coefficients'"
    )
    assert payload["reference_objective"] == results["sklearn-lbfgs"]["objective"]
    assert set(results["softmaxreg-at-reference"]["reached_seconds"]) == {"sklearn-lbfgs"}
    assert set(payload["ratios"]["softmaxreg-at-reference"]) == {"sklearn-lbfgs"}


def test_a_peer_that_is_not_installed_is_skipped_with_the_reason(monkeypatch):
    real = suites.importlib.util.find_spec
    monkeypatch.setattr(
        suites.importlib.util, "find_spec", lambda name: None if name == "cyanure" else real(name)
    )
    the_plan = suites.plan("sparse", quick=True)
    assert "cyanure" not in the_plan["contenders"]
    assert the_plan["skipped"] == {
        "cyanure": "not installed (pip install cyanure, or softmaxreg[bench])"
    }
    assert "\nskipped cyanure: not installed" in suites.describe_plan(the_plan)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--suite", "mnist-l3"], "unknown suite 'mnist-l3'"),
        (["--suite", "sparse", "--only", "glmnet"], "unknown contender(s) ['glmnet']"),
        (["--suite", "sparse", "--only", "softmaxreg-at-reference"], "run sklearn-lbfgs too"),
    ],
)
def test_bad_suite_set_ups_are_refused_before_running(args, message, capsys):
    assert run_cli("bench", *args) == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_text_like_data_is_seeded_sparse_and_row_normalised():
    X, y = text_like(200, n_features=2**12, n_classes=5, seed=3)
    X2, y2 = text_like(200, n_features=2**12, n_classes=5, seed=3)
    assert X.shape == (200, 2**12) and X.format == "csr" and X.dtype == np.float64
    assert (X != X2).nnz == 0 and np.array_equal(y, y2)
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A1, 1.0, rtol=1e-12)
    assert 60 < X.nnz / 200 < 150  # 150 Zipf draws per row, repeats added up
    assert set(y) == set(range(5))


def test_the_objective_is_scikit_learns_formula():
    """``C sum_i CE_i + 0.5 ||W||^2`` against a direct evaluation (log-sum-exp by hand)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(7, 3)), np.array([0, 1, 2, 0, 1, 2, 2])
    W, b = rng.normal(size=(3, 3)), rng.normal(size=3)
    Z = X @ W.T + b
    ce = np.log(np.exp(Z).sum(axis=1)) - Z[np.arange(7), y]
    assert objective_float64(W, b, X, y, 2.0) == pytest.approx(2 * ce.sum() + 0.5 * (W**2).sum())
    assert objective_float64(W, b, X, y, np.inf) == pytest.approx(ce.sum())


def test_a_row_stopped_at_the_lowest_peer_is_compared_with_each_peer_where_it_reached_it():
    results = {
        "sklearn-saga": {"fit_seconds": 300.0, "notes": "saga"},
        "cyanure": {"fit_seconds": 80.0, "notes": "auto"},
        "glmnet": {"fit_seconds": 50.0, "notes": "path"},
        "softmaxreg-at-reference": {
            "fit_seconds": 100.0,
            "notes": "auto, stops at the reference",
            "reached_seconds": {"sklearn-saga": 30.0, "cyanure": 100.0},  # not glmnet's
        },
    }
    assert suites.speed_ratios(results) == {
        "softmaxreg-at-reference": {"sklearn-saga": 10.0, "cyanure": 0.8}
    }


def test_milestones_record_the_first_time_each_objective_is_reached(monkeypatch):
    clock = iter([-5.0, 0.0, 1.0, 2.0, 3.0])  # made at -5, begun at 0
    monkeypatch.setattr(contenders.time, "perf_counter", lambda: next(clock))
    milestones = contenders.Milestones({"saga": 10.0, "cyanure": 8.0})
    milestones.begin()  # t = 0
    assert milestones.reached(9.0) is False  # t = 1: saga's
    assert milestones.reached(8.5) is False  # t = 2: nothing new
    assert milestones.reached(7.0) is True  # t = 3: cyanure's, the lowest: stop
    assert milestones.seconds == {"saga": 1.0, "cyanure": 3.0}


def test_ratios_leave_out_rows_that_never_reached_the_target():
    results = {
        "sklearn-lbfgs": {"fit_seconds": 4.0, "notes": "max_iter=80: lbfgs"},
        "torch-loop": {"fit_seconds": 8.0, "notes": "never reached; 25 epochs"},
        "softmaxreg-default": {"fit_seconds": 0.5, "notes": "tol=0.002: auto"},
        "softmaxreg-sgd": {"fit_seconds": 1.0, "notes": "never reached; sgd"},
    }
    assert suites.speed_ratios(results) == {"softmaxreg-default": {"sklearn-lbfgs": 8.0}}


L1_SUITES = {  # suite: its reference peer
    "sparse-l1": "sklearn-saga",
    "binary-l1": "sklearn-liblinear",
    "binary-elasticnet": "sklearn-saga",
    "mnist-l1": "sklearn-saga",
    "mnist-elasticnet": "sklearn-saga",
}


@pytest.mark.parametrize(
    "suite",
    [
        pytest.param(name, marks=[pytest.mark.mnist] if name.startswith("mnist") else [])
        for name in L1_SUITES
    ],
)
def test_l1_suites_quick_forms_reach_the_reference_with_its_zeros(suite):
    """softmaxreg stopped at the reference reaches its objective; at its default tol it is
    within 1e-3 of it, and both have the reference's exactly-zero coefficients within 1%."""
    reference = L1_SUITES[suite]
    payload = suites.run_suite(
        suite,
        quick=True,
        rows=300,
        isolate=False,
        only=[reference, "softmaxreg-default", "softmaxreg-at-reference"],
    )
    results = payload["results"]
    target = results[reference]["objective"]
    assert results["softmaxreg-at-reference"]["objective"] <= target * (1 + 1e-6)
    assert results["softmaxreg-default"]["objective"] <= target * (1 + 1e-3)
    zeros = results[reference]["exact_zeros"]
    assert zeros > 0
    for own in ("softmaxreg-default", "softmaxreg-at-reference"):
        assert abs(results[own]["exact_zeros"] - zeros) <= 0.01 * zeros


def _small(suite: str, l1_ratio: float, columns: int = 256):
    problem = suites.SUITES[suite].load(300, True)
    return dataclasses.replace(
        problem,
        X_train=problem.X_train[:, :columns],
        X_test=problem.X_test[:, :columns],
        l1_ratio=l1_ratio,
    )


def _same_objective(problem, peer_fit):
    """The peer's objective at its solution against softmaxreg's at tol=1e-10, by one formula
    (a wrong conversion of C, alpha or lambda solves another problem: a higher value)."""
    ours = contenders.softmaxreg(problem, tol=1e-10)
    theirs = peer_fit(problem)
    args = (problem.X_train, problem.y_train, problem.C, problem.l1_ratio)
    best = objective_float64(ours.W, ours.b, *args)
    assert objective_float64(theirs.W, theirs.b, *args) == pytest.approx(best, rel=1e-6)


@pytest.mark.parametrize(
    "suite, l1_ratio, peer",
    [
        ("binary-l1", 1.0, partial(contenders.sklearn, solver="liblinear", tol=1e-10)),
        ("binary-l1", 1.0, contenders.celer),
        ("binary-l1", 1.0, contenders.glum),
        ("binary-l1", 0.5, contenders.glum),
        ("binary-l1", 0.5, partial(contenders.sklearn, solver="saga", tol=1e-10, max_iter=10**4)),
        ("sparse-l1", 1.0, contenders.cyanure),
        ("sparse-l1", 0.5, contenders.cyanure),
        ("binary-l1", 1.0, partial(contenders.glmnet, tol=1e-12)),
        ("binary-l1", 0.5, partial(contenders.glmnet, tol=1e-12)),
        ("sparse-l1", 1.0, partial(contenders.glmnet, tol=1e-12)),
        ("sparse-l1", 0.5, partial(contenders.glmnet, tol=1e-12)),
    ],
)
def test_each_peer_solves_the_same_objective(suite, l1_ratio, peer):
    _same_objective(_small(suite, l1_ratio), peer)


@pytest.mark.slow
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_skglm_solves_the_same_objective(l1_ratio):
    """Separate and slow: skglm compiles its numba code in each new process (~15 s)."""
    _same_objective(_small("binary-l1", l1_ratio), contenders.skglm)


@pytest.mark.mnist
@pytest.mark.usefixtures("one_torch_thread")
def test_cv_suite_quick_form_chooses_scikit_learns_C():
    # one BLAS thread too: 50 small fits each, where thread wake-ups on shared cores cost
    # more than the arithmetic (5x on a busy 2-core machine)
    with threadpool_limits(1):
        payload = suites.run_suite("cv", quick=True, rows=300, isolate=False)
    theirs, ours = payload["results"]["sklearn-cv"], payload["results"]["softmaxreg-cv"]
    assert ours["chosen_C"] == theirs["chosen_C"]
    assert ours["cv_score"] == pytest.approx(theirs["cv_score"], rel=0.01)
    # the objective of each refit at the chosen C: both near the same optimum
    assert ours["objective"] == pytest.approx(theirs["objective"], rel=1e-3)
    table = suites.format_table(payload)
    assert table.splitlines()[0].split()[:4] == ["contender", "fit", "s", "C"]
    assert f"{theirs['chosen_C']:>10.4g}{theirs['cv_score']:>11.5f}" in table
