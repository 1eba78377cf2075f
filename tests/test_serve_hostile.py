"""Hostile and odd requests: every client mistake is a 4xx JSON, sizes are refused before the
work they would cost, the event loop stays free while a request is worked on, models that
cannot be served refuse to start, and only this machine's names reach a loopback server."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time
import zlib

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from test_serve_api import _drive, assert_error
from test_serve_models import (
    fit_digit_model,
    fit_iris_model,
    fit_standardized_iris_model,
    fit_wide_model,
)

from softmaxreg import io as model_io
from softmaxreg import preprocessing
from softmaxreg.batch_predict import rows_in_feature_order
from softmaxreg.errors import ModelFileError
from softmaxreg.serve import app as app_module
from softmaxreg.serve import create_app, serve_in_background
from softmaxreg.serve.body_limit import BodySizeLimit
from softmaxreg.serve.hosts import allowed_hosts_for, host_name
from softmaxreg.serve.http_protocol import BAD_REQUEST
from softmaxreg.serve.images import limit_pillow_decoding
from softmaxreg.serve.instances import instances_matrix

JSON = {"content-type": "application/json"}
IRIS_WIDTHS = ["sepal width (cm)", "petal width (cm)"]


@pytest.fixture(scope="module")
def standardized(tmp_path_factory):
    path = tmp_path_factory.mktemp("std") / "iris.safetensors"
    model = fit_standardized_iris_model(path)
    return model, path, TestClient(create_app(path), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "model.safetensors"
    fit_digit_model(path)
    return path, TestClient(create_app(path), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    path = tmp_path_factory.mktemp("wide") / "wide.safetensors"
    fit_wide_model(path)
    return path, TestClient(create_app(path), raise_server_exceptions=False)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width x height`` grey pixels, with no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def seven_png(side: int) -> bytes:
    image = Image.new("L", (side, side), 255)
    ImageDraw.Draw(image).line(
        [(side // 6, side // 6), (5 * side // 6, side // 6), (side // 3, 5 * side // 6)],
        fill=0,
        width=max(2, side // 20),
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# ------------------------------------------------------------------ numbers after preprocessing

OVERFLOW = (
    "which the model's preprocessing x' = (x - shift) * scale takes beyond float64 "
    "(about 1.8e308); send values on the scale of the training data"
)


def test_values_the_stored_preprocessing_overflows_are_422(standardized):
    model, path, client = standardized
    cases = [
        ([[1e308, 1e308]], f"instances[0][0] is 1e+308, {OVERFLOW}"),
        ([[3.0, 1.0], [-1.7e308, 1.0]], f"instances[1][0] is -1.7e+308, {OVERFLOW}"),
        ([[3.0, 1.7e308]], f"instances[0][1] is 1.7e+308, {OVERFLOW}"),
        ([{"petal width (cm)": 1.7e308, "sepal width (cm)": 3.0}], "instances[0][1] is 1.7e+308"),
    ]
    for instances, message in cases:
        response = client.post("/predict", json={"instances": instances})
        assert_error(response, 422, message)
    # large but finite after preprocessing: answered, with the estimator's probabilities
    X = np.array([[1e300, -1e300], [3.0, 1.0]])
    body = client.post("/predict", json={"instances": X.tolist()}).json()
    spec = model_io.read_metadata(path)["preprocessing"]
    with rows_in_feature_order():
        expected = model.predict_proba(preprocessing.apply(X, spec))
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("token", "what"),
    [
        ("9" * 400, "Infinity or beyond float64 (about 1.8e308)"),
        ("-1e400", "Infinity or beyond float64 (about 1.8e308)"),
        ("NaN", "NaN"),
    ],
)
def test_numbers_beyond_float64_are_422(standardized, token, what):
    text = '{"instances": [[1.0, ' + token + "]]}"
    response = standardized[2].post("/predict", content=text, headers=JSON)
    assert_error(
        response,
        422,
        f"instances[0][1] is {what}; features must be finite numbers (no NaN or Infinity)",
    )


def test_an_integer_longer_than_python_reads_is_422(standardized):
    text = '{"instances": [[1.0, ' + "9" * 5000 + "]]}"
    response = standardized[2].post("/predict", content=text, headers=JSON)
    assert_error(
        response,
        422,
        "the body holds an integer of more than 4300 digits; features must be finite numbers "
        "(float64: up to about 1.8e308)",
    )


# ------------------------------------------------------------------ JSON bounded before decoding


def test_a_dict_row_with_200000_keys_is_refused_in_linear_work(wide):
    path, client = wide
    row = {f"k{j}": 0.0 for j in range(200_000)}
    missing = ", ".join(f"'f{j}'" for j in range(10))
    unknown = ", ".join(f"'k{j}'" for j in range(10))
    features = ", ".join(f"'f{j}'" for j in range(20))
    expected = (
        f"instances[0]: missing {missing}; unknown {unknown}; the model's features are "
        f"{features} ..."
    )
    assert_error(client.post("/predict", json={"instances": [row]}), 422, expected)

    class CountedNames(list):
        passes = 0

        def __iter__(self):
            CountedNames.passes += 1
            return super().__iter__()

    names = CountedNames(f"f{j}" for j in range(2000))
    row |= {name: 0.0 for name in names}
    CountedNames.passes = 0
    with pytest.raises(ValueError, match=r"^instances\[0\]: unknown 'k0', 'k1'"):
        instances_matrix([row], 2000, names, 10)
    assert CountedNames.passes <= 2  # the names are walked once or twice, not once per key


def test_a_million_rows_are_refused_by_their_size(standardized, wide):
    client = standardized[2]
    limit = 64 * 1024 + 1024 * (2 * 64 + sum(6 * len(name) + 4 for name in IRIS_WIDTHS))
    assert client.get("/model").json()["max_body_bytes"] == limit
    body = json.dumps({"instances": [[3.0, 1.0]] * 1_000_000})
    assert_error(
        client.post("/predict", content=body, headers=JSON), 413, f"limit is {limit} bytes"
    )
    # rows of a 2000-feature model may take 16 MiB: counted before decoding instead
    empty_rows = '{"instances": [' + ",".join(["[]"] * 1_000_000) + "]}"
    assert len(empty_rows) < 16 * 1024 * 1024
    assert_error(
        wide[1].post("/predict", content=empty_rows, headers=JSON),
        413,
        "the body holds more JSON values than 1024 rows of 2000 numbers can (1000002 lists or "
        "objects and 999999 commas; at most 2050 and 2049024); send at most 1024 rows",
    )


def test_the_largest_request_a_model_takes_fits_its_limits(standardized):
    """1024 keyed rows, indented, with the longest float64 spellings: within every bound."""
    _, _, client = standardized
    row = {name: -1.2345678901234567e-300 for name in IRIS_WIDTHS}
    body = json.dumps({"instances": [row] * 1024}, indent=8)
    assert len(body) < client.get("/model").json()["max_body_bytes"]
    response = client.post("/predict", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1024


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, 'the body is empty; send a JSON object like {"instances": [[...], ...]}'),
        (b'{"instances": [[1,', 400, "the body is not valid JSON (Expecting value: line 1"),
        (b"[" * 1500 + b"]" * 1500, 400, "its lists or objects are nested too deeply"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "(100000 lists or objects and 0 commas; at most"),
        (b'{"instances": [[1.0, "\xff"]]}', 400, "the body is not UTF-8 text ('utf-8' codec"),
        (b'"instances"', 422, "the body must be a JSON object like"),
        (b"true", 422, "got a boolean"),
        (b'{"rows": []}', 422, "instances is required"),
        (b'{"instances": [[true, 1.0]]}', 422, "instances[0][0] is a boolean"),
        (b'{"instances": [["3", 1.0]]}', 422, "instances[0][0] is a string ('3')"),
        (b'{"instances": [[[3.0], 1.0]]}', 422, "instances[0][0] is a list"),
        (b'{"instances": [[3.0]]}', 422, "instances[0] has 1 values, but the model expects 2"),
        (b'{"instances": []}', 422, "'instances' is empty"),
        (b'{"instances": {"a": 1}}', 422, "'instances' must be a list of rows, got an object"),
        (b'{"instances": [{"\\ud800": 1.0}]}', 422, "unknown '\\ud800'"),
        (
            b'{"instances": [{"sepal width (cm)": 2.8, "sepal width (cm)": 9, '
            b'"petal width (cm)": 1.3}]}',
            422,
            "the name 'sepal width (cm)' appears twice in one JSON object; send each feature",
        ),
        (b'{"instances": [[3.0, 1.0]], "instances": [[1.0, 2.0]]}', 422,
         "the name 'instances' appears twice in one JSON object"),
        ('{"instances": [[3.0, 1.0]]}'.encode("utf-16"), 200, None),  # JSON's other encodings
    ],
)
def test_bad_bodies_are_4xx_with_the_reason(standardized, body, status, message):
    response = standardized[2].post("/predict", content=body, headers=JSON)
    if message is None:
        assert response.status_code == status, response.text
    else:
        assert_error(response, status, message)


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json; charset=utf-8", 200),
        ("application/vnd.api+json", 200),
        ("text/json", 415),
        ("text/plain", 415),
        ("multipart/form-data; boundary=x", 415),
        ("\x00;;==", 415),
    ],
)
def test_content_types(standardized, content_type, status):
    body = b'{"instances": [[3.0, 1.0]]}'
    response = standardized[2].post(
        "/predict", content=body, headers={"content-type": content_type}
    )
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 415, "Content-Type: application/json")


@pytest.mark.parametrize(
    ("values", "status"),
    [
        ([b"abc"], 400),
        ([b"-1"], 400),
        ([b"+26"], 400),
        ([b" 26"], 400),
        ([b"2_6"], 400),
        ([b"\xd9\xa2\xd9\xa6"], 400),  # Arabic-Indic digits, which int() would read
        ([b"26", b"27"], 400),
        ([b"9" * 5000], 413),
        ([b"26", b"26"], 200),
    ],
)
def test_malformed_content_lengths_are_4xx_json(standardized, values, status):
    import asyncio

    app = BodySizeLimit(standardized[2].app, lambda path: 1000)
    headers = [(b"content-type", b"application/json")]
    headers += [(b"content-length", value) for value in values]
    message = {"type": "http.request", "body": b'{"instances": [[3.0, 1.0]]}', "more_body": False}
    sent, _ = asyncio.run(_drive(app, headers, [message]))
    got, body = sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert got == status, body
    if status == 400:
        assert body == {
            "error": "the Content-Length header is not one whole number of bytes",
            "status": 400,
        }


# ------------------------------------------------------------------ images refused before decoding


def test_declared_image_sizes_are_refused_before_decoding(digits, monkeypatch):
    from PIL import ImageFile

    _, client = digits

    def never(self):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", never)
    limits = "at most 4096 pixels on a side and 4194304 in all (2048x2048) are accepted"
    bomb = png_declaring(1, 16_777_216)
    assert len(bomb) < 70
    cases = [("b.png", bomb, "1x16777216"), ("s.png", seven_png(4096), "4096x4096")]
    cases.append(("w.png", png_declaring(4097, 1), "4097x1"))
    cases.append(("p.png", png_declaring(2049, 2048), "2049x2048"))
    for name, data, size in cases:
        response = client.post("/predict/image", files={"file": (name, data)})
        assert_error(response, 413, f"'{name}' is {size} pixels; {limits}")


def test_the_largest_accepted_image_is_predicted(digits):
    response = digits[1].post("/predict/image", files={"file": ("s.png", seven_png(2048))})
    assert response.status_code == 200, response.text
    assert response.json()["label"] == 7


def test_pillows_guard_in_a_server_process(digits, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after
    limit_pillow_decoding()
    assert Image.MAX_IMAGE_PIXELS == 2048 * 2048
    response = digits[1].post(
        "/predict/image", files={"file": ("b.png", png_declaring(3000, 3000))}
    )
    assert_error(response, 413, "'b.png' is over 8388608 pixels; at most 4096 pixels on a side")


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        (
            b"--zz--\r\n",
            {"content-type": "multipart/form-data; boundary=zz"},
            422,
            "file is required",
        ),
        (b"\x00\xff" * 50, {"content-type": "multipart/form-data; boundary=zz"}, 400, "multipart"),
        (
            b"file=abc",
            {"content-type": "application/x-www-form-urlencoded"},
            422,
            "a part named 'file'",
        ),
        (b"{}", JSON, 422, "file is required"),
        (b"xx", {"content-type": "multipart/form-data"}, 400, "boundary"),
    ],
)
def test_bad_image_requests_are_4xx(digits, content, headers, status, message):
    assert_error(
        digits[1].post("/predict/image", content=content, headers=headers), status, message
    )


def test_image_form_edge_cases(digits):
    client = digits[1]
    parts = b"".join(
        b'--zz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(1500)
    )
    response = client.post(
        "/predict/image",
        content=parts + b"--zz--\r\n",
        headers={"content-type": "multipart/form-data; boundary=zz"},
    )
    assert_error(response, 400, "Too many fields")
    no_filename = (
        b'--zz\r\nContent-Disposition: form-data; name="file"\r\n\r\n'
        + seven_png(60)
        + b"\r\n--zz--\r\n"
    )
    response = client.post(
        "/predict/image",
        content=no_filename,
        headers={"content-type": "multipart/form-data; boundary=zz"},
    )
    assert_error(response, 422, "file must be an uploaded file")
    files = [("file", ("a.png", seven_png(60))), ("file", ("b.png", seven_png(60)))]
    assert client.post("/predict/image", files=files).json()["label"] == 7


# ------------------------------------------------------------------ work off the event loop


@pytest.mark.parametrize(
    ("target", "path"),
    [("request_instances", "/predict"), ("upload_to_pixels", "/predict/image")],
)
def test_healthz_answers_while_a_request_is_worked_on(digits, monkeypatch, target, path):
    """The endpoint's work blocks (in whichever thread runs it) until /healthz has answered:
    only work off the event loop lets /healthz through first."""
    entered, release = threading.Event(), threading.Event()
    original = getattr(app_module, target)

    def slow(*args):
        entered.set()
        release.wait(timeout=10)
        return original(*args)

    monkeypatch.setattr(app_module, target, slow)
    with TestClient(create_app(digits[0])) as client:  # one event loop for both requests
        answers = {}

        def big():
            if path == "/predict":
                answers["big"] = client.post(path, json={"instances": [[0.0] * 784]})
            else:
                answers["big"] = client.post(path, files={"file": ("s.png", seven_png(60))})

        worker = threading.Thread(target=big)
        worker.start()
        assert entered.wait(timeout=10)
        health = client.get("/healthz")
        still_working = "big" not in answers
        release.set()
        worker.join(timeout=30)
    assert health.json() == {"status": "ok"} and still_working
    assert answers["big"].status_code == 200


def raw_http(url: str, request: bytes, sent: threading.Event | None = None) -> tuple[int, dict]:
    """Send ``request`` bytes to the server at ``url``; (status, JSON body) of the answer."""
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=60) as s:
        s.sendall(request)
        if sent is not None:
            sent.set()
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    head, body = reply.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)


def test_a_real_server_answers_healthz_while_it_decodes_a_large_image(tmp_path):
    """A child-process server: /healthz is answered several times after one large image has
    been sent and before its answer (a server that decodes on its event loop answers at most
    one that slipped in before it read the image)."""
    fit_digit_model(tmp_path / "model.safetensors")
    data = seven_png(2048)
    form = (
        b'--zz\r\nContent-Disposition: form-data; name="file"; filename="s.png"\r\n\r\n'
        + data
        + b"\r\n--zz--\r\n"
    )
    request = (
        b"POST /predict/image HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: multipart/form-data; boundary=zz\r\n"
        b"Content-Length: %d\r\n\r\n" % len(form)
    ) + form
    with serve_in_background(tmp_path / "model.safetensors") as url:
        sent, answers = threading.Event(), {}
        worker = threading.Thread(target=lambda: answers.update(big=raw_http(url, request, sent)))
        worker.start()
        assert sent.wait(timeout=30)
        during = 0
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=url, timeout=30) as client:
            while worker.is_alive() and time.monotonic() < deadline:
                client.get("/healthz").raise_for_status()
                during += worker.is_alive()
        worker.join(timeout=60)
        print(f"/healthz answered {during} times while the image was worked on")
        status, answer = answers["big"]
        assert status == 200 and answer["label"] == 7
        assert during >= 3
        # uvicorn's parser refuses a malformed Content-Length before the app: JSON too
        for length in (b"abc", b"-1", b"+2", b"1_0", b"99999999999999999999999"):
            request = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %s\r\n\r\n{}"
            status, answer = raw_http(url, request % length)
            assert (status, answer) == (400, {"error": BAD_REQUEST, "status": 400}), length
        # and the loopback server refuses a foreign Host header (DNS rebinding)
        request = b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        status, answer = raw_http(url, request)
        assert status == 400
        assert answer["error"].startswith(
            "this server answers only to the hosts localhost, 127.0.0.1, [::1], not to Host "
            "'evil.example'"
        )


# ------------------------------------------------------------------ models that cannot be served

STORED = "cannot be stored: model files keep class labels that are strings, integers"


@pytest.fixture(scope="module")
def iris_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("iris") / "iris.safetensors"
    fit_iris_model(path)
    return path


def refusal_to_serve(monkeypatch, path, **attributes) -> str:
    """The ``ModelFileError`` message of ``create_app(path)`` when the model read from
    ``path`` is given ``attributes`` (what a crafted file would hold)."""
    from softmaxreg import io

    load = io.load

    def load_with(*args, **kwargs):
        model = load(*args, **kwargs)
        for name, value in attributes.items():
            setattr(model, name, value)
        return model

    monkeypatch.setattr(io, "load", load_with)
    with pytest.raises(ModelFileError) as refused:
        create_app(path)
    return str(refused.value)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([None, "x"], dtype=object), f"the class label None (NoneType) {STORED}"),
        (np.array([b"a", b"b"], dtype=object), f"the class label b'a' (bytes) {STORED}"),
        (np.array([(1, 2), "x"], dtype=object), f"the class label (1, 2) (tuple) {STORED}"),
        (np.array([{"a": 1}, "x"], dtype=object), f"the class label {{'a': 1}} (dict) {STORED}"),
        (np.array([0.5, np.nan]), f"the class label nan (float) {STORED}"),
        (
            np.array(["a", "\ud800"], dtype=object),
            f"the class label '\\ud800' (str) {STORED}",
        ),
    ],
)
def test_labels_json_cannot_carry_refuse_to_start(iris_path, monkeypatch, labels, message):
    assert refusal_to_serve(monkeypatch, iris_path, classes_=labels).startswith(
        f"{iris_path}: {message}"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"shift": [float("nan"), 0.0], "scale": 1.0},
            "the preprocessing shift holds NaN or infinite values",
        ),
        (
            {"shift": 0.0, "scale": [1.0, float("inf")]},
            "the preprocessing scale holds NaN or infinite values",
        ),
        (
            {"shift": [1.0, 2.0, 3.0], "scale": 1.0},
            "the preprocessing shift has shape (3,), which does not fit 2 features",
        ),
        ({"shift": "a", "scale": 1.0}, "the preprocessing shift 'a' is not a number"),
    ],
)
def test_preprocessing_that_cannot_predict_refuses_to_start(
    standardized, monkeypatch, spec, message
):
    path = standardized[1]
    refusal = refusal_to_serve(monkeypatch, path, preprocessing_=spec)
    assert refusal.startswith(f"{path}: {message}")


def test_metadata_plain_json_cannot_carry_is_sent_in_the_exact_encoding(iris_path):
    """A NaN metric or an array in the metadata does not stop the server: /model sends
    them as the model file stores them."""
    model = model_io.load(iris_path)
    path = iris_path.with_name("metrics.safetensors")
    model_io.save(model, path, metrics={"log_loss": np.nan, "counts": np.array([3, 4])})
    with TestClient(create_app(path)) as client:
        info = client.get("/model").json()
    assert info["metrics"] == {
        "log_loss": {"$float": "nan"},
        "counts": {"$ndarray": ["<i8", [2], [3, 4]]},
    }


# ------------------------------------------------------------------ Host allow-list


def test_allowed_hosts_follow_the_bind_address():
    loopback = ["localhost", "127.0.0.1", "[::1]"]
    for bind in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert allowed_hosts_for(bind) == loopback, bind
    assert allowed_hosts_for("127.0.0.1", ["Box.LAN", "::1", "*.example.com"]) == [
        *loopback,
        "box.lan",
        "*.example.com",
    ]
    assert allowed_hosts_for("0.0.0.0") is None
    assert allowed_hosts_for("192.168.1.5") is None
    assert allowed_hosts_for("0.0.0.0", ["box.lan"]) == [*loopback, "box.lan"]
    assert allowed_hosts_for("127.0.0.1", ["*"]) is None
    assert host_name("fe80::1") == "[fe80::1]"
    for bad in ("box.lan:8000", "http://box.lan", "a*b.com", "*example.com", ""):
        with pytest.raises(ValueError, match="is not a host name"):
            host_name(bad)


def test_a_loopback_app_refuses_foreign_hosts(standardized):
    path = standardized[1]
    app = create_app(path, allowed_hosts=allowed_hosts_for("127.0.0.1", ["box.lan"]))
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    for host in ("127.0.0.1:8000", "localhost", "LOCALHOST:1", "[::1]:80", "box.lan"):
        assert client.get("/healthz", headers={"host": host}).status_code == 200, host
    for host in ("evil.example", "127.0.0.1.evil.example", "localhost.", "[::2]", "a b"):
        response = client.post("/predict", json={"instances": [[3.0, 1.0]]}, headers={"host": host})
        assert_error(
            response,
            400,
            "this server answers only to the hosts localhost, 127.0.0.1, [::1], box.lan, not "
            f"to Host {host!r} (a page elsewhere may be trying to reach it: DNS rebinding); "
            "start it with --allowed-host NAME to add a name",
        )


def test_the_cli_passes_allowed_hosts_and_refuses_bad_ones(standardized, monkeypatch, capsys):
    from conftest import run_cli

    import softmaxreg.serve

    calls = []
    monkeypatch.setattr(softmaxreg.serve, "run", lambda *args, **kwargs: calls.append(kwargs))
    path = standardized[1]
    assert run_cli("serve", path, "--allowed-host", "box.lan", "--allowed-host", "pi.local") == 0
    assert calls[0]["allowed_hosts"] == ["box.lan", "pi.local"]
    monkeypatch.undo()
    assert run_cli("serve", path, "--allowed-host", "box.lan:8000") == 1
    err = capsys.readouterr().err.strip()
    assert "allowed host 'box.lan:8000' is not a host name" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------ fuzzing the request parsing

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([1e308, -1e308, 1.7e308, 5e-324, 0]),
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*IRIS_WIDTHS, "x", ""]) | st.text(max_size=4), children, max_size=3
        )
    ),
    max_leaves=20,
)
rows = st.one_of(
    st.lists(numbers, min_size=2, max_size=2),
    st.fixed_dictionaries({name: numbers for name in IRIS_WIDTHS}),
    json_values,
)
json_bodies = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(rows, max_size=4)}),
    json_values,
).map(lambda body: json.dumps(body).encode())
VALID = b'{"instances": [[3.0, 1.0], {"sepal width (cm)": 2.5, "petal width (cm)": 0.2}]}'
byte_bodies = st.one_of(
    st.binary(max_size=64),
    st.tuples(st.integers(0, len(VALID)), st.binary(max_size=8)).map(
        lambda cut: VALID[: cut[0]] + cut[1] + VALID[cut[0] :]
    ),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=latin-1", "text/plain", ""]
)


@settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(body=json_bodies | byte_bodies, content_type=content_types)
def test_random_bodies_to_predict_are_never_5xx(standardized, body, content_type):
    response = standardized[2].post(
        "/predict", content=body, headers={"content-type": content_type}
    )
    assert response.status_code < 500, response.text
    answer = response.json()
    if response.status_code == 200:
        for prediction in answer["predictions"]:
            assert abs(sum(prediction["probabilities"]) - 1.0) < 1e-9
    else:
        assert 400 <= answer["status"] == response.status_code < 500 and answer["error"]


@settings(
    derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    data=st.one_of(
        st.binary(max_size=64),
        st.tuples(st.integers(8, 60), st.binary(min_size=1, max_size=8)).map(
            lambda cut: seven_png(60)[: cut[0]] + cut[1] + seven_png(60)[cut[0] + len(cut[1]) :]
        ),
        st.tuples(st.integers(0, 5000), st.integers(0, 5000)).map(
            lambda size: png_declaring(*size)
        ),
    )
)
def test_random_uploads_are_never_5xx(digits, data):
    response = digits[1].post("/predict/image", files={"file": ("f.png", data)})
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.json()["status"] == response.status_code
