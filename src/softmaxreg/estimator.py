"""``softmaxreg.LogisticRegression``: a scikit-learn compatible logistic / softmax regression.

The estimator wires data -> objective -> solver. It minimises scikit-learn's objective

    f(W, b) = C * sum_i s_i * CE_i + 0.5 * ||W||^2            (b is not penalised)

with the lecture's models on top of the net input ``z = W x + b``:

- binary (2 classes): ``P(y = 1 | x) = sigma(z)``, ``coef_`` of shape ``(1, m)``;
- multinomial (softmax regression): ``P(y = t | x) = e^{z_t} / sum_j e^{z_j}``;
- one-vs-rest: K independent binary problems, probabilities normalised to sum to 1;
- multi-label (2-D 0/1 indicator ``y``): independent sigmoids ``sigma(W x + b)``, not
  mutually exclusive.

Prediction follows the lecture: the label is ``argmax_t z_t`` (``1 if z > 0`` for binary,
identical to ``sigma(z) > 0.5``), a separate step after the model.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.callback import CallbackSupportMixin
from sklearn.callback._callback_support import callback_management_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted, validate_data

from softmaxreg import functional
from softmaxreg._arrays import dense_array
from softmaxreg._labels import (
    check_indicator_target,
    encode_labels,
    is_indicator_target,
    scorable_labels,
)
from softmaxreg._problems import (
    Problem,
    choose_kind,
    multilabel_problem,
    single_label_problems,
)
from softmaxreg._sklearn_callbacks import CallbackBridge, fitted_state
from softmaxreg._validation import Settings, as_tensor, check_parameters
from softmaxreg._weights import check_sample_weight
from softmaxreg.objective import LinearObjective
from softmaxreg.penalties import L1Penalty
from softmaxreg.solvers import COMPOSITE_SOLVERS, DEFAULT_SOLVER, MINIBATCH_SOLVERS, solve
from softmaxreg.solvers._support_newton import DATA_RANGE
from softmaxreg.solvers.newton_cholesky import centre_classes


def _compute_dtype(X) -> torch.dtype:
    """The compute dtype that ``dtype=None`` picks: X's (float32 stays float32, the rest
    float64), except float32 data with a value beyond ``DATA_RANGE``'s top (2^40), computed
    in float64: its squares leave float32's range (float32 X holding 1e38 fitted all-zero
    coefficients, its products overflowed)."""
    if X.dtype != np.float32:
        return torch.float64
    values = X.data if sp.issparse(X) else X
    largest = max(abs(float(values.max(initial=0))), abs(float(values.min(initial=0))))
    return torch.float32 if largest <= DATA_RANGE[1] else torch.float64


_NUMPY_DTYPES = {
    None: [np.float64, np.float32],
    torch.float32: np.float32,
    torch.float64: np.float64,
}


class LogisticRegression(CallbackSupportMixin, ClassifierMixin, BaseEstimator):
    """Logistic regression (sigmoid) and softmax regression with L2, L1 or elastic-net penalty.

    Minimises ``C * sum_i s_i * CE_i + r ||W||_1 + 0.5 (1 - r) ||W||^2`` (scikit-learn's
    objective, ``r = l1_ratio``; the intercept is not penalised) with the lecture's models:
    ``sigma(w^T x + b)`` for two classes, ``softmax(W x + b)`` for K classes, K one-vs-rest
    sigmoids, or independent sigmoids for a multi-label 0/1 indicator ``y``.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength (larger C = weaker penalty); ``np.inf``: no
        penalty (scikit-learn 1.8+'s spelling).
    l1_ratio : float in [0, 1], default=0.0
        ``r`` in the penalty ``r ||W||_1 + 0.5 (1 - r) ||W||^2``: 0 is L2, 1 is L1 (exact
        zeros), in between the elastic net.
    penalty : {'l2', 'l1', 'elasticnet', None, 'deprecated'}, default='deprecated'
        scikit-learn's older spelling of the same choice (with its FutureWarning).
    dual : bool, default=False
        ``solver='liblinear'`` and the L2 penalty only: solve the dual problem by
        coordinate descent (fast when features outnumber samples).
    fit_intercept : bool, default=True
        Learn the bias ``b``.
    intercept_scaling : float, default=1.0
        ``solver='liblinear'`` only: the intercept is the penalised weight of a constant
        feature of this value (scikit-learn's liblinear model).
    solver : str, default='auto'
        'auto' picks softmaxreg's fastest method for the problem (``softmaxreg.solvers``):
        for a smooth penalty 'newton-cg', whose CG is preconditioned by a Kronecker-factored
        Hessian where the columns are few (``(m + 1)^2 <= 10 n K`` and ``m + 1 <= 2048``:
        MNIST-like data) and by the Hessian's diagonal, with the Hessian estimated on 5% of
        the rows beyond 20,000 rows, where they are many (wide sparse text: there, on CPU
        data of at least 2^21 non-zeros and 2^14 columns, the products run on a copy of
        ``X`` with its columns ordered by frequency, about twice as fast, for ``X``'s values
        and indices once more in memory); with an L1 part 'proximal-newton' (below).
        scikit-learn's names 'lbfgs', 'newton-cg', 'newton-cholesky', 'sag', 'saga' and
        'liblinear' accept the penalties and multi-class modes scikit-learn's do (the same
        ValueError otherwise) and reach the optimum that scikit-learn's solver of that name
        reaches ('lbfgs' starts its two-loop recursion from the same Kronecker-factored
        inverse Hessian where it applies: on MNIST 44 iterations to scikit-learn's 267);
        'gd' is full-batch gradient descent, 'sgd' minibatch SGD, 'sample-sgd' the lecture's
        per-sample learning rule. With an L1 part (``l1_ratio > 0``) every name ('auto',
        'saga', 'liblinear') runs 'proximal-newton': Newton models solved by coordinate
        descent over the columns of ``X`` with working sets, joined by Newton-CG steps on
        the non-zero coefficients (binary and one-vs-rest models: on the active columns'
        Hessian block, formed once the sweeps have cost as much; beyond 20,000 rows of dense
        columns, CG's Hessian estimated on a random fifth of the rows, at least 10,000, and
        each step kept only where the exact model falls), for every shape (dense or sparse,
        binary, multinomial or one-vs-rest), on the CPU.
    max_iter : int, default=1000
        Iteration limit of a full-batch solver; the number of epochs for 'sgd'/'sample-sgd'.
    tol : float or None, default=1e-4
        Full-batch solvers stop when ``max_j |smallest subgradient_j| / (C sum_i s_i) <=
        tol`` (scikit-learn's lbfgs rule; liblinear's own rule for ``dual=True``); ``None``
        turns early stopping off for the minibatch solvers.
    class_weight : None, 'balanced' or dict {label: weight}, default=None
        Multiplies the weight of every sample of a class.
    multi_class : {'auto', 'multinomial', 'ovr'}, default='auto'
        'auto': binary for 2 classes, multinomial (softmax) for more. A 2-D 0/1 indicator
        ``y`` is always multi-label.
    batch_size, learning_rate : int, float or None, default=None
        Minibatch size and step size of 'sgd'/'sample-sgd'/'gd' (None: the solver's default).
    random_state : int, RandomState or None, default=None
        Seed of the minibatch shuffling, and of the rows on which the full-batch solvers
        estimate the Hessian on large data ('newton-cg' and 'proximal-newton' beyond 20,000
        rows, see ``solver``); None: seed 0 (the same fit every time). An int must lie in
        [0, 2**32 - 1] (NumPy's seeds, as scikit-learn's), else ValueError.
    warm_start : bool, default=False
        Start from the previous fit's ``coef_``/``intercept_`` (ValueError where they
        do not match this call's classes, kind and features, or hold NaN or inf).
    device : str, default='cpu'
        'cpu', 'cuda' or 'cuda:N' (where the objective is evaluated).
    dtype : {None, 'float32', 'float64'}, default=None
        Compute precision; None follows X (float32 stays float32, unless a value exceeds
        2^40 in magnitude: its squares leave float32's range, so float64; anything else
        float64). ``coef_`` and ``intercept_`` have X's dtype either way.
    verbose : int, default=0
        Print solver progress when > 0.
    n_jobs : None or int, default=None
        Accepted, no effect (as in scikit-learn 1.8+, with its FutureWarning).

    Attributes
    ----------
    coef_ : ndarray (K, m), or (1, m) for two classes
    intercept_ : ndarray (K,), or (1,) for two classes
    classes_ : ndarray of the original labels (``arange(K)`` for multi-label)
    n_iter_ : ndarray of int, (1,) or (K,) for one-vs-rest
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when fitted on a DataFrame with string column names
    kind_ : {'binary', 'multinomial', 'ovr', 'multilabel'}
    loss_history_ : list of float
        The objective ``f`` after each iteration (the sum over classes for one-vs-rest); for
        'sgd'/'sample-sgd', ``C * n`` times each epoch's mean minibatch loss (an estimate of f).
    """

    def __init__(
        self,
        C=1.0,
        *,
        penalty="deprecated",
        l1_ratio=0.0,
        dual=False,
        fit_intercept=True,
        intercept_scaling=1.0,
        solver="auto",
        max_iter=1000,
        tol=1e-4,
        class_weight=None,
        multi_class="auto",
        n_jobs=None,
        batch_size=None,
        learning_rate=None,
        random_state=None,
        warm_start=False,
        device="cpu",
        dtype=None,
        verbose=0,
    ):
        self.C = C
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.multi_class = multi_class
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.warm_start = warm_start
        self.device = device
        self.dtype = dtype
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # multi-label fits (independent sigmoids) take no class_weight and no softmax
        tags.classifier_tags.multi_label = (
            self.class_weight is None and self.multi_class != "multinomial"
            and self.solver != "liblinear"
        )
        return tags

    # ------------------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, *, callback=None, batch_callback=None,
            initial_epoch=0, classes=None):
        """Minimise ``C * sum_i s_i * CE_i + 0.5 * ||W||^2`` over ``W``, ``b``; returns self.

        X: (n, m) array-like, DataFrame or scipy.sparse matrix. y: (n,) labels of any
        hashable type but None, or an (n, K) 0/1 indicator matrix (multi-label). sample_weight: (n,)
        non-negative weights ``s_i`` (``s_i = 2`` is the same as repeating the sample).

        Watching and resuming long fits (progress bars, checkpoints):

        - ``callback(model, iteration, objective)`` after every iteration (every epoch for
          'sgd'/'sample-sgd'); ``model`` is this estimator holding the current ``coef_``,
          ``intercept_``, ``classes_`` and ``kind_``, so it can predict or be saved. Return
          True to stop early.
        - ``batch_callback(epoch, batch, n_batches, loss)`` after every minibatch step.
        - ``initial_epoch=e`` with ``warm_start=True`` and a model saved after epoch ``e``:
          continue a minibatch run as if it had never stopped (same seed, same row orders).
        - scikit-learn's callbacks (``set_callbacks``) see every iteration as a task, with
          a ``fitted_estimator`` at its end.

        ``classes``: all labels the model knows, when ``y`` may lack some (a fold of a
        cross-validation); ``classes_`` is then ``classes`` and every class has its
        coefficients (a class without samples is pushed towards probability 0). Labels of
        ``y`` outside ``classes`` are a ValueError. Default: the labels of ``y``.
        """
        with callback_management_context(self):
            return self._fit(
                X, y, sample_weight, callback, batch_callback, initial_epoch, classes
            )

    def _fit(self, X, y, sample_weight, callback, batch_callback, initial_epoch, classes=None):
        settings = check_parameters(self, DEFAULT_SOLVER)
        self._fit_penalty = settings.penalty
        multilabel = y is not None and is_indicator_target(y)
        with np.errstate(over="ignore", invalid="ignore"):  # sums of huge finite features
            X, y = validate_data(
                self,
                X,
                y,
                accept_sparse="csr",
                dtype=_NUMPY_DTYPES[settings.dtype],
                order="C",
                multi_output=multilabel,
                # scikit-learn's liblinear / sag / saga refuse 64-bit sparse indices; so do we
                accept_large_sparse=self.solver not in ("liblinear", "sag", "saga"),
            )
        weights = check_sample_weight(sample_weight, X.shape[0])
        if multilabel:
            if classes is not None:
                raise ValueError(
                    "classes is for 1-D labels; a 2-D indicator y names its labels by column"
                )
            if self.multi_class == "multinomial":
                raise ValueError(
                    "multi_class='multinomial' needs one label per sample, but y is a 2-D "
                    "indicator matrix (multi-label); use multi_class='auto' or 'ovr'"
                )
            if self.class_weight is not None:
                raise ValueError(
                    "class_weight is not supported for a multi-label indicator y (every "
                    "column is its own yes/no problem); pass per-sample weights as "
                    "sample_weight instead"
                )
            Y = check_indicator_target(y)
            label_dtype, classes, kind = Y.dtype, np.arange(Y.shape[1]), "multilabel"
            problems = [multilabel_problem(Y, weights)]
        else:
            given = classes is not None
            labels = encode_labels(y, classes)
            label_dtype, classes = labels.classes.dtype, labels.classes
            if given and len(classes) < 2:
                raise ValueError(f"classes must hold at least 2 labels, got {classes.tolist()}")
            kind = choose_kind(self.multi_class, len(classes))
            problems = single_label_problems(
                kind, labels, weights, self.class_weight, given_classes=given
            )
        if self.solver == "liblinear":
            _check_liblinear(kind, X)

        starts = self._warm_starts(kind, classes, X.shape[1], len(problems))
        dtype = settings.dtype or _compute_dtype(X)
        data = self._design_data(X, dtype, settings)
        # scikit-learn's dtypes: float32 data gives float32 parameters (liblinear: float64)
        out_dtype = np.float64 if self.solver == "liblinear" else X.dtype
        self._label_dtype = label_dtype
        bridge = None
        watch = _Watcher(self, callback, kind, classes, X.shape[1], len(problems), starts)
        if getattr(self, "_skl_callbacks", None):
            bridge = CallbackBridge(self, X, y, sample_weight, settings.max_iter,
                                    fitted_state(watch.model_now(), out_dtype))
            callback = _with_bridge(callback, bridge, out_dtype)
            watch.callback = callback
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fits = [
                self._solve(
                    problem, data, dtype, settings, start,
                    callback=watch.for_problem(index) if callback is not None else None,
                    minibatch_options=_minibatch_options(settings, batch_callback, initial_epoch),
                )
                for index, (problem, start) in enumerate(zip(problems, starts, strict=True))
            ]
        _reissue_warnings(caught, self.solver, fits, settings.max_iter)
        coef, intercept = self._combined_parameters(
            kind, classes, [W for W, _, _ in fits], [b for _, b, _ in fits]
        )
        self.classes_ = classes
        self.kind_ = kind
        self.coef_ = coef.astype(out_dtype)
        self.intercept_ = intercept.astype(out_dtype)
        self.n_iter_ = np.array([result.n_iter for _, _, result in fits], dtype=np.int32)
        self.loss_history_ = _combined_history([result.history for _, _, result in fits])
        if bridge is not None:
            bridge.close(fitted_state(self, out_dtype))
        return self

    def _design_data(self, X, dtype, settings: Settings):
        """The data every problem's objective reads: dense data goes to the device once
        (shared by the K problems of one-vs-rest); liblinear appends the constant column
        ``intercept_scaling`` whose (penalised) coefficient gives the intercept."""
        if self._penalised_intercept():
            column = np.full((X.shape[0], 1), float(self.intercept_scaling), dtype=X.dtype)
            X = sp.hstack([X, column], format="csr") if sp.issparse(X) else np.hstack([X, column])
        return X if sp.issparse(X) else as_tensor(X, dtype).to(settings.device)

    def _penalised_intercept(self) -> bool:
        """liblinear's model: the intercept is the penalised weight of a constant feature."""
        return self.solver == "liblinear" and bool(self.fit_intercept)

    def _combined_parameters(self, kind, classes, Ws, bs):
        """``coef_`` and ``intercept_`` from the solved problems' ``(W, b)``."""
        coef = np.vstack(Ws)
        intercept = np.concatenate(bs)
        if kind == "multinomial" and len(classes) == 2:
            # softmax over two classes: P(y = 1) = sigma((w_1 - w_0)^T x + b_1 - b_0)
            coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
        elif kind == "multinomial" and self.solver not in MINIBATCH_SOLVERS:
            # softmax(z) = softmax(z + c): of all equivalent parameters keep those with
            # sum_k b_k = 0 and sum_k w_k = 0, as scikit-learn's solution has. The data term
            # is unchanged; an L2 penalty can only decrease (the penalised optimum has
            # sum_k w_k = 0, which an inexact solve misses by its tolerance). An L1 optimum
            # need not have it, and is kept as solved.
            # (Minibatch updates never change sum_k w_k or sum_k b_k, so SGD's parameters are
            # kept exactly as the solver left them: a checkpoint then resumes bit for bit.)
            # (in place: both are this method's own arrays; an array already centred to
            # rounding is left as it is)
            centre_classes(torch.from_numpy(intercept).view(-1, 1))
            if getattr(self, "_fit_penalty", "l2") in ("l2", None):
                centre_classes(torch.from_numpy(coef))
        return coef, intercept

    def _warm_starts(self, kind, classes, n_features, n_problems):
        """Initial ``(W, b)`` per problem: zeros, or the previous fit's when ``warm_start``."""
        if not (self.warm_start and hasattr(self, "coef_")):
            return [None] * n_problems
        same_classes = len(classes) == len(self.classes_) and np.array_equal(classes, self.classes_)
        if kind != self.kind_ or not same_classes or self.coef_.shape[1] != n_features:
            raise ValueError(
                "warm_start=True continues the previous fit, which had "
                f"kind {self.kind_!r}, classes {list(self.classes_)} and "
                f"{self.coef_.shape[1]} features; this call has kind {kind!r}, classes "
                f"{list(classes)} and {n_features} features. Set warm_start=False to start "
                "from zero."
            )
        coef = dense_array(self.coef_)
        coef, intercept = coef.astype(np.float64), np.asarray(self.intercept_, dtype=np.float64)
        if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
            raise ValueError(
                "warm_start=True continues from coef_ and intercept_, which hold NaN or inf "
                "values; set warm_start=False to start from zero"
            )
        if kind == "ovr":
            return [(coef[k : k + 1], intercept[k : k + 1]) for k in range(n_problems)]
        if kind == "multinomial" and len(classes) == 2:
            # the symmetric pair (w_0, w_1) = (-w / 2, w / 2) has the stored difference w
            return [(np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept, intercept]) / 2)]
        return [(coef, intercept)]

    def _solve(
        self, problem: Problem, data, dtype, settings: Settings, start, *, callback=None,
        minibatch_options=None,
    ):
        augmented = self._penalised_intercept()
        objective = LinearObjective(
            data,
            problem.targets,
            problem.kind,
            C=settings.C,
            penalize=settings.penalty is not None,
            l2_strength=1.0 - settings.l1_ratio,
            fit_intercept=bool(self.fit_intercept) and not augmented,
            sample_weight=problem.sample_weight,
            dtype=dtype,
            device=settings.device,
            n_classes=problem.n_classes,
        )
        if start is not None and augmented:
            W, b = start
            start = (np.hstack([W, np.asarray(b)[:, None] / self.intercept_scaling]), None)
        theta0 = objective.zeros() if start is None else objective.pack(*start)
        penalty = None
        if settings.solver in COMPOSITE_SOLVERS:
            penalty = L1Penalty(settings.l1_ratio, objective.n_outputs * objective.n_features)
        result = solve(
            objective,
            settings.solver,
            theta0,
            max_iter=settings.max_iter,
            tol=self.tol,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            random_state=settings.random_state,
            verbose=self.verbose,
            callback=None if callback is None else _theta_callback(objective, callback, augmented,
                                                                   self.intercept_scaling),
            penalty=penalty,
            **(minibatch_options or {}),
        )
        if not bool(torch.isfinite(result.theta).all()):
            # e.g. liblinear's dual at C=1e20, or intercept_scaling=1e200: float64 overflowed;
            # never hand back NaN coefficients silently
            raise ValueError(
                f"solver={self.solver!r} produced non-finite coefficients: the problem "
                f"overflows float64 at this scale (C={settings.C:g}, largest |x| = "
                f"{_largest_magnitude(data):g}"
                + (f", intercept_scaling={self.intercept_scaling:g}" if augmented else "")
                + "); lower C, scale the features (e.g. StandardScaler) or choose another solver"
            )
        W, b = _numpy_parameters(objective, result.theta, augmented, self.intercept_scaling)
        return W, b, result

    # ------------------------------------------------------------------------------ sparsity
    def sparsify(self):
        """Store ``coef_`` as a scipy.sparse CSR matrix (worth it when most entries are 0,
        as after an L1 fit); predictions are unchanged. Returns self."""
        check_is_fitted(self)
        self.coef_ = sp.csr_matrix(self.coef_)
        return self

    def densify(self):
        """Store ``coef_`` as a dense ndarray again (the default). Returns self."""
        check_is_fitted(self)
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

    # ------------------------------------------------------------------------------ files
    def save(self, path, **metadata):
        """Write the fitted model to one safetensors file, atomically (``softmaxreg.io.save``)."""
        from softmaxreg.io import save

        return save(self, path, **metadata)

    @classmethod
    def load(cls, path):
        """A model written by :meth:`save`; refuses damaged files and pickles (``io.load``)."""
        from softmaxreg.io import load

        return load(path, cls=cls)

    def to_onnx(self, preprocessing="auto", dtype=None):
        """The ONNX graph ``X -> (label, probabilities)`` (``softmaxreg.onnx_export``).

        ``dtype``: "float32" or "float64" input; None follows the training dtype.
        """
        from softmaxreg.onnx_export import to_onnx

        return to_onnx(self, preprocessing, dtype)

    # ------------------------------------------------------------------------------ predict
    def decision_function(self, X):
        """Net inputs ``z = X W^T + b``: shape (n,) for two classes, else (n, K).

        A score whose products overflow (``x ~ 1e300``) is computed as ``s ((x / s) W^T) + b``
        with ``s = max_j |x_j|`` instead, so it is +-inf with the right sign, never NaN. The
        result has the dtype of the input and the weights (float32 in, float32 out, as in
        scikit-learn).
        """
        scores, dtype = self._scores(X)
        scores = scores.astype(dtype, copy=False)
        return scores.ravel() if scores.shape[1] == 1 else scores

    def _scores(self, X) -> tuple[np.ndarray, np.dtype]:
        """``(z in float64, shape (n, K'), the output dtype)``: the probabilities are
        computed from float64 scores and only then rounded to the input's dtype."""
        check_is_fitted(self)
        with np.errstate(over="ignore", invalid="ignore"):  # sums of huge finite features
            X = validate_data(
                self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False
            )
        coef = dense_array(self.coef_)
        with np.errstate(over="ignore", invalid="ignore"):
            scores = np.asarray(X @ coef.T, dtype=np.float64) + self.intercept_
            rows = np.flatnonzero(~np.isfinite(scores).all(axis=1))
            if rows.size:
                overflowed = scores[rows]
                bad = ~np.isfinite(overflowed)
                overflowed[bad] = _rescaled_scores(X[rows], coef, self.intercept_)[bad]
                scores[rows] = overflowed
        return scores, np.result_type(X.dtype, coef.dtype)

    def predict_proba(self, X):
        """Class probabilities, shape (n, K).

        binary: ``[1 - sigma(z), sigma(z)]``; multinomial: ``softmax(z)``; one-vs-rest:
        ``sigma(z_k) / sum_j sigma(z_j)``, computed in log space as ``softmax(log sigma(z))``
        so that it stays right when every ``sigma(z_j)`` underflows; multi-label:
        ``sigma(z_k)`` per label (rows need not sum to 1). Finite for all finite scores;
        computed in float64, returned in the input's dtype.
        """
        scores, dtype = self._scores(X)
        return self._normalised(scores, log=False).astype(dtype, copy=False)

    def predict_log_proba(self, X):
        """``log predict_proba(X)``, from the net inputs with log-sigmoid / log-softmax."""
        scores, dtype = self._scores(X)
        return self._normalised(scores, log=True).astype(dtype, copy=False)

    def _normalised(self, scores: np.ndarray, log: bool) -> np.ndarray:
        sigmoid = functional.log_sigmoid if log else functional.sigmoid
        softmax = functional.log_softmax if log else functional.softmax
        if self.kind_ == "multilabel":
            return sigmoid(scores)
        if scores.shape[1] == 1:
            return sigmoid(np.column_stack([-scores[:, 0], scores[:, 0]]))
        if self.kind_ == "ovr":
            return softmax(functional.log_sigmoid(scores))
        return softmax(scores)

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy ``sum_i s_i [predict(x_i) = y_i] / sum_i s_i`` (scikit-learn's
        ``ClassifierMixin.score``: ``accuracy_score``, its checks and errors; multi-label:
        the share of rows with every label right). Labels that are arbitrary Python objects,
        which ``fit`` accepts and scikit-learn's metrics cannot type, are compared as their
        positions among ``classes_``."""
        y_true, y_pred = scorable_labels(y, self.predict(X), self.classes_)
        return float(accuracy_score(y_true, y_pred, sample_weight=sample_weight))

    def predict(self, X):
        """Labels: ``classes_[argmax_t z_t]`` (``1 if z > 0`` for two classes).

        Multi-label: the (n, K) indicator ``[z_k > 0]`` in the dtype of the training ``y``.
        """
        scores = self.decision_function(X)
        if self.kind_ == "multilabel":
            return (scores > 0).astype(self._label_dtype)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(np.int64)]
        return self.classes_[np.argmax(scores, axis=1)]


def _numpy_parameters(
    objective, theta, augmented=False, intercept_scaling=1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` of a flat parameter vector as float64 NumPy (``b = 0`` without intercept).

    ``augmented``: the last column of ``W`` is the weight of the constant feature
    ``intercept_scaling`` (liblinear's model), so ``b = intercept_scaling * W[:, -1]``.
    """
    W, b = objective.unpack(theta)
    W = W.detach().to("cpu", torch.float64).numpy().copy()
    if augmented:
        return W[:, :-1].copy(), intercept_scaling * W[:, -1]
    if b is None:
        return W, np.zeros(W.shape[0])
    return W, b.detach().to("cpu", torch.float64).numpy().copy()


def _theta_callback(objective, callback, augmented=False, intercept_scaling=1.0):
    """Adapt the solvers' ``callback(iteration, theta, value)`` to ``callback(W, b, ...)``."""

    def on_iteration(iteration, theta, value):
        W, b = _numpy_parameters(objective, theta, augmented, intercept_scaling)
        return callback(W, b, iteration, value)

    return on_iteration


def _largest_magnitude(X) -> float:
    """``max |x_ij|`` of a dense array, sparse matrix or tensor (0 when empty)."""
    if sp.issparse(X):
        return float(abs(X).max()) if X.nnz else 0.0
    values = np.abs(X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X))
    return float(values.max()) if values.size else 0.0


def _check_liblinear(kind: str, X) -> None:
    """scikit-learn's refusals for solver='liblinear' (same messages)."""
    if kind == "multinomial":
        raise ValueError(
            "The 'liblinear' solver does not support multiclass classification (n_classes >= "
            "3). Either use another solver or wrap the estimator in a OneVsRestClassifier to "
            "keep applying a one-versus-rest scheme."
        )
    largest = X.max() if X.size else 0
    if largest > 1e30:
        raise ValueError(
            "Using the 'liblinear' solver while X contains a maximum value > 1e30 results in "
            "a frozen fit. Please choose another solver or rescale the input X."
        )


# scikit-learn's ConvergenceWarning wording per solver name (user code filters on it);
# softmaxreg's own explanation follows it
_SKLEARN_NOT_CONVERGED = {
    "lbfgs": "lbfgs failed to converge after {n_iter} iteration(s) (max_iter={max_iter}).",
    "newton-cg": "newton-cg failed to converge at loss = {loss}. Increase the number of "
    "iterations.",
    "newton-cholesky": "Newton solver did not converge after {n_iter} iterations.",
    "sag": "The max_iter was reached which means the coef_ did not converge.",
    "saga": "The max_iter was reached which means the coef_ did not converge.",
    "liblinear": "Liblinear failed to converge, increase the number of iterations.",
}


def _reissue_warnings(caught, solver_name: str, fits, max_iter: int) -> None:
    """Re-emit the warnings recorded during the fit; ConvergenceWarnings once, in
    scikit-learn's wording for ``solver_name`` followed by softmaxreg's own message."""
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    for record in caught:
        if record not in convergence:
            warnings.warn_explicit(
                record.message, record.category, record.filename, record.lineno
            )
    if not convergence:
        return
    details = " ".join(dict.fromkeys(str(w.message) for w in convergence))
    # a Newton solver that fell back to L-BFGS warns as scikit-learn's does: as lbfgs
    solver_name = next((r.finished_by for *_, r in fits if r.finished_by), solver_name)
    template = _SKLEARN_NOT_CONVERGED.get(solver_name)
    if template is not None:
        n_iter = max(result.n_iter for _, _, result in fits)
        loss = sum(result.history[-1] for _, _, result in fits if result.history)
        details = template.format(n_iter=n_iter, max_iter=max_iter, loss=loss) + " " + details
    warnings.warn(details, ConvergenceWarning, stacklevel=3)


def _minibatch_options(settings: Settings, batch_callback, initial_epoch) -> dict:
    """The solver options that exist only for the minibatch solvers."""
    if settings.solver not in MINIBATCH_SOLVERS:
        if batch_callback is not None or initial_epoch:
            raise ValueError(
                "batch_callback and initial_epoch are for the minibatch solvers "
                f"{MINIBATCH_SOLVERS}, not solver={settings.solver!r}"
            )
        return {}
    return {"batch_callback": batch_callback, "start_epoch": int(initial_epoch)}


class _Watcher:
    """Shows a fit's user ``callback`` the whole model at the current iterate.

    Problems solved one after the other (one-vs-rest) contribute their final ``(W, b)``
    once done; the problem being solved contributes its current one; later ones their
    start (zeros, or the warm start).
    """

    def __init__(self, model, callback, kind, classes, n_features, n_problems, starts):
        self.model, self.callback = model, callback
        self.kind, self.classes = kind, classes
        self.current = []
        for start in starts:
            if start is None:
                rows = len(classes) if kind in ("multinomial", "multilabel") else 1
                start = (np.zeros((rows, n_features)), np.zeros(rows))
            self.current.append(start)

    def model_now(self):
        """The estimator holding the current combined parameters (set on the model)."""
        model = self.model
        model.classes_, model.kind_ = self.classes, self.kind
        model.coef_, model.intercept_ = model._combined_parameters(
            self.kind, self.classes, *zip(*self.current, strict=True)
        )
        return model

    def for_problem(self, index: int):
        def on_iteration(W, b, iteration, value):
            self.current[index] = (W, b)
            return self.callback(self.model_now(), iteration, value)

        return on_iteration


def _rescaled_scores(X, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """``s_i ((x_i / s_i) W^T) + b``, ``s_i = max_j |x_ij|``: no ``inf - inf`` inside the sum."""
    rows = np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)
    scale = np.abs(rows).max(axis=1, keepdims=True)
    scale[scale == 0] = 1.0
    return scale * ((rows / scale) @ coef.T) + intercept


def _with_bridge(callback, bridge: CallbackBridge, out_dtype):
    """The user's ``callback(model, iteration, objective)`` preceded by scikit-learn's hooks."""

    def on_iteration(model, iteration, value):
        bridge.iteration(fitted_state(model, out_dtype))
        return callback is not None and bool(callback(model, iteration, value))

    return on_iteration


def _logsumexp_rows(values: np.ndarray) -> np.ndarray:
    """``log sum_j e^{v_j}`` per row, shape (n, 1), shifted by the row maximum."""
    top = values.max(axis=1, keepdims=True)
    return top + np.log(np.exp(values - top).sum(axis=1, keepdims=True))


def _combined_history(histories: list[list[float]]) -> list[float]:
    """The total objective per iteration of separately solved problems.

    The one-vs-rest objective is the sum of its K binary objectives; a problem that stopped
    earlier contributes its final value to the later iterations.
    """
    histories = [[float(value) for value in history] for history in histories]
    if len(histories) == 1:
        return histories[0]
    length = max((len(history) for history in histories), default=0)
    return [
        sum(history[min(t, len(history) - 1)] for history in histories if history)
        for t in range(length)
    ]
