"""The HTTP API of ``softmaxreg serve`` through FastAPI's TestClient: every endpoint, every
refusal (status and message), agreement with the estimator, and no 5xx on random bodies."""

from __future__ import annotations

import io
import json
import math
import os
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from test_serve_models import fit_digit_model, fit_iris_model, iris_frame

from softmaxreg import io as model_io
from softmaxreg import preprocessing
from softmaxreg.datasets import load_digit_images
from softmaxreg.errors import DataNotFoundError, ModelFileError
from softmaxreg.serve import create_app, run
from softmaxreg.serve.body_limit import BodySizeLimit


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "model.safetensors"
    model = fit_digit_model(path)
    return model, path, TestClient(create_app(path.parent), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def iris(tmp_path_factory):
    path = tmp_path_factory.mktemp("iris") / "iris.safetensors"
    model = fit_iris_model(path)
    return model, path, TestClient(create_app(path), raise_server_exceptions=False)


def digit_png(draw_strokes, size=(120, 160), fmt="PNG", background=255, ink=0) -> bytes:
    image = Image.new("L", size, background)
    draw_strokes(ImageDraw.Draw(image), ink)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def seven(draw, ink):
    draw.line([(20, 25), (100, 25), (45, 140)], fill=ink, width=14)


def assert_error(response, status, *fragments):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    assert "Traceback" not in body["error"]


# ------------------------------------------------------------------------------ endpoints


def test_healthz(digits):
    response = digits[2].get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_model_reports_the_file_metadata(digits, iris):
    model, path, client = digits
    info = client.get("/model").json()
    metadata = model_io.read_metadata(path)
    assert info["classes"] == list(range(10))
    assert info["n_features"] == 784 and info["feature_names"] is None
    assert info["image_input"] is True and info["n_templates"] == 10
    assert info["metrics"] == metadata["metrics"]
    assert info["format_version"] == metadata["format_version"]
    assert info["weights_sha256"] == metadata["weights_sha256"]
    assert info["preprocessing"] == preprocessing.affine(0.0, 1.0 / 255.0)
    assert info["max_batch_rows"] == 1024
    iris_info = iris[2].get("/model").json()
    assert iris_info["feature_names"] == list(iris_frame()[0].columns)
    assert iris_info["classes"] == ["setosa", "versicolor", "virginica"]
    assert iris_info["image_input"] is False and iris_info["n_templates"] == 0


def test_predict_rows_equal_the_estimator(digits):
    model, _, client = digits
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(5, 784)).astype(float)
    response = client.post("/predict", json={"instances": X.tolist()})
    assert response.status_code == 200
    body = response.json()
    assert body["classes"] == list(range(10))
    expected = model.predict_proba(X / 255.0)
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert [p["label"] for p in body["predictions"]] == model.predict(X / 255.0).tolist()


def test_predict_named_features_equal_the_estimator(iris):
    model, _, client = iris
    X, _ = iris_frame()
    rows = X.iloc[[0, 60, 120]]
    instances = [dict(reversed(list(row.items()))) for _, row in rows.iterrows()]
    body = client.post("/predict", json={"instances": instances}).json()
    assert [p["label"] for p in body["predictions"]] == model.predict(rows).tolist()
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, model.predict_proba(rows), rtol=1e-12)
    as_lists = client.post("/predict", json={"instances": rows.to_numpy().tolist()}).json()
    assert as_lists == body


def test_multilabel_labels_are_indicator_rows(tmp_path):
    from softmaxreg import LogisticRegression, save

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0], axis=1).astype(int)
    model = LogisticRegression().fit(X, Y)
    save(model, tmp_path / "m.safetensors")
    client = TestClient(create_app(tmp_path / "m.safetensors"))
    body = client.post("/predict", json={"instances": X[:4].tolist()}).json()
    probabilities = model.predict_proba(X[:4])
    assert [p["label"] for p in body["predictions"]] == (probabilities > 0.5).astype(int).tolist()


def test_predict_image_equals_the_library_conversion(digits, tmp_path):
    model, _, client = digits
    data = digit_png(seven)
    response = client.post("/predict/image", files={"file": ("seven.png", data, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    (tmp_path / "seven.png").write_bytes(data)
    pixels = load_digit_images(tmp_path / "seven.png")[0]
    np.testing.assert_allclose(body["pixels"], pixels, atol=5e-5)
    expected = model.predict_proba(pixels[None].astype(np.float64))
    np.testing.assert_allclose(body["probabilities"], expected[0], rtol=1e-5, atol=1e-7)
    assert body["label"] == 7 == int(np.argmax(expected))
    assert body["classes"] == list(range(10))


def test_predict_image_accepts_jpeg_and_white_on_black(digits):
    client = digits[2]
    jpeg = digit_png(seven, fmt="JPEG")
    inverted = digit_png(seven, background=0, ink=255)
    for name, data in (("seven.jpg", jpeg), ("seven-inverted.png", inverted)):
        body = client.post("/predict/image", files={"file": (name, data)}).json()
        assert body["label"] == 7, name


def test_templates_are_the_weight_rows(digits, iris):
    model, _, client = digits
    response = client.get("/model/templates/3.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)
    assert image.shape == (112, 112, 3)
    w = model.coef_[3].reshape(28, 28)
    fade = np.round(255 * (1 - np.abs(w) / np.abs(w).max())).astype(int)
    i, j = np.unravel_index(np.argmax(w), w.shape)  # positive: red, fading to white
    assert image[4 * i + 1, 4 * j + 1].tolist() == [255, fade[i, j], fade[i, j]]
    i, j = np.unravel_index(np.argmin(w), w.shape)  # negative: blue
    assert image[4 * i + 3, 4 * j].tolist() == [fade[i, j], fade[i, j], 255]
    assert 0 in (fade[np.unravel_index(np.argmax(w), w.shape)], fade[i, j])
    assert_error(client.get("/model/templates/10.png"), 404, "templates 0..9")
    assert_error(iris[2].get("/model/templates/0.png"), 404, "no weight templates")


def test_page_and_docs_load_nothing_from_elsewhere(digits):
    client = digits[2]
    for path in ("/", "/docs"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", response.text), path
    assert '<canvas id="canvas"' in client.get("/").text
    docs = client.get("/docs").text
    assert "/predict/image" in docs and "PredictRequest" in docs
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/predict/image", "/model", "/healthz"} <= set(schema["paths"])
    assert client.get("/redoc").status_code == 404


# ------------------------------------------------------------------------------ refusals

ROW = [0.0] * 784
BAD_BODIES = [
    ({"instances": []}, "'instances' is empty"),
    ({"instances": [[1.0, 2.0]]}, "instances[0] has 2 values, but the model expects 784"),
    ({"instances": [ROW, ROW[:-1]]}, "instances[1] has 783 values"),
    ({"instances": [["7"] + ROW[1:]]}, "instances[0][0] is a string ('7')"),
    ({"instances": [ROW[:5] + [True] + ROW[6:]]}, "instances[0][5] is a boolean"),
    ({"instances": [ROW[:9] + [None] + ROW[10:]]}, "instances[0][9] is null"),
    ({"instances": [ROW[:3] + [[1]] + ROW[4:]]}, "instances[0][3] is a list"),
    ({"instances": [ROW[:2] + [10**400] + ROW[3:]]}, "instances[0][2]"),
    ({"instances": [5]}, "instances[0] is a number; each row must be a list of 784 numbers"),
    ({"instances": "x"}, "'instances' must be a list of rows"),
    ({"instances": [{"a": 1}]}, "this model has no feature names"),
    ({}, "instances is required"),
    ([1, 2], "must be a JSON object"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_predict_bodies_are_422_with_the_reason(digits, body, message):
    assert_error(digits[2].post("/predict", json=body), 422, message)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_refused(digits, token):
    text = '{"instances": [[0, ' + token + ", " + ", ".join(["0"] * 782) + "]]}"
    response = digits[2].post(
        "/predict", content=text, headers={"content-type": "application/json"}
    )
    assert_error(response, 422, "instances[0][1]", "finite numbers")


def test_a_body_that_is_not_json_is_415(digits):
    response = digits[2].post("/predict", content=b"1,2,3", headers={"content-type": "text/csv"})
    assert_error(response, 415, "Content-Type: application/json", "'text/csv'")


def test_features_that_overflow_the_scores_get_the_limit_probabilities(iris):
    # z = W x' + b overflows to +-inf (issue 11: computed with the right signs, never NaN):
    # a petal width of 1e308 cm is virginica for certain
    response = iris[2].post("/predict", json={"instances": [[0.0] * 4, [0.0, 0.0, 0.0, 1e308]]})
    assert response.status_code == 200
    prediction = response.json()["predictions"][1]
    assert prediction == {"label": "virginica", "probabilities": [0.0, 0.0, 1.0]}


def test_invalid_json_is_400(digits):
    response = digits[2].post(
        "/predict", content=b'{"instances": [[1,', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "not valid JSON")


def test_named_features_must_match(iris):
    client = iris[2]
    row = {"sepal length (cm)": 5.0, "sepal width (cm)": 3.0, "petal length (cm)": 1.0}
    assert_error(
        client.post("/predict", json={"instances": [row]}),
        422,
        "instances[0]: missing 'petal width (cm)'",
    )
    row |= {"petal width (cm)": 0.2, "colour": 1.0}
    assert_error(client.post("/predict", json={"instances": [row]}), 422, "unknown 'colour'")
    row.pop("colour")
    row["petal width (cm)"] = "wide"
    assert_error(client.post("/predict", json={"instances": [row]}), 422, "instances[0][3]")


def test_too_many_rows_is_413(iris):
    client = TestClient(create_app(iris[1], max_batch_rows=3))
    ok = client.post("/predict", json={"instances": [[5.0, 3.0, 1.0, 0.2]] * 3})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 3
    too_many = client.post("/predict", json={"instances": [[5.0, 3.0, 1.0, 0.2]] * 4})
    assert_error(too_many, 413, "too many rows: 4", "at most 3")


def test_oversized_bodies_are_413_declared_or_chunked(iris):
    client = TestClient(
        create_app(iris[1], max_body_bytes=1000), headers={"content-type": "application/json"}
    )
    small = json.dumps({"instances": [[5.0, 3.0, 1.0, 0.2]] * 10})
    assert client.post("/predict", content=small).status_code == 200
    big = json.dumps({"instances": [[5.0, 3.0, 1.0, 0.2]] * 100}).encode()
    assert_error(client.post("/predict", content=big), 413, "limit is 1000 bytes")

    def chunks():
        for start in range(0, len(big), 100):
            yield big[start : start + 100]

    response = client.post("/predict", content=chunks())  # no Content-Length: chunked
    assert_error(response, 413, "limit is 1000 bytes")


async def _drive(middleware, headers, messages):
    """Run ``middleware`` on one request; returns (sent messages, receive calls)."""
    sent, calls = [], []

    async def receive():
        calls.append(1)
        return messages[len(calls) - 1]

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/predict",
        "query_string": b"",
        "headers": headers,
    }
    await middleware(scope, receive, send)
    return sent, len(calls)


def test_body_limit_refuses_before_reading_and_stops_counting_chunks(iris):
    import asyncio

    app = create_app(iris[1])
    middleware = BodySizeLimit(app, lambda path: 250)
    sent, calls = asyncio.run(_drive(middleware, [(b"content-length", b"10000000")], []))
    assert calls == 0  # the declared length alone was enough
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"].startswith("request body too large")
    chunk = {"type": "http.request", "body": b" " * 100, "more_body": True}
    json_type = [(b"content-type", b"application/json")]
    sent, calls = asyncio.run(_drive(middleware, json_type, [chunk] * 50))
    assert calls == 3  # the third chunk passes 250 bytes; the rest is never read
    assert sent[0]["status"] == 413


def test_image_refusals(digits, iris):
    client = digits[2]
    post = client.post
    assert_error(
        post("/predict/image", files={"file": ("a.txt", b"hello", "text/plain")}),
        415,
        "'a.txt' is not a PNG or JPEG",
    )
    gif = io.BytesIO()
    Image.new("L", (20, 20), 255).save(gif, format="GIF")
    assert_error(post("/predict/image", files={"file": ("a.gif", gif.getvalue())}), 415, "PNG")
    assert_error(post("/predict/image", files={"file": ("e.png", b"")}), 422, "is empty")
    blank = digit_png(lambda draw, ink: None)
    assert_error(post("/predict/image", files={"file": ("b.png", blank)}), 422, "no digit found")
    huge = digit_png(seven, size=(5000, 5000))
    assert len(huge) < 1_000_000
    assert_error(post("/predict/image", files={"file": ("h.png", huge)}), 413, "5000x5000")
    truncated = digit_png(seven)[:200]
    assert_error(post("/predict/image", files={"file": ("t.png", truncated)}), 422, "damaged")
    assert_error(post("/predict/image"), 422, "file is required")
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    assert len(buffer.getvalue()) > 1024 * 1024 - 4096
    assert_error(post("/predict/image", files={"file": ("n.png", buffer.getvalue())}), 413)
    tabular = iris[2].post("/predict/image", files={"file": ("seven.png", digit_png(seven))})
    assert_error(tabular, 422, "takes 4 features, not 28x28 images")


def test_unknown_routes_and_methods_are_json(digits):
    assert_error(digits[2].get("/nowhere"), 404, "Not Found")
    assert_error(digits[2].get("/predict"), 405, "Method Not Allowed")


def test_an_internal_failure_is_a_500_without_a_trace(iris, monkeypatch):
    app = create_app(iris[1])

    def broken(X):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(app.state.served, "predict", broken)
    response = TestClient(app, raise_server_exceptions=False).post(
        "/predict", json={"instances": [[5.0, 3.0, 1.0, 0.2]]}
    )
    assert_error(response, 500, "internal error (RuntimeError)")
    assert "secret" not in response.text


def test_bad_settings_and_models_fail_at_start(tmp_path, iris):
    with pytest.raises(ValueError, match="max_batch_rows must be a positive whole number"):
        create_app(iris[1], max_batch_rows=0)
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        run(iris[1], workers=0)
    most = 4 * (os.cpu_count() or 1)
    with pytest.raises(ValueError) as too_many:
        run(iris[1], workers=most + 1)
    assert str(too_many.value) == (
        f"workers must be at most {most} (4 per CPU on this machine; each is a process "
        f"holding the model), got {most + 1}"
    )
    with pytest.raises(DataNotFoundError, match="folder without a model.safetensors"):
        create_app(tmp_path)
    (tmp_path / "fake.safetensors").write_bytes(b"not a model")
    with pytest.raises(ModelFileError):
        create_app(tmp_path / "fake.safetensors")


# ------------------------------------------------------------------------------ properties

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([0, 1, -1.5, 1e308, 5e-324]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
row = st.one_of(
    st.lists(numbers, min_size=4, max_size=4),
    st.lists(json_values, max_size=6),
    st.fixed_dictionaries(
        {name: numbers for name in ["sepal length (cm)", "sepal width (cm)"]},
        optional={"petal length (cm)": numbers, "petal width (cm)": json_values},
    ),
    json_values,
)
bodies = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(row, max_size=5)}),
    st.dictionaries(st.sampled_from(["instances", "x"]), json_values, max_size=2),
    json_values,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_random_bodies_never_give_a_5xx(iris, body):
    model, _, client = iris
    try:
        text = json.dumps(body)  # NaN / Infinity tokens as Python's json writes them
    except ValueError:  # integers too long for Python's str(int)
        return
    response = client.post("/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    answer = response.json()
    if response.status_code == 200:
        rows = body["instances"]
        assert len(answer["predictions"]) == len(rows)
        for prediction in answer["predictions"]:
            assert math.isclose(sum(prediction["probabilities"]), 1.0, rel_tol=1e-9)
    else:
        assert 400 <= response.status_code < 500
        assert answer["error"] and answer["status"] == response.status_code


def test_run_serves_on_localhost_by_default():
    import inspect

    assert inspect.signature(run).parameters["host"].default == "127.0.0.1"
