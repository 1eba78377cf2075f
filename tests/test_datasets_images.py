"""Digit pictures -> MNIST-style 28x28 vectors: inversion, cropping, 20x20 fit, centring."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from softmaxreg.datasets import load_digit_images
from softmaxreg.errors import DataError, DataNotFoundError


def draw_seven(size=(240, 320), ink=0, paper=255, offset=(0, 0)) -> Image.Image:
    """A thick '7' drawn off-centre on a large canvas."""
    image = Image.new("L", size, paper)
    pen = ImageDraw.Draw(image)
    dx, dy = offset
    pen.line([(30 + dx, 40 + dy), (120 + dx, 40 + dy), (60 + dx, 200 + dy)], fill=ink, width=22)
    return image


def centre_of_mass(x: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(x.shape)
    return float((x * rows).sum() / x.sum()), float((x * cols).sum() / x.sum())


def test_drawn_digit_becomes_an_mnist_style_vector(tmp_path):
    path = tmp_path / "seven.png"
    draw_seven().save(path)
    X = load_digit_images([path])
    assert X.shape == (1, 784) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == pytest.approx(1.0, abs=0.02)
    digit = X[0].reshape(28, 28)
    row, col = centre_of_mass(digit)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5  # where MNIST digits have theirs
    ink_rows = np.flatnonzero(digit.max(axis=1) > 0.1)
    ink_cols = np.flatnonzero(digit.max(axis=0) > 0.1)
    height, width = ink_rows[-1] - ink_rows[0] + 1, ink_cols[-1] - ink_cols[0] + 1
    assert max(height, width) in (20, 21) and min(height, width) < 20  # aspect ratio kept
    assert digit[0].max() == 0 and digit[:, 0].max() == 0  # background is 0 like MNIST


def test_polarity_position_and_format_do_not_matter(tmp_path):
    dark_on_light = tmp_path / "a.png"
    light_on_dark = tmp_path / "b.png"
    shifted_jpeg = tmp_path / "c.jpg"
    draw_seven().save(dark_on_light)
    draw_seven(ink=255, paper=0).save(light_on_dark)
    draw_seven(offset=(90, 60), size=(400, 400)).convert("RGB").save(shifted_jpeg, quality=95)
    X = load_digit_images([dark_on_light, light_on_dark, shifted_jpeg])
    np.testing.assert_allclose(X[0], X[1], atol=1e-6)
    assert np.corrcoef(X[0], X[2])[0, 1] > 0.95


def test_transparent_background(tmp_path):
    image = Image.new("RGBA", (200, 260), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.line([(30, 40), (120, 40), (60, 200)], fill=(0, 0, 0, 255), width=22)
    path = tmp_path / "t.png"
    image.save(path)
    opaque = tmp_path / "o.png"
    draw_seven(size=(200, 260)).save(opaque)
    X = load_digit_images([path, opaque])
    assert np.corrcoef(X[0], X[1])[0, 1] > 0.99


def test_not_an_image_blank_missing_and_directory(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(DataError, match="notes.png is not an image Pillow can read"):
        load_digit_images([text])
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    with pytest.raises(DataError, match="blank.png: no digit found"):
        load_digit_images(blank)
    with pytest.raises(DataNotFoundError, match="image file not found"):
        load_digit_images([tmp_path / "absent.png"])
    with pytest.raises(DataError, match="is a directory"):
        load_digit_images([tmp_path])
    with pytest.raises(DataError, match="no image files given"):
        load_digit_images([])


@pytest.mark.mnist
def test_a_real_mnist_digit_survives_the_round_trip(tmp_path):
    if not os.environ.get("SOFTMAXREG_DATA"):
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it)")
    from softmaxreg.datasets import load_mnist

    X, y = load_mnist("test", download=False)
    paths = []
    for k in range(10):  # printed large, black on white, off-centre: as a user might
        canvas = Image.new("L", (300, 300), 255)
        digit = Image.fromarray(255 - X[k].reshape(28, 28)).resize((168, 168), Image.BILINEAR)
        canvas.paste(digit, (100, 20))
        paths.append(tmp_path / f"{k}.png")
        canvas.save(paths[-1])
    back = load_digit_images(paths)
    for k in range(10):
        assert np.corrcoef(back[k], X[k] / 255.0)[0, 1] > 0.85, f"digit {k} (label {y[k]})"
