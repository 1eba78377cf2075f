"""ONNX export: the graph, run in onnxruntime, gives the estimator's labels and probabilities."""

from __future__ import annotations

import itertools
import json
import os
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from softmaxreg import LogisticRegression
from softmaxreg.errors import ModelFileError
from softmaxreg.onnx_export import export_onnx, input_dtype, to_onnx
from softmaxreg.preprocessing import apply, standardization


def _run(onnx_model: onnx.ModelProto, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    label, probabilities = session.run(["label", "probabilities"], {"X": X})
    return label, probabilities


def _data(seed: int = 0, n: int = 300, m: int = 6) -> tuple[np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, m)).astype(np.float32), rng


def _labels_for(X, rng, n_classes: int) -> np.ndarray:
    score = X @ rng.normal(size=(X.shape[1], n_classes))
    return np.argmax(score + rng.gumbel(size=score.shape), axis=1)


CASES = {
    # name: (multi_class, labels per class index or None for multi-label, expected kind_)
    "binary-int": ("auto", np.array([0, 1]), "binary"),
    "binary-str": ("auto", np.array(["spam", "ham"]), "binary"),
    "binary-bool": ("auto", np.array([False, True]), "binary"),
    "binary-softmax": ("multinomial", np.array([3, 7]), "multinomial"),
    "multinomial-int": ("auto", np.array([4, 1, 9, 2]), "multinomial"),
    "multinomial-str": ("auto", np.array(["cat", "dog", "bird", "äö"]), "multinomial"),
    "multinomial-float": ("auto", np.array([1.0, 2.0, 4.0, 8.0]), "multinomial"),
    "multinomial-object-str": ("auto", ["x", "yy", "zzz"], "multinomial"),
    "ovr-int": ("ovr", np.array([0, 1, 2, 3, 4]), "ovr"),
    "ovr-str": ("ovr", np.array(["a", "b", "c"]), "ovr"),
    "multilabel": ("auto", None, "multilabel"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_onnx_matches_predict_and_predict_proba(case):
    multi_class, labels, kind = CASES[case]
    X, rng = _data(seed=len(case))
    if labels is None:
        y = (X[:, :4] + rng.normal(size=(len(X), 4)) > 0).astype(np.int64)
    else:
        indices = _labels_for(X, rng, len(labels))
        y = (
            np.asarray(labels, dtype=object)[indices]
            if isinstance(labels, list)
            else labels[indices]
        )
    model = LogisticRegression(multi_class=multi_class).fit(X, y)
    assert model.kind_ == kind
    expected = model.predict(X)
    # predict_proba rounds its float64 result to the input dtype, as the float32 graph does:
    # the two float32 answers agree to a few units in the last place
    for dtype, tolerance in (("float32", FLOAT32_GRAPH_ATOL), ("float64", 1e-15)):
        onnx_model = to_onnx(model, dtype=dtype)
        onnx.checker.check_model(onnx_model, full_check=True)
        label, probabilities = _run(onnx_model, X.astype(dtype))  # float32 data: exact in both
        assert probabilities.dtype == dtype
        reference = model.predict_proba(X.astype(dtype))
        assert probabilities.shape == reference.shape
        np.testing.assert_allclose(probabilities, reference, rtol=0, atol=tolerance)
        assert label.shape == expected.shape
        assert label.tolist() == expected.tolist()
    if kind != "multilabel":
        assert len(set(label.tolist())) > 1  # both / several classes are predicted
    # strings come back as strings, numbers with their values
    assert {type(v) for v in label.ravel().tolist()} == {type(v) for v in expected.ravel().tolist()}


def test_graph_interface_and_metadata():
    X, rng = _data(1)
    X = X.astype(np.float64)
    y = np.array(["no", "yes"])[_labels_for(X, rng, 2)]
    model = LogisticRegression().fit(X, y)
    onnx_model = to_onnx(model)
    graph = onnx_model.graph
    assert [value.name for value in graph.input] == ["X"]
    assert [value.name for value in graph.output] == ["label", "probabilities"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == X.shape[1]
    # fitted on float64 data with dtype=None: float64 in and out, like decision_function
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert graph.output[1].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.STRING
    props = {prop.key: prop.value for prop in onnx_model.metadata_props}
    assert props["kind"] == "binary" and props["n_features"] == str(X.shape[1])
    assert json.loads(props["classes"])["$ndarray"][2] == ["no", "yes"]
    assert {node.domain for node in graph.node} == {""}  # standard operators only


def test_export_writes_the_file_atomically(tmp_path):
    X, rng = _data(2)
    model = LogisticRegression().fit(X, _labels_for(X, rng, 3))
    path = export_onnx(model, tmp_path / "model.onnx", dtype="float32")
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]
    label, probabilities = _run(onnx.load(path), X)
    np.testing.assert_allclose(
        probabilities, model.predict_proba(X), rtol=0, atol=FLOAT32_GRAPH_ATOL
    )
    assert np.array_equal(label, model.predict(X))


def test_preprocessing_is_built_into_the_graph():
    X, rng = _data(3)
    raw = (X * 40 + 100).astype(np.float32)
    spec = standardization(raw.mean(axis=0), raw.std(axis=0))
    y = _labels_for(X, rng, 3)
    model = LogisticRegression().fit(apply(raw, spec), y)
    model.preprocessing_ = spec  # as softmaxreg.load sets it from the model file
    label, probabilities = _run(to_onnx(model, dtype="float32"), raw)
    prepared = apply(raw, spec)
    np.testing.assert_allclose(
        probabilities, model.predict_proba(prepared), rtol=0, atol=FLOAT32_GRAPH_ATOL
    )
    assert np.array_equal(label, model.predict(prepared))
    prepared64 = prepared.astype(np.float64)
    _, without = _run(to_onnx(model, preprocessing=None, dtype="float64"), prepared64)
    np.testing.assert_allclose(without, model.predict_proba(prepared64), rtol=0, atol=1e-15)
    with pytest.raises(ModelFileError, match="one per feature"):
        to_onnx(model, preprocessing={"scale": [1.0, 2.0]})
    with pytest.raises(ModelFileError, match="'shift' and/or 'scale'"):
        to_onnx(model, preprocessing={"log": True})


def test_unexportable_models_are_refused():
    with pytest.raises(ModelFileError, match="not fitted"):
        to_onnx(LogisticRegression())
    X, rng = _data(4)
    model = LogisticRegression().fit(X, _labels_for(X, rng, 3))
    model.classes_ = np.array([1, "two", 3.5], dtype=object)  # labels of three types
    with pytest.raises(ModelFileError, match="mixed types .*float, int, str"):
        to_onnx(model)


@pytest.mark.mnist
def test_mnist_model_in_onnxruntime():
    if not os.environ.get("SOFTMAXREG_DATA"):
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it)")
    from softmaxreg.datasets import load_mnist

    X_train, y_train = load_mnist("train", download=False)
    X_test, y_test = load_mnist("test", download=False)
    spec = {"shift": 0.0, "scale": 1 / 255}
    train = apply(X_train[:10000].astype(np.float32), spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a quick fit: two epochs do not converge
        model = LogisticRegression(
            solver="sgd", max_iter=2, batch_size=256, learning_rate=0.1, random_state=0
        ).fit(train, y_train[:10000])
    model.preprocessing_ = spec
    pixels = X_test.astype(np.float32)  # raw 0..255: the graph scales them itself
    label, probabilities = _run(to_onnx(model, dtype="float32"), pixels)
    expected = model.predict_proba(apply(pixels, spec))
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-6)
    assert np.array_equal(label, model.predict(apply(pixels, spec)))
    assert np.mean(label == y_test) > 0.8  # a working classifier, not a lucky one


def test_estimator_to_onnx_method_gives_the_same_graph_as_the_function():
    X = np.random.default_rng(4).normal(size=(40, 3))
    model = LogisticRegression().fit(X, np.arange(40) % 3)
    assert model.to_onnx().SerializeToString() == to_onnx(model).SerializeToString()


# ---------------------------------------------------------------------------------------------
# Issue 11: the graph agrees with predict_proba for every finite input, in float32 and float64
# ---------------------------------------------------------------------------------------------

KINDS = ["binary", "multinomial", "ovr", "multilabel"]
EXTREME = {  # net inputs from "certainly not" to "certainly", per input dtype
    "float64": [-1e300, -1e4, -800.0, -745.0, -38.0, -37.0, -1.0, 0.0, 0.5, 38.0, 800.0, 1e300],
    "float32": [-1e38, -1e4, -800.0, -745.0, -38.0, -37.0, -1.0, 0.0, 0.5, 38.0, 800.0, 1e38],
}
# a float32 graph computes its softmax in float32, predict_proba in float64 rounded to
# float32 at the end: a few units in the last place apart (2 ulps, 1.2e-7, seen at 0.62)
FLOAT32_GRAPH_ATOL = 3e-7

TOLERANCE = {  # float32 graphs round the probabilities to float32 at the end
    "float64": {"rtol": 1e-12, "atol": 1e-300},
    "float32": {"rtol": 2e-7, "atol": 1e-45},
}


def _fitted(kind: str, n_features: int, n_classes: int) -> LogisticRegression:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, n_features))
    if kind == "multilabel":
        Y = (X[:, :1] + rng.normal(size=(60, n_classes)) > 0).astype(np.int64)
        return LogisticRegression().fit(X, Y)
    multi_class = "ovr" if kind == "ovr" else "auto"
    classes = 2 if kind == "binary" else n_classes
    return LogisticRegression(multi_class=multi_class).fit(X, _labels_for(X, rng, classes))


def _check_agreement(model, X, dtype) -> float:
    """Labels equal ``predict``; probabilities equal ``predict_proba``; the max difference."""
    label, probabilities = _run(to_onnx(model, dtype=dtype), X.astype(dtype))
    expected = model.predict_proba(X.astype(dtype))
    assert probabilities.dtype == dtype and np.all(np.isfinite(probabilities))
    np.testing.assert_allclose(probabilities, expected, **TOLERANCE[dtype])
    np.testing.assert_array_equal(label, model.predict(X.astype(dtype)))
    return float(np.abs(probabilities - expected).max())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_vs_rest_graph_of_the_issue_model_is_finite_below_minus_38(dtype):
    # coefficients [[0, -1]] * 3, intercepts [0, -1, -2]: scores -x2, -x2 - 1, -x2 - 2
    model = _fitted("ovr", 2, 3)
    model.coef_, model.intercept_ = np.array([[0.0, -1.0]] * 3), np.array([0.0, -1.0, -2.0])
    X = np.array([[0.0, 36.0], [0.0, 38.0], [0.0, 40.0], [0.0, 800.0], [0.0, -800.0]])
    _check_agreement(model, X, dtype)
    _, probabilities = _run(to_onnx(model, dtype=dtype), X.astype(dtype))
    np.testing.assert_allclose(probabilities[:4], [[0.6652, 0.2447, 0.09]] * 4, atol=5e-5)
    np.testing.assert_allclose(probabilities[4], [1 / 3] * 3, rtol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_graph_agrees_with_predict_proba_for_extreme_net_inputs(kind, dtype):
    width = 1 if kind == "binary" else 3
    model = _fitted(kind, width, 3)
    model.coef_, model.intercept_ = np.eye(width), np.zeros(width)  # z = x
    X = np.array(list(itertools.product(EXTREME[dtype], repeat=width)))
    _check_agreement(model, X, dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_graph_rescales_products_that_overflow_like_decision_function(kind):
    # 1e300 * 2e10 overflows; a row's inf - inf would be NaN without the rescaled branch
    width = 1 if kind == "binary" else 3
    model = _fitted(kind, 2 * width, 3)
    model.coef_ = np.hstack([2e10 * np.eye(width), -1e10 * np.eye(width)])
    X = np.array([[1e300] * 2 * width, [-1e300] * 2 * width, [1.0, -2.0] * width])
    _check_agreement(model, X, "float64")


def test_float64_graph_keeps_large_features_exact():
    # features 1e6 + x: float32 rounds them to multiples of 0.0625 and moves labels near z = 0
    rng = np.random.default_rng(11)
    X = 1e6 + rng.normal(size=(400, 3))
    model = _fitted("binary", 3, 2)
    model.coef_, model.intercept_ = np.array([[1.0, -1.0, 0.5]]), np.array([-5e5])
    assert to_onnx(model).graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    label, probabilities = _run(to_onnx(model), X)
    np.testing.assert_array_equal(label, model.predict(X))
    np.testing.assert_allclose(probabilities, model.predict_proba(X), rtol=1e-12, atol=1e-300)
    label32, _ = _run(to_onnx(model, dtype="float32"), X.astype(np.float32))
    assert np.sum(label32 != model.predict(X)) > 0  # why float64 is the default for this model


def test_input_dtype_follows_the_training_dtype_unless_given():
    X, rng = _data(6)
    y = _labels_for(X, rng, 3)
    float32_model = LogisticRegression(dtype="float32").fit(X, y)
    data_model = LogisticRegression().fit(X, y)  # dtype=None: the fit followed the data
    assert input_dtype(float32_model) == "float32"
    assert input_dtype(data_model) == "float64"
    assert input_dtype(float32_model, "float64") == "float64"
    assert input_dtype(data_model, np.float32) == "float32"
    with pytest.raises(ValueError) as raised:
        to_onnx(data_model, dtype="float16")
    assert str(raised.value) == "dtype must be None, 'float32' or 'float64', got 'float16'"
