"""The lecture's learning rule: stochastic gradient descent one sample at a time.

    for every epoch, for every (x[i], y[i]) in the data set (in order):
        y_hat := sigma(x[i]^T w + b)
        w := w + eta (y[i] - y_hat) x[i];   b := b + eta (y[i] - y_hat)

(softmax: ``W := W + eta (y_i - a_i) x_i^T``). With the penalty, the update also shrinks
``W`` by ``eta W / (C n)``, the per-sample share of ``0.5 ||W||^2 / (C n)``.
"""

from __future__ import annotations

from softmaxreg.solvers._common import SolverResult
from softmaxreg.solvers.sgd import minibatch_sgd


def sample_sgd(
    objective, theta0, *, max_iter=25, tol=None, learning_rate=None, random_state=None,
    verbose=0, callback=None, batch_callback=None, start_epoch=0, **_unused,
) -> SolverResult:
    """The per-sample rule: minibatch SGD with batch size 1, rows in data-set order."""
    return minibatch_sgd(
        objective, theta0, max_iter=max_iter, tol=tol, batch_size=1,
        learning_rate=learning_rate, random_state=random_state, verbose=verbose,
        callback=callback, shuffle=False, method_name="sample-sgd",
        batch_callback=batch_callback, start_epoch=start_epoch,
    )
