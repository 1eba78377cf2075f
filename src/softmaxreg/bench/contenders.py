"""The fits the benchmark suites time: softmaxreg and its peers, each as a user writes it.

Every fit function takes a :class:`Problem` (float64 training data as users hand it to
scikit-learn: dense pixels / 255 or a CSR matrix) and returns a :class:`Fit`: the weights
``W (K, m)``, intercepts ``b (K,)``, the fit seconds, the resident memory just before the
fit and a note. Conversions a library needs (float32 copies, tensors) happen before the
clock starts, as in ``mnist_comparison``. A suite runs each in its own process.

The objective every row of a table is judged by, in float64 and the same formula for all
(scikit-learn's, ``C = inf`` meaning no penalty):

    f(W, b) = C * sum_i CE_i(X W^T + b) + 0.5 * ||W||_F^2
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from softmaxreg.bench.memory import current_rss_mb


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: training and test data, the penalty ``C`` (``inf``: none)
    and, for time-to-accuracy rows, the test accuracy to reach."""

    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray
    C: float
    target_accuracy: float | None = None


@dataclass(frozen=True)
class Fit:
    W: np.ndarray
    b: np.ndarray
    seconds: float
    rss_before_mb: float
    notes: str
    extra: dict = field(default_factory=dict)  # more columns (cv: chosen_C, cv_score)


def objective_float64(W, b, X, y, C: float) -> float:
    """``f = C sum_i CE_i + 0.5 ||W||^2`` in float64 (``C = inf``: ``sum_i CE_i`` only)."""
    W = np.asarray(W, dtype=np.float64)
    Z = np.asarray(X @ W.T) + np.asarray(b, dtype=np.float64)
    top = Z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(Z - top).sum(axis=1)) + top[:, 0]
    cross_entropy = float((log_norm - Z[np.arange(len(y)), y]).sum())
    if math.isinf(C):
        return cross_entropy
    return C * cross_entropy + 0.5 * float((W * W).sum())


def accuracy(W, b, X, y) -> float:
    scores = np.asarray(X @ np.asarray(W, dtype=np.float64).T) + np.asarray(b)
    return float((scores.argmax(axis=1) == y).mean())


def exact_zeros(W) -> int:
    return int((np.asarray(W) == 0).sum())


def _timed(run, notes_of) -> Fit:
    """Run ``run()`` (returning ``(W, b, extra)``), timing it and the memory before it."""
    rss = current_rss_mb()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        W, b, extra = run()
    seconds = time.perf_counter() - start
    notes = notes_of(extra)
    if any("converge" in str(w.message).lower() for w in caught):
        notes += ", ConvergenceWarning"
    return Fit(
        np.asarray(W, dtype=np.float64),
        np.asarray(b, dtype=np.float64).reshape(-1),
        seconds,
        rss,
        notes,
    )


def _sklearn_C(C: float) -> float:
    return np.inf if math.isinf(C) else C


def sklearn(problem: Problem, *, solver="lbfgs", max_iter=1000, tol=1e-4) -> Fit:
    """scikit-learn ``LogisticRegression(C, solver, max_iter, tol)`` on the float64 data."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=_sklearn_C(problem.C), solver=solver, max_iter=max_iter, tol=tol)

    def run():
        model.fit(problem.X_train, problem.y_train)
        return model.coef_, model.intercept_, int(np.max(model.n_iter_))

    return _timed(
        run, lambda n_iter: f"{solver}, max_iter={max_iter}, tol={tol:g}, n_iter={n_iter}"
    )


def cyanure(problem: Problem, *, tol=1e-6, max_iter=500) -> Fit:
    """cyanure's multinomial logistic regression with the same objective divided by ``C n``
    (its ``lambda_1 = 1 / (C n)``, intercept not penalised), relative duality gap ``tol``."""
    from cyanure.estimators import Classifier

    n = problem.X_train.shape[0]
    model = Classifier(
        loss="multiclass-logistic",
        penalty="l2",
        lambda_1=1.0 / (problem.C * n),
        tol=tol,
        max_iter=max_iter,
        fit_intercept=True,
        verbose=False,
        n_threads=1,
    )

    def run():
        model.fit(problem.X_train, problem.y_train)
        K = len(np.unique(problem.y_train))
        coef = np.asarray(model.coef_)
        W = coef.T if coef.shape[0] != K else coef
        return W, model.intercept_, None

    return _timed(run, lambda _: f"auto solver, tol={tol:g}")


def _float32(X):
    return X.astype(np.float32) if hasattr(X, "astype") else np.asarray(X, dtype=np.float32)


def softmaxreg(problem: Problem, **params) -> Fit:
    """softmaxreg ``LogisticRegression(C, **params)`` on a float32 copy of the data."""
    from softmaxreg import LogisticRegression

    X = _float32(problem.X_train)
    penalty = {"C": problem.C}  # C=np.inf: no penalty (scikit-learn 1.8+)
    model = LogisticRegression(**penalty, **params)

    def run():
        model.fit(X, problem.y_train)
        return model.coef_, model.intercept_, int(np.max(model.n_iter_))

    return _timed(run, lambda n_iter: f"{model.solver}, n_iter={n_iter}")


def softmaxreg_to_target(problem: Problem, target: float) -> Fit:
    """softmaxreg's default full-batch solver on float32 data, stopped by its callback as
    soon as its objective is at or below ``target`` (the reference peer's)."""
    import torch

    from softmaxreg.objective import LinearObjective
    from softmaxreg.solvers import DEFAULT_SOLVER, solve

    X = _float32(problem.X_train)

    def run():
        objective = LinearObjective(
            X, problem.y_train, "multinomial", C=problem.C, dtype=torch.float32
        )
        result = solve(
            objective,
            DEFAULT_SOLVER,
            max_iter=1000,
            tol=1e-10,
            callback=lambda _i, _theta, value: value <= target,
        )
        W, b = objective.unpack(result.theta)
        return W.numpy(), b.numpy(), result.n_iter

    return _timed(run, lambda n_iter: f"{DEFAULT_SOLVER}, {n_iter} iter, stops at the reference")


def torch_loop(
    problem: Problem, *, epochs=25, lr=0.1, batch_size=256, seed=123, threads=None
) -> Fit:
    """A well-written PyTorch loop: float32 tensors converted once, ``TensorDataset``,
    ``DataLoader(batch_size, shuffle=True)``, zero-initialised ``nn.Linear``,
    ``F.cross_entropy`` (mean over the batch, no penalty), ``torch.optim.SGD(lr)``;
    ``threads``: ``torch.set_num_threads`` first (None: torch's default)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    features = torch.from_numpy(np.asarray(problem.X_train, dtype=np.float32))
    targets = torch.from_numpy(np.asarray(problem.y_train, dtype=np.int64))
    loader = DataLoader(TensorDataset(features, targets), batch_size=batch_size, shuffle=True)
    model = torch.nn.Linear(features.shape[1], int(targets.max()) + 1)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def run():
        for _ in range(epochs):
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return model.weight.detach().numpy(), model.bias.detach().numpy(), None

    return _timed(
        run,
        lambda _: (
            f"{epochs} epochs, batch {batch_size}, lr {lr}, {torch.get_num_threads()} thread(s)"
        ),
    )


def first_to_accuracy(problem: Problem, fit_one, settings) -> Fit:
    """The fit, among ``fit_one(problem, setting)`` for ``settings`` in increasing order of
    effort (each a fresh fit), of the first setting whose test accuracy reaches
    ``problem.target_accuracy``; its time is the time to that accuracy. If none does, the
    last fit, noted "never reached"."""
    for setting in settings:
        fit = fit_one(problem, setting)
        if accuracy(fit.W, fit.b, problem.X_test, problem.y_test) >= problem.target_accuracy:
            return Fit(fit.W, fit.b, fit.seconds, fit.rss_before_mb, f"{setting}: {fit.notes}")
    return Fit(fit.W, fit.b, fit.seconds, fit.rss_before_mb, f"never reached; {fit.notes}")
