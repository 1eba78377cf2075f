"""Statistical inference for a fitted ``LogisticRegression``, with statsmodels' names.

``inference(model, X, y)`` returns the Wald inference of the maximum-likelihood fit (Agresti,
*Categorical Data Analysis*, 3rd ed., 2013, sections 4.2 and 8.1; statsmodels'
``discrete_model.py``, ``Logit`` / ``MNLogit`` and ``DiscreteResults``):

    cov = H^-1,    H = -d^2 llf / d beta^2 = sum_i s_i (diag(a_i) - a_i a_i^T) (x) x~_i x~_i^T
    bse = sqrt(diag cov),  z = beta / bse,  p = 2 (1 - Phi(|z|)),  beta +- Phi^-1(1 - alpha/2) bse

with ``x~_i = [1, x_i]`` and frequency weights ``s_i``. The multinomial model is written as
statsmodels' ``MNLogit`` writes it: the first class is the reference, and each other class
``k`` has ``beta_k = [b_k - b_0, w_k - w_0]`` (log odds of ``k`` against the reference). One-vs-rest
models give one binary result per class. Robust (sandwich) covariance (White 1980):
``HC0 = H^-1 (sum_i s_i g_i g_i^T) H^-1`` with the scores ``g_i = (y_i - a_i) (x) x~_i``, and
``HC1 = HC0 * nobs / (nobs - k)`` (MacKinnon & White 1985; statsmodels' discrete models
return HC0 for "HC1", without that factor).

Penalised fits (``penalty='l2'``): binary and one-vs-rest models use the penalised Hessian
``H + I_W / C`` (the Laplace approximation of the posterior under the prior ``w ~ N(0, C I)``;
not classical sampling-theory standard errors, and the summary says so); a penalised
multinomial fit is refused (refit with ``C=np.inf``, no penalty): its penalty is not
invariant to the shift ``w_k -> w_k - w_0`` that the reference-class parameters need. L1 and
elastic-net fits are refused (no Hessian at their zeros).

The module is callable: ``softmaxreg.inference(model, X, y)`` is :func:`inference` (the
function and its module share the name, and importing the module makes it the package's
attribute, so the module itself forwards the call).
"""

from __future__ import annotations

import sys
import types
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from scipy import stats

from softmaxreg import functional
from softmaxreg._arrays import dense_array
from softmaxreg._labels import EncodedLabels, class_indices_of
from softmaxreg._problems import single_label_problems
from softmaxreg._validation import resolve_device, resolve_penalty
from softmaxreg._weights import check_sample_weight
from softmaxreg.errors import (
    DataError,
    InferenceError,
    PerfectSeparationError,
    SingularHessianError,
)
from softmaxreg.objective import LinearObjective

COV_TYPES = ("nonrobust", "HC0", "HC1")
# room for the Hessian, its eigenvectors and the covariance (float64), raised with the parameter
DEFAULT_MAX_HESSIAN_BYTES = 2 * 2**30
# a scaled Hessian whose smallest / largest eigenvalue is below this is treated as singular
SINGULAR_RCOND = 1e-10
# a class whose every sample is fitted within this of 0 / 1 is tested for separation
SEPARATION_SCREEN = 1e-2


def inference(
    model,
    X,
    y,
    sample_weight=None,
    cov_type: str = "nonrobust",
    *,
    max_hessian_bytes: int = DEFAULT_MAX_HESSIAN_BYTES,
):
    """Standard errors, z tests, intervals and likelihood statistics of a fitted model.

    model: a fitted ``softmaxreg.LogisticRegression`` (binary, multinomial or one-vs-rest);
    X (n, m), y (n,), sample_weight (n,): the data it was fitted on (weights are frequency
    weights; the model's ``class_weight`` multiplies them as in the fit). ``cov_type``: one
    of ``COV_TYPES``. The Hessian has ``(K-1)(m+1)`` rows (``m+1`` for binary); it is built
    blockwise from X on the model's device and refused when its matrices would need more than
    ``max_hessian_bytes``.

    Returns :class:`InferenceResults` (binary, multinomial), or for one-vs-rest a dict
    ``{class label: InferenceResults}`` of the K binary models. Raises
    :class:`~softmaxreg.errors.PerfectSeparationError` or
    :class:`~softmaxreg.errors.SingularHessianError` naming the classes / features at fault,
    :class:`~softmaxreg.errors.InferenceError` for models it does not cover, ``DataError`` for
    data that does not fit the model.
    """
    from sklearn.utils.validation import check_is_fitted, validate_data

    check_is_fitted(model)
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    kind = model.kind_
    if kind == "multilabel":
        raise InferenceError(
            "inference covers binary, multinomial and one-vs-rest models, not multi-label ones; "
            "fit each label as its own binary model"
        )
    if kind == "multinomial" and len(model.classes_) == 2:
        kind = "binary"  # a softmax over two classes is the binary model of their difference
    penalty, C = _penalty(model)
    if penalty in ("l1", "elasticnet"):
        raise InferenceError(
            f"inference for an {penalty} fit is not offered: its penalty has no Hessian at the "
            "coefficients it sets to zero; refit with C=np.inf (no penalty) or an L2 penalty"
        )
    penalized = penalty == "l2"
    if penalized and kind == "multinomial":
        raise InferenceError(
            "inference for a penalised multinomial fit (penalty='l2') is not offered: refit "
            "with C=np.inf for the maximum-likelihood estimate (statsmodels' MNLogit), or "
            "use multi_class='ovr' for penalised binary models"
        )
    coef = dense_array(model.coef_)  # also after sparsify()
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(model.intercept_))):
        raise InferenceError("the model's coef_ or intercept_ holds NaN or inf (a diverged fit)")
    equations = len(model.classes_) - 1 if kind == "multinomial" else 1
    _check_size(equations * (coef.shape[1] + int(model.fit_intercept)), max_hessian_bytes)
    with np.errstate(over="ignore", invalid="ignore"):  # sums of huge finite features
        X = validate_data(model, X, accept_sparse="csr", dtype=np.float64, reset=False)
    labels = _encode(model.classes_, y, X.shape[0])
    weights = check_sample_weight(sample_weight, X.shape[0])
    problems = single_label_problems(kind, labels, weights, model.class_weight)
    names = _feature_names(model, X.shape[1])
    classes = [str(label) for label in model.classes_]
    settings = _Settings(model, cov_type, names)
    if kind in ("binary", "multinomial"):
        return _results(
            settings,
            X,
            problems[0],
            coef,
            model.intercept_,
            equations=classes[1:],
            reference=classes[0],
            classes=classes,
        )
    return {
        label: _results(
            settings,
            X,
            problem,
            coef[k : k + 1],
            model.intercept_[k : k + 1],
            equations=[name],
            reference=f"not {name}",
            classes=[f"not {name}", name],
        )
        for k, (label, name, problem) in enumerate(
            zip(model.classes_.tolist(), classes, problems, strict=True)
        )
    }


@dataclass(frozen=True)
class _Settings:
    model: object
    cov_type: str
    feature_names: list[str]


class InferenceResults:
    """Results of :func:`inference`, with the names of statsmodels' ``LogitResults`` /
    ``MultinomialResults``; every statistic is computed once, on first access.

    Binary: ``params``, ``bse``, ``tvalues``, ``pvalues`` are Series indexed by ``const`` and
    the feature names. Multinomial: DataFrames, one column per non-reference class.
    """

    def __init__(
        self,
        *,
        params,
        cov,
        llf,
        llnull,
        nobs,
        exog_names,
        equations,
        reference,
        cov_type,
        penalized,
        C,
    ):
        self._params = params  # (E * p,), equation-major, each [const, features]
        self._cov = cov
        self.llf, self.llnull, self.nobs = float(llf), float(llnull), float(nobs)
        self.exog_names, self.equations = list(exog_names), list(equations)
        self.reference, self.cov_type, self.penalized, self.C = reference, cov_type, penalized, C
        self.k_params = params.size
        # statsmodels: rank - 1 per equation (the constant is not counted), nobs - k_params
        self.df_model = float(self.k_params - len(self.equations))
        self.df_resid = self.nobs - self.k_params

    # ------------------------------------------------------------------ shapes
    @property
    def is_multinomial(self) -> bool:
        return len(self.equations) > 1

    def _shaped(self, flat: np.ndarray):
        if not self.is_multinomial:
            return pd.Series(flat, index=self.exog_names)
        table = flat.reshape(len(self.equations), len(self.exog_names)).T
        return pd.DataFrame(table, index=self.exog_names, columns=self.equations)

    def _index(self):
        if not self.is_multinomial:
            return pd.Index(self.exog_names)
        return pd.MultiIndex.from_product(
            [self.equations, self.exog_names], names=["class", "parameter"]
        )

    # ------------------------------------------------------------------ Wald inference
    @cached_property
    def params(self):
        """``beta`` maximising ``llf`` (the fitted model's parameters, reference-class form)."""
        return self._shaped(self._params)

    def cov_params(self) -> pd.DataFrame:
        """The covariance ``H^-1`` (or the sandwich, see ``cov_type``), parameters as labels."""
        index = self._index()
        return pd.DataFrame(self._cov, index=index, columns=index)

    @cached_property
    def bse(self):
        """Standard errors ``sqrt(diag cov)``."""
        return self._shaped(self._bse)

    @cached_property
    def _bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self._cov))

    @cached_property
    def tvalues(self):
        """z statistics ``beta / bse`` (statsmodels' name)."""
        return self._shaped(self._params / self._bse)

    @cached_property
    def pvalues(self):
        """Two-sided p-values ``2 (1 - Phi(|z|))`` of ``H0: beta = 0``."""
        return self._shaped(2 * stats.norm.sf(np.abs(self._params / self._bse)))

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald intervals ``beta -+ Phi^-1(1 - alpha/2) bse``, columns ``lower``, ``upper``."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}")
        half = stats.norm.isf(alpha / 2) * self._bse
        return pd.DataFrame(
            {"lower": self._params - half, "upper": self._params + half}, index=self._index()
        )

    @cached_property
    def odds_ratios(self):
        """``exp(beta)``: the odds ratio per unit of a feature (multinomial: the relative risk
        ratio ``P(k) / P(reference)``)."""
        return self._shaped(np.exp(self._params))

    def odds_ratios_conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """``exp`` of :meth:`conf_int`: intervals of the odds ratios."""
        return np.exp(self.conf_int(alpha))

    # ------------------------------------------------------------------ likelihood
    @cached_property
    def llr(self) -> float:
        """Likelihood-ratio statistic ``-2 (llnull - llf)`` against the intercept-only model."""
        return -2 * (self.llnull - self.llf)

    @cached_property
    def llr_pvalue(self) -> float:
        """``P(chi2(df_model) > llr)``."""
        return float(stats.chi2.sf(self.llr, self.df_model))

    @cached_property
    def prsquared(self) -> float:
        """McFadden's pseudo-R^2 ``1 - llf / llnull``."""
        return 1 - self.llf / self.llnull

    @cached_property
    def aic(self) -> float:
        """``-2 llf + 2 k`` (k parameters, constants included)."""
        return -2 * self.llf + 2 * self.k_params

    @cached_property
    def bic(self) -> float:
        """``-2 llf + log(nobs) k``."""
        return -2 * self.llf + np.log(self.nobs) * self.k_params

    # ------------------------------------------------------------------ tables
    def summary_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per parameter: coef, std err, z, P>|z|, the interval, the odds ratio and
        its interval (statsmodels' ``summary()`` columns, plus odds ratios)."""
        low, high = f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"
        interval, ratio_interval = self.conf_int(alpha), self.odds_ratios_conf_int(alpha)
        return pd.DataFrame(
            {
                "coef": self._params,
                "std err": self._bse,
                "z": self._params / self._bse,
                "P>|z|": 2 * stats.norm.sf(np.abs(self._params / self._bse)),
                low: interval["lower"].to_numpy(),
                high: interval["upper"].to_numpy(),
                "odds ratio": np.exp(self._params),
                "OR " + low: ratio_interval["lower"].to_numpy(),
                "OR " + high: ratio_interval["upper"].to_numpy(),
            },
            index=self._index(),
        )

    def interval_arrays(self, alpha: float = 0.05) -> dict:
        """``coef``, ``lower``, ``upper`` as (E, p) arrays with ``parameter_names``,
        ``class_names`` and ``level``: the inputs of ``softmaxreg.report.coefficient_figure``."""
        interval = self.conf_int(alpha)
        shape = (len(self.equations), len(self.exog_names))
        return {
            "coef": self._params.reshape(shape),
            "lower": interval["lower"].to_numpy().reshape(shape),
            "upper": interval["upper"].to_numpy().reshape(shape),
            "parameter_names": self.exog_names,
            "class_names": [f"{name} vs {self.reference}" for name in self.equations],
            "level": 1 - alpha,
        }

    def summary(self, alpha: float = 0.05) -> InferenceSummary:
        """The model statistics and :meth:`summary_frame`; ``str()`` of it is the text table."""
        kind = "MNLogit" if self.is_multinomial else "Logit"
        info = pd.Series(
            {
                "model": f"{kind} (softmaxreg)",
                "reference class": self.reference,
                "observations": _number(self.nobs),
                "df model": _number(self.df_model),
                "df residuals": _number(self.df_resid),
                "covariance": self.cov_type,
                "log-likelihood": f"{self.llf:.6g}",
                "LL-null": f"{self.llnull:.6g}",
                "pseudo R-squared": f"{self.prsquared:.4f}",
                "LLR p-value": f"{self.llr_pvalue:.4g}",
                "AIC": f"{self.aic:.6g}",
                "BIC": f"{self.bic:.6g}",
            }
        )
        notes = []
        if self.penalized:
            notes.append(
                f"penalised fit (C={self.C:g}): the covariance is the inverse of the penalised "
                "Hessian H + I/C (a Laplace approximation of the posterior under the prior "
                "w ~ N(0, C I)), not the classical maximum-likelihood one"
            )
        return InferenceSummary(info=info, frame=self.summary_frame(alpha), notes=notes)


@dataclass(frozen=True)
class InferenceSummary:
    """``info`` (a Series of model statistics), ``frame`` (the coefficient table), ``notes``;
    ``str()`` gives the text version, both formatted by pandas."""

    info: pd.Series
    frame: pd.DataFrame
    notes: list

    def as_text(self) -> str:
        header = self.info.to_string()
        table = self.frame.to_string(float_format=lambda value: f"{value:.4g}")
        rule = "=" * max(len(line) for line in table.splitlines())
        notes = "".join(f"\nNote: {note}" for note in self.notes)
        return f"{rule}\n{header}\n{rule}\n{table}\n{rule}{notes}"

    def __str__(self) -> str:
        return self.as_text()


# ---------------------------------------------------------------------- computation
def _results(
    settings: _Settings, X, problem, coef, intercept, *, equations, reference, classes
) -> InferenceResults:
    """One problem's results: the fitted ``(W, b)`` as ``beta`` relative to the reference."""
    model = settings.model
    objective = LinearObjective(
        X,
        problem.targets,
        problem.kind,
        C=1.0,
        penalize=False,
        fit_intercept=model.fit_intercept,
        sample_weight=problem.sample_weight,
        dtype=torch.float64,
        device=resolve_device(model.device),
    )
    coef, intercept = np.asarray(coef, dtype=np.float64), np.asarray(intercept, np.float64)
    theta = objective.pack(coef, intercept)
    multinomial = problem.kind == "multinomial"
    if multinomial:  # the other classes against class 0, as MNLogit writes the model
        coef, intercept = coef[1:] - coef[:1], intercept[1:] - intercept[:1]
    outputs = list(range(1, len(classes))) if multinomial else None
    p = coef.shape[1] + int(model.fit_intercept)
    exog_names = (["const"] if model.fit_intercept else []) + settings.feature_names
    labels = [
        f"{name} [class {equation}]" if multinomial else name
        for equation in equations
        for name in exog_names
    ]
    weights = np.ones(X.shape[0]) if problem.sample_weight is None else problem.sample_weight
    penalty, C = _penalty(model)
    penalized = penalty == "l2"
    if not penalized:
        _check_separation(
            X, problem, objective, theta, coef, classes, settings.feature_names, weights
        )

    order = _const_first(p, model.fit_intercept)
    H = _flat(objective.hessian_matrix(theta, outputs), order)
    if penalized:
        m = coef.shape[1]
        for e in range(len(equations)):
            start = e * p + int(model.fit_intercept)
            H.diagonal()[start : start + m] += 1.0 / C
    cov = _inverse(H, labels)
    if settings.cov_type != "nonrobust":
        meat = _flat(objective.score_outer_product(theta, outputs), order)
        cov = cov @ meat @ cov
    cov = cov.cpu().numpy()
    nobs = float(weights.sum())
    if settings.cov_type == "HC1":
        cov *= nobs / (nobs - cov.shape[0])
    params = np.column_stack([intercept, coef]) if model.fit_intercept else coef
    return InferenceResults(
        params=params.reshape(-1),
        cov=cov,
        llf=-objective.value(theta),
        llnull=_null_log_likelihood(problem, weights, len(classes)),
        nobs=nobs,
        exog_names=exog_names,
        equations=equations,
        reference=reference,
        cov_type=settings.cov_type,
        penalized=penalized,
        C=float(C),
    )


def _const_first(p: int, fit_intercept: bool) -> list[int]:
    """Each block ``[w, b]`` of the objective's Hessian reordered to ``[b, w]``."""
    return [p - 1, *range(p - 1)] if fit_intercept else list(range(p))


def _flat(blocks: torch.Tensor, order: list[int]) -> torch.Tensor:
    """``(E, p, E, p)`` blocks -> ``(E p, E p)`` matrix, each block's entries in ``order``."""
    E, p = blocks.shape[0], blocks.shape[1]
    index = torch.tensor(order, device=blocks.device)
    blocks = blocks.index_select(1, index).index_select(3, index)
    return blocks.reshape(E * p, E * p)


def _check_size(n_params: int, max_bytes: int) -> None:
    """Refuse a Hessian whose three float64 ``n x n`` matrices exceed ``max_bytes``."""
    need = 3 * 8 * n_params**2
    if need > max_bytes:
        raise InferenceError(
            f"the Hessian has {n_params} x {n_params} entries; inference needs {need} bytes "
            f"({need / 2**30:.2f} GiB: Hessian, eigenvectors and covariance in float64), more "
            f"than max_hessian_bytes={max_bytes}; pass max_hessian_bytes={need} or more, or "
            "use fewer features or classes"
        )


def _inverse(H: torch.Tensor, labels: list[str]) -> torch.Tensor:
    """``H^-1`` through the eigendecomposition of the Jacobi-scaled ``D H D`` (``D =
    diag(H)^-1/2``); refuses a singular ``H``, naming the parameters of its null space."""
    diagonal = H.diagonal()
    flat = torch.nonzero(diagonal <= 0).flatten().tolist()
    if flat:
        raise SingularHessianError(
            "the Hessian is singular: no curvature in "
            + ", ".join(labels[i] for i in flat[:5])
            + " (a feature that is zero for every sample with weight, or a class without "
            "samples); drop it"
        )
    scale = diagonal.rsqrt()
    eigenvalues, eigenvectors = torch.linalg.eigh(scale[:, None] * H * scale[None, :])
    ratio = float(eigenvalues[0] / eigenvalues[-1])
    if not ratio > SINGULAR_RCOND:  # (NaN included)
        null = eigenvectors[:, eigenvalues <= SINGULAR_RCOND * eigenvalues[-1]].abs().amax(dim=1)
        at_fault = torch.nonzero(null >= 0.05 * null.max()).flatten().tolist()
        raise SingularHessianError(
            f"the Hessian is singular (smallest / largest eigenvalue {ratio:.1e}): the "
            "parameters "
            + ", ".join(labels[i] for i in at_fault[:8])
            + " are not identified (collinear or constant features, or quasi-complete "
            "separation); drop or combine those features"
        )
    inverse = (eigenvectors / eigenvalues) @ eigenvectors.T
    return scale[:, None] * inverse * scale[None, :]


def _check_separation(X, problem, objective, theta, coef, classes, feature_names, weights):
    """Refuse a fit on separated data (Albert & Anderson 1984: then no maximum-likelihood
    estimate exists). Complete separation: the fit classifies every sample correctly. A class
    separated from the rest: its fitted probabilities are all within SEPARATION_SCREEN of 0 / 1
    and a linear program finds ``beta != 0`` with ``t_i x~_i^T beta >= 0`` for every sample
    (``t_i = +1`` in the class, -1 outside)."""
    W, b = objective.unpack(theta)
    scores = np.asarray(X @ W.cpu().numpy().T, dtype=np.float64)
    if b is not None:
        scores += b.cpu().numpy()
    kept = weights > 0
    truth = np.asarray(problem.targets).astype(np.int64).reshape(-1)
    if not kept.all():  # (no copy of X when every sample counts)
        X, scores, truth = X[kept], scores[kept], truth[kept]
    if problem.kind == "multinomial":
        proba, correct = functional.softmax(scores), np.argmax(scores, axis=1) == truth
        columns = range(len(classes))
    else:
        p1 = functional.sigmoid(scores[:, 0])
        proba, correct = np.column_stack([1 - p1, p1]), (scores[:, 0] > 0) == (truth == 1)
        columns = [1]
    if correct.all():
        top = np.argsort(-(np.abs(coef) * _column_spread(X)).max(axis=0))[:3]
        raise PerfectSeparationError(
            f"perfect separation: the fitted model classifies all {int(kept.sum())} samples "
            "correctly, so the maximum-likelihood estimate does not exist (its coefficients "
            "grow without bound); features with the largest standardised coefficients: "
            + ", ".join(feature_names[j] for j in top)
            + "; drop or merge them, or fit a binary / one-vs-rest model with penalty='l2'"
        )
    for k in columns:
        inside = truth == k
        if np.abs(inside - proba[:, k]).max() >= SEPARATION_SCREEN:
            continue
        direction = _separating_direction(X, inside, objective.fit_intercept)
        if direction is not None:
            strength = np.abs(direction) * _column_spread(X)
            top = [j for j in np.argsort(-strength)[:3] if direction[j] != 0]
            raise PerfectSeparationError(
                f"perfect separation: the features separate class {classes[k]!r} from the "
                "other classes (a separating direction uses "
                + ", ".join(feature_names[j] for j in top)
                + "), so the maximum-likelihood estimate does not exist; drop or merge those "
                "features, or merge the class with another"
            )


def _separating_direction(X, inside: np.ndarray, fit_intercept: bool) -> np.ndarray | None:
    """The feature part of a ``beta`` with ``t_i x~_i^T beta >= 0`` for all ``i`` and
    ``sum_i t_i x~_i^T beta = 1`` (HiGHS linear program), or None when there is none."""
    from scipy.optimize import linprog

    signs = np.where(inside, 1.0, -1.0)
    rows = sp.csr_matrix(X).multiply(signs[:, None]).tocsr()
    if fit_intercept:
        rows = sp.hstack([rows, sp.csr_matrix(signs[:, None])], format="csr")
    total = np.asarray(rows.sum(axis=0))
    found = linprog(
        np.zeros(rows.shape[1]),
        A_ub=-rows,
        b_ub=np.zeros(rows.shape[0]),
        A_eq=total,
        b_eq=[1.0],
        bounds=(None, None),
        method="highs",
    )
    return found.x[: X.shape[1]] if found.status == 0 else None


def _column_spread(X) -> np.ndarray:
    """Standard deviation of each column of a dense or scipy.sparse ``X``."""
    mean = np.asarray(X.mean(axis=0)).ravel()
    squares = X.multiply(X) if sp.issparse(X) else np.square(X)
    return np.sqrt(np.maximum(np.asarray(squares.mean(axis=0)).ravel() - mean**2, 0.0))


def _null_log_likelihood(problem, weights: np.ndarray, n_classes: int) -> float:
    """``llnull = sum_k n_k log(n_k / n)``: the intercept-only model, ``n_k`` the weighted
    count of class ``k`` (binary: of 0 and 1)."""
    targets = np.asarray(problem.targets, dtype=np.int64).reshape(-1)
    counts = np.bincount(
        targets, weights=weights, minlength=n_classes if problem.kind == "multinomial" else 2
    )
    present = counts[counts > 0]
    return float(np.sum(present * np.log(present / counts.sum())))


def _encode(classes: np.ndarray, y, n_samples: int) -> EncodedLabels:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise DataError(f"y must have shape ({n_samples},), one label per row of X, got {y.shape}")
    try:
        indices = class_indices_of(classes, y.tolist())
    except KeyError as error:
        raise DataError(
            f"y holds labels {sorted(set(map(str, error.args[0])))[:5]} that are not classes of "
            f"the model; its classes are {list(classes)}"
        ) from None
    return EncodedLabels(classes=classes, indices=indices)


def _penalty(model) -> tuple[str | None, float]:
    """The fitted model's penalty and C in either of scikit-learn's spellings (its
    deprecation warnings were given at fit time)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        penalty, _, C = resolve_penalty(model)
    return penalty, C


def _feature_names(model, n_features: int) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        return [str(name) for name in names]
    return [f"x{j + 1}" for j in range(n_features)]


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.6g}"


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`inference`."""

    def __call__(self, *args, **kwargs):
        return inference(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
