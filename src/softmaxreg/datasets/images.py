"""Photos or drawings of single digits -> 28x28 grey vectors prepared the way MNIST was.

MNIST's recipe: the digit is white on black, its bounding box is scaled (keeping the aspect
ratio) to fit a 20x20 box with anti-aliasing, and it is placed in a 28x28 field so that its
centre of mass sits at the centre of the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from softmaxreg._atomic import open_regular_file
from softmaxreg.errors import DataError, DataNotFoundError

SIDE = 28
BOX = 20
INK_THRESHOLD = 0.1
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IMAGE_SIDE = 16384


def load_digit_images(
    paths: str | Path | Iterable[str | Path], *, max_pixels: int | None = None
) -> np.ndarray:
    """Convert image files (PNG, JPEG, or anything Pillow opens) to X float32 (n, 784) in [0, 1].

    Per image: grey ``g`` in [0, 1]; if the background (median of the border pixels) is
    light, invert ``g := 1 - g``; subtract the background and rescale so the darkest ink is
    1; crop to the bounding box of pixels above 0.1; resize so the longer side is 20 pixels;
    paste into a 28x28 field with the centre of mass ``(sum_ij g_ij (i, j)) / sum_ij g_ij``
    at (14, 14), where MNIST's digits have theirs, clamped so the digit stays inside;
    flatten row-major. An image larger than ``max_pixels`` pixels (default
    :data:`MAX_IMAGE_PIXELS`, 4096 x 4096) is refused before it is decoded.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("no image files given; pass one or more PNG/JPEG paths")
    return np.stack([mnist_style(read_grey(p, max_pixels), p).ravel() for p in paths]).astype(
        np.float32
    )


def read_grey(path: Path, max_pixels: int | None = None) -> np.ndarray:
    """An image file as a float64 grey array in [0, 1] (transparent parts become white).

    Only a regular file is opened, and its declared width x height is checked against
    ``max_pixels`` (default :data:`MAX_IMAGE_PIXELS`) and each side against
    :data:`MAX_IMAGE_SIDE` before the pixels are decoded, so a few bytes declaring millions
    of pixels cost nothing.
    """
    from PIL import Image, UnidentifiedImageError

    if path.is_dir():
        raise DataError(f"{path} is a directory; expected an image file (PNG or JPEG)")
    limit = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with open_regular_file(path, "image file") as handle, Image.open(handle) as image:
            width, height = image.size
            if width * height > limit or max(width, height) > MAX_IMAGE_SIDE:
                raise DataError(
                    f"{path} is {width} x {height} pixels; at most {limit:,} pixels and "
                    f"{MAX_IMAGE_SIDE:,} on a side are accepted: scale it down (a digit "
                    "needs a few hundred pixels a side) or pass max_pixels="
                )
            image.load()
            grey = grey_on_white(image)
    except DataNotFoundError:
        raise DataNotFoundError(f"image file not found: {path}") from None
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image Pillow can read (expected PNG or JPEG)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise DataError(f"{path}: damaged or unreadable image ({error})") from None
    return grey


def grey_on_white(image) -> np.ndarray:
    """A Pillow image as grey values ``g = L / 255`` in [0, 1], float64; transparent parts are
    composited onto white paper first (a drawn digit on a transparent canvas)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255.0


def mnist_style(grey: np.ndarray, source: Path | str = "image") -> np.ndarray:
    """A 2-D grey array in [0, 1] -> the 28x28 MNIST-style array described above."""
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise DataError(f"{source}: expected a 2-D grey image, got shape {grey.shape}")
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    ink = grey - background if background < 0.5 else background - grey
    ink = np.clip(ink, 0.0, None)
    peak = float(ink.max())
    if peak < 0.05:
        raise DataError(f"{source}: no digit found (the image is blank or has no contrast)")
    ink /= peak
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    digit = _fit_box(crop)
    return _centre_by_mass(digit)


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Resize so the longer side is BOX pixels, keeping the aspect ratio (anti-aliased)."""
    from PIL import Image

    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(crop.astype(np.float32))
    method = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR
    resized = image.resize(size, method)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` in a SIDE x SIDE field with its centre of mass at the field centre."""
    height, width = digit.shape
    mass = digit.sum()
    centre_row = float((digit.sum(axis=1) * np.arange(height)).sum() / mass)
    centre_col = float((digit.sum(axis=0) * np.arange(width)).sum() / mass)
    middle = SIDE / 2  # MNIST's own digits have their centre of mass at (14, 14) on average
    top = int(np.clip(round(middle - centre_row), 0, SIDE - height))
    left = int(np.clip(round(middle - centre_col), 0, SIDE - width))
    field = np.zeros((SIDE, SIDE))
    field[top : top + height, left : left + width] = digit
    return field
