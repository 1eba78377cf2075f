"""The regularisation path: one fit per C, each warm-started from the previous one.

scikit-learn keeps its path function (``_logistic_regression_path``) apart from the
estimators, and :class:`~softmaxreg.cv.LogisticRegressionCV` is a loop of this path over
folds. Going from strong to weak regularisation (increasing C), the optimum moves little
from one C to the next, so each fit starts close to its solution.
"""

from __future__ import annotations

import copy

import numpy as np

from softmaxreg.estimator import LogisticRegression


def checked_Cs(Cs) -> np.ndarray:
    """``Cs`` as a 1-D float64 array; ValueError unless they are numbers > 0 (np.inf: none)."""
    Cs = np.asarray(Cs, dtype=np.float64).ravel()
    if Cs.size == 0 or np.any(np.isnan(Cs)) or np.any(Cs <= 0):
        raise ValueError(f"Cs must be numbers > 0 (np.inf: no penalty), got {Cs.tolist()}")
    return Cs


def logistic_regression_path(X, y, Cs, *, sample_weight=None, classes=None, **params) -> list:
    """Fitted :class:`LogisticRegression` models, one per ``C`` in ``Cs`` (in that order).

    ``params`` are the estimator's other parameters (``l1_ratio``, ``solver``, ``tol``, ...);
    the fit for ``Cs[t]`` starts from the solution for ``Cs[t - 1]``. ``C = np.inf`` means
    no penalty. ``classes``: the full label set when ``y`` may lack some (a fold of a
    cross-validation; see :meth:`LogisticRegression.fit`). Returns independent models (each
    keeps its own ``coef_``).
    """
    Cs = checked_Cs(Cs)
    model = LogisticRegression(**{**params, "warm_start": True})
    fitted = []
    for C in Cs:
        model.set_params(C=float(C)).fit(X, y, sample_weight=sample_weight, classes=classes)
        snapshot = copy.copy(model)
        snapshot.set_params(warm_start=bool(params.get("warm_start", False)))
        fitted.append(snapshot)
    return fitted
