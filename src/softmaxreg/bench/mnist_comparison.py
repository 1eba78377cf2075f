"""MNIST softmax regression: softmaxreg against scikit-learn and the lecture's PyTorch loop.

Fits on MNIST (pixels / 255, C = 1) and reports, per contender, fit seconds, test accuracy,
the final objective ``f = sum_i CE_i + 0.5 ||W||^2`` (float64, the same formula for all) and
peak memory. Every contender runs in its own subprocess so that memory and threads do not
leak between them. Three memory figures per contender:

  before MB   resident size just before the fit: the interpreter, the library's imports
              (torch ~190 MB plus scikit-learn ~150 MB for softmaxreg, whose estimator
              derives from scikit-learn's; ~150 MB for scikit-learn) and the data (uint8
              MNIST, plus the pixels / 255 each library fits on: float64 for scikit-learn
              as ``X / 255`` gives it, float32 for softmaxreg; float32 for both in
              sklearn-converged-float32)
  peak MB     the child's ``ru_maxrss`` read right after the fit
  fit MB      peak minus before: the memory the fit itself needs on top of its input

    softmaxreg bench [--json results.json] [--only NAME ...] [--train-rows N]
    python benchmarks/bench_mnist.py [the same options]

``--train-rows N`` fits on the first N training images only (a quick look; the test set
stays whole). The full-batch contender stops at scikit-learn's converged objective, so on
such a subset it needs sklearn-converged in the same run.

Contenders:
  sklearn-default     scikit-learn LogisticRegression() (lbfgs, max_iter=100), float64 input
  sklearn-converged   scikit-learn LogisticRegression(max_iter=1000), float64 input
                      (``X / 255`` as users write it; the reference for the targets)
  sklearn-converged-float32  the same on float32 input, which scikit-learn's lbfgs keeps
                      in float32 (faster than float64; shown for a like-for-like dtype)
  lecture-loop        the lecture notebook's loop: DataLoader (batch 256, shuffle), zero-init
                      nn.Linear, F.cross_entropy, torch.optim.SGD(lr=0.1), 25 epochs
                      (the notebook's per-epoch train-accuracy pass is left out)
  softmaxreg-fullbatch  softmaxreg's default full-batch solver on float32 input, stopped as
                      soon as its objective is <= sklearn-converged's
  softmaxreg-default  softmaxreg LogisticRegression() with its defaults, float32 input
  softmaxreg-sgd      softmaxreg "sgd" with the lecture's recipe (batch 256, lr 0.1,
                      25 epochs, no penalty), float32 input
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from softmaxreg._atomic import atomic_write
from softmaxreg.bench.child import print_and_write, run_child
from softmaxreg.bench.contenders import _start_numba, load_compiled_kernels
from softmaxreg.bench.memory import peak_rss_mb, rss_at_fit_start_mb
from softmaxreg.errors import SoftmaxregError

CONTENDERS = (
    "sklearn-converged",
    "sklearn-converged-float32",
    "sklearn-default",
    "lecture-loop",
    "softmaxreg-fullbatch",
    "softmaxreg-default",
    "softmaxreg-sgd",
)
# sklearn-converged's objective on all 60000 images (scikit-learn 1.9, deterministic), used
# when that contender is not part of the run
REFERENCE_OBJECTIVE = 13962.22
MNIST_TRAIN_ROWS = 60_000
# Fit seconds on all 60000 images, measured on a quiet 2-core machine (the figures in the
# project's performance notes), and the start of each child (interpreter, imports, MNIST):
# the plan printed before a run. Under load, or on other machines, times differ.
TYPICAL_FIT_SECONDS = {
    "sklearn-converged": 48.0,
    "sklearn-converged-float32": 35.0,
    "sklearn-default": 17.0,
    "lecture-loop": 31.0,
    "softmaxreg-fullbatch": 6.0,
    "softmaxreg-default": 4.0,
    "softmaxreg-sgd": 4.0,
}
CHILD_START_SECONDS = 6.0


def load_data(train_rows: int | None = None):
    """MNIST as uint8 pixels: the first ``train_rows`` training images (all if None), all
    test images."""
    from softmaxreg.datasets import load_mnist

    X_train, y_train = load_mnist("train", download=False, progress=False)
    X_test, y_test = load_mnist("test", download=False, progress=False)
    if train_rows is not None:
        X_train, y_train = X_train[:train_rows].copy(), y_train[:train_rows].copy()
    return X_train, y_train, X_test, y_test


def objective_float64(W, b, X_uint8, y) -> float:
    """``f = sum_i CE_i + 0.5 ||W||^2`` at (W, b) on pixels / 255, all in float64."""
    import torch

    from softmaxreg.objective import LinearObjective

    objective = LinearObjective(X_uint8 / 255.0, y, "multinomial", C=1.0, dtype=torch.float64)
    return objective.value(objective.pack(np.asarray(W), np.asarray(b)))


def accuracy(W, b, X_uint8, y) -> float:
    scores = (X_uint8 / 255.0) @ np.asarray(W, dtype=np.float64).T + np.asarray(b)
    return float((scores.argmax(axis=1) == y).mean())


# ---------------------------------------------------------------------------- contenders
def fit_sklearn(X_train, y_train, max_iter, dtype=np.float64):
    from sklearn.linear_model import LogisticRegression

    X = X_train.astype(dtype)
    X /= dtype(255)
    start_rss = rss_at_fit_start_mb()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LogisticRegression(max_iter=max_iter).fit(X, y_train)
    seconds = time.perf_counter() - start
    notes = f"n_iter={int(model.n_iter_[0])}"
    if any("converge" in str(w.message).lower() for w in caught):
        notes += ", ConvergenceWarning"
    return seconds, start_rss, model.coef_, model.intercept_, notes


def fit_lecture_loop(X_train, y_train):
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset

    class MNISTImages(Dataset):
        """uint8 images converted per item like torchvision's ToTensor: (1, 28, 28) / 255."""

        def __init__(self, images, labels):
            self.images, self.labels = images.reshape(-1, 28, 28), labels

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, index):
            image = torch.from_numpy(self.images[index]).float().div(255).unsqueeze(0)
            return image, int(self.labels[index])

    class SoftmaxRegression(torch.nn.Module):
        def __init__(self, num_features, num_classes):
            super().__init__()
            self.linear = torch.nn.Linear(num_features, num_classes)
            self.linear.weight.detach().zero_()
            self.linear.bias.detach().zero_()

        def forward(self, x):
            logits = self.linear(x)
            return logits, F.softmax(logits, dim=1)

    torch.manual_seed(123)
    train_loader = DataLoader(MNISTImages(X_train, y_train), batch_size=256, shuffle=True)
    model = SoftmaxRegression(num_features=784, num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    start_rss = rss_at_fit_start_mb()
    start = time.perf_counter()
    for _epoch in range(25):
        for features, targets in train_loader:
            logits, _ = model(features.view(-1, 28 * 28))
            cost = F.cross_entropy(logits, targets)
            optimizer.zero_grad()
            cost.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    W = model.linear.weight.detach().double().numpy()
    b = model.linear.bias.detach().double().numpy()
    return seconds, start_rss, W, b, "25 epochs"


def fit_softmaxreg_fullbatch(X_train, y_train, target):
    import torch

    from softmaxreg.objective import LinearObjective
    from softmaxreg.solvers import DEFAULT_SOLVER, solve

    X = X_train.astype(np.float32)
    X /= np.float32(255)
    _start_numba()
    start_rss = rss_at_fit_start_mb()
    start = time.perf_counter()
    objective = LinearObjective(X, y_train, "multinomial", C=1.0, dtype=torch.float32)
    result = solve(
        objective,
        DEFAULT_SOLVER,
        max_iter=1000,
        tol=1e-8,
        callback=lambda _i, _theta, value: value <= target,
    )
    seconds = time.perf_counter() - start
    W, b = objective.unpack(result.theta)
    return seconds, start_rss, W.numpy(), b.numpy(), f"{DEFAULT_SOLVER}, {result.n_iter} iter"


def fit_softmaxreg_estimator(X_train, y_train, **params):
    from softmaxreg import LogisticRegression

    X = X_train.astype(np.float32)
    X /= np.float32(255)
    model = LogisticRegression(**params)
    load_compiled_kernels(model, X, y_train)  # as every bench suite does
    start_rss = rss_at_fit_start_mb()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y_train)
    seconds = time.perf_counter() - start
    notes = f"{model.solver}, n_iter={int(np.max(model.n_iter_))}"
    if any("converge" in str(w.message).lower() for w in caught):
        notes += ", ConvergenceWarning"
    return seconds, start_rss, model.coef_, model.intercept_, notes


def run_one(name: str, target: float | None, train_rows: int | None = None) -> dict:
    """Fit one contender in this process and measure it."""
    X_train, y_train, X_test, y_test = load_data(train_rows)
    if name == "sklearn-converged":
        outcome = fit_sklearn(X_train, y_train, max_iter=1000)
    elif name == "sklearn-converged-float32":
        outcome = fit_sklearn(X_train, y_train, max_iter=1000, dtype=np.float32)
    elif name == "sklearn-default":
        outcome = fit_sklearn(X_train, y_train, max_iter=100)
    elif name == "lecture-loop":
        outcome = fit_lecture_loop(X_train, y_train)
    elif name == "softmaxreg-fullbatch":
        if target is None:
            raise ValueError("softmaxreg-fullbatch needs a target objective (sklearn-converged's)")
        outcome = fit_softmaxreg_fullbatch(X_train, y_train, target)
    elif name == "softmaxreg-default":
        outcome = fit_softmaxreg_estimator(X_train, y_train)
    elif name == "softmaxreg-sgd":
        outcome = fit_softmaxreg_estimator(
            X_train,
            y_train,
            solver="sgd",
            C=np.inf,
            batch_size=256,
            learning_rate=0.1,
            max_iter=25,
            tol=None,
            random_state=123,
        )
    else:
        raise ValueError(f"unknown contender {name!r}; choose from {CONTENDERS}")
    seconds, start_rss, W, b, notes = outcome
    peak = peak_rss_mb()
    return {
        "contender": name,
        "fit_seconds": seconds,
        "test_accuracy": accuracy(W, b, X_test, y_test),
        "objective": objective_float64(W, b, X_train, y_train),
        "rss_before_fit_mb": start_rss,
        "peak_rss_mb": peak,
        "fit_memory_mb": peak - start_rss,
        "notes": notes,
    }


def run_in_subprocess(name: str, target: float | None, train_rows: int | None = None) -> dict:
    """Run one contender in a fresh interpreter (``python -m`` this module) and read back its
    measurements."""
    arguments = [] if target is None else ["--target", repr(target)]
    if train_rows is not None:
        arguments += ["--train-rows", str(train_rows)]
    return run_child(__spec__.name, name, arguments)


def check_contenders(names, train_rows: int | None) -> None:
    """Refuse unknown contenders, a full-batch run on a subset with no target, and systems
    whose memory cannot be measured the way the table reports it (Linux only)."""
    if not sys.platform.startswith("linux"):
        raise SoftmaxregError(
            f"the MNIST benchmark reads memory from /proc and getrusage (KiB): Linux only, "
            f"not {sys.platform}"
        )
    unknown = [name for name in names if name not in CONTENDERS]
    if unknown:
        raise ValueError(f"unknown contender(s) {unknown}; choose from {', '.join(CONTENDERS)}")
    if train_rows is not None and not 1 <= train_rows <= MNIST_TRAIN_ROWS:
        raise ValueError(f"train_rows must be between 1 and {MNIST_TRAIN_ROWS}, got {train_rows}")
    subset = train_rows is not None and train_rows < MNIST_TRAIN_ROWS
    if subset and "softmaxreg-fullbatch" in names and "sklearn-converged" not in names:
        raise ValueError(
            "softmaxreg-fullbatch stops at sklearn-converged's objective, which is only known "
            "for all 60000 training images; add sklearn-converged to the run or drop "
            "--train-rows"
        )


def estimated_seconds(name: str, train_rows: int | None = None) -> float:
    """A contender's expected wall time: its typical fit time, scaled by the share of the
    60000 training images used, plus the start of its process."""
    share = (train_rows or MNIST_TRAIN_ROWS) / MNIST_TRAIN_ROWS
    return TYPICAL_FIT_SECONDS[name] * share + CHILD_START_SECONDS


def progress_lines(names, train_rows: int | None, say) -> tuple:
    """``(on_start, on_done)`` callbacks for :func:`run_benchmark` that ``say`` (print) one
    line each: the plan with the estimated total first, then each contender as it runs."""
    order = [name for name in CONTENDERS if name in names]
    total = sum(estimated_seconds(name, train_rows) for name in order)
    say(
        f"bench: {len(order)} contender(s), each in its own process, on "
        f"{train_rows or MNIST_TRAIN_ROWS} training images: {', '.join(order)}; "
        f"estimated total {total / 60:.1f} min (a quiet 2-core machine)"
    )
    started: dict[str, float] = {}

    def on_start(name: str) -> None:
        started[name] = time.perf_counter()
        step = f"[{order.index(name) + 1}/{len(order)}]"
        say(f"{step} {name}: fitting (about {estimated_seconds(name, train_rows):.0f} s) ...")

    def on_done(name: str, result: dict) -> None:
        step = f"[{order.index(name) + 1}/{len(order)}]"
        say(
            f"{step} {name}: done in {time.perf_counter() - started[name]:.1f} s "
            f"(fit {result['fit_seconds']:.1f} s, test accuracy {result['test_accuracy']:.2%})"
        )

    return on_start, on_done


def run_benchmark(
    names=CONTENDERS, train_rows: int | None = None, on_start=None, on_done=None
) -> dict:
    """Run ``names`` (in the order of ``CONTENDERS``), each in its own process.

    ``on_start(name)`` is called before each contender, ``on_done(name, measurements)``
    after it. Returns the JSON-ready payload:
    ``{"target_objective", "train_rows", "results": {name: measurements}, "ratios"}``.
    """
    check_contenders(names, train_rows)
    from softmaxreg.datasets.mnist import find_mnist_folder, load_mnist

    for split in ("train", "test"):  # fetched (and verified) once, here, if absent
        if find_mnist_folder(split) is None:
            load_mnist(split, download=True, progress=on_start is not None)
    subset = train_rows is not None and train_rows < MNIST_TRAIN_ROWS
    results, target = {}, None if subset else REFERENCE_OBJECTIVE
    for name in (name for name in CONTENDERS if name in names):
        if on_start is not None:
            on_start(name)
        results[name] = run_in_subprocess(name, target, train_rows)
        if on_done is not None:
            on_done(name, results[name])
        if name == "sklearn-converged":
            target = results[name]["objective"]
    return {
        "target_objective": target,
        "train_rows": train_rows or MNIST_TRAIN_ROWS,
        "results": results,
        "ratios": ratios(results),
    }


def ratios(results: dict) -> dict:
    def ratio(numerator, denominator, key):
        if numerator in results and denominator in results:
            return results[numerator][key] / results[denominator][key]
        return None

    return {
        "speedup_fullbatch_vs_sklearn_converged": ratio(
            "sklearn-converged", "softmaxreg-fullbatch", "fit_seconds"
        ),
        "speedup_default_vs_sklearn_converged": ratio(
            "sklearn-converged", "softmaxreg-default", "fit_seconds"
        ),
        "speedup_sgd_vs_lecture_loop": ratio("lecture-loop", "softmaxreg-sgd", "fit_seconds"),
        "peak_rss_ratio_sklearn_over_softmaxreg_fullbatch": ratio(
            "sklearn-converged", "softmaxreg-fullbatch", "peak_rss_mb"
        ),
        "fit_memory_ratio_sklearn_over_softmaxreg_fullbatch": ratio(
            "sklearn-converged", "softmaxreg-fullbatch", "fit_memory_mb"
        ),
        "fit_memory_ratio_sklearn_over_softmaxreg_default": ratio(
            "sklearn-converged", "softmaxreg-default", "fit_memory_mb"
        ),
        "speedup_fullbatch_vs_sklearn_converged_float32": ratio(
            "sklearn-converged-float32", "softmaxreg-fullbatch", "fit_seconds"
        ),
        "fit_memory_ratio_sklearn_float32_over_softmaxreg_fullbatch": ratio(
            "sklearn-converged-float32", "softmaxreg-fullbatch", "fit_memory_mb"
        ),
    }


def format_table(payload: dict) -> str:
    """The results as a fixed-width table followed by the ratios, one per line."""
    header = (
        f"{'contender':<27}{'fit s':>9}{'test acc':>10}{'objective':>13}"
        f"{'before MB':>10}{'peak MB':>9}{'fit MB':>8}  notes"
    )
    lines = [header, "-" * len(header)]
    for r in payload["results"].values():
        lines.append(
            f"{r['contender']:<27}{r['fit_seconds']:>9.2f}{100 * r['test_accuracy']:>9.2f}%"
            f"{r['objective']:>13.2f}{r['rss_before_fit_mb']:>10.0f}{r['peak_rss_mb']:>9.0f}"
            f"{r['fit_memory_mb']:>8.0f}  {r['notes']}"
        )
    lines.append("")
    lines += [
        f"{key}: {value:.2f}x" for key, value in payload["ratios"].items() if value is not None
    ]
    return "\n".join(lines)


def write_json(payload: dict, path) -> None:
    """Write the payload as indented JSON, atomically."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=2)


def main(argv=None) -> int:
    """``python benchmarks/bench_mnist.py`` (and ``--run-one``, one contender in a child)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, help="run only these")
    parser.add_argument("--train-rows", type=int, help="fit on the first N training images")
    parser.add_argument("--run-one", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        args.result.write_text(json.dumps(run_one(args.run_one, args.target, args.train_rows)))
        return 0
    names = args.only or CONTENDERS
    on_start, on_done = progress_lines(
        names, args.train_rows, lambda line: print(line, file=sys.stderr, flush=True)
    )
    payload = run_benchmark(names, args.train_rows, on_start=on_start, on_done=on_done)
    return print_and_write(format_table(payload), payload, args.json)


if __name__ == "__main__":
    sys.exit(main())
