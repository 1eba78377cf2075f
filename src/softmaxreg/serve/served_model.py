"""The model a server answers with: loaded once, with everything the endpoints need."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from softmaxreg.batch_predict import predict_block

IMAGE_FEATURES = 784


@dataclass
class ServedModel:
    """A fitted ``LogisticRegression`` and its file's metadata."""

    model: Any
    metadata: dict[str, Any]
    path: Path
    templates: list[bytes] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return int(self.model.n_features_in_)

    @property
    def feature_names(self) -> list[str] | None:
        names = getattr(self.model, "feature_names_in_", None)
        return None if names is None else [str(name) for name in names]

    @property
    def classes(self) -> list:
        return [plain(value) for value in self.model.classes_]

    @property
    def image_input(self) -> bool:
        return self.n_features == IMAGE_FEATURES and self.model.kind_ != "multilabel"

    def predict(self, X: np.ndarray) -> tuple[list, np.ndarray]:
        """Raw rows ``x`` -> ``x' = (x - shift) * scale`` (the stored preprocessing), then
        ``a = predict_proba(x')`` and ``label = classes_[argmax_t a_t]`` (multi-label:
        ``[a_t > 0.5]``)."""
        labels, probabilities = predict_block(self.model, X)
        if self.model.kind_ == "multilabel":
            return [[int(value) for value in row] for row in labels], probabilities
        return [plain(value) for value in labels], probabilities


def load_served_model(location: str | os.PathLike) -> ServedModel:
    """Load and check the model once (``ModelFileError`` for a bad file); render templates
    for image models."""
    from softmaxreg import io
    from softmaxreg.serve.images import template_png

    path = io.model_file_at(location)
    metadata = io.read_metadata(path)
    served = ServedModel(io.load(path), metadata, path)
    if served.image_input:
        served.templates = [template_png(row) for row in np.asarray(served.model.coef_)]
    return served


def plain(value: Any) -> Any:
    """A NumPy scalar label as the matching JSON-ready Python value."""
    return value.item() if isinstance(value, np.generic) else value
