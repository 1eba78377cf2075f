"""Uploaded digit images (bytes, never files) -> the 28x28 MNIST-style input, and templates.

The conversion itself is :func:`softmaxreg.datasets.images.mnist_style` (the one
``softmaxreg predict`` uses for image files); this module only decodes bytes in memory,
refusing anything that is not a PNG or JPEG. The size an image *declares* in its header is
checked before a pixel is decoded (Pillow opens lazily): more than ``MAX_IMAGE_SIDE`` pixels
on a side or ``MAX_IMAGE_PIXELS`` in all is a 413, so a 69-byte PNG declaring 16 million
pixels costs nothing. :func:`limit_pillow_decoding` sets Pillow's own decompression-bomb
guard to the same limit in a server process.
"""

from __future__ import annotations

import io

import numpy as np

from softmaxreg.datasets.images import grey_on_white, mnist_style

ACCEPTED_FORMATS = ("PNG", "JPEG")
MAX_IMAGE_SIDE = 4096
MAX_IMAGE_PIXELS = 2048 * 2048
TEMPLATE_SCALE = 4


class ImageError(ValueError):
    """An upload that is not a usable digit image; ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def upload_to_pixels(data: bytes, name: str = "upload") -> np.ndarray:
    """PNG/JPEG bytes -> grey ``g`` float64 (784,) in [0, 1], MNIST's way (20x20 box, centred
    by mass in 28x28, white ink on black); transparent parts count as white paper."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name} is empty; upload a PNG or JPEG image of one digit")
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            _check_declared_size(image.size, name)
            image.load()
            grey = grey_on_white(image)
    except UnidentifiedImageError:
        raise ImageError(
            f"{name} is not a PNG or JPEG image; upload a PNG or JPEG of one digit", status=415
        ) from None
    except Image.DecompressionBombError:  # Pillow's own guard, at limit_pillow_decoding's
        raise _too_large(name, f"over {2 * Image.MAX_IMAGE_PIXELS}") from None
    except (OSError, ValueError, SyntaxError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(f"{name} is a damaged or unreadable image ({error})") from None
    try:
        return mnist_style(grey, name).ravel()
    except ValueError as error:
        raise ImageError(str(error)) from None


def _check_declared_size(size: tuple[int, int], name: str) -> None:
    width, height = size
    if max(width, height) > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
        raise _too_large(name, f"{width}x{height}")


def _too_large(name: str, pixels: str) -> ImageError:
    return ImageError(
        f"{name} is {pixels} pixels; at most {MAX_IMAGE_SIDE} pixels on a side and "
        f"{MAX_IMAGE_PIXELS} in all (2048x2048) are accepted; send a smaller image",
        status=413,
    )


def limit_pillow_decoding() -> None:
    """Pillow's decompression-bomb guard at this module's limit (for a server process: it
    is process-wide): ``Image.open`` then refuses images over twice ``MAX_IMAGE_PIXELS``."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def template_png(weights: np.ndarray, side: int = 28) -> bytes:
    """One row ``w_t`` of ``W`` as a PNG: red where ``w_tj > 0``, blue where ``< 0``, white at 0,
    intensity ``|w_tj| / max_j |w_tj|``; enlarged ``TEMPLATE_SCALE`` times (nearest)."""
    from PIL import Image

    w = np.asarray(weights, dtype=np.float64).reshape(side, side)
    peak = float(np.abs(w).max()) or 1.0
    strength = np.abs(w) / peak
    rgb = np.empty((side, side, 3))
    fade = 1.0 - strength
    rgb[..., 0] = np.where(w > 0, 1.0, fade)
    rgb[..., 1] = fade
    rgb[..., 2] = np.where(w < 0, 1.0, fade)
    image = Image.fromarray(np.round(rgb * 255).astype(np.uint8), "RGB")
    image = image.resize((side * TEMPLATE_SCALE, side * TEMPLATE_SCALE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
