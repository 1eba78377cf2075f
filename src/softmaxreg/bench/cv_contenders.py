"""The ``cv`` suite's fits: ``LogisticRegressionCV`` of scikit-learn and of softmaxreg, each as
a user writes it, on the same grid of ``C`` and the same folds.

Both choose ``C`` from ``CS`` by the summed ``scoring`` of the ``FOLDS`` held-out parts
(L2 penalty, multinomial), then refit it on all training rows. Each returns a
:class:`~softmaxreg.bench.contenders.Fit` whose ``extra`` holds the chosen ``C`` and the
best mean cross-validation score (the table's "C" and "CV score" columns); the suite judges
the refit's objective at the chosen ``C``.
"""

from __future__ import annotations

import numpy as np

from softmaxreg.bench.contenders import Fit, Problem, _float32, _start_numba, _timed

CS = np.logspace(-4, 2, 10)
FOLDS = 5
SCORING = "neg_log_loss"


def _folds():
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(FOLDS)  # no shuffling: both contenders see the same folds


def _with_choice(fit: Fit, model) -> Fit:
    C = float(np.ravel(model.C_)[0])
    scores = model.scores_
    scores = next(iter(scores.values())) if isinstance(scores, dict) else scores
    mean = np.asarray(scores).reshape(FOLDS, -1).mean(axis=0)  # (folds, [1,] Cs): per C
    extra = {"chosen_C": C, "cv_score": float(mean.max())}
    return Fit(fit.W, fit.b, fit.seconds, fit.rss_before_mb, fit.notes, extra)


def _cross_validated(cls, X, y, notes_of, **params) -> Fit:
    """``cls(Cs=CS, cv=FOLDS, l1_ratios=(0,), scoring=SCORING, **params).fit(X, y)``, timed."""
    model = cls(
        Cs=CS, cv=_folds(), l1_ratios=(0.0,), scoring=SCORING, use_legacy_attributes=False, **params
    )

    def run():
        model.fit(X, y)
        return model.coef_, model.intercept_, int(model.n_iter_.max())

    return _with_choice(_timed(run, notes_of), model)


def sklearn_cv(problem: Problem, *, max_iter=100, tol=1e-4) -> Fit:
    """scikit-learn ``LogisticRegressionCV`` (lbfgs, its defaults) on the float64 data."""
    from sklearn.linear_model import LogisticRegressionCV

    return _cross_validated(
        LogisticRegressionCV,
        problem.X_train,
        problem.y_train,
        lambda n_iter: f"lbfgs, max_iter={max_iter}, tol={tol:g}, n_iter<={n_iter}",
        max_iter=max_iter,
        tol=tol,
    )


def softmaxreg_cv(problem: Problem, **params) -> Fit:
    """softmaxreg ``LogisticRegressionCV`` (its defaults: solver 'auto') on a float32 copy of
    the data."""
    from softmaxreg import LogisticRegressionCV

    X = _float32(problem.X_train)
    _start_numba()
    return _cross_validated(
        LogisticRegressionCV, X, problem.y_train, lambda n_iter: f"auto, n_iter<={n_iter}", **params
    )
