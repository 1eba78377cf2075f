"""The JSON shapes of the prediction API, as pydantic models (they also make /openapi.json).

Request bodies are *not* validated by pydantic: /predict reads its body raw and
:mod:`softmaxreg.serve.instances` decodes and checks it in a worker thread against the served
model (sizes, feature count, names, finite numbers), so every refusal names the row and
column at fault. ``PredictRequest`` still documents the accepted shape in /openapi.json.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

Label = str | int | float | bool
Row = list[float] | dict[str, float]


class PredictRequest(BaseModel):
    """A batch of rows ``x`` to predict: lists of numbers or objects keyed by feature name."""

    instances: list[Row] = Field(
        description=(
            "One row per prediction: a list of the model's n_features numbers, or an object "
            "{feature_name: number} when the model has feature names. Finite numbers only."
        ),
        examples=[[[5.1, 3.5, 1.4, 0.2]]],
    )


class Prediction(BaseModel):
    """``label = classes[argmax_t a_t]`` with ``a = softmax(W x + b)`` (or the sigmoids)."""

    label: Label | list[int] = Field(
        description="The predicted class (a 0/1 list per class for multi-label models)"
    )
    probabilities: list[float] = Field(description="a_t for each class, in the order of classes")


class PredictResponse(BaseModel):
    """Predictions in the order of the request's rows."""

    classes: list[Label]
    predictions: list[Prediction]


class ImagePrediction(Prediction):
    """The prediction for one uploaded digit image, with the 28x28 input the model saw."""

    classes: list[Label]
    pixels: list[float] = Field(
        description="The 784 grey values in [0, 1] (row-major 28x28) after the MNIST conversion"
    )


class ModelInfo(BaseModel):
    """What the served model is and what it accepts."""

    kind: str = Field(description="binary, multinomial, ovr or multilabel")
    classes: list[Label]
    n_features: int
    feature_names: list[str] | None
    image_input: bool = Field(description="True when rows are 28x28 images (784 pixels)")
    n_templates: int = Field(description="Weight templates at /model/templates/{k}.png")
    metrics: dict[str, Any] | None
    preprocessing: dict[str, Any] | None
    format_version: Any
    library_version: str | None
    weights_sha256: str | None
    max_batch_rows: int
    max_body_bytes: int = Field(
        description="Most bytes of a /predict body: what max_batch_rows rows of this model "
        "can need (64 bytes a number, 6 a name character), at most the server's limit"
    )
    max_image_bytes: int


class Health(BaseModel):
    """Liveness: the model is loaded and the server answers."""

    status: str


class ErrorResponse(BaseModel):
    """Every refusal: what is wrong and what would be accepted."""

    error: str
    status: int
