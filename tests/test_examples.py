"""The three lecture examples, run as published (``python examples/NAME.py --out DIR``)."""

from __future__ import annotations

import os
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def lecture_data() -> Path:
    folder = os.environ.get("SOFTMAXREG_DATA")
    if not folder:
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it to the lecture's data folder)")
    return Path(folder)


def run_example(name: str, out: Path, monkeypatch, capsys) -> str:
    """Run ``examples/<name>`` as ``__main__`` with ``--out out``; return what it printed."""
    script = EXAMPLES / name
    monkeypatch.syspath_prepend(str(EXAMPLES))  # what `python examples/<name>` puts first
    monkeypatch.setattr(sys, "argv", [str(script), "--out", str(out)])
    runpy.run_path(str(script), run_name="__main__")
    return capsys.readouterr().out


def assert_figures(out: Path, names: set[str]) -> None:
    """Exactly the named PNGs (no temporary files left), each a real, non-blank picture."""
    assert {path.name for path in out.iterdir()} == names
    for name in names:
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            assert image.width >= 400 and image.height >= 300
            pixels = np.asarray(image.convert("RGB"))
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20, f"{name} looks blank"


def test_toy_example_prints_96_percent_and_saves_the_boundary(
    lecture_data, tmp_path, monkeypatch, capsys
):
    printed = run_example("toy_logistic_regression.py", tmp_path, monkeypatch, capsys)
    assert "test accuracy: 96.00%" in printed
    rows = re.findall(r"^\s*(\d+) \|\s+([\d.]+) \|\s+([\d.]+)$", printed, flags=re.MULTILINE)
    assert len(rows) == 30
    assert all(manual == autograd for _, manual, autograd in rows)  # identical cost traces
    assert re.search(r"decision boundary: x2 = -\([\d.]+ \* x1 [+-][\d.]+\) / [\d.]+", printed)
    assert_figures(tmp_path, {"toy_cost.png", "toy_decision_boundary.png"})


def test_iris_example_prints_at_least_80_percent(lecture_data, tmp_path, monkeypatch, capsys):
    printed = run_example("iris_softmax_regression.py", tmp_path, monkeypatch, capsys)
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", printed).group(1))
    assert accuracy >= 80.0
    assert "bias b (one per class)" in printed
    assert_figures(tmp_path, {"iris_cost.png", "iris_decision_regions.png"})


@pytest.mark.mnist
def test_mnist_example_as_published(lecture_data, tmp_path, monkeypatch, capsys):
    printed = run_example("mnist_softmax_regression.py", tmp_path, monkeypatch, capsys)
    assert "epoch  25/25" in printed
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", printed).group(1))
    assert accuracy >= 92.0
    assert "first four test predictions: [7, 2, 1, 0]" in printed
    assert_figures(tmp_path, {"mnist_cost.png", "mnist_weights.png"})
