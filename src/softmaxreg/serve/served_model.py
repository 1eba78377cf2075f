"""The model a server answers with: loaded and checked once, with everything the endpoints need.

Everything a response carries from the model file (class labels, feature names, metadata)
is checked at load time to be servable as strict JSON, with the model file's own checks
(:func:`softmaxreg.io.check_class_labels`: strings, integers, finite floats or booleans;
:func:`softmaxreg.preprocessing.check`: finite and of the model's width), so a model that
cannot be served refuses to start with one ``ModelFileError`` instead of failing every
request with a 500. Metadata values plain JSON cannot carry (NaN metrics, arrays) are sent
in the model file's exact encoding (``{"$float": "nan"}``).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from softmaxreg import preprocessing
from softmaxreg._arrays import dense_array
from softmaxreg._exact_json import plain_value
from softmaxreg.batch_predict import predict_block
from softmaxreg.errors import DataError, ModelFileError
from softmaxreg.serve.instances import InstancesError

IMAGE_FEATURES = 784


@dataclass
class ServedModel:
    """A fitted ``LogisticRegression``, its file's metadata and its JSON-ready class labels."""

    model: Any
    metadata: dict[str, Any]
    path: Path
    templates: list[bytes] = field(default_factory=list)
    classes: list = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return int(self.model.n_features_in_)

    @functools.cached_property
    def feature_names(self) -> list[str] | None:
        names = getattr(self.model, "feature_names_in_", None)
        return None if names is None else [str(name) for name in names]

    @property
    def image_input(self) -> bool:
        return self.n_features == IMAGE_FEATURES and self.model.kind_ != "multilabel"

    def predict(self, X: np.ndarray, where: str = "instances") -> tuple[list, np.ndarray]:
        """Raw rows ``x`` -> ``x' = (x - shift) * scale`` (the stored preprocessing), then
        ``a = predict_proba(x')`` and ``label = classes_[argmax_t a_t]`` (multi-label:
        ``[a_t > 0.5]``).

        Raises ``InstancesError`` (422) naming row ``where[i]`` when ``x'`` or the scores
        ``z = W x' + b`` overflow float64 for finite raw values.
        """
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, row by row
            spec = getattr(self.model, "preprocessing_", None)
            _check_preprocessed(X, preprocessing.apply(X, spec, self.n_features), where)
            labels, probabilities = predict_block(self.model, X)
        bad = np.flatnonzero(~np.isfinite(probabilities).all(axis=1))
        if bad.size:
            raise InstancesError(
                f"{where}[{int(bad[0])}]: the class scores z = W x + b overflow for these "
                "feature values (magnitudes near 1e308); send values on the scale of the "
                "training data"
            )
        if self.model.kind_ == "multilabel":
            return [[int(value) for value in row] for row in labels], probabilities
        return [plain_value(value) for value in labels], probabilities


def _check_preprocessed(X: np.ndarray, preprocessed: np.ndarray, where: str) -> None:
    """Refuse finite raw values that the stored ``x' = (x - shift) * scale`` overflows."""
    bad = np.argwhere(~np.isfinite(preprocessed))
    if bad.size:
        i, j = (int(index) for index in bad[0])
        raise InstancesError(
            f"{where}[{i}][{j}] is {X[i, j]:g}, which the model's preprocessing "
            "x' = (x - shift) * scale takes beyond float64 (about 1.8e308); send values on "
            "the scale of the training data"
        )


def load_served_model(location: str | os.PathLike) -> ServedModel:
    """Load and check the model once; render templates for image models.

    Raises ``ModelFileError`` for a bad file, a class label that JSON cannot carry, or a
    stored preprocessing that is not finite or does not fit the model's features.
    """
    from softmaxreg import io
    from softmaxreg.serve.images import template_png

    path = io.model_file_at(location)
    metadata = io.read_metadata(path)
    model = io.load(path)
    served = ServedModel(model, metadata, path)
    served.classes = [servable_label(value, path) for value in model.classes_]
    _check_preprocessing(served)
    if served.image_input:
        served.templates = [template_png(row) for row in dense_array(model.coef_)]
    return served


def servable_label(value: Any, path: Path) -> str | int | float | bool:
    """``plain_value(value)`` after :func:`softmaxreg.io.check_class_labels` (``ModelFileError``
    for None, bytes, tuples, dicts, NaN or infinite floats)."""
    from softmaxreg import io

    single = np.empty(1, dtype=object)
    single[0] = value
    io.check_class_labels(single, f"{path}:")
    return plain_value(value)


def _check_preprocessing(served: ServedModel) -> None:
    spec = getattr(served.model, "preprocessing_", None)
    if not spec:
        return
    try:
        preprocessing.check(spec, served.n_features)
    except DataError as error:
        raise ModelFileError(f"{served.path}: {error}") from None


def strict_json(content: Any, what: str, path: Path) -> bytes:
    """``content`` as UTF-8 JSON bytes with no NaN / Infinity, or ``ModelFileError``."""
    try:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: {what} cannot be served as JSON ({error})") from None
