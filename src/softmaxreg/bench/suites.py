"""Benchmark suites (``softmaxreg bench --suite NAME [--quick]``): softmaxreg against its peers.

Suites (full size; ``--quick`` uses the smaller size in brackets and finishes in under
two minutes on a 2-core machine):

  mnist-l2          MNIST pixels / 255, C = 1 [5,000 training rows]: scikit-learn lbfgs
                    converged (the reference), cyanure, softmaxreg's defaults and softmaxreg
                    stopped at the reference objective
  sgd               MNIST pixels / 255, no penalty [5,000 rows]: the lecture's recipe (batch
                    256, SGD lr 0.1, 25 epochs) as a well-written PyTorch loop (torch's default
                    threads, and one thread) and as softmaxreg ``solver='sgd'``
  sparse            text-like CSR data (``synthetic.text_like``: 2^18 features, ~100 non-zeros
                    per row, 20 classes), C = 10, 100,000 training rows [4,000 rows, 2^14
                    features]: scikit-learn lbfgs converged (the reference), scikit-learn
                    saga, cyanure, softmaxreg's defaults and softmaxreg at the reference
  mnist-l1          MNIST pixels / 255, L1 at C = 0.1 [5,000 rows]: scikit-learn saga (200
                    epochs, the reference), cyanure, glmnet (its path of 100 lambdas down
                    to the problem's), softmaxreg's defaults and at the reference
  mnist-elasticnet  the same with l1_ratio = 0.5
  sparse-l1         the sparse suite's data, multinomial L1 at C = 10: scikit-learn saga (the
                    reference), cyanure, glmnet, softmaxreg's defaults and at the reference
  binary-l1         the sparse suite's data, class 0 against the rest, L1 at C = 10, no
                    intercept (so that every specialist solves the same objective):
                    scikit-learn liblinear (the reference), celer, skglm, glmnet, softmaxreg
                    (glum is left out: its IRLS solver forms the dense p x p Hessian, 2 GB at
                    the quick form's 2^14 columns and 550 GB at 2^18; ``contenders.glum`` fits
                    it on narrower data)
  binary-elasticnet the same with l1_ratio = 0.5: scikit-learn saga (the reference), skglm,
                    glmnet, softmaxreg
  time-to-accuracy  MNIST, C = 1: each contender's time to 92.5% test accuracy [5,000 rows,
                    88%]: the fit time of the first setting, in increasing order of effort
                    (max_iter, epochs or tol), whose fit reaches it; the PyTorch loop on one
                    thread only (on a busy machine its default threads take 10x longer)
  cv                MNIST pixels / 255 [5,000 rows]: LogisticRegressionCV, 10 values of C
                    (logspace(-4, 2)), 5 folds, neg_log_loss, of scikit-learn and softmaxreg;
                    columns "C" (chosen) and "CV score" (best mean), the objective at that C

Each contender runs in its own process (``python -m softmaxreg.bench.suites --run-one``);
a peer whose package is not installed (``pip install "softmaxreg[bench]"``) is shown as
skipped with the reason. Per contender: fit seconds, the objective by one float64 formula
(``contenders.objective_float64``), test accuracy, exactly-zero coefficients, peak fit
memory (peak resident size minus the size just before the fit), and for each softmaxreg row
its speed ratio against every peer.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from softmaxreg.bench import contenders as fits
from softmaxreg.bench import cv_contenders
from softmaxreg.bench.child import run_child
from softmaxreg.bench.memory import peak_rss_mb

CHILD_START_SECONDS = 5.0  # interpreter, torch and scikit-learn imports, data


@dataclass(frozen=True)
class Contender:
    """One row: ``fit(problem, targets)`` (``targets``: the reference's and the later
    peers' objectives by name, for rows that stop at the lowest), the module a peer needs,
    and its typical seconds (full, quick)."""

    name: str
    fit: Callable
    typical_seconds: tuple[float, float]
    needs: str | None = None
    uses_target: bool = False

    @property
    def is_softmaxreg(self) -> bool:
        return self.name.startswith("softmaxreg")


@dataclass(frozen=True)
class Suite:
    name: str
    load: Callable[[int | None, bool], fits.Problem]
    contenders: tuple[Contender, ...]
    full_rows: int
    quick_rows: int
    reference: str | None = None
    notes: tuple[str, ...] = field(default=())


# ---------------------------------------------------------------------------- problems
def _mnist(rows: int, C: float, target_accuracy: float | None = None) -> fits.Problem:
    from softmaxreg.bench.mnist_comparison import load_data

    X_train, y_train, X_test, y_test = load_data(rows)
    return fits.Problem(X_train / 255.0, y_train, X_test / 255.0, y_test, C, target_accuracy)


def load_mnist_l2(rows, quick):
    return _mnist(rows, 1.0)


def load_mnist_unpenalised(rows, quick):
    return _mnist(rows, math.inf)


TARGET_ACCURACY, QUICK_TARGET_ACCURACY = 0.925, 0.88


def load_mnist_to_accuracy(rows, quick):
    return _mnist(rows, 1.0, QUICK_TARGET_ACCURACY if quick else TARGET_ACCURACY)


def load_mnist_cv(rows, quick):
    return _mnist(rows, math.nan)  # C: chosen by cross-validation


SPARSE_TEST_ROWS = 0.2  # a fifth more rows, held out as the test set


def load_sparse(rows, quick):
    from softmaxreg.bench.synthetic import text_like

    n_features = 2**14 if quick else 2**18
    X, y = text_like(rows + int(SPARSE_TEST_ROWS * rows), n_features=n_features, seed=13)
    return fits.Problem(X[:rows], y[:rows], X[rows:], y[rows:], 10.0)


def load_mnist_l1(rows, quick):
    return dataclasses.replace(_mnist(rows, 0.1), l1_ratio=1.0)


def load_mnist_elasticnet(rows, quick):
    return dataclasses.replace(_mnist(rows, 0.1), l1_ratio=0.5)


def load_sparse_l1(rows, quick):
    return dataclasses.replace(load_sparse(rows, quick), l1_ratio=1.0)


def _binary(problem: fits.Problem, l1_ratio: float) -> fits.Problem:
    """Class 0 against the rest, without an intercept (celer and liblinear's model)."""
    return dataclasses.replace(
        problem,
        y_train=(problem.y_train == 0).astype(np.int64),
        y_test=(problem.y_test == 0).astype(np.int64),
        l1_ratio=l1_ratio,
        fit_intercept=False,
    )


def load_binary_l1(rows, quick):
    return _binary(load_sparse(rows, quick), 1.0)


def load_binary_elasticnet(rows, quick):
    return _binary(load_sparse(rows, quick), 0.5)


# ---------------------------------------------------------------------------- contenders
def _ignore_target(fit, problem, _target):
    return fit(problem)


def _plain(name, fit, seconds, needs=None):
    return Contender(name, partial(_ignore_target, fit), seconds, needs)


def _to_target(problem, targets):
    return fits.softmaxreg_to_target(problem, targets)


AT_REFERENCE = Contender("softmaxreg-at-reference", _to_target, (3.0, 0.5), uses_target=True)
LECTURE = {
    "solver": "sgd",
    "batch_size": 256,
    "learning_rate": 0.1,
    "max_iter": 25,
    "tol": None,
    "random_state": 123,
}
SKLEARN_LADDER = (10, 20, 40, 60, 80, 100, 150, 200, 300)
TOL_LADDER = (3e-2, 1e-2, 5e-3, 3e-3, 2e-3, 1e-3, 3e-4, 1e-4)
EPOCH_LADDER = (1, 2, 3, 5, 8, 12, 18, 25)


def _ladder(fit_one, settings, label):
    def fit(problem):
        return fits.first_to_accuracy(problem, fit_one, [_Setting(label, s) for s in settings])

    return fit


@dataclass(frozen=True)
class _Setting:
    label: str
    value: object

    def __str__(self) -> str:
        return f"{self.label}={self.value}"


SUITES = {
    "mnist-l2": Suite(
        "mnist-l2",
        load_mnist_l2,
        (
            _plain("sklearn-lbfgs", partial(fits.sklearn, max_iter=1000), (48.0, 3.0)),
            _plain("cyanure", fits.cyanure, (10.0, 1.0), needs="cyanure"),
            _plain("softmaxreg-default", fits.softmaxreg, (4.0, 0.5)),
            AT_REFERENCE,
        ),
        60_000,
        5_000,
        reference="sklearn-lbfgs",
    ),
    "sgd": Suite(
        "sgd",
        load_mnist_unpenalised,
        (
            _plain("torch-loop", fits.torch_loop, (10.5, 1.0)),
            _plain("torch-loop-1-thread", partial(fits.torch_loop, threads=1), (10.5, 1.0)),
            _plain("softmaxreg-sgd", partial(fits.softmaxreg, **LECTURE), (3.3, 0.3)),
        ),
        60_000,
        5_000,
    ),
    "sparse": Suite(
        "sparse",
        load_sparse,
        (
            _plain("sklearn-lbfgs", partial(fits.sklearn, max_iter=1000), (120.0, 8.0)),
            _plain(
                "sklearn-saga", partial(fits.sklearn, solver="saga", max_iter=100), (70.0, 3.0)
            ),
            _plain("cyanure", fits.cyanure, (130.0, 1.0), needs="cyanure"),
            _plain("softmaxreg-default", fits.softmaxreg, (7.0, 1.0)),
            dataclasses.replace(AT_REFERENCE, typical_seconds=(12.0, 0.5)),
        ),
        100_000,
        4_000,
        reference="sklearn-lbfgs",
    ),
    **{
        name: Suite(
            name,
            load,
            (
                _plain(
                    "sklearn-saga",
                    partial(fits.sklearn, solver="saga", max_iter=200),
                    (500.0, 39.0),
                ),
                _plain("cyanure", fits.cyanure, (136.0, 10.0), needs="cyanure"),
                _plain("glmnet", fits.glmnet, (520.0, 19.0), needs="glmnet"),
                _plain("softmaxreg-default", fits.softmaxreg, (30.0, 4.0)),
                dataclasses.replace(AT_REFERENCE, typical_seconds=(45.0, 8.0)),
            ),
            60_000,
            5_000,
            reference="sklearn-saga",
        )
        for name, load in (
            ("mnist-l1", load_mnist_l1),
            ("mnist-elasticnet", load_mnist_elasticnet),
        )
    },
    "sparse-l1": Suite(
        "sparse-l1",
        load_sparse_l1,
        (
            _plain(
                "sklearn-saga", partial(fits.sklearn, solver="saga", max_iter=100), (380.0, 5.0)
            ),
            _plain("cyanure", fits.cyanure, (170.0, 2.0), needs="cyanure"),
            _plain("glmnet", fits.glmnet, (140.0, 5.0), needs="glmnet"),
            _plain("softmaxreg-default", fits.softmaxreg, (4.0, 1.0)),
            dataclasses.replace(AT_REFERENCE, typical_seconds=(13.0, 0.5)),
        ),
        100_000,
        4_000,
        reference="sklearn-saga",
    ),
    "binary-l1": Suite(
        "binary-l1",
        load_binary_l1,
        (
            _plain(
                "sklearn-liblinear",
                partial(fits.sklearn, solver="liblinear", tol=1e-6),
                (4.0, 0.1),
            ),
            _plain("celer", fits.celer, (17.0, 0.3), needs="celer"),
            _plain("skglm", fits.skglm, (4.0, 0.1), needs="skglm"),
            _plain("glmnet", fits.glmnet, (12.0, 0.3), needs="glmnet"),
            _plain("softmaxreg-default", fits.softmaxreg, (2.0, 0.1)),
            dataclasses.replace(AT_REFERENCE, typical_seconds=(2.5, 0.2)),
        ),
        100_000,
        4_000,
        reference="sklearn-liblinear",
    ),
    "binary-elasticnet": Suite(
        "binary-elasticnet",
        load_binary_elasticnet,
        (
            _plain(
                "sklearn-saga", partial(fits.sklearn, solver="saga", max_iter=200), (100.0, 3.0)
            ),
            _plain("skglm", fits.skglm, (10.0, 1.0), needs="skglm"),
            _plain("glmnet", fits.glmnet, (12.0, 0.5), needs="glmnet"),
            _plain("softmaxreg-default", fits.softmaxreg, (3.0, 0.5)),
            dataclasses.replace(AT_REFERENCE, typical_seconds=(4.5, 0.5)),
        ),
        100_000,
        4_000,
        reference="sklearn-saga",
    ),
    "time-to-accuracy": Suite(
        "time-to-accuracy",
        load_mnist_to_accuracy,
        (
            _plain(
                "sklearn-lbfgs",
                _ladder(lambda p, s: fits.sklearn(p, max_iter=s.value), SKLEARN_LADDER, "max_iter"),
                (40.0, 3.0),
            ),
            _plain(
                "torch-loop-1-thread",
                _ladder(
                    lambda p, s: fits.torch_loop(p, epochs=s.value, threads=1),
                    EPOCH_LADDER,
                    "epochs",
                ),
                (3.0, 1.0),
            ),
            _plain(
                "softmaxreg-default",
                _ladder(lambda p, s: fits.softmaxreg(p, tol=s.value), TOL_LADDER, "tol"),
                (5.0, 1.0),
            ),
            _plain(
                "softmaxreg-sgd",
                _ladder(
                    lambda p, s: fits.softmaxreg(p, **{**LECTURE, "max_iter": s.value}),
                    EPOCH_LADDER,
                    "epochs",
                ),
                (3.0, 1.0),
            ),
        ),
        60_000,
        5_000,
    ),
    "cv": Suite(
        "cv",
        load_mnist_cv,
        (
            _plain("sklearn-cv", cv_contenders.sklearn_cv, (600.0, 15.0)),
            _plain("softmaxreg-cv", cv_contenders.softmaxreg_cv, (60.0, 3.0)),
        ),
        60_000,
        5_000,
    ),
}


# ---------------------------------------------------------------------------- running
def rows_for(suite: Suite, quick: bool, rows: int | None) -> int:
    return rows if rows is not None else (suite.quick_rows if quick else suite.full_rows)


def run_one(
    suite_name: str, name: str, quick: bool, rows: int | None, targets: dict | None
) -> dict:
    """Fit one contender in this process and measure it."""
    suite = SUITES[suite_name]
    contender = next(c for c in suite.contenders if c.name == name)
    problem = suite.load(rows_for(suite, quick, rows), quick)
    fit = contender.fit(problem, targets)
    peak = peak_rss_mb()
    C = fit.extra.get("chosen_C", problem.C)  # cv: the objective at the C it chose
    objective = fits.objective_float64(
        fit.W, fit.b, problem.X_train, problem.y_train, C, problem.l1_ratio
    )
    # a fit above the objective of all-zero coefficients (cyanure on the text-like data:
    # 1.4e8 against 3.0e6, 11% accuracy) failed: it is shown, but not compared with
    at_zero = fits.objective_float64(
        np.zeros_like(fit.W), np.zeros_like(fit.b), problem.X_train, problem.y_train, C,
        problem.l1_ratio,
    )
    diverged = not objective <= at_zero
    notes = fit.notes + (", diverged: objective above all-zero coefficients'" if diverged else "")
    return {
        "contender": name,
        "fit_seconds": fit.seconds,
        "objective": objective,
        "diverged": diverged,
        "test_accuracy": fits.accuracy(fit.W, fit.b, problem.X_test, problem.y_test),
        "exact_zeros": fits.exact_zeros(fit.W),
        "fit_memory_mb": peak - fit.rss_before_mb,
        "notes": notes,
        **fit.extra,
    }


def _run_child(suite: str, name: str, quick: bool, rows, targets) -> dict:
    arguments = ["--suite", suite] + (["--quick"] if quick else [])
    arguments += ["--rows", str(rows)] if rows is not None else []
    arguments += ["--targets", json.dumps(targets)] if targets else []
    return run_child(__spec__.name, name, arguments)


def skip_reason(contender: Contender) -> str | None:
    """Why a contender cannot run here (its package is not installed), or None."""
    if contender.needs is None or importlib.util.find_spec(contender.needs) is not None:
        return None
    return f"not installed (pip install {contender.needs}, or softmaxreg[bench])"


def plan(suite_name: str, quick: bool = False, only=None, rows: int | None = None) -> dict:
    """What a run will do: the contenders to run (in order), those skipped with the reason,
    the training rows and the estimated seconds."""
    if suite_name not in SUITES:
        raise ValueError(f"unknown suite {suite_name!r}; choose from {', '.join(SUITES)}")
    suite = SUITES[suite_name]
    names = [c.name for c in suite.contenders]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ValueError(
            f"unknown contender(s) {unknown} in suite {suite_name}; choose from {', '.join(names)}"
        )
    chosen = [c for c in suite.contenders if not only or c.name in only]
    if any(c.uses_target for c in chosen) and suite.reference not in [c.name for c in chosen]:
        raise ValueError(
            f"{AT_REFERENCE.name} stops at {suite.reference}'s objective: run {suite.reference} too"
        )
    skipped = {c.name: skip_reason(c) for c in chosen if skip_reason(c)}
    running = [c for c in chosen if c.name not in skipped]
    n_rows = rows_for(suite, quick, rows)
    scale = n_rows / (suite.quick_rows if quick else suite.full_rows)
    seconds = sum(c.typical_seconds[quick] * scale + CHILD_START_SECONDS for c in running)
    return {
        "suite": suite_name,
        "quick": quick,
        "train_rows": n_rows,
        "contenders": [c.name for c in running],
        "skipped": skipped,
        "estimated_seconds": seconds,
    }


def describe_plan(the_plan: dict) -> str:
    line = (
        f"bench {the_plan['suite']}{' (quick)' if the_plan['quick'] else ''}: "
        f"{len(the_plan['contenders'])} contender(s) on {the_plan['train_rows']} training "
        f"rows, each in its own process: {', '.join(the_plan['contenders'])}; estimated "
        f"{the_plan['estimated_seconds'] / 60:.1f} min (a quiet 2-core machine)"
    )
    for name, reason in the_plan["skipped"].items():
        line += f"\nskipped {name}: {reason}"
    return line


def run_suite(
    suite_name: str,
    quick: bool = False,
    only=None,
    rows: int | None = None,
    say=None,
    isolate: bool = True,
) -> dict:
    """Run a suite (each contender in its own process unless ``isolate=False``) and return
    the JSON-ready payload: the plan, ``results`` by contender, ``ratios``, the load average
    before and after, and ``reference_objective``, where a row that stops at the reference
    (``softmaxreg-at-reference``) stops: the lowest objective of the reference and of every
    peer run after it that did not diverge (scikit-learn's lbfgs at its default tol can stop
    above saga).
    That row also records when it reached each of those peers' objectives, and its ratio
    against a peer is that peer's seconds over the seconds to its objective."""
    the_plan = plan(suite_name, quick, only, rows)
    say = say or (lambda _line: None)
    say(describe_plan(the_plan))
    load_before = os.getloadavg()
    suite, results, targets = SUITES[suite_name], {}, {}
    for step, name in enumerate(the_plan["contenders"], start=1):
        say(f"[{step}/{len(the_plan['contenders'])}] {name} ...")
        runner = _run_child if isolate else run_one
        results[name] = runner(suite_name, name, quick, rows, targets or None)
        reached = results[name]["objective"]
        # each row as it finishes: a later contender that fails or is stopped leaves these
        say(
            f"[{step}/{len(the_plan['contenders'])}] {name}: fit "
            f"{results[name]['fit_seconds']:.2f} s, objective {reached:.4f}, zeros "
            f"{results[name]['exact_zeros']}, {results[name]['notes']}"
        )
        is_peer = bool(targets) and not name.startswith("softmaxreg")
        if (name == suite.reference or is_peer) and not results[name]["diverged"]:
            targets[name] = reached
    return {
        **the_plan,
        "reference_objective": min(targets.values()) if targets else None,
        "results": results,
        "ratios": speed_ratios(results),
        "load_average": [load_before, os.getloadavg()],
    }


def speed_ratios(results: dict) -> dict:
    """For each softmaxreg row, each peer's fit seconds over its own (> 1: softmaxreg is
    faster); rows that never reached a time-to-accuracy target, and fits that diverged,
    are left out. A row that recorded when it reached each peer's objective
    (``reached_seconds``) is compared with each peer at that time, and not with a peer whose
    objective it never reached."""
    reached = [
        name for name in results
        if not results[name]["notes"].startswith("never") and not results[name].get("diverged")
    ]
    ratios = {}
    for own in (name for name in reached if name.startswith("softmaxreg")):
        milestones = results[own].get("reached_seconds")
        ratios[own] = {
            peer: results[peer]["fit_seconds"] / (
                results[own]["fit_seconds"] if milestones is None else milestones[peer]
            )
            for peer in reached
            if not peer.startswith("softmaxreg") and (milestones is None or peer in milestones)
        }
    return ratios


def format_table(payload: dict) -> str:
    """The results as a table; a suite choosing C by cross-validation adds the columns "C"
    (chosen) and "CV score" (its best mean score)."""
    cv = any("chosen_C" in r for r in payload["results"].values())
    cv_header = f"{'C':>10}{'CV score':>11}" if cv else ""
    header = (
        f"{'contender':<25}{'fit s':>9}{cv_header}{'objective':>15}{'test acc':>10}"
        f"{'zeros':>8}{'fit MB':>8}  notes"
    )
    lines = [header, "-" * len(header)]
    for r in payload["results"].values():
        cv_cells = f"{r['chosen_C']:>10.4g}{r['cv_score']:>11.5f}" if cv else ""
        lines.append(
            f"{r['contender']:<25}{r['fit_seconds']:>9.2f}{cv_cells}{r['objective']:>15.4f}"
            f"{100 * r['test_accuracy']:>9.2f}%{r['exact_zeros']:>8d}{r['fit_memory_mb']:>8.0f}"
            f"  {r['notes']}"
        )
    lines += [f"{name:<25}  skipped: {reason}" for name, reason in payload["skipped"].items()]
    lines.append("")
    for own, peers in payload["ratios"].items():
        milestones = payload["results"][own].get("reached_seconds") or {}
        lines += [
            f"{own} vs {peer}: {ratio:.2f}x"
            + (f" (at {peer}'s objective, reached at {milestones[peer]:.2f} s)"
               if peer in milestones else "")
            for peer, ratio in peers.items()
        ]
    before, after = payload["load_average"]
    lines.append(
        f"load average (1, 5, 15 min): before {before[0]:.2f} {before[1]:.2f} "
        f"{before[2]:.2f}, after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m softmaxreg.bench.suites --suite NAME [--quick]`` (and ``--run-one``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=SUITES, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--targets", type=json.loads, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        result = run_one(args.suite, args.run_one, args.quick, args.rows, args.targets)
        args.result.write_text(json.dumps(result))
        return 0
    payload = run_suite(
        args.suite,
        args.quick,
        args.only,
        args.rows,
        say=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print(format_table(payload))
    if args.json:
        from softmaxreg.bench.mnist_comparison import write_json

        write_json(payload, args.json)
    return 0


if __name__ == "__main__":
    np.seterr(over="ignore")
    sys.exit(main())
