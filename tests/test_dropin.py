"""softmaxreg.LogisticRegression as a drop-in for scikit-learn's: parameter spellings,
warnings (category and wording), solver/penalty rules, NumPy integers, sparsify/densify,
max_iter=0, class_weight keys absent from a fold, tags and scikit-learn's callback API."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.linalg import LinAlgWarning
from sklearn.callback.tests._utils import RecordingCallback
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from softmaxreg import LogisticRegression

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_numpy_integers_are_accepted_where_an_int_is():
    X, y = _iris()
    search = GridSearchCV(LogisticRegression(), {"max_iter": np.arange(50, 151, 50)}, cv=2)
    search.fit(X, y)
    assert search.best_params_["max_iter"] in (50, 100, 150)
    model = LogisticRegression(max_iter=np.int64(5), verbose=np.int32(0), tol=1e-12)
    with pytest.warns(ConvergenceWarning):
        assert model.fit(X, y).n_iter_.tolist() == [5]


def test_class_weight_keys_absent_from_a_fold_are_ignored_as_scikit_learn_does():
    X = np.arange(16, dtype=float).reshape(8, 2)
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    model = LogisticRegression(class_weight={0: 1.0, 1: 2.0, 2: 3.0})
    scores = cross_val_score(model, X, y, cv=TimeSeriesSplit(n_splits=2))  # fold 1: no class 2
    assert scores.shape == (2,)
    fitted = LogisticRegression(class_weight={0: 1.0, 1: 2.0, 2: 3.0}).fit(X[:6], y[:6])
    same = LogisticRegression(class_weight={0: 1.0, 1: 2.0}).fit(X[:6], y[:6])
    np.testing.assert_array_equal(fitted.coef_, same.coef_)


def test_both_penalty_spellings_with_scikit_learns_warnings():
    X, y = _iris()
    deprecated = "'penalty' was deprecated in version 1.8"
    with (
        pytest.warns(FutureWarning, match=deprecated),
        pytest.warns(UserWarning, match="Setting penalty=None will ignore the C and l1_ratio"),
    ):
        unpenalised = LogisticRegression(penalty=None, C=4.0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        infinite = LogisticRegression(C=np.inf).fit(X, y)  # 1.8+ spelling: no warning
    np.testing.assert_allclose(unpenalised.coef_, infinite.coef_, rtol=1e-6)
    with pytest.warns(FutureWarning, match=deprecated):
        old = LogisticRegression(penalty="l1", l1_ratio=1.0, C=0.5).fit(X, y)
    new = LogisticRegression(l1_ratio=1.0, C=0.5).fit(X, y)
    np.testing.assert_array_equal(old.coef_, new.coef_)
    with (
        pytest.warns(FutureWarning, match=deprecated),
        pytest.warns(UserWarning, match="Inconsistent values: penalty=l1 with l1_ratio=0.0"),
    ):
        LogisticRegression(penalty="l1", C=0.5).fit(X, y)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"solver": "lbfgs", "l1_ratio": 1},
            "Solver lbfgs supports only 'l2' or None penalties, got l1 penalty.",
        ),
        ({"solver": "sag", "dual": True}, "Solver sag supports only dual=False, got dual=True"),
        (
            {"solver": "liblinear", "l1_ratio": 0.5},
            "Only 'saga' solver supports elasticnet penalty, got solver=liblinear.",
        ),
        (
            {"solver": "liblinear", "C": np.inf},
            "C=np.inf as well as penalty=None is not supported for the liblinear solver",
        ),
        (
            {"solver": "liblinear"},
            "The 'liblinear' solver does not support multiclass classification",
        ),
        ({"solver": "gd", "l1_ratio": 1}, "Solver gd supports only 'l2' or None penalties"),
    ],
)
def test_scikit_learns_solver_penalty_errors(params, message):
    X, y = _iris()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LogisticRegression(**params).fit(X, y)


def test_n_jobs_warns_as_scikit_learn_and_max_iter_zero_returns_the_start():
    X, y = _iris()
    with pytest.warns(FutureWarning, match="'n_jobs' has no effect since 1.8"):
        LogisticRegression(n_jobs=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="Newton solver did not converge after 0"):
        model = LogisticRegression(solver="newton-cholesky", max_iter=0).fit(X, y)
    assert model.n_iter_.tolist() == [0]
    assert not model.coef_.any() and not model.intercept_.any()
    np.testing.assert_allclose(model.predict_proba(X[:2]), np.full((2, 3), 1 / 3))


def test_sparsify_and_densify_keep_the_predictions():
    X, y = _iris()
    model = LogisticRegression(l1_ratio=1.0, C=0.1).fit(X, y)
    dense_scores = model.decision_function(X)
    assert (model.coef_ == 0).sum() >= 3
    model.sparsify()
    assert sp.issparse(model.coef_)
    np.testing.assert_allclose(model.decision_function(X), dense_scores)
    assert model.densify().coef_.__class__ is np.ndarray
    np.testing.assert_allclose(model.decision_function(X), dense_scores)


def test_a_sparsified_model_saves_exports_and_reports_as_the_dense_one(tmp_path):
    """save, ONNX export and statistical inference read coef_ after sparsify() (a scipy
    matrix) as its dense values: the loaded model and the ONNX graph give the same
    probabilities (save had failed with a shapes error, the export with a NumPy one)."""
    import onnxruntime

    from softmaxreg import inference

    X, y = _iris()
    model = LogisticRegression(l1_ratio=1.0, C=0.1).fit(X, y).sparsify()
    expected = model.predict_proba(X)
    model.save(tmp_path / "model.safetensors")
    loaded = LogisticRegression.load(tmp_path / "model.safetensors")
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    assert (loaded.coef_ == 0).sum() == np.prod(model.coef_.shape) - model.coef_.nnz
    session = onnxruntime.InferenceSession(model.to_onnx().SerializeToString())
    name = session.get_inputs()[0].name
    onnx_probabilities = session.run(None, {name: X})[-1]
    np.testing.assert_allclose(onnx_probabilities, expected, atol=1e-5)
    binary = LogisticRegression(C=np.inf).fit(X[:, :2], y == 1)
    dense_table = inference.inference(binary, X[:, :2], y == 1).summary_frame()
    sparse_table = inference.inference(binary.sparsify(), X[:, :2], y == 1).summary_frame()
    pd.testing.assert_frame_equal(sparse_table, dense_table)


def test_multi_label_tag_only_where_multi_label_fits_work():
    assert LogisticRegression().__sklearn_tags__().classifier_tags.multi_label
    assert (
        not LogisticRegression(class_weight="balanced")
        .__sklearn_tags__()
        .classifier_tags.multi_label
    )
    assert (
        not LogisticRegression(multi_class="multinomial")
        .__sklearn_tags__()
        .classifier_tags.multi_label
    )


# scikit-learn 1.9 supports callbacks with solver='lbfgs' only; softmaxreg with every solver
@pytest.mark.parametrize(
    "params",
    [
        {"solver": "lbfgs"},
        {"solver": "newton-cholesky"},
        {"solver": "saga", "l1_ratio": 1.0},
        {"solver": "sgd", "random_state": 0},
    ],
    ids=lambda params: params["solver"],
)
def test_scikit_learn_callbacks_see_every_iteration_with_a_fitted_estimator(params):
    X, y = _iris()
    recorder = RecordingCallback()
    model = LogisticRegression(**params).set_callbacks(recorder).fit(X, y)
    n_iter = int(model.n_iter_[0])
    ends = [
        r
        for r in recorder.record
        if r["name"] == "on_fit_task_end" and r["context"].task_name == "iter"
    ]
    assert len(ends) == n_iter + 1  # and the last, empty task
    after_two = ends[1]["kwargs"]["fitted_estimator"]
    with pytest.warns(ConvergenceWarning):
        two = LogisticRegression(**params, max_iter=2).fit(X, y)
    np.testing.assert_allclose(after_two.coef_, two.coef_)
    np.testing.assert_array_equal(after_two.predict(X), two.predict(X))
    assert ends[-1]["kwargs"]["fitted_estimator"] is None
    assert recorder.count_hooks("setup") == recorder.count_hooks("teardown") == 1


# solver x penalty combinations that are valid, each through all of check_estimator
VALID_COMBINATIONS = [
    {"solver": "lbfgs"},
    {"solver": "newton-cg", "class_weight": "balanced"},
    {"solver": "newton-cholesky", "C": np.inf},
    {"solver": "sag", "class_weight": "balanced"},
    {"solver": "saga", "l1_ratio": 1.0},
    {"solver": "saga", "l1_ratio": 0.5, "class_weight": "balanced"},
    {"solver": "liblinear", "l1_ratio": 1.0, "multi_class": "ovr"},
    # liblinear's dual rule (largest dual derivative <= tol) at 1e-4 stops a weighted and
    # the row-repeated problem (different duals) ~1e-5 apart in predict_proba; the sample
    # weight checks want 1e-7, which tol=1e-8 gives
    {"solver": "liblinear", "dual": True, "multi_class": "ovr", "tol": 1e-8},
    {"solver": "auto", "l1_ratio": 0.3, "multi_class": "ovr"},
    {"solver": "gd"},
    {"solver": "sgd"},
    {"solver": "sample-sgd"},
]
# marked the way scikit-learn marks its own SGDClassifier, with the reason
MINIBATCH_EXPECTED_FAILURES = {
    "check_sample_weight_equivalence_on_dense_data": "SGD (minibatch or per sample) steps "
    "through rows: repeated rows are separate steps, not one weighted step, so its iterates "
    "differ",
    "check_sample_weight_equivalence_on_sparse_data": "SGD (minibatch or per sample) steps "
    "through rows: repeated rows are separate steps, not one weighted step, so its iterates "
    "differ",
}


# plain steepest descent crawls on this check's data: after max_iter=1000 steps (even at
# tol=1e-8) it is still far enough from the optimum that the weighted and the repeated fits
# stop at different points (measured: 4e-6 apart in predict_proba; the check wants 1e-7)
GRADIENT_DESCENT_EXPECTED_FAILURES = {
    name: "steepest descent stops short of the optimum within max_iter, so weighted and "
    "repeated rows stop at different points"
    for name in (
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weight_equivalence_on_sparse_data",
    )
}


@pytest.mark.slow
@pytest.mark.parametrize("params", VALID_COMBINATIONS, ids=lambda p: "-".join(map(str, p.values())))
def test_check_estimator_for_every_valid_solver_and_penalty(params, monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    expected = {
        "sgd": MINIBATCH_EXPECTED_FAILURES,
        "sample-sgd": MINIBATCH_EXPECTED_FAILURES,
        "gd": GRADIENT_DESCENT_EXPECTED_FAILURES,
    }.get(params["solver"], {})
    with warnings.catch_warnings():
        # the checks fit tiny sets for a few iterations; unpenalised on them, newton-cholesky
        # meets singular Hessians and finishes with lbfgs (its warning: test_newton_cholesky)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", LinAlgWarning)
        results = check_estimator(
            LogisticRegression(**params),
            on_fail=None,
            on_skip=None,
            expected_failed_checks=expected,
        )
    not_passed = [
        (r["check_name"], r["status"], repr(r["exception"])[:200])
        for r in results
        if r["status"] not in ("passed", "xfail")
    ]
    assert len(results) >= 60
    assert not_passed == []
    assert {r["check_name"] for r in results if r["status"] == "xfail"} == set(expected)


def _objective(model, X, y, C):
    """``C * sum_i CE_i + 0.5 ||W||^2`` in float64 NumPy, independent of both libraries."""
    Z = X @ model.coef_.T + model.intercept_
    index = np.searchsorted(model.classes_, y)
    if Z.shape[1] == 1:
        losses = np.logaddexp(0.0, Z[:, 0]) - (index == 1) * Z[:, 0]
    else:
        top = Z.max(axis=1)
        losses = top + np.log(np.exp(Z - top[:, None]).sum(axis=1)) - Z[np.arange(len(Z)), index]
    return C * losses.sum() + 0.5 * (model.coef_**2).sum()


@pytest.mark.parametrize(("name", "C"), [("iris", 150.0), ("wine", 1.0), ("breast_cancer", 1.0)])
def test_defaults_stop_at_least_as_close_to_the_optimum_as_scikit_learns(name, C):
    from sklearn import datasets
    from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours = LogisticRegression(C=C).fit(X, y)
    theirs = SklearnLogisticRegression(C=C).fit(X, y)
    assert _objective(ours, X, y, C) <= _objective(theirs, X, y, C)
    if len(ours.classes_) > 2:  # the L2 optimum has sum_k w_k = 0 for every feature
        np.testing.assert_allclose(ours.coef_.sum(axis=0), 0.0, atol=1e-12)
