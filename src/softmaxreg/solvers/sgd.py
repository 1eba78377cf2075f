"""Minibatch stochastic gradient descent, the lecture's MNIST recipe.

Each epoch shuffles the rows with a seeded ``torch.Generator`` and, for each batch ``B``,

    theta := theta - eta * grad [ sum_{i in B} s_i CE_i / |B| + ||W||^2 / (2 C n) ]

(with penalize=False and no sample weights this is the mean cross-entropy of the batch,
exactly ``F.cross_entropy`` + ``torch.optim.SGD``). ``max_iter`` counts epochs. Early
stopping follows scikit-learn's ``SGDClassifier``: stop when the epoch's mean batch loss has
not improved on the best by more than ``tol`` for ``n_iter_no_change`` epochs in a row;
``tol=None`` runs all ``max_iter`` epochs.

A run that diverges (an epoch's mean loss non-finite or more than ``DIVERGENCE_FACTOR`` times
``max(1, the first batch's loss)``; a learning rate too large for unscaled features) stops
with a ``ConvergenceWarning`` naming the learning rate and feature scaling, and returns the
parameters that started the epoch with the lowest mean loss (never NaN).
"""

from __future__ import annotations

import contextlib

import torch

from softmaxreg.solvers import _prefetch, _softmax_steps
from softmaxreg.solvers._common import (
    DivergenceGuard,
    SolverResult,
    wants_stop,
    warn_not_converged,
)
from softmaxreg.solvers._threads import one_thread_if

DEFAULT_LEARNING_RATE = 0.1
DEFAULT_BATCH_SIZE = 256
N_ITER_NO_CHANGE = 5
# A minibatch step is a few small products: on CPU, splitting them over threads costs more in
# synchronisation than it gains (measured 1 ms per MNIST step on one thread, 9-45 ms on two
# threads of a busy 2-core machine), so batches up to this size run on one thread.
SINGLE_THREAD_MAX_BATCH = 4096


def _threads_for(batch: int, device: torch.device):
    return one_thread_if(device.type == "cpu" and batch <= SINGLE_THREAD_MAX_BATCH)


def minibatch_sgd(
    objective, theta0, *, max_iter=25, tol=None, batch_size=None, learning_rate=None,
    random_state=None, verbose=0, callback=None, shuffle=True, method_name="sgd",
    batch_callback=None, start_epoch=0, **_unused,
) -> SolverResult:
    """Epochs of ``theta := theta - eta grad_B``; history holds ``C n`` x each epoch's mean loss.

    ``batch_callback(epoch, batch, n_batches, loss)`` is called after every step (progress
    bars). ``start_epoch = e`` resumes a run after its epoch ``e`` (from a checkpoint's
    ``theta``): the shuffling generator is first advanced past the ``e`` permutations already
    used, so the remaining epochs see the same row orders as an uninterrupted run.
    """
    eta = DEFAULT_LEARNING_RATE if learning_rate is None else float(learning_rate)
    batch = DEFAULT_BATCH_SIZE if batch_size is None else int(batch_size)
    if eta <= 0 or batch < 1:
        raise ValueError(f"learning_rate must be > 0 and batch_size >= 1, got {eta}, {batch}")
    generator = torch.Generator().manual_seed(0 if random_state is None else int(random_state))
    if not 0 <= start_epoch < max_iter:
        raise ValueError(f"start_epoch must be in [0, max_iter={max_iter}), got {start_epoch}")
    if shuffle:
        for _ in range(start_epoch):
            torch.randperm(objective.n_samples, generator=generator)
    theta = theta0.clone()
    history: list[float] = []
    guard = DivergenceGuard(method_name, eta, [theta])
    with _threads_for(batch, objective.device):
        epoch, converged = _run_epochs(
            objective, theta, history, batch, eta, max_iter, tol,
            generator if shuffle else None, verbose, callback, batch_callback, start_epoch, guard,
        )
    if not converged and tol is not None and epoch >= max_iter and not guard.stopped:
        warn_not_converged(
            method_name, epoch,
            f"the epoch loss still improved by more than tol = {tol} within the last "
            f"{N_ITER_NO_CHANGE} epochs",
        )
    return SolverResult(theta=theta, n_iter=epoch, converged=converged, history=history)


def _run_epochs(objective, theta, history, batch, eta, max_iter, tol, generator, verbose,
                callback, batch_callback, start_epoch, guard):
    """The epoch loop (updates ``theta`` in place); returns ``(epochs done, converged)``.

    With ``tol=None`` there is no stopping rule and a full run counts as converged. ``guard``
    stops a diverging run (not converged) and puts its best parameters back into ``theta``.
    """
    n = objective.n_samples
    best, no_change = float("inf"), 0
    epoch = start_epoch
    n_batches = -(-n // batch)
    fast = _softmax_steps.SoftmaxSteps(objective) if _softmax_steps.applies(objective) else None
    for epoch in range(start_epoch + 1, max_iter + 1):
        order = torch.randperm(n, generator=generator) if generator is not None \
            else torch.arange(n)
        order = order.to(objective.device)
        epoch_start = theta.clone()

        def after_step(step, loss, epoch=epoch):
            if batch_callback is not None:
                batch_callback(epoch, step, n_batches, float(loss))

        if fast is not None:
            epoch_loss = _fast_epoch(fast, theta, order, batch, eta, guard, after_step)
        else:
            epoch_loss = _epoch(objective, theta, order, batch, eta, guard, after_step)
        mean_loss = float(epoch_loss) / n
        if guard.diverged(epoch, mean_loss, [epoch_start], after_epoch=epoch - 1):
            return epoch, False
        history.append(mean_loss * objective.C * n)
        if verbose:
            print(f"sgd epoch {epoch}: mean batch loss = {mean_loss:.6f}")
        if wants_stop(callback, epoch, theta, history[-1]):
            return epoch, tol is None
        if tol is not None:
            no_change = no_change + 1 if mean_loss > best - tol else 0
            best = min(best, mean_loss)
            if no_change >= N_ITER_NO_CHANGE:
                return epoch, True
    return epoch, tol is None


def _epoch(objective, theta, order, batch, eta, guard, after_step):
    """One epoch through ``objective.batch_value_and_grad``; returns the summed batch loss."""
    epoch_loss = torch.zeros((), dtype=torch.float64, device=objective.device)
    for step, start in enumerate(range(0, order.numel(), batch), start=1):
        rows = order[start : start + batch]
        loss, grad = objective.batch_value_and_grad(theta, rows)
        if guard.start_loss is None:
            guard.set_start(loss)  # the loss at the starting parameters (one sync per run)
        theta.add_(grad, alpha=-eta)
        epoch_loss += loss * rows.numel()
        after_step(step, loss)
    return epoch_loss


def _fast_epoch(fast, theta, order, batch, eta, guard, after_step):
    """The same epoch through the NumPy steps of ``_softmax_steps`` (``theta`` updated at
    the end)."""
    fast.load(theta)
    epoch_loss = 0.0
    # closing: a step or callback that raises stops the gathering thread at once, not when
    # the traceback holding this frame goes
    rows = _prefetch.batches(fast.X, fast.y, order.numpy(), batch)
    with _softmax_steps.one_blas_thread(), contextlib.closing(rows):
        for step, (X_batch, y_batch) in enumerate(rows, start=1):
            loss = fast.step(X_batch, y_batch, eta)
            if guard.start_loss is None:
                guard.set_start(loss)
            epoch_loss += loss * len(y_batch)
            after_step(step, loss)
    fast.store(theta)
    return epoch_loss
