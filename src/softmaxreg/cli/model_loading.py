"""Load a saved model for a sub-command: from a run folder or a model file."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_model(location: str | Path) -> Any:
    """The fitted ``LogisticRegression`` saved at ``location`` (run folder or file)."""
    from softmaxreg import io

    return io.load(io.model_file_at(location))
