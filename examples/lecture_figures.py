"""Shared by the three lecture examples: a headless matplotlib figure saved atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; set before any figure is made

from matplotlib.figure import Figure  # noqa: E402

from softmaxreg._atomic import atomic_write  # noqa: E402


def new_figure(width: float = 6.0, height: float = 4.0) -> Figure:
    """A figure that belongs to no window (no pyplot state)."""
    return Figure(figsize=(width, height), layout="constrained")


def save_figure(figure: Figure, folder: Path, name: str) -> Path:
    """Write ``folder/name`` as PNG via a temporary file in the same folder, fsynced, renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=100)
    print(f"saved {path}")
    return path


def plot_cost_trace(costs: dict[str, list[float]], title: str, ylabel: str) -> Figure:
    """The cost per epoch, one line per training run."""
    figure = new_figure()
    axes = figure.add_subplot()
    for label, trace in costs.items():
        axes.plot(range(1, len(trace) + 1), trace, marker=".", label=label)
    axes.set(xlabel="epoch", ylabel=ylabel, title=title)
    axes.legend()
    return figure
