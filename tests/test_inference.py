"""``softmaxreg.inference``: parity with statsmodels' Logit / MNLogit, and its refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_iris

import softmaxreg
from softmaxreg import LogisticRegression
from softmaxreg.bench.synthetic import synthetic_arrays
from softmaxreg.errors import (
    DataError,
    InferenceError,
    PerfectSeparationError,
    SingularHessianError,
)

sm = pytest.importorskip("statsmodels.api")

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUANTITIES = ("params", "bse", "pvalues", "llf", "llnull", "prsquared", "aic", "bic")
TIGHT = {"C": np.inf, "tol": 1e-10, "max_iter": 10_000, "dtype": "float64"}


def _rel(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return float(np.max(np.abs(ours - theirs) / np.abs(theirs)))


def _standardized(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


def _assert_parity(ours, theirs, tolerance=1e-6):
    for name in QUANTITIES:
        assert _rel(getattr(ours, name), getattr(theirs, name)) < tolerance, name
    # statsmodels: (k, 2) for Logit, (J-1, k, 2) for MNLogit, equation-major like ours
    theirs_interval = np.asarray(theirs.conf_int()).reshape(-1, 2)
    assert _rel(ours.conf_int(), theirs_interval) < tolerance


def _statsmodels(model_class, y, X, **fit):
    return model_class(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-14, **fit)


def test_binary_parity_with_statsmodels_logit_on_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = _standardized(X[:, [0, 1, 4, 8]])
    ours = softmaxreg.inference(LogisticRegression(**TIGHT).fit(X, y), X, y)
    theirs = _statsmodels(sm.Logit, y, X)
    _assert_parity(ours, theirs)
    assert list(ours.params.index) == ["const", "x1", "x2", "x3", "x4"]
    assert ours.df_model == theirs.df_model and ours.df_resid == theirs.df_resid
    assert ours.llr == pytest.approx(theirs.llr, rel=1e-6)


def test_multinomial_parity_with_statsmodels_mnlogit_on_iris():
    X, y = load_iris(return_X_y=True)
    X = _standardized(X[:, :1])  # with two features setosa is separated (see below)
    ours = softmaxreg.inference(LogisticRegression(**TIGHT).fit(X, y), X, y)
    _assert_parity(ours, _statsmodels(sm.MNLogit, y, X))
    assert list(ours.params.columns) == ["1", "2"] and ours.reference == "0"


def test_binary_parity_on_iris_versicolor_against_virginica():
    X, y = load_iris(return_X_y=True)
    X, y = _standardized(X[y > 0]), y[y > 0]
    ours = softmaxreg.inference(LogisticRegression(**TIGHT).fit(X, y), X, y)
    _assert_parity(ours, _statsmodels(sm.Logit, (y == 2).astype(int), X))


def test_frequency_weights_equal_repeated_rows_and_hc0_equals_statsmodels():
    X, y = synthetic_arrays(400, 3, 4, seed=1)
    X = X.astype(np.float64)
    counts = np.random.default_rng(0).integers(0, 4, size=400)
    model = LogisticRegression(**TIGHT).fit(X, y, sample_weight=counts)
    X_repeated, y_repeated = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    ours = softmaxreg.inference(model, X, y, sample_weight=counts)
    _assert_parity(ours, _statsmodels(sm.MNLogit, y_repeated, X_repeated))
    assert ours.nobs == counts.sum()
    robust = softmaxreg.inference(model, X, y, sample_weight=counts, cov_type="HC0")
    theirs = _statsmodels(sm.MNLogit, y_repeated, X_repeated, cov_type="HC0")
    assert _rel(robust.bse, theirs.bse) < 1e-6
    hc1 = softmaxreg.inference(model, X, y, sample_weight=counts, cov_type="HC1")
    factor = counts.sum() / (counts.sum() - 12)  # n / (n - k), 3 equations x 4 parameters
    np.testing.assert_allclose(hc1.cov_params(), robust.cov_params() * factor, rtol=1e-12)


def test_each_one_vs_rest_model_matches_its_own_logit():
    X, y = synthetic_arrays(300, 3, 3, seed=2)
    X = X.astype(np.float64)
    labels = np.array(["a", "b", "c"])[y]
    results = softmaxreg.inference(
        LogisticRegression(multi_class="ovr", **TIGHT).fit(X, labels), X, labels
    )
    assert list(results) == ["a", "b", "c"]
    for k, label in enumerate("abc"):
        _assert_parity(results[label], _statsmodels(sm.Logit, (y == k).astype(int), X))
        assert results[label].reference == f"not {label}"


def test_names_odds_ratios_and_summary_without_intercept():
    X, y = synthetic_arrays(300, 3, 3, seed=2)
    frame = pd.DataFrame(X.astype(np.float64), columns=["age", "dose", "bmi"])
    labels = np.array(["hi", "lo", "mid"])[y]
    model = LogisticRegression(fit_intercept=False, **TIGHT).fit(frame, labels)
    ours = softmaxreg.inference(model, frame, labels)
    theirs = sm.MNLogit(y, frame).fit(disp=0, method="newton", tol=1e-14)
    for name in QUANTITIES:
        assert _rel(getattr(ours, name), getattr(theirs, name)) < 1e-6, name
    assert list(ours.params.index) == ["age", "dose", "bmi"]
    assert list(ours.params.columns) == ["lo", "mid"] and ours.reference == "hi"
    np.testing.assert_allclose(ours.odds_ratios, np.exp(ours.params), rtol=1e-15)
    np.testing.assert_allclose(ours.odds_ratios_conf_int(0.1), np.exp(ours.conf_int(0.1)))
    table = ours.summary_frame(alpha=0.1)
    assert list(table.columns) == [
        "coef",
        "std err",
        "z",
        "P>|z|",
        "[0.05",
        "0.95]",
        "odds ratio",
        "OR [0.05",
        "OR 0.95]",
    ]
    assert table.index.tolist()[:2] == [("lo", "age"), ("lo", "dose")]
    np.testing.assert_allclose(table["0.95]"], ours.conf_int(0.1)["upper"])
    text = str(ours.summary())
    assert "MNLogit (softmaxreg)" in text and "reference class" in text
    assert f"{ours.llf:.6g}" in text and "mid   age" in text


def test_penalised_binary_uses_the_penalised_hessian_and_says_so():
    X, y = synthetic_arrays(300, 3, 3, seed=2)
    X, y = X.astype(np.float64), (y == 1).astype(int)
    model = LogisticRegression(C=0.5, tol=1e-10, dtype="float64").fit(X, y)
    ours = softmaxreg.inference(model, X, y)
    params = np.concatenate([model.intercept_, model.coef_[0]])
    information = -sm.Logit(y, sm.add_constant(X)).hessian(params) + np.diag([0, 2, 2, 2])
    np.testing.assert_allclose(ours.cov_params(), np.linalg.inv(information), rtol=1e-10)
    assert "Note: penalised fit (C=0.5): the covariance is the inverse of the penalised" in str(
        ours.summary()
    )


def test_penalised_multinomial_is_refused():
    X, y = synthetic_arrays(100, 3, 3, seed=2)
    with pytest.raises(InferenceError) as caught:
        softmaxreg.inference(LogisticRegression().fit(X, y), X, y)
    assert str(caught.value) == (
        "inference for a penalised multinomial fit (penalty='l2') is not offered: refit with "
        "C=np.inf for the maximum-likelihood estimate (statsmodels' MNLogit), or use "
        "multi_class='ovr' for penalised binary models"
    )


def test_complete_separation_names_the_features():
    X, _ = synthetic_arrays(300, 3, 3, seed=2)
    X = X.astype(np.float64)
    y = (X[:, 1] > 0).astype(int)
    model = LogisticRegression(C=np.inf, max_iter=1000, dtype="float64").fit(X, y)
    with pytest.raises(PerfectSeparationError) as caught:
        softmaxreg.inference(model, X, y)
    message = str(caught.value)
    assert message.startswith(
        "perfect separation: the fitted model classifies all 300 samples correctly, so the "
        "maximum-likelihood estimate does not exist (its coefficients grow without bound); "
        "features with the largest standardised coefficients: x2, "
    )


def test_a_separated_class_is_named():
    X, y = load_iris(return_X_y=True)
    X = _standardized(X[:, :2])
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LogisticRegression(**TIGHT).fit(X, labels)
    with pytest.raises(PerfectSeparationError) as caught:
        softmaxreg.inference(model, X, labels)
    assert str(caught.value) == (
        "perfect separation: the features separate class 'setosa' from the other classes (a "
        "separating direction uses x1, x2), so the maximum-likelihood estimate does not exist; "
        "drop or merge those features, or merge the class with another"
    )


def test_collinear_and_constant_features_give_a_singular_hessian_error():
    X, y = synthetic_arrays(300, 3, 2, seed=3)
    X = X.astype(np.float64)
    collinear = np.column_stack([X, X[:, 0] - X[:, 2]])
    model = LogisticRegression(**TIGHT).fit(collinear, y)
    with pytest.raises(SingularHessianError) as caught:
        softmaxreg.inference(model, collinear, y)
    message = str(caught.value)
    assert message.startswith("the Hessian is singular (smallest / largest eigenvalue ")
    assert "the parameters x1, x3, x4 are not identified" in message
    constant = np.column_stack([X, np.zeros(300)])
    model = LogisticRegression(**TIGHT).fit(constant, y)
    with pytest.raises(SingularHessianError) as caught:
        softmaxreg.inference(model, constant, y)
    assert str(caught.value) == (
        "the Hessian is singular: no curvature in x4 (a feature that is zero for every sample "
        "with weight, or a class without samples); drop it"
    )


def test_the_hessian_memory_limit_is_a_parameter():
    X, y = synthetic_arrays(100, 3, 3, seed=2)
    model = LogisticRegression(**TIGHT).fit(X, y)
    with pytest.raises(InferenceError) as caught:
        softmaxreg.inference(model, X, y, max_hessian_bytes=1000)
    assert str(caught.value) == (
        "the Hessian has 8 x 8 entries; inference needs 1536 bytes (0.00 GiB: Hessian, "
        "eigenvectors and covariance in float64), more than max_hessian_bytes=1000; pass "
        "max_hessian_bytes=1536 or more, or use fewer features or classes"
    )
    assert softmaxreg.inference(model, X, y, max_hessian_bytes=1536).k_params == 8


def test_sparse_input_gives_the_dense_result():
    X, y = synthetic_arrays(200, 4, 3, seed=4)
    X = X.astype(np.float64)
    X[X < 0.3] = 0.0
    model = LogisticRegression(**TIGHT).fit(X, y)
    dense = softmaxreg.inference(model, X, y, cov_type="HC0")
    sparse = softmaxreg.inference(model, sp.csr_matrix(X), y, cov_type="HC0")
    np.testing.assert_allclose(sparse.cov_params(), dense.cov_params(), rtol=1e-12)


def test_bad_input_is_refused_with_one_line():
    X, y = synthetic_arrays(100, 3, 3, seed=2)
    model = LogisticRegression(**TIGHT).fit(X, y)
    with pytest.raises(DataError, match=r"^y holds labels \['7'\] that are not classes of the "):
        softmaxreg.inference(model, X, np.where(y == 0, 7, y))
    with pytest.raises(ValueError, match=r"^cov_type must be one of \('nonrobust', 'HC0', "):
        softmaxreg.inference(model, X, y, cov_type="HC3")
    multilabel = LogisticRegression().fit(X, np.column_stack([y == 0, y == 1]).astype(int))
    with pytest.raises(InferenceError, match="^inference covers binary, multinomial and one-vs"):
        softmaxreg.inference(multilabel, X, y)
    model.coef_ = np.full_like(model.coef_, np.nan)
    with pytest.raises(InferenceError) as caught:
        softmaxreg.inference(model, X, y)
    assert str(caught.value) == (
        "the model's coef_ or intercept_ holds NaN or inf (a diverged fit)"
    )


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_inference_on_the_gpu_equals_the_cpu():
    X, y = synthetic_arrays(500, 4, 3, seed=5)
    X = X.astype(np.float64)
    cpu = LogisticRegression(**TIGHT).fit(X, y)
    gpu = LogisticRegression(device="cuda", **TIGHT).fit(X, y)
    gpu.coef_, gpu.intercept_ = cpu.coef_, cpu.intercept_
    np.testing.assert_allclose(
        softmaxreg.inference(gpu, X, y).cov_params(),
        softmaxreg.inference(cpu, X, y).cov_params(),
        rtol=1e-9,
    )


def test_evaluate_inference_prints_the_table_of_the_library(tmp_path, capsys):
    from conftest import run_cli

    from softmaxreg import io
    from softmaxreg.batch_predict import rows_in_feature_order
    from softmaxreg.datasets import load_dataset

    assert run_cli("train", "toy", "--solver", "lbfgs", "--C", "10", "--out", tmp_path, "-q") == 0
    capsys.readouterr()
    assert run_cli("evaluate", tmp_path, "toy", "--inference") == 0
    printed = capsys.readouterr().out
    data = load_dataset("toy")
    model = io.load(tmp_path / "model.safetensors")
    with rows_in_feature_order():  # the data set's arrays, in the model's feature order
        expected = softmaxreg.inference(model, data.X_test, data.y_test).summary()
    assert str(expected) in printed
    assert "Note: penalised fit (C=10)" in printed
    # the training report's coefficient plot (inference on the training part)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "coefficients with confidence intervals" in html
    with Image.open(tmp_path / "coefficients.png") as picture:
        assert picture.size == (600, 204)  # 6 x (1.2 + 0.28 * 3) inches at dpi 100


def test_coefficient_figure_checks_its_arrays(tmp_path):
    from softmaxreg.report import coefficient_figure

    coef = np.array([[0.5, -1.0], [2.0, 0.1]])
    path = coefficient_figure(
        coef,
        coef - 1,
        coef + 1,
        tmp_path / "c.png",
        parameter_names=["const", "dose"],
        class_names=["b vs a", "c vs a"],
    )
    with Image.open(path) as picture:
        assert picture.size == (720, 176)  # 2 panels x 3.6 inches, 1.2 + 0.28 * 2 inches
    with pytest.raises(DataError, match="^every interval must contain its coefficient: lower "):
        coefficient_figure(
            coef, coef + 1, coef + 2, tmp_path / "d.png", parameter_names=["const", "dose"]
        )
    assert not (tmp_path / "d.png").exists()


def test_evaluate_inference_refusal_is_one_line(tmp_path, capsys):
    from conftest import run_cli

    # the lecture's iris features (sepal width, petal width) separate setosa from the others;
    # the CLI's default fit is unpenalised and stops at tol 1e-4, short of the certainty
    assert run_cli("train", "iris", "--solver", "lbfgs", "--out", tmp_path, "-q") == 0
    capsys.readouterr()
    assert run_cli("evaluate", tmp_path, "iris", "--inference") == 1
    error = capsys.readouterr().err
    assert error.startswith(
        "error: perfect separation: the features separate class 'Iris-setosa' from "
    )
    assert error.count("\n") == 1 and "Traceback" not in error


def test_inference_bench_quick_form_agrees_with_statsmodels():
    from softmaxreg.bench.inference_comparison import format_table, run_benchmark, run_one

    started = []
    payload = run_benchmark(1000, on_start=started.append, runner=run_one)  # in this process
    assert started == ["statsmodels-mnlogit", "softmaxreg"]
    differences = payload["max_rel_diff"]
    assert differences["llf"] < 1e-9 and differences["llnull"] < 1e-9
    assert differences["bse"] < 1e-4 and differences["params_in_bse"] < 1e-3
    ratio = payload["speedup_softmaxreg_vs_statsmodels"]
    seconds = [
        payload["results"][name]["seconds"] for name in ("statsmodels-mnlogit", "softmaxreg")
    ]
    assert ratio == seconds[0] / seconds[1]
    assert f"speedup softmaxreg vs statsmodels: {ratio:.2f}x" in format_table(payload)


def test_inference_bench_command_prints_the_table_and_writes_json(tmp_path, capsys):
    import json

    from conftest import run_cli

    target = tmp_path / "inference.json"
    assert run_cli("bench", "--suite", "inference", "--rows", "1000", "--json", target) == 0
    assert "speedup softmaxreg vs statsmodels:" in capsys.readouterr().out
    payload = json.loads(target.read_text())
    assert set(payload["results"]) == {"statsmodels-mnlogit", "softmaxreg"}
    assert payload["max_rel_diff"]["llf"] < 1e-9


def test_bench_refuses_an_unknown_suite(capsys):
    from conftest import run_cli

    assert run_cli("bench", "--suite", "nope") == 2
    assert "unknown suite 'nope'; choose from mnist, inference" in capsys.readouterr().err


def test_readme_inference_example_runs_and_matches_statsmodels(capsys):
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Statistical inference", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert "Logit (softmaxreg)" in capsys.readouterr().out
    X, y = namespace["X"], namespace["data"].target
    theirs = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-14)
    _assert_parity(namespace["result"], theirs)
    assert list(namespace["frame"].index) == ["const", *X.columns]


def test_evaluate_inference_warns_that_an_sgd_run_is_not_at_the_optimum(tmp_path, capsys):
    from conftest import run_cli

    assert run_cli("train", "toy", "--epochs", "2", "--out", tmp_path, "-q", "--no-report") == 0
    capsys.readouterr()
    assert run_cli("evaluate", tmp_path, "toy", "--inference") == 0
    assert capsys.readouterr().err == (
        "warning: this model was fitted by sgd, which stops after its epochs, not at the "
        "optimum the standard errors and tests assume; refit with --solver lbfgs (or "
        "newton-cg) for exact inference\n"
    )
