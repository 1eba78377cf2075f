"""Export a fitted model as an ONNX graph (built with ``onnx.helper``; no torch.onnx).

The graph takes ``X`` (shape (N, m)) and mirrors the estimator exactly:

- ``X`` is float64 or float32 (``dtype``; by default the dtype the model was trained in: its
  ``dtype`` parameter, e.g. the CLI's float32, or float64 when that was left to the data, as
  ``decision_function`` computes in float64). A float32 input rounds every feature to 24 bits
  first (a feature ``1e6 + x`` then moves by up to 0.03), so a float64 model exported for
  float32 input can predict other labels than ``predict``;
- net input ``Z = X W^T + b``, computed in float64 like ``decision_function``;
- ``probabilities`` (the input's dtype): ``[sigma(-z), sigma(z)]`` for two classes,
  ``softmax(Z)`` for multinomial, ``sigma(Z) / sum_k sigma(Z_k)`` for one-vs-rest,
  ``sigma(Z)`` per label for multi-label. The sigmoids are built in log space,
  ``log sigma(z) = min(z, 0) - log(1 + e^{-|z|})`` (one-vs-rest: ``softmax(log sigma(Z))``),
  because onnxruntime's ``Sigmoid`` returns exactly 0 below ``z ~ -37`` and a one-vs-rest row
  would then be 0 / 0; infinite scores count as the largest finite ones. The graph agrees with
  ``predict_proba`` for every finite input;
- ``label``: ``classes[1 if z > 0 else 0]`` for two classes, ``classes[argmax_t z_t]``
  otherwise (a Gather from a constant tensor, so string labels come out as strings), and
  the (N, K) indicator ``[Z > 0]`` for multi-label.

The model's preprocessing ``x' = (x - shift) * scale`` can be built in front (so the graph
takes raw features, e.g. MNIST pixels 0..255). The metadata (kind, classes, feature names,
preprocessing, library version) travels in the ONNX ``metadata_props``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from softmaxreg import __version__
from softmaxreg import preprocessing as feature_transform
from softmaxreg._arrays import dense_array
from softmaxreg._atomic import write_bytes_atomic
from softmaxreg._exact_json import encode
from softmaxreg._validation import resolve_dtype
from softmaxreg.errors import DataError, ModelFileError

OPSET = 17
IR_VERSION = 8  # the IR version of opset 17: readable by onnxruntime >= 1.12
INPUT_NAME = "X"
LABEL_OUTPUT = "label"
PROBABILITIES_OUTPUT = "probabilities"


def to_onnx(
    model: Any, preprocessing: dict | str | None = "auto", dtype: Any = None
) -> onnx.ModelProto:
    """The ONNX graph ``X -> (label, probabilities)`` of a fitted model (see module doc).

    ``preprocessing``: the affine transform ``x' = (x - shift) * scale`` to build into the
    graph (as :func:`softmaxreg.preprocessing.apply` does, rounding ``x'`` to float32), so the
    graph takes raw features; "auto" uses the model's ``preprocessing_`` (recorded in its
    model file) when it has one, None builds none in. ``dtype``: "float32" or "float64", the
    type of ``X`` and ``probabilities``; None (default) follows :func:`input_dtype`.
    """
    if not hasattr(model, "coef_"):
        raise ModelFileError(
            f"cannot export {type(model).__name__} to ONNX: it is not fitted; call fit first"
        )
    coef = dense_array(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    n_outputs, n_features = coef.shape
    kind = model.kind_
    if isinstance(preprocessing, str) and preprocessing == "auto":
        preprocessing = getattr(model, "preprocessing_", None)
    input_type = _TENSOR_TYPES[input_dtype(model, dtype)]
    largest = np.finfo(np.float64).max
    initializers = [
        numpy_helper.from_array(coef, "W"),
        numpy_helper.from_array(intercept, "b"),
        numpy_helper.from_array(np.array(0.0), "zero"),
        numpy_helper.from_array(np.array(1.0), "one"),
        numpy_helper.from_array(np.array(-largest), "lowest"),
        numpy_helper.from_array(np.array(largest), "largest"),
    ]
    nodes = [helper.make_node("Cast", [INPUT_NAME], ["X64"], to=TensorProto.DOUBLE)]
    features = "X64"
    if preprocessing:
        features = _preprocessing_nodes(preprocessing, n_features, nodes, initializers)
    nodes.append(helper.make_node("Gemm", [features, "W", "b"], ["Z_products"], transB=1))
    _overflow_nodes(features, nodes)
    # +-inf scores as +-max (as functional.softmax does), so that no inf - inf gives NaN
    nodes.append(helper.make_node("Clip", ["Z", "lowest", "largest"], ["Z_finite"]))
    if kind == "multilabel":
        label_type, label_shape = _multilabel_nodes(model, nodes)
    else:
        classes = _classes_tensor(np.asarray(model.classes_))
        initializers.append(classes)
        label_type, label_shape = classes.data_type, ["N"]
        if n_outputs == 1:
            _two_class_nodes(nodes, initializers)
        else:
            _many_class_nodes(kind, nodes, initializers)
    nodes.append(helper.make_node("Cast", ["P64"], [PROBABILITIES_OUTPUT], to=input_type))
    n_columns = 2 if n_outputs == 1 and kind != "multilabel" else n_outputs
    type_name = "float64" if input_type == TensorProto.DOUBLE else "float32"
    graph = helper.make_graph(
        nodes,
        "softmaxreg_" + kind,
        inputs=[helper.make_tensor_value_info(INPUT_NAME, input_type, ["N", n_features])],
        outputs=[
            helper.make_tensor_value_info(LABEL_OUTPUT, label_type, label_shape),
            helper.make_tensor_value_info(PROBABILITIES_OUTPUT, input_type, ["N", n_columns]),
        ],
        initializer=initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="softmaxreg",
        producer_version=__version__,
        doc_string=f"softmaxreg {kind} logistic regression: X (N, {n_features}) {type_name} -> "
        f"label, probabilities (N, {n_columns}) {type_name}",
    )
    props = _metadata_props(model)
    if preprocessing:
        props["preprocessing"] = json.dumps(encode(preprocessing), allow_nan=False)
    helper.set_model_props(onnx_model, props)
    onnx.checker.check_model(onnx_model)
    return onnx_model


def export_onnx(
    model: Any,
    path: str | os.PathLike,
    preprocessing: dict | str | None = "auto",
    dtype: Any = None,
) -> Path:
    """Write :func:`to_onnx` of ``model`` to ``path`` atomically; returns the path."""
    return write_bytes_atomic(path, to_onnx(model, preprocessing, dtype).SerializeToString())


_TENSOR_TYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


def input_dtype(model: Any, dtype: Any = None) -> str:
    """ "float32" or "float64": the graph's input type for ``model``.

    ``dtype`` when given ("float32", "float64", or a NumPy / torch float dtype); otherwise the
    dtype the model was trained in, its ``dtype`` parameter (the CLI trains in float32), and
    "float64" when that is None (the fit followed the data; ``decision_function`` computes in
    float64, so a float64 graph gives ``predict_proba``'s numbers for float32 data too).
    """
    chosen = resolve_dtype(dtype if dtype is not None else getattr(model, "dtype", None))
    return "float32" if chosen == torch.float32 else "float64"


def _preprocessing_nodes(spec: Any, n_features: int, nodes: list, initializers: list) -> str:
    """``x' = float32((x - shift) * scale)`` in float64, as ``preprocessing.apply`` does."""
    try:
        shift, scale = feature_transform.check(spec, n_features)
    except DataError as error:
        raise ModelFileError(f"cannot build it into the ONNX graph: {error}") from None
    initializers += [
        numpy_helper.from_array(shift, "shift"),
        numpy_helper.from_array(scale, "scale"),
    ]
    nodes += [
        helper.make_node("Sub", ["X64", "shift"], ["shifted"]),
        helper.make_node("Mul", ["shifted", "scale"], ["scaled"]),
        helper.make_node("Cast", ["scaled"], ["scaled32"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["scaled32"], ["features"], to=TensorProto.DOUBLE),
    ]
    return "features"


def _overflow_nodes(features: str, nodes: list) -> None:
    """``Z``: the scores ``Z_products``, where one is inf or NaN (``x ~ 1e300``: a product
    overflows, ``inf - inf``) recomputed as ``s ((x / s) W^T) + b`` with ``s = max_j |x_j|``,
    as ``decision_function`` does. The branch runs only when some score is not finite."""
    rescale = [
        helper.make_node("Abs", [features], ["row_abs"]),
        helper.make_node("ReduceMax", ["row_abs"], ["row_max"], axes=[1], keepdims=1),
        helper.make_node("Equal", ["row_max", "zero"], ["row_zero"]),
        helper.make_node("Where", ["row_zero", "one", "row_max"], ["row_scale"]),
        helper.make_node("Div", [features, "row_scale"], ["scaled_rows"]),
        helper.make_node("Gemm", ["scaled_rows", "W"], ["scaled_products"], transB=1),
        helper.make_node("Mul", ["scaled_products", "row_scale"], ["rescaled"]),
        helper.make_node("Add", ["rescaled", "b"], ["rescaled_Z"]),
        helper.make_node("Where", ["not_finite", "rescaled_Z", "Z_products"], ["Z_rescaled"]),
    ]
    keep = [helper.make_node("Identity", ["Z_products"], ["Z_kept"])]

    def branch(name: str, branch_nodes: list, output: str) -> onnx.GraphProto:
        value = helper.make_tensor_value_info(output, TensorProto.DOUBLE, None)
        return helper.make_graph(branch_nodes, name, inputs=[], outputs=[value])

    nodes += [
        helper.make_node("IsInf", ["Z_products"], ["infinite"]),
        helper.make_node("IsNaN", ["Z_products"], ["nan"]),
        helper.make_node("Or", ["infinite", "nan"], ["not_finite"]),
        helper.make_node("Cast", ["not_finite"], ["not_finite_int"], to=TensorProto.INT64),
        helper.make_node("ReduceMax", ["not_finite_int"], ["any_int"], keepdims=0),
        helper.make_node("Cast", ["any_int"], ["any_not_finite"], to=TensorProto.BOOL),
        helper.make_node(
            "If",
            ["any_not_finite"],
            ["Z"],
            then_branch=branch("rescale", rescale, "Z_rescaled"),
            else_branch=branch("keep", keep, "Z_kept"),
        ),
    ]


def _log_sigmoid_nodes(z: str, out: str, nodes: list) -> None:
    """``log sigma(z) = min(z, 0) - log(1 + e^{-|z|})``: exact to 1e-16 for any finite ``z``."""
    nodes += [
        helper.make_node("Abs", [z], [f"{out}_abs"]),
        helper.make_node("Neg", [f"{out}_abs"], [f"{out}_minus_abs"]),
        helper.make_node("Exp", [f"{out}_minus_abs"], [f"{out}_exp"]),
        helper.make_node("Add", [f"{out}_exp", "one"], [f"{out}_one_plus"]),
        helper.make_node("Log", [f"{out}_one_plus"], [f"{out}_softplus"]),
        helper.make_node("Min", [z, "zero"], [f"{out}_min"]),
        helper.make_node("Sub", [f"{out}_min", f"{out}_softplus"], [out]),
    ]


def _two_class_nodes(nodes: list, initializers: list) -> None:
    """``P = e^{log sigma([-z, z])}``, ``label = classes[int(z > 0)]``."""
    initializers.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
    nodes += [
        helper.make_node("Neg", ["Z_finite"], ["minus_Z"]),
        helper.make_node("Concat", ["minus_Z", "Z_finite"], ["pair"], axis=1),
    ]
    _log_sigmoid_nodes("pair", "log_P", nodes)
    nodes += [
        helper.make_node("Exp", ["log_P"], ["P64"]),
        helper.make_node("Greater", ["Z", "zero"], ["positive"]),
        helper.make_node("Cast", ["positive"], ["index_column"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["index_column", "flat"], ["index"]),
        helper.make_node("Gather", ["classes", "index"], [LABEL_OUTPUT], axis=0),
    ]


def _many_class_nodes(kind: str, nodes: list, initializers: list) -> None:
    """``label = classes[argmax_t z_t]``; P = softmax(Z), or softmax(log sigma(Z)) for 'ovr'."""
    if kind == "ovr":
        _log_sigmoid_nodes("Z_finite", "log_S", nodes)
        nodes.append(helper.make_node("Softmax", ["log_S"], ["P64"], axis=1))
    else:
        nodes.append(helper.make_node("Softmax", ["Z_finite"], ["P64"], axis=1))
    nodes += [
        helper.make_node("ArgMax", ["Z"], ["index"], axis=1, keepdims=0),
        helper.make_node("Gather", ["classes", "index"], [LABEL_OUTPUT], axis=0),
    ]


def _multilabel_nodes(model: Any, nodes: list) -> tuple[int, list]:
    """``P = e^{log sigma(Z)}``, ``label = [Z > 0]`` in the dtype of the training indicator."""
    label_dtype = np.dtype(getattr(model, "_label_dtype", np.int64))
    label_type = helper.np_dtype_to_tensor_dtype(label_dtype)
    _log_sigmoid_nodes("Z_finite", "log_P", nodes)
    nodes += [
        helper.make_node("Exp", ["log_P"], ["P64"]),
        helper.make_node("Greater", ["Z", "zero"], ["positive"]),
        helper.make_node("Cast", ["positive"], [LABEL_OUTPUT], to=label_type),
    ]
    return label_type, ["N", int(model.coef_.shape[0])]


def _classes_tensor(classes: np.ndarray) -> onnx.TensorProto:
    """A constant tensor of the class labels (strings, ints, floats or booleans)."""
    if classes.dtype.kind == "O":
        classes = _uniform_object_labels(classes)
    if classes.dtype.kind == "U":
        return helper.make_tensor(
            "classes",
            TensorProto.STRING,
            [len(classes)],
            [label.encode("utf-8") for label in classes.tolist()],
        )
    if classes.dtype.kind in "biuf":
        return numpy_helper.from_array(np.ascontiguousarray(classes), "classes")
    raise ModelFileError(
        f"cannot export class labels of dtype {classes.dtype} to ONNX; labels must be "
        "strings, integers, floats or booleans"
    )


def _uniform_object_labels(classes: np.ndarray) -> np.ndarray:
    """Object-dtype labels as a typed array when they all share one kind of value."""
    kinds = {_label_kind(label) for label in classes.tolist()}
    if kinds == {"str"}:
        return classes.astype(str)
    if kinds == {"int"}:
        return classes.astype(np.int64)
    if kinds == {"float"}:
        return classes.astype(np.float64)
    if kinds == {"bool"}:
        return classes.astype(bool)
    raise ModelFileError(
        f"cannot export class labels of mixed types ({', '.join(sorted(kinds))}) to ONNX, "
        "whose tensors hold one element type; refit with labels of one type (e.g. all "
        "strings)"
    )


def _label_kind(label: Any) -> str:
    if isinstance(label, (bool, np.bool_)):
        return "bool"
    if isinstance(label, (int, np.integer)):
        return "int"
    if isinstance(label, (float, np.floating)):
        return "float"
    if isinstance(label, (str, np.str_)):
        return "str"
    return type(label).__name__


def _metadata_props(model: Any) -> dict[str, str]:
    props = {
        "softmaxreg_version": __version__,
        "kind": model.kind_,
        "classes": json.dumps(encode(np.asarray(model.classes_)), allow_nan=False),
        "n_features": str(int(model.n_features_in_)),
    }
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        props["feature_names"] = json.dumps([str(name) for name in names])
    return props
