"""Load a saved model for a sub-command: from a run folder or a model file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from softmaxreg.cli.run_directory import model_path


def load_model(location: str | Path) -> Any:
    """The fitted ``LogisticRegression`` saved at ``location`` (run folder or file)."""
    from softmaxreg import io

    return io.load(model_path(location))
