"""What a model file may hold: every tensor entry, weight and metadata field is checked.

Crafted files (impossible tensor shapes, NaN weights, repeated labels, invalid parameters)
are refused with one ``ModelFileError`` naming the file, and ``save`` refuses the models
that would write them, before anything is written.
"""

from __future__ import annotations

import json
import struct
import warnings

import numpy as np
import pytest
from conftest import run_cli
from safetensors.numpy import save as safetensors_save
from test_io import _refused as refused_by_load

from softmaxreg import LogisticRegression, LogisticRegressionCV
from softmaxreg._model_file import (
    decode_model_file,
    metadata_sha256,
    metadata_text,
    weights_sha256,
)
from softmaxreg.errors import ModelFileError
from softmaxreg.io import load, read_metadata, save

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fitted(n_classes=2, fit_intercept=True, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 4)).astype(dtype)
    y = np.argmax(X[:, :n_classes] + rng.normal(scale=0.5, size=(90, n_classes)), axis=1)
    tol = 1e-6 if dtype == np.float64 else 1e-3
    return LogisticRegression(fit_intercept=fit_intercept, tol=tol).fit(X, y), X


_GOOD: dict[int, bytes] = {}


def _good_bytes(tmp_path, n_classes=2) -> bytes:
    if n_classes not in _GOOD:
        _GOOD[n_classes] = save(_fitted(n_classes)[0], tmp_path / "good.safetensors").read_bytes()
    return _GOOD[n_classes]


def _header(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def _with_header(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + body


def _rewrite(data: bytes, change) -> bytes:
    """``data`` after ``change(metadata, tensors)``, with both checksums recomputed, so that
    only the checks of the contents can refuse it."""
    tensors, metadata = decode_model_file(data)
    change(metadata, tensors)
    metadata["weights_sha256"] = weights_sha256(tensors)
    metadata["metadata_sha256"] = metadata_sha256(metadata)
    return safetensors_save(tensors, metadata={"softmaxreg": metadata_text(metadata)})


def _refused(tmp_path, data: bytes, message: str) -> str:
    text = refused_by_load(tmp_path, data, message)
    path = tmp_path / "bad.safetensors"
    assert text.startswith(repr(str(path))) and "\n" not in text
    # read_metadata (the server's and the command line's reader) makes the same checks
    with pytest.raises(ModelFileError, match=message):
        read_metadata(path)
    return text


# ------------------------------------------------------------------------------------------
# round trips still work
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3], ids=["binary", "multinomial"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
def test_round_trip(tmp_path, n_classes, fit_intercept):
    model, X = _fitted(n_classes, fit_intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load(save(model, tmp_path / "m.safetensors"))
    assert loaded.kind_ == ("binary" if n_classes == 2 else "multinomial")
    assert np.array_equal(loaded.coef_, model.coef_)
    assert np.array_equal(loaded.intercept_, model.intercept_)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert loaded.get_params() == model.get_params()
    assert loaded.loss_history_ == model.loss_history_


def test_float32_and_cuda_trained_models_round_trip(tmp_path):
    model, X = _fitted(3, dtype=np.float32)
    assert model.coef_.dtype == np.float32
    loaded = load(save(model, tmp_path / "m.safetensors"))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # a model trained on a GPU loads where there is none (or fewer): only the name is checked
    for device in ("cuda", "cuda:7"):
        model.set_params(device=device)
        assert load(save(model, tmp_path / "m.safetensors")).device == device


def test_deprecated_parameter_spellings_load_without_warnings(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), np.arange(60) % 2
    with pytest.warns(FutureWarning):
        model = LogisticRegression(penalty="l2", n_jobs=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load(save(model, tmp_path / "m.safetensors"))
    assert loaded.penalty == "l2" and loaded.n_jobs == 2


def test_cross_validated_model_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(80, 3)), np.arange(80) % 3
    model = LogisticRegressionCV(
        Cs=2, cv=2, l1_ratios=(0.0,), scoring=None, use_legacy_attributes=False
    ).fit(X, y)
    loaded = LogisticRegressionCV.load(save(model, tmp_path / "cv.safetensors"))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert np.array_equal(loaded.n_iter_, model.n_iter_)


# ------------------------------------------------------------------------------------------
# tensor entries are checked before anything is decoded
# ------------------------------------------------------------------------------------------


def _edited_entry(data: bytes, name: str, entry: dict | None) -> bytes:
    header, body = _header(data)
    if entry is None:
        del header[name]
    else:
        header[name] = entry
    return _with_header(header, body)


@pytest.mark.parametrize(
    ("name", "shape", "message"),
    [
        ("extra", [0, 2**64], "it holds a tensor named 'extra'; a model file holds only the "
         "tensors coef, intercept, loss_history"),
        ("extra", [0] * 100, "it holds a tensor named 'extra'"),
        ("loss_history", [0, 2**64], "tensor 'loss_history' has 2 dimensions, a model's "
         "loss_history has 1"),
        ("loss_history", [0] * 100, "tensor 'loss_history' has 100 dimensions"),
        ("coef", [0, 2**40, 2**40], "tensor 'coef' has 3 dimensions, a model's coef has 2"),
        ("coef", [], "tensor 'coef' has 0 dimensions"),
        ("intercept", [0, 1], "tensor 'intercept' has 2 dimensions, a model's intercept has 1"),
        ("coef", [0, 2**64], r"the empty tensor 'coef' has shape \(0, 18446744073709551616\), "
         r"a dimension larger than the \d+ F64 values its \d+ bytes of weights could hold"),
        ("coef", [0, 2**40], r"the empty tensor 'coef' has shape \(0, 1099511627776\)"),
        ("coef", [10**40, 0], r"the empty tensor 'coef' has shape \(about 2\*\*132, 0\)"),
        ("loss_history", [2**64], r"tensor 'loss_history' of shape \(18446744073709551616,\) "
         r"needs 147573952589676412928 bytes, its offsets span 0"),
        ("coef", [10**2000, 10**2000], r"tensor 'coef' of shape \(about 2\*\*6643, about "
         r"2\*\*6643\) needs about 2\*\*13290 bytes, its offsets span 0"),
    ],
)
def test_impossible_tensor_entries_are_refused(tmp_path, name, shape, message):
    model, _ = _fitted()
    model.loss_history_ = [3.0, 2.0]
    data = save(model, tmp_path / "m.safetensors").read_bytes()
    header, _ = _header(data)
    end = header["loss_history"]["data_offsets"][1]
    entry = {"dtype": "F64", "shape": shape, "data_offsets": [end, end]}
    text = _refused(tmp_path, _edited_entry(data, name, entry), "has a damaged header: " + message)
    assert len(text) < 400


def test_an_empty_loss_history_still_loads(tmp_path):
    model, X = _fitted()
    model.loss_history_ = []
    loaded = load(save(model, tmp_path / "m.safetensors"))
    assert loaded.loss_history_ == [] and np.array_equal(loaded.predict(X), model.predict(X))


# ------------------------------------------------------------------------------------------
# NaN and infinite weights
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("attribute", ["coef_", "intercept_"])
def test_save_refuses_non_finite_weights_and_writes_nothing(tmp_path, attribute, value):
    model, _ = _fitted(3)
    getattr(model, attribute).flat[1] = value
    name = attribute.rstrip("_")
    size = getattr(model, attribute).size
    target = tmp_path / "nan.safetensors"
    with pytest.raises(
        ModelFileError,
        match=rf"^cannot save LogisticRegression: the weights {name} hold 1 NaN or infinite "
        rf"value\(s\) of {size}; such a model gives NaN probabilities",
    ):
        save(model, target)
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_nan_float32_model(tmp_path):
    model, _ = _fitted(dtype=np.float32)
    model.coef_[:] = np.nan
    with pytest.raises(ModelFileError, match="the weights coef hold 4 NaN or infinite"):
        save(model, tmp_path / "nan.safetensors")


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("name", ["coef", "intercept"])
def test_load_refuses_crafted_non_finite_weights(tmp_path, name, value):
    def poison(_, tensors):
        tensors[name] = tensors[name].copy()
        tensors[name].flat[0] = value

    _refused(
        tmp_path,
        _rewrite(_good_bytes(tmp_path), poison),
        rf"bad.safetensors' the weights {name} hold 1 NaN or infinite value\(s\)",
    )


def test_serve_refuses_to_start_on_nan_weights(tmp_path, capsys):
    def poison(_, tensors):
        tensors["coef"] = np.full_like(tensors["coef"], np.nan)

    path = tmp_path / "nan.safetensors"
    path.write_bytes(_rewrite(_good_bytes(tmp_path), poison))
    assert run_cli("serve", path, "--port", "8766") == 1
    error = capsys.readouterr().err
    assert "nan.safetensors" in error and "NaN or infinite" in error
    assert "Traceback" not in error


# ------------------------------------------------------------------------------------------
# class labels, feature names, n_iter, metrics, n_features
# ------------------------------------------------------------------------------------------


def _set(field: str, value):
    return lambda metadata, _: metadata.update({field: value})


@pytest.mark.parametrize(
    ("classes", "n_classes", "shown"),
    [
        ({"$ndarray": ["<i8", [3], [0, 0, 2]]}, 3, "0"),
        ({"$ndarray": ["<U1", [2], ["a", "a"]]}, 2, "'a'"),
        ({"$ndarray": ["|O", [3], [1, {"$numpy": ["<i8", 2]}, 2]]}, 3, "2"),
        ({"$ndarray": ["|O", [3], [1, 1.0, 2]]}, 3, "1.0"),
    ],
    ids=["int", "str", "numpy-and-python", "int-and-float"],
)
def test_repeated_class_labels_are_refused(tmp_path, classes, n_classes, shown):
    _refused(
        tmp_path,
        _rewrite(_good_bytes(tmp_path, n_classes), _set("classes", classes)),
        rf"the class label {shown} appears more than once in the classes; each class has one "
        r"label \(a repeated label makes predictions ambiguous\)",
    )


def test_save_refuses_repeated_class_labels(tmp_path):
    model, _ = _fitted(3)
    model.classes_ = np.array([0, 0, 2])
    with pytest.raises(
        ModelFileError,
        match="^cannot save LogisticRegression: the class label 0 appears more than once",
    ):
        save(model, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ({"$ndarray": ["|O", [4], ["a", "b", "a", "c"]]}, "the feature name 'a' appears more "
         "than once; each feature has its own name"),
        ({"$ndarray": ["<U1", [4], ["x", "y", "z", "z"]]}, "the feature name 'z' appears more"),
        ({"$ndarray": ["<i8", [4], [1, 2, 3, 4]]}, r"the feature name 1 \(int\) is not a string"),
        ({"$ndarray": ["|O", [4], ["a", None, "b", "c"]]}, r"the feature name None \(NoneType\) "
         "is not a string; feature names are the training columns' names, as strings"),
        ({"$ndarray": ["|O", [4], ["a", {"$bytes": "YQ=="}, "b", "c"]]}, r"b'a' \(bytes\)"),
    ],
    ids=["repeated", "repeated-unicode-dtype", "ints", "None", "bytes"],
)
def test_unusable_feature_names_are_refused(tmp_path, names, message):
    _refused(tmp_path, _rewrite(_good_bytes(tmp_path), _set("feature_names", names)), message)


def test_save_refuses_repeated_feature_names(tmp_path):
    model, _ = _fitted()
    model.feature_names_in_ = np.array(["a", "b", "a", "c"], dtype=object)
    with pytest.raises(ModelFileError, match="^cannot save LogisticRegression: the feature name"):
        save(model, tmp_path / "m.safetensors")


@pytest.mark.parametrize(
    "n_iter",
    [
        "many",
        [3],
        {"$ndarray": ["<f8", [1], [3.0]]},
        {"$ndarray": ["<i4", [1], [-1]]},
        {"$numpy": ["<i4", -3]},
    ],
    ids=["str", "list", "floats", "negative", "negative-scalar"],
)
def test_unusable_n_iter_is_refused(tmp_path, n_iter):
    _refused(
        tmp_path,
        _rewrite(_good_bytes(tmp_path), _set("n_iter", n_iter)),
        r"n_iter must be null, an iteration count or an array of them \(integers >= 0\)",
    )


def test_metrics_that_are_not_a_dict_are_refused(tmp_path):
    _refused(
        tmp_path,
        _rewrite(_good_bytes(tmp_path), _set("metrics", [0.9])),
        r"metrics must be a dict such as \{'accuracy': 0.9\} or null, found \[0.9\]",
    )


def test_a_model_without_features_is_refused(tmp_path):
    def no_features(metadata, tensors):
        tensors["coef"] = np.zeros((1, 0))
        metadata["n_features"] = 0
        metadata["feature_names"] = None
        metadata["preprocessing"] = None

    _refused(
        tmp_path,
        _rewrite(_good_bytes(tmp_path), no_features),
        "a model has at least 1 feature, found n_features=0",
    )


# ------------------------------------------------------------------------------------------
# parameters: the estimator's own checks (those fit makes)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"device": "xyz"}, r"device must be 'cpu', 'cuda' or 'cuda:N', got 'xyz'"),
        ({"device": "mps"}, r"device must be 'cpu', 'cuda' or 'cuda:N', got 'mps'"),
        ({"dtype": "int8"}, r"dtype must be None, 'float32' or 'float64', got 'int8'"),
        ({"C": -1.0}, r"C must be a finite number > 0 or np.inf, got -1.0"),
        ({"C": {"$float": "nan"}}, r"C must be a finite number > 0 or np.inf, got nan"),
        ({"max_iter": -5}, r"max_iter must be an integer >= 0, got -5"),
        ({"solver": "magic"}, r"solver must be one of \[.*\], got 'magic'"),
        ({"tol": None}, r"tol=None \(no early stopping\) is only for the minibatch solvers"),
        ({"random_state": -1}, r"random_state must be an integer in \[0, 2\*\*32 - 1\]"),
    ],
    ids=["device", "device-mps", "dtype", "C", "C-nan", "max_iter", "solver", "tol", "seed"],
)
def test_invalid_parameters_are_refused(tmp_path, params, message):
    def edit(metadata, _):
        metadata["params"].update(params)

    _refused(
        tmp_path, _rewrite(_good_bytes(tmp_path), edit), "bad.safetensors' invalid "
        "parameters: " + message
    )


@pytest.mark.parametrize(
    ("class_weight", "message"),
    [
        ({"$dict": [[7, 2.0]]}, r"The classes, \[0, 1\], are not in class_weight \(class_weight "
         r"names \[7\], which are not classes of y; the classes are \[0, 1\]\)"),
        ({"$dict": [[0, -2.0]]}, r"class weights must be finite and >= 0, got \{0: -2.0\}"),
        ({"$dict": [[1, {"$float": "inf"}]]}, r"class weights must be finite and >= 0"),
        ("heavy", r"class_weight must be None, 'balanced' or a dict \{label: weight\}, got "
         r"'heavy'"),
    ],
    ids=["unknown-label", "negative", "infinite", "unknown-string"],
)
def test_class_weights_the_fit_would_refuse_are_refused(tmp_path, class_weight, message):
    def edit(metadata, _):
        metadata["params"]["class_weight"] = class_weight

    _refused(
        tmp_path, _rewrite(_good_bytes(tmp_path), edit), "bad.safetensors' invalid "
        "parameters: " + message
    )


def test_class_weights_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3))
    y = np.array(["cat", "dog", "emu"])[rng.integers(0, 3, size=60)]
    weights = ({"cat": 2.0, "emu": 0.5}, "balanced", {"cat": 1, "dog": 2, "emu": 3, "x": 4})
    for class_weight in weights:
        model = LogisticRegression(class_weight=class_weight, tol=1e-6).fit(X, y)
        assert load(save(model, tmp_path / "m.safetensors")).class_weight == class_weight


def test_a_multilabel_model_with_class_weights_is_refused(tmp_path):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(40, 3))
    Y = (X[:, :2] + rng.normal(scale=0.5, size=(40, 2)) > 0).astype(int)
    data = save(LogisticRegression(tol=1e-6).fit(X, Y), tmp_path / "ml.safetensors").read_bytes()

    def edit(metadata, _):
        metadata["params"]["class_weight"] = "balanced"

    _refused(
        tmp_path, _rewrite(data, edit), "bad.safetensors' invalid parameters: a multi-label "
        "model has no class_weight, found 'balanced'"
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"Cs": -3}, r"The 'Cs' parameter of LogisticRegressionCV must be an int in the range "
         r"\[1, inf\) or an array-like. Got -3 instead."),
        ({"Cs": [1.0, -2.0]}, r"Cs must be numbers > 0 \(np.inf: no penalty\), got \[1.0, -2.0\]"),
        ({"l1_ratios": [0.5, 2.0]}, r"l1_ratios must be an array-like of numbers between 0 and 1"),
        ({"scoring": "nonsense"}, r"'nonsense' is not a valid scoring value"),
        ({"solver": "magic"}, r"solver must be one of \[.*\], got 'magic'"),
        ({"max_iter": -1}, r"max_iter must be an integer >= 0, got -1"),
        ({"class_weight": {"$dict": [[9, 1.0]]}}, r"The classes, \[0, 1, 2\], are not in "
         "class_weight"),
    ],
    ids=["Cs-count", "Cs-values", "l1_ratios", "scoring", "solver", "max_iter", "class_weight"],
)
def test_invalid_cross_validation_parameters_are_refused(tmp_path, params, message):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(60, 3)), np.arange(60) % 3
    model = LogisticRegressionCV(
        Cs=2, cv=2, l1_ratios=(0.0,), scoring=None, use_legacy_attributes=False
    ).fit(X, y)
    data = save(model, tmp_path / "cv.safetensors").read_bytes()

    def edit(metadata, _):
        metadata["params"].update(params)

    _refused(tmp_path, _rewrite(data, edit), "bad.safetensors' invalid parameters: " + message)


def test_save_refuses_invalid_parameters_and_writes_nothing(tmp_path):
    model, _ = _fitted()
    model.set_params(C=-1.0)
    with pytest.raises(
        ModelFileError,
        match=r"^cannot save LogisticRegression: invalid parameters: C must be a finite number",
    ):
        save(model, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_unknown_parameters_still_only_warn(tmp_path):
    def edit(metadata, _):
        metadata["params"]["future_option"] = 3

    path = tmp_path / "m.safetensors"
    path.write_bytes(_rewrite(_good_bytes(tmp_path), edit))
    with pytest.warns(UserWarning, match="future_option"):
        load(path)


def test_class_labels_outside_their_dtype_are_refused_in_one_line(tmp_path):
    def edit(metadata, _):
        metadata["classes"] = {"$ndarray": ["<i8", [2], [0, 2**70]]}

    _refused(
        tmp_path,
        _rewrite(_good_bytes(tmp_path), edit),
        "bad.safetensors' has damaged metadata: an array of dtype <i8 holds a value outside "
        "its range",
    )
