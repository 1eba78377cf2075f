"""Save and load fitted models: one safetensors file, never a pickle.

``softmaxreg.save(model, "model.safetensors")`` writes the weights ``W`` (``coef``, (K, m)),
``b`` (``intercept``, (K,)) and the loss history as tensors, and everything else as JSON in
the same file's header (see :mod:`softmaxreg._model_file`): kind, class labels with their
original types, feature names, hyper-parameters, optional preprocessing and training
metrics, format and library versions, and the SHA-256 of the tensors. The write is atomic.

``softmaxreg.load(path)`` checks all of it and gives back a fitted ``LogisticRegression``
whose ``predict`` / ``predict_proba`` equal the saved model's bit for bit. ``save`` makes the
same checks of the model before writing anything, so it never writes a file ``load`` would
refuse.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from softmaxreg import __version__
from softmaxreg import preprocessing as feature_transform
from softmaxreg._arrays import dense_array
from softmaxreg._exact_json import (
    DecodeBudget,
    UnsupportedValueError,
    decode_budget,
    encode,
    first_repeat,
    is_unicode,
    plain_value,
)
from softmaxreg._exact_json import decode as _decode
from softmaxreg._labels import mixed_label_types_message
from softmaxreg._model_file import (
    MODEL_FILE,
    TENSOR_DIMENSIONS,
    read_model_file,
    write_model_file,
)
from softmaxreg.errors import DataError, DataNotFoundError, ModelFileError

KINDS = ("binary", "multinomial", "ovr", "multilabel")
REQUIRED_TENSORS = ("coef", "intercept")
OPTIONAL_TENSORS = ("loss_history",)
assert set(TENSOR_DIMENSIONS) == {*REQUIRED_TENSORS, *OPTIONAL_TENSORS}
# class labels every reader (predict's CSV, the server's JSON, ONNX) can answer with
LABEL_TYPES = (str, bool, int, float, np.str_, np.bool_, np.integer, np.floating)


def save(
    model: Any,
    path: str | os.PathLike,
    *,
    preprocessing: dict | None = None,
    metrics: dict | None = None,
) -> Path:
    """Write a fitted model to ``path`` (one ``.safetensors`` file), atomically.

    Stores ``W`` (``coef_``), ``b`` (``intercept_``) with ``z = W x + b`` and the metadata
    needed to predict ``classes_[argmax_t z_t]`` again. ``preprocessing`` (e.g.
    ``{"scale": 1 / 255}``) and ``metrics`` (e.g. ``{"test_accuracy": 0.92}``) are optional
    dicts of plain values; when omitted, the model's ``preprocessing_`` / ``metrics_`` (set
    by :func:`load`) are kept. Returns the path.

    Raises :class:`~softmaxreg.errors.ModelFileError`, before anything is written, for a
    model that :func:`load` could not give back: not fitted; ``coef_`` / ``intercept_`` with
    NaN or infinite values or shapes that disagree with the classes and features; class
    labels that are not strings, integers, finite floats or booleans, or that repeat;
    feature names that are not distinct strings; preprocessing that is not finite or does
    not fit the features; ``n_iter_`` that is not an array of counts; parameters the
    estimator's own checks refuse (those ``fit`` makes, e.g. ``C <= 0`` or
    ``dtype='int8'``); and values that cannot be stored (e.g. a random generator).
    """
    tensors, fields = _model_state(model, preprocessing, metrics)
    return write_model_file(path, tensors, fields, __version__)


def load(path: str | os.PathLike, cls: type | None = None) -> Any:
    """Read a model written by :func:`save`; returns a fitted ``cls`` (``LogisticRegression``).

    ``path`` is the model file or the run folder ``softmaxreg train --out`` wrote (its
    ``model.safetensors``). Raises :class:`~softmaxreg.errors.ModelFileError` for a missing
    file, a folder without a model, anything but a regular file (FIFO, device), a truncated
    or corrupted file (SHA-256 mismatch), an unknown format version, tensors other than
    ``coef`` / ``intercept`` / ``loss_history`` or with impossible shapes, shapes that
    disagree with the metadata, NaN or infinite weights, class labels that cannot be used
    or that repeat, feature names that are not distinct strings, preprocessing that cannot
    be used, an ``n_iter`` that is not an array of counts, ``metrics`` that is not a dict,
    parameters that the estimator's own checks refuse (as ``fit`` would; a CUDA ``device``
    is accepted on a machine without CUDA, predictions do not use it), metadata that
    declares more memory than the file holds, and pickles or ``torch.save`` files (never
    unpickled).
    """
    cls = cls or _default_class()
    state = _read_state(path, cls)
    model = cls()
    known = model.get_params(deep=False)
    unknown = sorted(set(state["params"]) - set(known))
    if unknown:
        warnings.warn(
            f"{str(path)!r} was saved with parameters this softmaxreg does not know "
            f"({', '.join(unknown)}); they are ignored, predictions are not affected",
            UserWarning,
            stacklevel=2,
        )
    model.set_params(**{name: value for name, value in state["params"].items() if name in known})
    model.coef_ = state["tensors"]["coef"]
    model.intercept_ = state["tensors"]["intercept"]
    model.classes_ = state["classes"]
    model.kind_ = state["kind"]
    model.n_features_in_ = state["n_features"]
    if state["feature_names"] is not None:
        model.feature_names_in_ = state["feature_names"]
    if state["label_dtype"] is not None:
        model._label_dtype = state["label_dtype"]
    model.n_iter_ = state["n_iter"]
    model.loss_history_ = [float(value) for value in state["tensors"].get("loss_history", [])]
    if state["preprocessing"] is not None:
        model.preprocessing_ = state["preprocessing"]
    if state["metrics"] is not None:
        model.metrics_ = state["metrics"]
    return model


def model_file_at(location: str | os.PathLike) -> Path:
    """The model file for ``location``: a run folder (its ``model.safetensors``) or the file.

    Used by the command line and the server to name the file in their messages;
    :func:`load` accepts either as well.
    """
    path = Path(location).expanduser()
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise DataNotFoundError(
                f"{str(location)!r} is a folder without a {MODEL_FILE}; give the folder "
                "`softmaxreg train ... --out DIR` wrote, or the model file itself"
            )
        return path / MODEL_FILE
    if not path.exists():
        raise DataNotFoundError(f"no model at {str(location)!r}: no such file or folder")
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The checked, decoded metadata of the model file at ``path`` (no estimator is built).

    Keys: format_version, library_version, weights_sha256, estimator, kind, classes,
    n_features, n_outputs, feature_names, label_dtype, n_iter, params, preprocessing,
    metrics. Every check of :func:`load` is made, the checksum included.
    """
    state = _read_state(path)
    del state["tensors"]
    return state


def _read_state(path: str | os.PathLike, cls: type | None = None) -> dict[str, Any]:
    tensors, metadata = read_model_file(path)
    where = repr(str(path))
    try:
        state = _decode_fields(metadata, DecodeBudget(decode_budget(metadata)))
    except (KeyError, TypeError, ValueError, ArithmeticError, RecursionError) as error:
        raise ModelFileError(f"{where} has damaged metadata: {error}") from None
    _check_tensors(tensors, state, where)
    _check_fields(state, where)
    # the parameters are those of the estimator that saved the file (whatever class loads it)
    estimator = (_saved_estimator_class(state["estimator"]) or cls or _default_class())()
    known = estimator.get_params(deep=False)
    if set(state["params"]) <= set(known):  # else: another estimator's file (load warns)
        estimator.set_params(**state["params"])
        _check_parameters(estimator, where, state["classes"], state["kind"])
    state["tensors"] = tensors
    return state


# ------------------------------------------------------------------------------------------
# model -> file
# ------------------------------------------------------------------------------------------


def _model_state(model: Any, preprocessing: dict | None, metrics: dict | None):
    if not hasattr(model, "coef_"):
        raise ModelFileError(
            f"cannot save {type(model).__name__}: it is not fitted (it has no coef_); call "
            "fit(X, y) first"
        )
    coef, intercept = dense_array(model.coef_), np.asarray(model.intercept_)
    classes = np.asarray(model.classes_)
    feature_names = getattr(model, "feature_names_in_", None)
    # the estimator predicts multi-label indicators in the dtype of the training y
    label_dtype = getattr(model, "_label_dtype", np.int64) if model.kind_ == "multilabel" else None
    if preprocessing is None:
        preprocessing = getattr(model, "preprocessing_", None)
    if metrics is None:
        metrics = getattr(model, "metrics_", None)
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    tensors = {"coef": coef, "intercept": intercept}
    history = getattr(model, "loss_history_", None)
    if history is not None:
        tensors["loss_history"] = np.asarray(history, dtype=np.float64).reshape(-1)
    state = {
        "kind": model.kind_,
        "classes": classes,
        "n_features": int(model.n_features_in_),
        "n_outputs": int(coef.shape[0]) if coef.ndim == 2 else -1,
        "feature_names": None if feature_names is None else np.asarray(feature_names),
        "label_dtype": None if label_dtype is None else np.dtype(label_dtype),
        "n_iter": getattr(model, "n_iter_", None),
        "preprocessing": _dict_or_none("preprocessing", preprocessing),
        "metrics": _dict_or_none("metrics", metrics),
    }
    where = f"cannot save {type(model).__name__}:"
    _check_tensors(tensors, state, where)
    _check_fields(state, where)
    fields = {
        "estimator": f"{type(model).__module__}.{type(model).__qualname__}",
        "kind": state["kind"],
        "classes": _encoded("classes_", classes),
        "n_features": state["n_features"],
        "n_outputs": state["n_outputs"],
        "feature_names": _encoded("feature_names_in_", state["feature_names"]),
        "label_dtype": None if label_dtype is None else state["label_dtype"].str,
        "n_iter": _encoded("n_iter_", state["n_iter"]),
        "params": {name: _encoded(f"parameter {name}", value) for name, value in params.items()},
        "preprocessing": _encoded("preprocessing", state["preprocessing"]),
        "metrics": _encoded("metrics", state["metrics"]),
    }
    # after encoding: a RandomState parameter is refused there, before anything draws from it
    if hasattr(model, "get_params"):
        _check_parameters(model, where, model.classes_, model.kind_)
    return tensors, fields


def _encoded(what: str, value: Any) -> Any:
    try:
        return encode(value)
    except UnsupportedValueError as error:
        raise ModelFileError(
            f"cannot save {what}: {error}. Replace it with a plain value (e.g. an int seed "
            "instead of a random generator) and save again"
        ) from None


def _dict_or_none(what: str, value: Any) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise ModelFileError(
            f"cannot save {what}={value!r:.80}: it must be a dict such as "
            "{'scale': 1 / 255} or None"
        )
    return value


# ------------------------------------------------------------------------------------------
# file -> model
# ------------------------------------------------------------------------------------------


def _decode_fields(metadata: dict, budget: DecodeBudget) -> dict[str, Any]:
    def decode(value: Any) -> Any:
        return _decode(value, budget)

    classes = decode(metadata["classes"])
    if not (isinstance(classes, np.ndarray) and classes.ndim == 1):
        raise ValueError("'classes' must be a 1-D array")
    feature_names = decode(metadata["feature_names"])
    if feature_names is not None and not (
        isinstance(feature_names, np.ndarray) and feature_names.ndim == 1
    ):
        raise ValueError("'feature_names' must be a 1-D array or null")
    label_dtype = metadata["label_dtype"]
    if label_dtype is not None:
        label_dtype = np.dtype(str(label_dtype))
        if label_dtype.kind not in "biuf":
            raise ValueError(f"'label_dtype' must be a numeric dtype, got {label_dtype}")
    params = decode(metadata["params"])
    if not isinstance(params, dict) or not all(isinstance(name, str) for name in params):
        raise ValueError("'params' must map parameter names to values")
    state = {
        "format_version": metadata["format_version"],
        "library_version": metadata.get("library_version"),
        "weights_sha256": metadata["weights_sha256"],
        "estimator": metadata.get("estimator"),
        "kind": metadata["kind"],
        "classes": classes,
        "n_features": metadata["n_features"],
        "n_outputs": metadata["n_outputs"],
        "feature_names": feature_names,
        "label_dtype": label_dtype,
        "n_iter": decode(metadata.get("n_iter")),
        "params": params,
        "preprocessing": decode(metadata.get("preprocessing")),
        "metrics": decode(metadata.get("metrics")),
    }
    for name in ("n_features", "n_outputs"):
        if not (isinstance(state[name], int) and not isinstance(state[name], bool)):
            raise ValueError(f"{name!r} must be an integer")
    return state


def _check_tensors(tensors: dict[str, np.ndarray], state: dict[str, Any], where: str) -> None:
    """Refuse weights whose shapes disagree with the kind, the classes and the features.

    ``coef``: (K, m) with m = n_features and K = 1 for two classes (binary, or multinomial
    stored as the difference ``w_1 - w_0``), else K = number of classes / labels;
    ``intercept``: (K,); ``loss_history``: 1-D. ``coef`` and ``intercept`` must be finite
    (NaN or infinite weights give NaN probabilities and a meaningless class), and the class
    labels distinct.
    """
    kind, classes = state["kind"], state["classes"]
    if kind not in KINDS:
        raise ModelFileError(f"{where} unknown model kind {kind!r}; expected one of {KINDS}")
    missing = [name for name in REQUIRED_TENSORS if name not in tensors]
    unexpected = sorted(set(tensors) - set(REQUIRED_TENSORS) - set(OPTIONAL_TENSORS))
    if missing or unexpected:
        raise ModelFileError(
            f"{where} the tensors must be {REQUIRED_TENSORS} (and optionally "
            f"{OPTIONAL_TENSORS}); missing {missing}, unexpected {unexpected}"
        )
    if classes.ndim != 1 or len(classes) < 2:
        raise ModelFileError(
            f"{where} a model has at least 2 classes (or labels), found {classes.shape}"
        )
    if kind == "binary" and len(classes) != 2:
        raise ModelFileError(f"{where} a binary model has 2 classes, found {len(classes)}")
    check_class_labels(classes, where)
    repeated = first_repeat(classes.tolist() if classes.dtype != object else classes)
    if repeated is not None:
        raise ModelFileError(
            f"{where} the class label {repeated!r:.80} appears more than once in the classes; "
            "each class has one label (a repeated label makes predictions ambiguous)"
        )
    if not _is_plain_int(state["n_features"]) or state["n_features"] < 1:
        raise ModelFileError(
            f"{where} a model has at least 1 feature, found n_features={state['n_features']!r}"
        )
    if state["preprocessing"] is not None:
        try:
            feature_transform.check(state["preprocessing"], state["n_features"])
        except DataError as error:
            raise ModelFileError(f"{where} {error}") from None
    n_outputs = 1 if kind != "multilabel" and len(classes) == 2 else len(classes)
    n_features = state["n_features"]
    coef, intercept = tensors["coef"], tensors["intercept"]
    if coef.shape != (n_outputs, n_features) or state["n_outputs"] != n_outputs:
        raise ModelFileError(
            f"{where} shapes disagree with the metadata: a {kind} model with "
            f"{len(classes)} classes and {n_features} features has coef of shape "
            f"{(n_outputs, n_features)}, found {coef.shape} (n_outputs recorded as "
            f"{state['n_outputs']})"
        )
    if intercept.shape != (n_outputs,):
        raise ModelFileError(
            f"{where} shapes disagree with the metadata: intercept must have shape "
            f"{(n_outputs,)}, found {intercept.shape}"
        )
    names = state["feature_names"]
    if names is not None and names.shape != (n_features,):
        raise ModelFileError(
            f"{where} shapes disagree with the metadata: {names.shape[0]} feature names for "
            f"{n_features} features"
        )
    for name in REQUIRED_TENSORS:
        weights = tensors[name]
        # (other dtypes are refused when the file is written; only floats can be non-finite)
        if weights.dtype.kind == "f" and not np.isfinite(weights).all():
            count = int(np.count_nonzero(~np.isfinite(weights)))
            raise ModelFileError(
                f"{where} the weights {name} hold {count} NaN or infinite value(s) of "
                f"{weights.size}; such a model gives NaN probabilities and a meaningless "
                "class, so it is not stored or loaded (refit it, e.g. with a smaller C or "
                "scaled features)"
            )
    if "loss_history" in tensors and tensors["loss_history"].ndim != 1:
        raise ModelFileError(f"{where} loss_history must be 1-D")
    if kind == "multilabel" and state["label_dtype"] is None:
        raise ModelFileError(f"{where} a multilabel model records the dtype of its labels")


def _check_fields(state: dict[str, Any], where: str) -> None:
    """Refuse feature names, ``n_iter`` and ``metrics`` that a fitted model cannot have."""
    names = state["feature_names"]
    if names is not None:
        for name in names:
            if not isinstance(name, str):
                shown = plain_value(name)
                raise ModelFileError(
                    f"{where} the feature name {shown!r:.80} ({type(shown).__name__}) is not a "
                    "string; feature names are the training columns' names, as strings"
                )
        repeated = first_repeat(str(name) for name in names)
        if repeated is not None:
            raise ModelFileError(
                f"{where} the feature name {repeated!r:.80} appears more than once; each "
                "feature has its own name"
            )
    n_iter = state["n_iter"]
    counts = np.asarray(n_iter) if isinstance(n_iter, np.ndarray) or _is_plain_int(n_iter) else None
    if n_iter is not None and not (
        counts is not None and counts.dtype.kind in "iu" and bool(np.all(counts >= 0))
    ):
        raise ModelFileError(
            f"{where} n_iter must be null, an iteration count or an array of them (integers "
            f">= 0), found {n_iter!r:.80}"
        )
    if state["metrics"] is not None and not isinstance(state["metrics"], dict):
        raise ModelFileError(
            f"{where} metrics must be a dict such as {{'accuracy': 0.9}} or null, found "
            f"{state['metrics']!r:.80}"
        )


def _saved_estimator_class(name: Any) -> type | None:
    """This library's estimator class that ``name`` (the file's ``estimator`` field) names;
    None for any other name."""
    from softmaxreg.cv import LogisticRegressionCV

    for cls in (LogisticRegressionCV, _default_class()):
        if name == f"{cls.__module__}.{cls.__qualname__}":
            return cls
    return None


def _default_class() -> type:
    from softmaxreg.estimator import LogisticRegression

    return LogisticRegression


def _check_parameters(model: Any, where: str, classes: Any, kind: str) -> None:
    """Refuse the parameters of a ``LogisticRegression`` (``LogisticRegressionCV``) that
    its ``fit`` would refuse.

    Uses the estimator's own checks (:func:`softmaxreg._validation.check_parameters`; the
    cross-validated estimator's ``_check_settings``), for estimators whose ``fit`` is one of
    those two, with their warnings silenced, and the fit's rule for
    ``class_weight`` against the model's ``classes`` (:func:`class_weight_per_class`; none
    for a multi-label model). Only the device's name is checked, not that it is present
    here: a model trained on ``'cuda'`` loads and predicts on a machine without CUDA.
    """
    from softmaxreg._validation import check_parameters, resolve_device
    from softmaxreg._weights import class_weight_per_class
    from softmaxreg.cv import LogisticRegressionCV
    from softmaxreg.estimator import LogisticRegression
    from softmaxreg.solvers import DEFAULT_SOLVER

    fit = getattr(type(model), "fit", None)
    if fit not in (LogisticRegression.fit, LogisticRegressionCV.fit):
        return  # a subclass with its own fit: its own checks
    params = model.get_params(deep=False)
    probe = type(model)()
    probe.set_params(**{**params, "device": "cpu"} if "device" in params else params)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fit is LogisticRegressionCV.fit:
                probe._check_settings()
            else:
                check_parameters(probe, DEFAULT_SOLVER)
                try:
                    resolve_device(params["device"])
                except ValueError:
                    if not _names_cuda_device(params["device"]):
                        raise
        weights = params["class_weight"]
        if weights is not None and kind == "multilabel":
            raise ValueError(f"a multi-label model has no class_weight, found {weights!r:.80}")
        if weights is not None:
            classes = np.asarray(classes)
            class_weight_per_class(weights, classes, np.arange(len(classes)), None)
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        problem = " ".join(str(error).split())
        raise ModelFileError(f"{where} invalid parameters: {problem}") from None


def _names_cuda_device(device: Any) -> bool:
    import torch

    try:
        return torch.device(device).type == "cuda"
    except (RuntimeError, TypeError, ValueError):
        return False


def _is_plain_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_class_labels(classes: np.ndarray, where: str) -> None:
    """Class labels must be strings, integers, finite floats or booleans (Python or NumPy).

    Those are the labels every reader can answer with: a CSV of predictions, the server's
    JSON, an ONNX graph. ``None``, bytes, tuples, NaN, strings that are not valid Unicode
    (lone surrogates) and other objects are refused with a
    :class:`~softmaxreg.errors.ModelFileError` that starts with ``where``; :func:`save` and
    :func:`load` both check, and so does the server for the model it is given. So are
    classes that mix strings, booleans and numbers (e.g. ``1`` and ``'1'``, or ``True`` and
    ``1``), which fitting refuses (a crafted file could still hold them): such classes print
    alike or compare equal, so a prediction could not say which class it means.
    """
    for label in classes.tolist() if classes.dtype != object else classes:
        usable = isinstance(label, LABEL_TYPES) and not (
            isinstance(label, (float, np.floating)) and not np.isfinite(label)
        )
        if usable and isinstance(label, str):
            usable = label.isascii() or is_unicode(label)
        if not usable:
            shown = plain_value(label)
            raise ModelFileError(
                f"{where} the class label {shown!r:.80} ({type(shown).__name__}) cannot be "
                "stored: model files keep class labels that are strings, integers, finite "
                "floats or booleans, which every tool (predict, serve, ONNX) can answer with; "
                "map the labels to such values (e.g. y.astype(str)) and fit again"
            )
    mixed = mixed_label_types_message(classes, "the classes", "hold")
    if mixed is not None:
        raise ModelFileError(f"{where} {mixed}")
