"""Fitting ``softmaxreg.LogisticRegression`` on shards, in one process or data-parallel.

- :func:`fit_sharded`: one process, data bigger than memory (a shards directory);
  full-batch solvers accumulate block by block, SGD streams the shards in shuffled order.
- :func:`train_distributed`: inside a torch.distributed job, each rank sums its own rows
  and all-reduces (see :mod:`softmaxreg.distributed.allreduce_objective`).
- :func:`run_distributed_training`: the entry of ``softmaxreg train DATA --distributed``
  under torchrun: joins the job, trains, checks that all ranks agree; the caller's rank 0
  then writes the run folder (the same layout as every other way of training).
- :func:`split_shards`: hold out whole shards (a seeded choice) for validation.

All of them minimise ``C * sum_i s_i * CE_i + 0.5 * ||W||^2`` exactly as
``LogisticRegression.fit`` does on the same rows held in memory.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from softmaxreg._problems import choose_kind
from softmaxreg._validation import check_parameters
from softmaxreg.datasets.shards import Shards, row_range
from softmaxreg.distributed.allreduce_objective import (
    allreduce_objective,
    allreduce_sum,
    check_identical,
)
from softmaxreg.distributed.process_group import (
    DEFAULT_TIMEOUT_S,
    ProcessContext,
    close_process_group,
    init_process_group_from_env,
)
from softmaxreg.distributed.row_sources import ArrayRows, as_row_source
from softmaxreg.distributed.shard_stream import ShardStreamObjective
from softmaxreg.distributed.sharded_objective import ShardedObjective
from softmaxreg.errors import DataError
from softmaxreg.estimator import LogisticRegression, _combined_history, _theta_callback, _Watcher
from softmaxreg.solvers import DEFAULT_SOLVER, MINIBATCH_SOLVERS, solve

SGD_ORDERS = ("shards", "global")


@dataclass(frozen=True)
class DistributedRun:
    """What every rank of :func:`run_distributed_training` gets back."""

    model: LogisticRegression
    rank: int
    world_size: int
    backend: str
    seconds: float

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def fit_sharded(data, *, sgd_order: str = "shards", block_rows: int = 65_536, callback=None,
                **params) -> LogisticRegression:
    """Fit ``LogisticRegression(**params)`` on a shards directory, in bounded memory.

    ``sgd_order="shards"``: minibatches stream the shards (shuffled shard order, shuffled
    rows within a shard, seeded by ``random_state``); ``"global"``: the solver's own
    permutation of all rows (random reads; equals in-memory SGD step for step).
    ``callback(model, iteration, objective)``: as in ``LogisticRegression.fit``.
    """
    if sgd_order not in SGD_ORDERS:
        raise ValueError(f"sgd_order must be one of {SGD_ORDERS}, got {sgd_order!r}")
    source = as_row_source(data)

    penalize, C = l2_penalty(params)

    def make(kind, positive_class, class_weights, dtype, device, seed, solver):
        objective = ShardedObjective(
            source, kind, C=C, penalize=penalize,
            fit_intercept=params.get("fit_intercept", True), positive_class=positive_class,
            class_weights=class_weights, dtype=dtype, device=device, block_rows=block_rows,
        )
        streaming = solver in MINIBATCH_SOLVERS and sgd_order == "shards"
        if streaming and isinstance(source, Shards):
            return ShardStreamObjective(objective, 0 if seed is None else seed)
        return objective

    return _fit(source, params, make, class_counts=_local_class_counts(source, 0, None),
                callback=callback)


def train_distributed(source, params: dict, context: ProcessContext, *,
                      block_rows: int = 65_536, callback=None) -> LogisticRegression:
    """Fit on all ranks' rows together; every rank returns the same fitted estimator.

    Rank ``r`` evaluates only its rows ``[floor(r n / P), floor((r + 1) n / P))`` of
    ``source`` (a shards directory read in place, or an ``ArrayRows`` holding that range);
    minibatch SGD draws the same global permutation on every rank (same ``random_state``),
    each rank sums the gradient over the rows of the batch it holds, and the all-reduced
    sum is divided by the global batch size.
    """
    source = as_row_source(source)
    reduce = allreduce_sum(context)
    start, stop = row_range(source.n_rows, context.rank, context.world_size)
    counts = reduce(torch.as_tensor(_local_class_counts(source, start, stop))).numpy()

    penalize, C = l2_penalty(params)

    def make(kind, positive_class, class_weights, dtype, device, seed, solver):
        return allreduce_objective(
            source, kind, context, C=C, penalize=penalize,
            fit_intercept=params.get("fit_intercept", True), positive_class=positive_class,
            class_weights=class_weights, dtype=dtype, device=device, block_rows=block_rows,
        )

    model = _fit(source, {**params, "device": str(context.device)}, make, class_counts=counts,
                 callback=callback)
    check_identical(torch.from_numpy(np.concatenate([model.coef_.ravel(), model.intercept_])),
                    context)
    return model


def run_distributed_training(
    data,
    estimator_params: dict,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    block_rows: int = 65_536,
    callback=None,
) -> DistributedRun:
    """``softmaxreg train DATA --distributed``: join the torchrun job, fit, check agreement.

    ``data``: a shards directory (path or :class:`Shards`, e.g. the training part of
    :func:`split_shards`; each rank reads its row range in place) or an ``(X, y)`` pair held
    by every rank (each keeps its row range). ``estimator_params`` are ``LogisticRegression``'s
    (``device="cuda"`` selects NCCL and ``cuda:LOCAL_RANK``). Every rank returns the same
    model; writing it is the caller's job, on rank 0 only.
    """
    context = init_process_group_from_env(estimator_params.get("device", "cpu"), timeout_s)
    try:
        began = time.perf_counter()
        source = _rank_rows(data, context)
        model = train_distributed(source, estimator_params, context, block_rows=block_rows,
                                  callback=callback)
        seconds = time.perf_counter() - began
        return DistributedRun(model, context.rank, context.world_size, context.backend, seconds)
    finally:
        close_process_group()


def split_shards(shards, fraction: float | None, seed: int = 0) -> tuple[Shards, Shards]:
    """``(training part, held-out part)`` of a shards directory, whole shards each.

    The held-out part is ``max(1, round(fraction * S))`` of the ``S`` shards (one shard when
    ``fraction`` is None), chosen by a permutation seeded with ``seed``; at least one shard
    stays for training. Both parts are read-only views of the same files.
    """
    shards = shards if isinstance(shards, Shards) else Shards(shards)
    if shards.n_shards < 2:
        raise DataError(
            f"{shards.path} holds 1 shard, and a held-out part takes whole shards: write the "
            "shards with a smaller --rows-per-shard, or give --validation FILE"
        )
    count = 1 if fraction is None else max(1, round(fraction * shards.n_shards))
    count = min(count, shards.n_shards - 1)
    order = np.random.default_rng(seed).permutation(shards.n_shards)
    held_out = sorted(order[:count].tolist())
    kept = [s for s in range(shards.n_shards) if s not in held_out]
    return _shard_view(shards, kept), _shard_view(shards, held_out)


# ---------------------------------------------------------------------------------- pieces
def l2_penalty(params: dict) -> tuple[bool, float]:
    """``(penalize, C)`` of the estimator parameters ``params``, in either of scikit-learn's
    spellings (``C=np.inf`` or ``penalty=None`` for none); the sharded objectives are smooth,
    so an L1 or elastic-net penalty is refused with a ValueError."""
    from types import SimpleNamespace

    from softmaxreg._validation import resolve_penalty

    spelled = SimpleNamespace(
        C=params.get("C", 1.0),
        l1_ratio=params.get("l1_ratio", 0.0),
        penalty=params.get("penalty", "deprecated"),
    )
    penalty, _, C = resolve_penalty(spelled)
    if penalty not in ("l2", None):
        raise ValueError(
            f"training from shards supports the L2 penalty or none, not {penalty!r}; fit "
            "L1 and elastic-net models in memory"
        )
    return penalty == "l2", C


# solver names whose method reads the data as a whole, with the reason
IN_MEMORY_SOLVER_NAMES = {
    "newton-cholesky": "it factors the Hessian formed from all rows",
    "liblinear": "its model adds a penalised constant feature to X and its dual visits rows",
}


def _fit(source, params: dict, make_objective, *, class_counts, callback) -> LogisticRegression:
    """Solve the problems of ``LogisticRegression(**params)`` with ``make_objective``."""
    model = LogisticRegression(**params)
    settings = check_parameters(model, DEFAULT_SOLVER)
    if model.warm_start:
        raise ValueError("warm_start is not supported for sharded or distributed training")
    if model.solver in IN_MEMORY_SOLVER_NAMES:
        raise ValueError(
            f"solver={model.solver!r} needs the data in memory ("
            f"{IN_MEMORY_SOLVER_NAMES[model.solver]}); for sharded or distributed training "
            "use 'auto', 'newton-cg', 'lbfgs', 'sag', 'gd' or 'sgd'"
        )
    classes = np.asarray(source.classes)
    kind = choose_kind(model.multi_class, len(classes))
    if len(classes) < 2:
        raise ValueError(f"the data holds only the class {classes.tolist()}; "
                         "a classifier needs at least 2 classes")
    dtype = settings.dtype or (torch.float32 if source.dtype == np.float32 else torch.float64)
    problems = ([("binary", k) for k in range(len(classes))] if kind == "ovr"
                else [("binary", 1)] if kind == "binary" else [("multinomial", 0)])
    model.n_features_in_ = int(source.n_features)
    watch = None if callback is None else _Watcher(
        model, callback, kind, classes, source.n_features, len(problems), [None] * len(problems))
    fits = []
    for index, (problem_kind, positive) in enumerate(problems):
        weights = _class_weights(model.class_weight, classes, class_counts,
                                 positive if kind == "ovr" else None)
        objective = make_objective(problem_kind, positive, weights, dtype, settings.device,
                                   settings.random_state, settings.solver)
        result = solve(
            objective, settings.solver, objective.zeros(), max_iter=model.max_iter,
            tol=model.tol, batch_size=model.batch_size, learning_rate=model.learning_rate,
            random_state=settings.random_state, verbose=model.verbose,
            callback=None if watch is None else _theta_callback(objective,
                                                                watch.for_problem(index)),
        )
        W, b = objective.unpack(result.theta)
        W = W.detach().to("cpu", torch.float64).numpy().copy()
        b = np.zeros(W.shape[0]) if b is None else b.detach().to("cpu", torch.float64).numpy()
        fits.append((W, b.copy(), result))
    coef = np.vstack([W for W, _, _ in fits])
    intercept = np.concatenate([b for _, b, _ in fits])
    if kind == "multinomial" and len(classes) == 2:
        coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
    model.classes_, model.kind_ = classes, kind
    model.coef_, model.intercept_ = coef, intercept
    model.n_iter_ = np.array([result.n_iter for _, _, result in fits], dtype=np.int32)
    model.n_features_in_ = int(source.n_features)
    model.loss_history_ = _combined_history([result.history for _, _, result in fits])
    return model


def _local_class_counts(source, start: int, stop: int | None) -> np.ndarray:
    """How many of the rows ``[start, stop)`` fall in each class (float64, for reducing)."""
    stop = source.n_rows if stop is None else stop
    counts = np.zeros(len(source.classes))
    for _, _, t in source.iter_blocks(start, stop):
        counts += np.bincount(t, minlength=len(counts))
    return counts


def _class_weights(class_weight, classes, counts, positive) -> np.ndarray | None:
    """``w_k`` per class: None, a dict ``{label: w}``, or "balanced" ``n / (K n_k)``.

    For a one-vs-rest problem with positive class ``p``, "balanced" balances the two sides:
    ``n / (2 n_p)`` for class ``p`` and ``n / (2 (n - n_p))`` for every other class.
    """
    if class_weight is None:
        return None
    counts = np.asarray(counts, dtype=np.float64)
    n = counts.sum()
    if isinstance(class_weight, str) and class_weight == "balanced":
        if positive is not None:
            weights = np.full(len(classes), n / (2 * (n - counts[positive])))
            weights[positive] = n / (2 * counts[positive])
            return weights
        if (counts == 0).any():
            raise ValueError("class_weight='balanced' needs every class to occur in the data")
        return n / (len(classes) * counts)
    if isinstance(class_weight, dict):
        weights = np.ones(len(classes))
        labels = classes.tolist()
        for label, weight in class_weight.items():
            if label not in labels:
                raise ValueError(f"class_weight names the label {label!r}, which is not among "
                                 f"the classes {labels}")
            weights[labels.index(label)] = float(weight)
        return weights
    raise ValueError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}, "
                     f"got {class_weight!r}")


def _rank_rows(data, context: ProcessContext):
    """This rank's row source: the shards themselves, or its row range of ``(X, y)``."""
    if isinstance(data, tuple):
        X_all, y_all = data
        classes, t = np.unique(y_all, return_inverse=True)
        start, stop = row_range(len(t), context.rank, context.world_size)
        X = np.ascontiguousarray(X_all[start:stop])
        return ArrayRows(X, t[start:stop], classes, offset=start, n_rows=len(t))
    return as_row_source(data)


def _shard_view(shards: Shards, chosen: list[int]) -> Shards:
    """A :class:`Shards` over the shards ``chosen`` only (rows renumbered from 0)."""
    view = copy.copy(shards)
    entries = [shards.manifest["shards"][s] for s in chosen]
    view.manifest = {**shards.manifest, "shards": entries,
                     "n_rows": sum(int(e["rows"]) for e in entries)}
    view.shard_rows = [int(entry["rows"]) for entry in entries]
    view.offsets = np.concatenate([[0], np.cumsum(view.shard_rows)]).astype(np.int64)
    view.n_rows = int(view.offsets[-1])
    return view


