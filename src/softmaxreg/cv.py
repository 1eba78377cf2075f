"""``softmaxreg.LogisticRegressionCV``: C (and l1_ratio) chosen by cross-validation.

A loop of :func:`softmaxreg.path.logistic_regression_path` over the folds of ``cv`` and the
``l1_ratios``: every fold fits the whole grid of ``Cs`` with warm starts and scores each
fit on its held-out rows; the best grid point (by the sum of the fold scores) is refitted on
all the data. Parameters, attributes and their layouts are scikit-learn's
``LogisticRegressionCV``'s (including ``use_legacy_attributes``).
"""

from __future__ import annotations

import copy
import inspect
import numbers
import warnings

import numpy as np
from sklearn.metrics import get_scorer, make_scorer
from sklearn.model_selection import check_cv
from sklearn.utils.metadata_routing import (
    UNUSED,
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import _check_method_params, check_is_fitted, validate_data

from softmaxreg._arrays import dense_array
from softmaxreg._labels import encode_labels, true_label_codes, untyped_labels
from softmaxreg._validation import check_parameters, check_solver
from softmaxreg._weights import balanced_class_weight, check_sample_weight
from softmaxreg.estimator import LogisticRegression
from softmaxreg.path import checked_Cs, logistic_regression_path
from softmaxreg.solvers import DEFAULT_SOLVER
from softmaxreg.solvers.newton_cg import EXACT_HESSIAN_MAX_ROWS

_PENALTY_RATIO = {"l2": 0.0, "l1": 1.0}
# solver='auto' with a smooth penalty, on folds of at most EXACT_HESSIAN_MAX_ROWS training
# rows: the paths use L-BFGS. There Newton-CG polishes each fit (a tight final Newton
# step), which a warm-started path pays at every C; on larger folds it is the faster one.
# One MNIST fold's 10-value path (logspace(-4, 2), two threads, both solvers with the
# Kronecker-factored Hessian): 4,000 rows L-BFGS 1.9 s, Newton-CG 5.5 s; 16,000 rows 5.1 s
# against 32.4 s; 48,000 rows L-BFGS 8.2 s against Newton-CG 6.7 s. The full 5-fold search
# on 60,000 rows took 45 s against scikit-learn's 419 s (softmaxreg bench --suite cv).
SMALL_FOLD_SOLVER = "lbfgs"


class LogisticRegressionCV(LogisticRegression):
    """Logistic / softmax regression with C (and l1_ratio) chosen by cross-validation.

    Minimises ``C * sum_i s_i * CE_i + r ||W||_1 + 0.5 (1 - r) ||W||^2`` for every ``C`` in
    ``Cs`` and ``r`` in ``l1_ratios`` on each training fold (warm starts along C), scores
    each fit on the fold's held-out rows with ``scoring`` (accuracy when None), and refits
    the best ``(C, r)`` on all rows (``refit=True``) or averages the folds' best
    coefficients (``refit=False``).

    Parameters are scikit-learn's: ``Cs`` (int: ``np.logspace(-4, 4, Cs)``; or a list),
    ``l1_ratios``, ``fit_intercept``, ``cv``, ``dual``, ``penalty``, ``scoring``, ``solver``
    (softmaxreg's 'auto' by default; every name of :class:`LogisticRegression`), ``tol``,
    ``max_iter``, ``class_weight``, ``n_jobs``, ``verbose``, ``refit``,
    ``intercept_scaling``, ``random_state``, ``use_legacy_attributes``.

    Attributes: ``Cs_``, ``l1_ratios_``, ``coefs_paths_``, ``scores_``, ``C_``,
    ``l1_ratio_``, ``n_iter_``, ``coef_``, ``intercept_``, ``classes_`` in scikit-learn's
    layouts. Errors: scikit-learn's ValueErrors for invalid solver/penalty combinations and
    l1_ratios.
    """

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios="warn",
        fit_intercept=True,
        cv=None,
        dual=False,
        penalty="deprecated",
        scoring="warn",
        solver="auto",
        tol=1e-4,
        max_iter=1000,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        intercept_scaling=1.0,
        random_state=None,
        use_legacy_attributes="warn",
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.dual = dual
        self.penalty = penalty
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.use_legacy_attributes = use_legacy_attributes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

    # score's sample_weight goes to the scorer (routed), not to the estimator's own request
    __metadata_request__score = {"sample_weight": UNUSED}

    # the LogisticRegression parameters a CV fit does not have, at their defaults
    C, l1_ratio, warm_start, multi_class = 1.0, 0.0, False, "auto"
    batch_size = learning_rate = dtype = None
    device = "cpu"

    def _resolve(self):
        """``(penalty, l1_ratios_, squeeze, scoring, legacy)`` with scikit-learn's warnings."""
        l1_ratios = self.l1_ratios
        if isinstance(l1_ratios, str) and l1_ratios == "warn":
            warnings.warn(
                "The default value for l1_ratios will change from None to (0.0,) in version "
                "1.10. From version 1.10 onwards, only array-like with values in [0, 1] will "
                "be allowed, None will be forbidden. To avoid this warning, explicitly set a "
                "value, e.g. l1_ratios=(0,).",
                FutureWarning,
                stacklevel=3,
            )
            l1_ratios = None
        if self.penalty == "deprecated":
            if l1_ratios is None and self.l1_ratios is None:
                warnings.warn(
                    "'l1_ratios=None' was deprecated in version 1.8 and will trigger an error "
                    "in 1.10. Use an array-like with values in [0, 1] instead.",
                    FutureWarning,
                    stacklevel=3,
                )
            if l1_ratios is None or np.all(np.asarray(l1_ratios) == 0):
                penalty = "l2"
            elif np.all(np.asarray(l1_ratios) == 1):
                penalty = "l1"
            else:
                penalty = "elasticnet"
        else:
            penalty = self.penalty
            warnings.warn(
                "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To avoid "
                "this warning, leave 'penalty' set to its default value and use 'l1_ratios' "
                "and 'Cs' instead. Use l1_ratios=(0,) instead of penalty='l2', "
                "l1_ratios=(1,) instead of penalty='l1', l1_ratios set to floats between 0 "
                "and 1 instead of penalty='elasticnet', and Cs=(np.inf,) instead of "
                "penalty=None.",
                FutureWarning,
                stacklevel=3,
            )
        scoring = self.scoring
        if isinstance(scoring, str) and scoring == "warn":
            warnings.warn(
                "The default value of the parameter 'scoring' will change from None, i.e. "
                "accuracy, to 'neg_log_loss' in version 1.11. To silence this warning, "
                "explicitly set the scoring parameter: scoring='neg_log_loss' for the new, "
                "scoring='accuracy' or scoring=None for the old default.",
                FutureWarning,
                stacklevel=3,
            )
            scoring = None
        legacy = self.use_legacy_attributes
        if isinstance(legacy, str) and legacy == "warn":
            warnings.warn(
                f"The fitted attributes of {type(self).__name__} will be simplified in "
                "scikit-learn 1.10 to remove redundancy. Set`use_legacy_attributes=False` to "
                "enable the new behavior now, or set it to `True` to silence this warning "
                "during the transition period while keeping the deprecated behavior for the "
                "time being. The default value of use_legacy_attributes will change from True "
                f"to False in scikit-learn 1.10. See the docstring of {type(self).__name__} "
                "for more details.",
                FutureWarning,
                stacklevel=3,
            )
            legacy = True
        check_solver(self.solver, penalty, self.dual)
        if l1_ratios is not None and np.ndim(l1_ratios) == 1 and len(l1_ratios) == 0:
            raise ValueError("l1_ratios must hold at least one number between 0 and 1; got []")
        if penalty == "elasticnet":
            if (
                l1_ratios is None
                or len(l1_ratios) == 0
                or any(
                    isinstance(r, bool)
                    or not isinstance(r, (int, float, np.number))
                    or not 0 <= r <= 1
                    for r in l1_ratios
                )
            ):
                raise ValueError(
                    "l1_ratios must be an array-like of numbers between 0 and 1; got "
                    f"(l1_ratios={l1_ratios!r})"
                )
            grid = list(l1_ratios)
        else:
            if l1_ratios is not None and self.penalty != "deprecated":
                warnings.warn(
                    "l1_ratios parameter is only used when penalty is 'elasticnet'. Got "
                    f"(penalty={penalty})",
                    UserWarning,
                    stacklevel=3,
                )
            grid = [None] if l1_ratios is None else list(l1_ratios)
        return penalty, grid, l1_ratios is None, scoring, legacy

    def _check_settings(self) -> None:
        """The checks of ``fit`` that need no data (the grid, the penalty and scoring
        settings, the inner estimator's parameters), warnings included; ValueError /
        TypeError. Used by the model-file reader on a saved model's parameters."""
        scoring = self._resolve()[3]
        if scoring is not None:
            get_scorer(scoring)
        checked_Cs(self._grid_of_Cs())
        inner = LogisticRegression(**self._inner_params(self.class_weight))
        check_parameters(inner, DEFAULT_SOLVER)

    def _inner_params(self, class_weight) -> dict:
        return {
            "fit_intercept": self.fit_intercept,
            "dual": self.dual,
            "solver": self.solver,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "class_weight": class_weight,
            "verbose": max(0, self.verbose - 1),
            "intercept_scaling": self.intercept_scaling,
            "random_state": self.random_state,
        }

    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate the grid ``Cs x l1_ratios``, then refit the best; returns self.

        X: (n, m) array-like or sparse; y: (n,) labels; sample_weight: (n,) weights, used
        in the fits and passed to the scorer (with metadata routing enabled: only if the
        scorer requests it). Extra ``params`` go to the splitter and the scorer through
        scikit-learn's metadata routing (a TypeError without it, as scikit-learn's).
        Every fold is fitted with the classes of all of ``y``, also when its training rows
        lack some, and scored with them (scorers taking ``labels`` get all classes).
        """
        _raise_for_params(params, self, "fit")
        penalty, grid, squeeze, scoring, legacy = self._resolve()
        with np.errstate(over="ignore", invalid="ignore"):  # sums of huge finite features
            X, y = validate_data(
                self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32], order="C"
            )
        labels = encode_labels(y)
        classes = labels.classes
        # labels held as Python objects, which scikit-learn's splitters and metrics cannot
        # type: split and scored as their class indices (the same folds and scores as the
        # same labels in a typed array)
        coded = untyped_labels(y)
        y_scored, scored_classes = (
            (labels.indices, np.arange(len(classes))) if coded else (y, classes)
        )
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but the data "
                f"contains only one class: {classes[0]}."
            )
        weights = check_sample_weight(sample_weight, X.shape[0])
        class_weight = self.class_weight
        if isinstance(class_weight, dict) and not set(class_weight) <= set(classes.tolist()):
            raise ValueError(
                "The given class_weight dict must have the class labels as keys; "
                f"classes={classes} but key={class_weight.keys()}"
            )
        if isinstance(class_weight, str) and class_weight == "balanced":
            balanced = balanced_class_weight(labels.indices, len(classes), weights)
            class_weight = dict(zip(classes.tolist(), balanced, strict=True))
        Cs = self._grid_of_Cs()
        routed = self._routed_fit_params(sample_weight, params)
        folds = list(
            check_cv(self.cv, y_scored, classifier=True).split(X, y_scored, **routed["split"])
        )
        scorer = (
            None if scoring is None else _scorer_with_labels(get_scorer(scoring), scored_classes)
        )
        inner = self._inner_params(class_weight)
        n_dof = X.shape[1] + int(bool(self.fit_intercept))
        n_outputs = 1 if len(classes) == 2 else len(classes)
        paths = np.zeros((len(folds), len(Cs), len(grid), n_outputs, n_dof))
        scores = np.zeros((len(folds), len(Cs), len(grid)))
        n_iter = np.zeros((len(folds), len(Cs), len(grid)), dtype=np.int32)
        for f, (train, test) in enumerate(folds):
            X_train, X_test, y_test = X[train], X[test], y[test]
            if scorer is None:  # the model's accuracy, weighted as the fit
                score_kwargs = {} if weights is None else {"sample_weight": weights[test]}
            else:
                score_kwargs = _check_method_params(X, params=routed["score"], indices=test)
            path_params = inner
            small = len(train) <= EXACT_HESSIAN_MAX_ROWS
            if self.solver == "auto" and penalty in ("l2", None) and small:
                path_params = {**inner, "solver": SMALL_FOLD_SOLVER}
            for r, ratio in enumerate(grid):
                models = logistic_regression_path(
                    X_train,
                    y[train],
                    Cs,
                    l1_ratio=_PENALTY_RATIO.get(penalty, ratio or 0.0),
                    sample_weight=None if weights is None else weights[train],
                    classes=classes,
                    **path_params,
                )
                for c, model in enumerate(models):
                    paths[f, c, r] = _with_intercept(model, self.fit_intercept)
                    n_iter[f, c, r] = model.n_iter_.max()
                    if scorer is None:
                        scores[f, c, r] = model.score(X_test, y_test, **score_kwargs)
                    else:
                        scores[f, c, r] = scorer(
                            _with_coded_classes(model) if coded else model,
                            X_test, y_scored[test], **score_kwargs,
                        )  # fmt: skip
        ratios = np.array([_PENALTY_RATIO.get(penalty, r or 0.0) for r in grid])
        if self.refit:
            total = scores.sum(axis=0)
            best_c, best_r = np.unravel_index(np.argmax(total), total.shape)
            best_C, best_ratio = float(Cs[best_c]), float(ratios[best_r])
            # smooth penalties: started from the folds' mean solution at the chosen point, as
            # scikit-learn's. L1 / elastic-net start from zero: proximal Newton near float
            # resolution (tol=1e-12) stalls at points that depend on the start (1e-8 apart
            # on scikit-learn's refit test), and the refit should equal a plain fit at C_.
            smooth = best_ratio == 0.0
            final = LogisticRegression(C=best_C, l1_ratio=best_ratio, warm_start=smooth, **inner)
            if smooth:
                final.classes_, final.kind_ = classes, self._kind(classes)
                _set_parameters(final, paths[:, best_c, best_r].mean(axis=0), X.shape[1])
            final.fit(X, y, sample_weight=weights)
            coef, intercept = final.coef_, final.intercept_
        else:
            best = [np.unravel_index(np.argmax(s), s.shape) for s in scores]
            w = np.mean([paths[f, c, r] for f, (c, r) in enumerate(best)], axis=0)
            coef, intercept = _set_parameters(None, w, X.shape[1])
            best_C = float(np.mean([Cs[c] for c, _ in best]))
            best_ratio = (
                float(np.mean([ratios[r] for _, r in best])) if penalty == "elasticnet" else 0.0
            )
        self.classes_, self._label_dtype = classes, classes.dtype
        self.kind_ = self._kind(classes)
        self._fit_penalty = penalty
        self.coef_, self.intercept_ = coef, intercept
        self.Cs_ = Cs
        self.l1_ratios_ = np.asarray(grid) if not squeeze else np.array([None])
        self._set_grid_attributes(
            paths, scores, n_iter, classes, best_C, best_ratio, squeeze, legacy
        )
        return self

    def _grid_of_Cs(self) -> np.ndarray:
        """``Cs`` as values: an int ``k >= 1`` gives ``k`` values from 1e-4 to 1e4 (log scale);
        values are checked by :func:`~softmaxreg.path.logistic_regression_path`."""
        Cs = self.Cs
        if np.ndim(Cs) != 0:
            return np.asarray(Cs)
        if isinstance(Cs, (bool, np.bool_)) or not isinstance(Cs, numbers.Integral) or Cs < 1:
            raise ValueError(
                f"The 'Cs' parameter of {type(self).__name__} must be an int in the range "
                f"[1, inf) or an array-like. Got {Cs!r} instead."
            )
        return np.logspace(-4, 4, int(Cs))

    def _routed_fit_params(self, sample_weight, params) -> dict:
        """The keyword arguments of the splitter's ``split`` and of the scorer in ``fit``:
        scikit-learn's metadata routing when enabled, else ``sample_weight`` to the scorer."""
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **params)
            return {"split": routed.splitter.split, "score": routed.scorer.score}
        score = {} if sample_weight is None else {"sample_weight": sample_weight}
        return {"split": {}, "score": score}

    def get_metadata_routing(self):
        """scikit-learn's metadata routing: ``fit`` routes to the splitter's ``split`` and to
        the scorer; ``score`` routes to the scorer."""
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(splitter=self.cv, method_mapping=MethodMapping().add(caller="fit", callee="split"))
            .add(
                scorer=self._get_scorer(),
                method_mapping=MethodMapping()
                .add(caller="score", callee="score")
                .add(caller="fit", callee="score"),
            )
        )

    @staticmethod
    def _kind(classes) -> str:
        return "binary" if len(classes) == 2 else "multinomial"

    def _set_grid_attributes(
        self, paths, scores, n_iter, classes, best_C, best_ratio, squeeze, legacy
    ):
        """``coefs_paths_``, ``scores_``, ``n_iter_``, ``C_``, ``l1_ratio_`` in scikit-learn's
        layouts (legacy: dicts keyed by class, one entry for binary problems)."""
        n_outputs = paths.shape[3]
        keys = classes[1:] if len(classes) == 2 else classes
        if legacy:
            per_class = np.moveaxis(paths, 3, 0)  # (K, folds, Cs, ratios, dof)
            if squeeze:
                per_class, scores, n_iter = per_class[:, :, :, 0], scores[:, :, 0], n_iter[..., 0]
            self.coefs_paths_ = dict(zip(keys, per_class, strict=True))
            self.scores_ = {key: scores.copy() for key in keys}
            self.n_iter_ = n_iter[None, ...]
            self.C_ = np.full(n_outputs, best_C)
            # scikit-learn's legacy value: the grid entry itself (None without l1_ratios)
            ratio = None if squeeze and self.refit else best_ratio
            self.l1_ratio_ = np.full(n_outputs, ratio, dtype=object if ratio is None else float)
            return
        self.coefs_paths_ = np.transpose(paths, (0, 2, 1, 3, 4))  # (folds, ratios, Cs, K, dof)
        self.scores_ = np.transpose(scores, (0, 2, 1))  # (folds, ratios, Cs)
        self.n_iter_ = np.transpose(n_iter, (0, 2, 1))
        self.C_ = best_C
        self.l1_ratio_ = best_ratio if not squeeze else float(self.penalty == "l1")

    def _get_scorer(self):
        """The scorer of ``scoring`` (accuracy when None, as scikit-learn's)."""
        scoring = self.scoring
        if scoring is None or (isinstance(scoring, str) and scoring == "warn"):
            scoring = "accuracy"
        return get_scorer(scoring)

    def score(self, X, y, sample_weight=None, **score_params):
        """``scoring`` of the fitted model on ``(X, y)`` (accuracy when scoring is None).

        ``sample_weight`` and ``score_params`` go to the scorer (through scikit-learn's
        metadata routing when enabled: a TypeError for metadata the scorer did not request).
        """
        _raise_for_params(score_params, self, "score")
        check_is_fitted(self)
        if sample_weight is not None:
            score_params["sample_weight"] = sample_weight
        if _routing_enabled():
            score_params = process_routing(self, "score", **score_params).scorer.score
        elif sample_weight is not None:
            score_params = {"sample_weight": sample_weight}
        if self.scoring is None or (isinstance(self.scoring, str) and self.scoring == "warn"):
            # the default accuracy: the estimator's own (labels of any hashable kind)
            return super().score(X, y, **score_params)
        if untyped_labels(self.classes_):  # scored as class indices (see fit)
            coded_y = true_label_codes(y, self.classes_)
            return self._get_scorer()(_with_coded_classes(self), X, coded_y, **score_params)
        return self._get_scorer()(self, X, y, **score_params)


def _with_coded_classes(model):
    """A shallow copy of ``model`` whose ``classes_`` are their indices ``0 .. K - 1``: its
    predictions are class indices, as a scorer given the indices of labels held as Python
    objects compares them (the same coefficients, probabilities and scores)."""
    coded = copy.copy(model)
    coded.classes_ = np.arange(len(model.classes_))
    return coded


def _scorer_with_labels(scorer, classes: np.ndarray):
    """``scorer`` told all the classes, for test folds that lack some.

    A metric that infers the classes from ``y_true`` (log loss, Brier score) misreads a fold
    holding fewer classes than the model's probabilities; as scikit-learn does, a scorer
    whose metric takes ``labels`` is rebuilt with ``labels=classes`` (and, for two classes,
    ``pos_label=classes[-1]``, the class whose probability the model's positive column is).
    """
    metric = getattr(scorer, "_score_func", None)
    if metric is None:
        return scorer
    accepted = inspect.signature(metric).parameters
    if "labels" not in accepted:
        return scorer
    extra = {"labels": classes}
    if len(classes) == 2 and "pos_label" in accepted:
        extra["pos_label"] = classes[-1]
    return make_scorer(
        metric,
        greater_is_better=scorer._sign > 0,
        response_method=scorer._response_method,
        **{**extra, **scorer._kwargs},
    )


def _set_parameters(model, w: np.ndarray, n_features: int):
    """``(coef, intercept)`` from ``w = [coef | intercept]`` (K, m [+ 1]); set on ``model``
    (its warm start) unless None."""
    coef = w[:, :n_features]
    intercept = w[:, n_features] if w.shape[1] > n_features else np.zeros(len(w))
    if model is not None:
        model.coef_, model.intercept_ = coef, intercept
    return coef, intercept


def _with_intercept(model, fit_intercept) -> np.ndarray:
    """``[coef_ | intercept_]`` of a fitted model, shape (K, m + 1) (or (K, m))."""
    coef = dense_array(model.coef_, dtype=np.float64)
    if not fit_intercept:
        return coef
    return np.hstack([coef, np.asarray(model.intercept_, dtype=np.float64)[:, None]])
