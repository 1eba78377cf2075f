"""The layout of a training run's output folder, shared by every sub-command.

::

    DIR/model.safetensors      the fitted model (weights + metadata, one file)
    DIR/checkpoint.safetensors the latest checkpoint of a long minibatch run
    DIR/metrics.json           the summary metrics and the per-epoch history
    DIR/report.html, *.png     the pictures and the one-page report
"""

from __future__ import annotations

from pathlib import Path

from softmaxreg.errors import DataError

CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.json"


def prepare_output_folder(folder: str | Path) -> Path:
    """Create the run folder (and its parents); refuse a path that is a file."""
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise DataError(f"--out {str(folder)!r} is a file; give a folder for the run")
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_shards_folder(location: str | Path) -> bool:
    """True for a folder written by ``softmaxreg shard`` (it holds a manifest.json)."""
    path = Path(location).expanduser()
    from softmaxreg.datasets.shards import MANIFEST_NAME

    return path.is_dir() and (path / MANIFEST_NAME).is_file()
