"""``serve_in_background``: a real server process, answering once the context is entered,
gone once it is left, and a clear error when it cannot start."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from test_serve_models import fit_iris_model, iris_frame

from softmaxreg.serve import serve_in_background


def test_the_server_answers_inside_the_context_and_is_gone_after(tmp_path):
    model = fit_iris_model(tmp_path / "iris.safetensors")
    X, _ = iris_frame()
    rows = X.iloc[[0, 60, 120]].to_numpy().tolist()
    with serve_in_background(tmp_path / "iris.safetensors") as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url + "/healthz").status_code == 200
        answer = httpx.post(url + "/predict", json={"instances": rows})
        assert answer.status_code == 200, answer.text
        labels = [prediction["label"] for prediction in answer.json()["predictions"]]
        assert labels == model.predict(X.iloc[[0, 60, 120]]).tolist()
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/healthz", timeout=2)


def test_a_server_that_cannot_start_raises_with_its_own_message(tmp_path):
    (tmp_path / "broken.safetensors").write_bytes(np.arange(64, dtype=np.uint8).tobytes())
    with (
        pytest.raises(RuntimeError, match="exited with status") as raised,
        serve_in_background(tmp_path / "broken.safetensors"),
    ):
        pass
    assert "broken.safetensors" in str(raised.value)
