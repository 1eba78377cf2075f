"""One place that makes a figure and writes it as PNG, atomically, without pyplot.

Every figure is a :class:`matplotlib.figure.Figure` drawn on its own Agg canvas, so no global
pyplot state is created or leaked between calls (safe in threads, servers and tests). The PNG
is ``width_inches * dpi`` by ``height_inches * dpi`` pixels exactly: the layout is
``constrained`` and ``savefig`` is never asked to crop (no ``bbox_inches="tight"``).
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from softmaxreg._atomic import check_output_path, write_bytes_atomic
from softmaxreg.report._checks import png_path

DEFAULT_DPI = 100


def new_figure(width_inches: float, height_inches: float, dpi: int = DEFAULT_DPI) -> Figure:
    """A blank figure with its own Agg canvas and a constrained layout."""
    if dpi <= 0:
        raise ValueError(f"dpi must be > 0, got {dpi}")
    figure = Figure(figsize=(width_inches, height_inches), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def checked_png_target(path) -> Path:
    """Refuse a bad target (not .png, missing folder) before any drawing work is done."""
    return check_output_path(png_path(path))


def save_png(figure: Figure, path) -> Path:
    """Render ``figure`` to PNG bytes in memory, then write them atomically to ``path``."""
    target = checked_png_target(path)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    return write_bytes_atomic(target, buffer.getvalue())


def pixel_size(width_inches: float, height_inches: float, dpi: int) -> tuple[int, int]:
    """The (width, height) in pixels of a PNG written by :func:`save_png`."""
    return round(width_inches * dpi), round(height_inches * dpi)
