"""The FastAPI application: prediction endpoints, model facts, the drawing page.

``create_app(model_path)`` loads the model once. Every refusal is a 4xx JSON body
``{"error": "<what is wrong and what is accepted>", "status": <code>}``; unexpected
failures are a 500 with the same shape and no stack trace. Nothing is written to disk and
no endpoint accepts a model.

The event loop only moves bytes: decoding a JSON body or an image, checking it, predicting
and encoding the answer run in a worker thread (``run_in_threadpool``), so ``/healthz`` and
other requests are answered while a large request is worked on. Every size is bounded
before the work it would cost: the body (declared or counted), the rows, the keys of a row,
the pixels an image declares.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from softmaxreg import __version__
from softmaxreg._exact_json import encode
from softmaxreg.errors import SoftmaxregError
from softmaxreg.serve.body_limit import BodySizeLimit
from softmaxreg.serve.docs_page import docs_html
from softmaxreg.serve.hosts import HostAllowList
from softmaxreg.serve.images import ImageError, upload_to_pixels
from softmaxreg.serve.instances import (
    BodyBounds,
    InstancesError,
    body_bounds,
    instances_matrix,
    request_instances,
)
from softmaxreg.serve.schemas import (
    ErrorResponse,
    Health,
    ImagePrediction,
    ModelInfo,
    PredictRequest,
    PredictResponse,
)
from softmaxreg.serve.served_model import ServedModel, load_served_model, strict_json

DEFAULT_MAX_BATCH_ROWS = 1024
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
# Starlette keeps an upload in memory up to 1 MiB and spools larger ones to a temporary
# file; image requests stay under that so no endpoint ever writes to disk.
DEFAULT_MAX_IMAGE_BYTES = 1024 * 1024 - 4096
IMAGE_PATH = "/predict/image"
PREDICT_PATH = "/predict"
PREDICT_BODY = {  # the body is read raw (to decode it off the event loop), so say it here
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PredictRequest.model_json_schema()}},
    }
}
ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 422)}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; form-action 'none'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def create_app(
    model_path: str | os.PathLike,
    *,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """An ASGI app answering with the model saved at ``model_path`` (run folder or file).

    ``max_batch_rows``: most rows in one /predict request; ``max_body_bytes``: most bytes in
    any request body (checked before the body is read; a /predict body is also limited to
    what ``max_batch_rows`` rows of this model can need, see ``body_bounds``);
    ``max_image_bytes``: most bytes of a /predict/image request (at most 1 MiB - 4 KiB so
    uploads are held in memory only); ``allowed_hosts``: the Host header names answered
    (None: any; see :mod:`softmaxreg.serve.hosts`), others get a 400.

    Raises ``ModelFileError`` / ``DataNotFoundError`` for a model that cannot be served,
    ``ValueError`` for a bad limit or host name.
    """
    for name, value in (
        ("max_batch_rows", max_batch_rows),
        ("max_body_bytes", max_body_bytes),
        ("max_image_bytes", max_image_bytes),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    max_image_bytes = min(max_image_bytes, max_body_bytes, DEFAULT_MAX_IMAGE_BYTES)
    served = load_served_model(model_path)
    bounds = body_bounds(served.n_features, served.feature_names, max_batch_rows, max_body_bytes)
    app = FastAPI(
        docs_url=None,
        redoc_url=None,
        title="softmaxreg",
        version=__version__,
        description=(
            "Predictions of a softmax / logistic regression model "
            f"({served.model.kind_}, {served.n_features} features, "
            f"{len(served.classes)} classes). Errors: JSON {{error, status}}."
        ),
    )
    app.state.served = served
    _add_error_handlers(app)
    _add_routes(app, served, bounds, max_image_bytes)
    limits = {IMAGE_PATH: max_image_bytes, PREDICT_PATH: bounds.max_bytes}
    app.add_middleware(BodySizeLimit, limit_for=lambda path: limits.get(path, max_body_bytes))
    if allowed_hosts is not None:
        app.add_middleware(HostAllowList, allowed_hosts=allowed_hosts)
    return app


def _add_routes(app: FastAPI, served: ServedModel, bounds: BodyBounds, max_image: int) -> None:
    page = resources.files("softmaxreg.serve").joinpath("page.html").read_text("utf-8")
    info = _model_info(served, bounds, max_image)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def drawing_page() -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(docs_html(app.openapi()), headers=PAGE_HEADERS)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict:
        """The server is up and the model is loaded."""
        return {"status": "ok"}

    @app.get("/model", response_model=ModelInfo)
    async def model_info() -> Response:
        """Classes, feature names, metrics, format version and the request limits."""
        return Response(info, media_type="application/json")

    @app.get(
        "/model/templates/{k}.png",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, 404: ERRORS[404]},
    )
    async def template(k: int) -> Response:
        """Row ``w_k`` of ``W`` as a 28x28 image (red positive, blue negative weights)."""
        if not served.templates:
            raise HTTPException(
                404, "this model does not take 28x28 images, so it has no weight templates"
            )
        if not 0 <= k < len(served.templates):
            raise HTTPException(
                404, f"no template {k}: this model has templates 0..{len(served.templates) - 1}"
            )
        return Response(served.templates[k], media_type="image/png")

    @app.post(
        PREDICT_PATH,
        response_model=PredictResponse,
        responses=ERRORS,
        openapi_extra=PREDICT_BODY,
    )
    async def predict(request: Request) -> Response:
        """Labels and class probabilities ``a = softmax(W x' + b)`` for each row.

        The body is a JSON object ``{"instances": [row, ...]}`` (see PredictRequest)."""
        _require_json(request.headers.get("content-type", ""))
        body = await request.body()
        return await run_in_threadpool(_predict_rows, served, body, bounds)

    @app.post(IMAGE_PATH, response_model=ImagePrediction, responses=ERRORS)
    async def predict_image(
        file: Annotated[UploadFile, File(description="A PNG or JPEG of one digit")],
    ) -> dict:
        """One digit image -> 28x28 the MNIST way -> label and class probabilities."""
        if not served.image_input:
            raise HTTPException(
                422,
                f"this model takes {served.n_features} features, not 28x28 images "
                "(784 pixels); send rows to /predict",
            )
        data = await file.read()
        name = repr(file.filename or "upload")
        return await run_in_threadpool(_predict_image, served, data, name)


def _model_info(served: ServedModel, bounds: BodyBounds, max_image: int) -> bytes:
    """The /model answer, encoded once (``ModelFileError`` at start if JSON cannot carry it)."""
    meta = served.metadata
    info = {
        "kind": served.model.kind_,
        "classes": served.classes,
        "n_features": served.n_features,
        "feature_names": served.feature_names,
        "image_input": served.image_input,
        "n_templates": len(served.templates),
        "metrics": encode(meta.get("metrics")),
        "preprocessing": encode(meta.get("preprocessing")),
        "format_version": meta.get("format_version"),
        "library_version": meta.get("library_version"),
        "weights_sha256": meta.get("weights_sha256"),
        "max_batch_rows": bounds.max_rows,
        "max_body_bytes": bounds.max_bytes,
        "max_image_bytes": max_image,
    }
    return strict_json(info, "the model's metadata", served.path)


def _require_json(content_type: str) -> None:
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise InstancesError(
            "send the body as JSON with the header Content-Type: application/json "
            f"(got {content_type or 'no Content-Type'!r})",
            status=415,
        )


def _predict_rows(served: ServedModel, body: bytes, bounds: BodyBounds) -> JSONResponse:
    """The /predict work, in a worker thread: JSON -> ``X`` -> predictions -> JSON."""
    instances = request_instances(body, bounds)
    X = instances_matrix(instances, served.n_features, served.feature_names, bounds.max_rows)
    labels, probabilities = served.predict(X)
    return JSONResponse(
        {
            "classes": served.classes,
            "predictions": [
                {"label": label, "probabilities": row.tolist()}
                for label, row in zip(labels, probabilities, strict=True)
            ],
        }
    )


def _predict_image(served: ServedModel, data: bytes, name: str) -> JSONResponse:
    """The /predict/image work, in a worker thread: decode, convert, predict, encode."""
    pixels = upload_to_pixels(data, name)
    labels, probabilities = served.predict(pixels[None] * 255.0, where=name)
    return JSONResponse(
        {
            "label": labels[0],
            "probabilities": probabilities[0].tolist(),
            "classes": served.classes,
            "pixels": [round(float(value), 4) for value in pixels],
        }
    )


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return _error(422, _validation_message(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(InstancesError)
    async def bad_instances(request: Request, error: InstancesError) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(ImageError)
    async def bad_image(request: Request, error: ImageError) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(SoftmaxregError)
    async def refused(request: Request, error: SoftmaxregError) -> JSONResponse:
        return _error(422, str(error))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error ({type(error).__name__}); the request was not served")


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """Pydantic's error list as one sentence naming where in the request each problem is."""
    parts = []
    for item in errors[:5]:
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body") or "body"
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "missing":
            message = "is required"
        elif tuple(item.get("loc", ())) == ("body", "file"):
            message = (
                "must be an uploaded file: send multipart/form-data with a part named 'file' "
                "that has a filename"
            )
        parts.append(f"{where} {message}" if not message.startswith(where) else message)
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    message = message.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
