"""The fits the benchmark suites time: softmaxreg and its peers, each as a user writes it.

Every fit function takes a :class:`Problem` (float64 training data as users hand it to
scikit-learn: dense pixels / 255 or a CSR matrix) and returns a :class:`Fit`: the weights
``W (K, m)``, intercepts ``b (K,)``, the fit seconds, the resident memory just before the
fit and a note. Conversions a library needs (float32 copies, tensors) happen before the
clock starts, as in ``mnist_comparison``. A suite runs each in its own process.

The objective every row of a table is judged by, in float64 and the same formula for all
(scikit-learn's, ``C = inf`` meaning no penalty, ``r = l1_ratio``; softmax cross-entropy,
or the sigmoid one when ``W`` has a single row: a binary problem):

    f(W, b) = C * sum_i CE_i(X W^T + b) + r * ||W||_1 + 0.5 * (1 - r) * ||W||_F^2

Peers that write the objective another way get the same one: glum and skglm minimise it
divided by ``C n`` (``alpha = 1 / (C n)``, their ``l1_ratio = r``), cyanure too
(``lambda_1 = r / (C n)``, ``lambda_2 = (1 - r) / (C n)``), celer has scikit-learn's ``C``.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from softmaxreg.bench.memory import rss_at_fit_start_mb

# rows of the problem fitted once before the clock starts, where a library compiles code
# on first use (numba): the timed fit then measures the solver, as a second fit would
WARM_UP_ROWS = 50


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
    l1_ratio: float = 0.0
    fit_intercept: bool = True


@dataclass(frozen=True)
class Fit:
    W: np.ndarray
    b: np.ndarray
    seconds: float
    rss_before_mb: float
    notes: str
    extra: dict = field(default_factory=dict)  # more columns (cv: chosen_C, cv_score)


def objective_float64(W, b, X, y, C: float, l1_ratio: float = 0.0) -> float:
    """``f = C sum_i CE_i + r ||W||_1 + 0.5 (1 - r) ||W||^2`` in float64 (``C = inf``:
    ``sum_i CE_i`` only); ``W`` with one row: the binary (sigmoid) cross-entropy."""
    W = np.asarray(W, dtype=np.float64)
    Z = np.asarray(X @ W.T) + np.asarray(b, dtype=np.float64)
    if W.shape[0] == 1:
        z = Z[:, 0]
        cross_entropy = float((np.logaddexp(0.0, z) - (np.asarray(y) == 1) * z).sum())
    else:
        top = Z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(Z - top).sum(axis=1)) + top[:, 0]
        cross_entropy = float((log_norm - Z[np.arange(len(y)), y]).sum())
    if math.isinf(C):
        return cross_entropy
    l1 = l1_ratio * float(np.abs(W).sum()) if l1_ratio else 0.0
    return C * cross_entropy + l1 + 0.5 * (1 - l1_ratio) * float((W * W).sum())


def accuracy(W, b, X, y) -> float:
    scores = np.asarray(X @ np.asarray(W, dtype=np.float64).T) + np.asarray(b)
    predicted = scores[:, 0] > 0 if scores.shape[1] == 1 else scores.argmax(axis=1)
    return float((predicted == y).mean())


def exact_zeros(W) -> int:
    return int((np.asarray(W) == 0).sum())


def _timed(run, notes_of) -> Fit:
    """Run ``run()`` (returning ``(W, b, extra)``), timing it and the memory before it."""
    rss = rss_at_fit_start_mb()
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


def _penalty_options(problem: Problem) -> dict:
    """scikit-learn's spelling of the problem's penalty (l1_ratio only when there is L1)."""
    options = {"C": _sklearn_C(problem.C), "fit_intercept": problem.fit_intercept}
    if problem.l1_ratio:
        options["l1_ratio"] = problem.l1_ratio
    return options


def sklearn(problem: Problem, *, solver="lbfgs", max_iter=1000, tol=1e-4) -> Fit:
    """scikit-learn ``LogisticRegression(C, l1_ratio, solver, max_iter, tol)`` on the
    float64 data."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        solver=solver, max_iter=max_iter, tol=tol, **_penalty_options(problem)
    )

    def run():
        model.fit(problem.X_train, problem.y_train)
        return model.coef_, model.intercept_, int(np.max(model.n_iter_))

    return _timed(
        run, lambda n_iter: f"{solver}, max_iter={max_iter}, tol={tol:g}, n_iter={n_iter}"
    )


def cyanure_penalty(problem: Problem) -> dict:
    """cyanure's penalty for the objective divided by ``C n`` (intercept not penalised)."""
    n, r = problem.X_train.shape[0], problem.l1_ratio
    if r == 0:
        return {"penalty": "l2", "lambda_1": 1.0 / (problem.C * n)}
    if r == 1:
        return {"penalty": "l1", "lambda_1": 1.0 / (problem.C * n)}
    return {
        "penalty": "elasticnet",
        "lambda_1": r / (problem.C * n),
        "lambda_2": (1 - r) / (problem.C * n),
    }


def cyanure(problem: Problem, *, tol=1e-6, max_iter=500) -> Fit:
    """cyanure's multinomial logistic regression with the same objective divided by ``C n``
    (:func:`cyanure_penalty`), relative duality gap ``tol``."""
    from cyanure.estimators import Classifier

    model = Classifier(
        loss="multiclass-logistic",
        tol=tol,
        max_iter=max_iter,
        fit_intercept=problem.fit_intercept,
        verbose=False,
        n_threads=1,
        **cyanure_penalty(problem),
    )

    def run():
        model.fit(problem.X_train, problem.y_train)
        K = len(np.unique(problem.y_train))
        coef = np.asarray(model.coef_)
        W = coef.T if coef.shape[0] != K else coef
        return W, model.intercept_, None

    return _timed(run, lambda _: f"auto solver, tol={tol:g}")


def glmnet_lambda_max(problem: Problem) -> float:
    """glmnet's ``lambda_max``, the smallest ``lambda`` whose solution has ``W = 0``:
    ``max_jk |x_j^T (y_k - p_k)| / (n r)`` with ``p_k`` the class shares (an intercept) or
    the all-zero model's probabilities (none: ``1 / K``, or 1/2 for one sigmoid output)."""
    X, y = problem.X_train, problem.y_train
    classes = np.unique(y)
    Y = (y[:, None] == classes).astype(np.float64)
    Y = Y[:, 1:] if len(classes) == 2 else Y
    shares = Y.mean(axis=0) if problem.fit_intercept else 1.0 / max(len(classes), 2)
    return float(np.abs(X.T @ (Y - shares)).max()) / (X.shape[0] * problem.l1_ratio)


def glmnet(problem: Problem, *, tol=1e-7, n_lambda=100) -> Fit:
    """python-glmnet's ``LogitNet`` (glmnet's Fortran ``lognet``: binomial or multinomial),
    which minimises ``(1/n) sum_i CE_i + lambda (r ||W||_1 + (1 - r)/2 ||W||^2)``, the
    objective divided by ``C n``: ``lambda = 1 / (C n)``, its ``alpha = r``. Fitted as glmnet
    is meant to be used: along its path of ``n_lambda`` values from ``lambda_max`` (all
    coefficients zero, :func:`glmnet_lambda_max`) down to ``lambda``, each fit warm-starting
    the next, with glmnet's default ``tol`` (its ``thresh``), ``standardize=False`` (the
    objective of the raw features) and no cross-validation (``n_splits=0``); the fit is the
    path's last point. A single ``lambda`` is not an option: python-glmnet 2.6 fails
    unpacking the solution of a user path (``lsolns``). Raises ValueError where glmnet ends
    its path before ``lambda`` (its deviance-ratio or deviance-change stop)."""
    from glmnet import LogitNet

    target = 1.0 / (problem.C * problem.X_train.shape[0])
    model = LogitNet(
        alpha=problem.l1_ratio,
        n_lambda=n_lambda,
        min_lambda_ratio=target / glmnet_lambda_max(problem),
        standardize=False,
        fit_intercept=problem.fit_intercept,
        n_splits=0,
        tol=tol,
    )

    def run():
        model.fit(problem.X_train, problem.y_train)
        last = float(model.lambda_path_[-1])
        if not math.isclose(last, target, rel_tol=1e-6):
            raise ValueError(f"glmnet ended its path at lambda={last:g}, above {target:g}")
        W = np.atleast_2d(model.coef_path_[..., -1])
        return W, np.atleast_1d(model.intercept_path_[..., -1]), model.n_lambda_

    return _timed(run, lambda n: f"lognet path of {n} lambdas, tol={tol:g}")


def _binary_only(problem: Problem, name: str) -> None:
    if len(np.unique(problem.y_train)) != 2:
        raise ValueError(f"{name} fits binary problems only")


def glum(problem: Problem, *, gradient_tol=1e-8) -> Fit:
    """glum's binomial GLM: ``(1/n) sum_i CE_i + alpha (r ||w||_1 + (1 - r)/2 ||w||^2)``,
    the objective divided by ``C n`` with ``alpha = 1 / (C n)``."""
    from glum import GeneralizedLinearRegressor

    _binary_only(problem, "glum")
    model = GeneralizedLinearRegressor(
        family="binomial",
        alpha=1.0 / (problem.C * problem.X_train.shape[0]),
        l1_ratio=problem.l1_ratio,
        fit_intercept=problem.fit_intercept,
        gradient_tol=gradient_tol,
        max_iter=1000,
    )

    def run():
        model.fit(problem.X_train, problem.y_train)
        return np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_), model.n_iter_

    return _timed(run, lambda n_iter: f"irls-cd, gradient_tol={gradient_tol:g}, n_iter={n_iter}")


def skglm(problem: Problem, *, tol=1e-8) -> Fit:
    """skglm's ``SparseLogisticRegression``: the objective divided by ``C n`` (``alpha =
    1 / (C n)``, same ``l1_ratio``)."""
    from skglm import SparseLogisticRegression

    _binary_only(problem, "skglm")
    model = SparseLogisticRegression(
        alpha=1.0 / (problem.C * problem.X_train.shape[0]),
        l1_ratio=problem.l1_ratio,
        fit_intercept=problem.fit_intercept,
        tol=tol,
        max_iter=100,
    )
    from sklearn.base import clone

    # skglm compiles its numba code on first use (seconds): not part of the fit
    clone(model).fit(problem.X_train[:WARM_UP_ROWS], problem.y_train[:WARM_UP_ROWS])

    def run():
        model.fit(problem.X_train, problem.y_train)
        return np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_), None

    return _timed(run, lambda _: f"prox-newton working sets, tol={tol:g}, after a JIT warm-up")


def celer(problem: Problem, *, tol=1e-8) -> Fit:
    """celer's L1 ``LogisticRegression(C)``: ``sum_i CE_i + ||w||_1 / C`` (the objective
    divided by ``C``); no intercept, no L2 part."""
    from celer import LogisticRegression

    _binary_only(problem, "celer")
    if problem.fit_intercept or problem.l1_ratio != 1:
        raise ValueError("celer fits the L1 penalty without an intercept only")
    model = LogisticRegression(C=problem.C, tol=tol, fit_intercept=False)

    def run():
        model.fit(problem.X_train, problem.y_train)
        return model.coef_, np.zeros(1), None

    return _timed(run, lambda _: f"celer-pn, tol={tol:g}")


def _float32(X):
    return X.astype(np.float32) if hasattr(X, "astype") else np.asarray(X, dtype=np.float32)


def _start_numba() -> None:
    """Start numba's runtime, as the first call of any compiled function in a process does
    (about 0.15 s, once): a cost of the process, like importing the library, not of a fit."""
    import torch

    from softmaxreg._design.bfloat16 import bfloat16_copy

    bfloat16_copy(torch.zeros(1, 1))


def load_compiled_kernels(model, X, y) -> None:
    """Before a timed ``model.fit(X, y)``: start numba and load the compiled kernels that
    fit uses (numba's disk cache; compiled on a first run, a second or more) by fitting a
    clone of ``model`` on ``WARM_UP_ROWS`` rows: costs of the process, not of the fit."""
    from sklearn.base import clone  # (here: the command line imports this module)

    _start_numba()
    clone(model).fit(X[:WARM_UP_ROWS], y[:WARM_UP_ROWS])


class Milestones:
    """When a fit's objective first reaches each peer's: ``objectives`` maps a peer's name
    to its objective; the fit stops (its callback answers True) at the lowest of them.

    ``seconds`` maps each peer reached to the fit's seconds at the end of the iteration that
    reached it: the time the fit would have taken, stopped at that peer's objective."""

    def __init__(self, objectives: dict[str, float]):
        self.objectives = dict(objectives)
        self.stop = min(self.objectives.values())
        self.seconds: dict[str, float] = {}
        self.start = time.perf_counter()

    def begin(self) -> None:
        self.start = time.perf_counter()

    def reached(self, value: float) -> bool:
        elapsed = time.perf_counter() - self.start
        for name, objective in self.objectives.items():
            if name not in self.seconds and value <= objective:
                self.seconds[name] = elapsed
        return value <= self.stop


def _with_milestones(fit: Fit, milestones: Milestones | None) -> Fit:
    if milestones is None:
        return fit
    return dataclasses.replace(fit, extra={**fit.extra, "reached_seconds": milestones.seconds})


def softmaxreg(problem: Problem, **params) -> Fit:
    """softmaxreg ``LogisticRegression(C, l1_ratio, **params)`` on a float32 copy of the
    data; ``targets``: the peers' objectives, stopping (by the fit callback) at the lowest
    and recording when each is reached (:class:`Milestones`)."""
    from softmaxreg import LogisticRegression

    X = _float32(problem.X_train)
    targets = params.pop("targets", None)
    model = LogisticRegression(**_penalty_options(problem), **params)
    load_compiled_kernels(model, X, problem.y_train)
    milestones = None if not targets else Milestones(targets)
    callback = None if milestones is None else (lambda _m, _i, value: milestones.reached(value))

    def run():
        if milestones is not None:
            milestones.begin()
        model.fit(X, problem.y_train, callback=callback)
        return model.coef_, model.intercept_, int(np.max(model.n_iter_))

    stops = "" if milestones is None else ", stops at the reference"
    fit = _timed(run, lambda n_iter: f"{model.solver}, n_iter={n_iter}{stops}")
    return _with_milestones(fit, milestones)


def softmaxreg_to_target(problem: Problem, targets: dict[str, float]) -> Fit:
    """softmaxreg's default full-batch solver on float32 data, stopped by its callback as
    soon as its objective is at or below the lowest of ``targets`` (the peers' objectives),
    recording when it reaches each; with an L1 part the estimator at ``tol=1e-10`` with the
    same callback."""
    import torch

    from softmaxreg.objective import LinearObjective
    from softmaxreg.solvers import DEFAULT_SOLVER, solve

    if problem.l1_ratio:
        return softmaxreg(problem, tol=1e-10, targets=targets)
    X = _float32(problem.X_train)
    _start_numba()
    milestones = Milestones(targets)

    def run():
        milestones.begin()
        objective = LinearObjective(
            X, problem.y_train, "multinomial", C=problem.C, dtype=torch.float32
        )
        result = solve(
            objective,
            DEFAULT_SOLVER,
            max_iter=1000,
            tol=1e-10,
            callback=lambda _i, _theta, value: milestones.reached(value),
        )
        W, b = objective.unpack(result.theta)
        return W.numpy(), b.numpy(), result.n_iter

    fit = _timed(run, lambda n_iter: f"{DEFAULT_SOLVER}, {n_iter} iter, stops at the reference")
    return _with_milestones(fit, milestones)


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
