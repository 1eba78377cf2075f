"""One benchmark contender in a fresh interpreter, its measurements read back as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from softmaxreg.errors import SoftmaxregError


def run_child(module: str, name: str, arguments: list[str]) -> dict:
    """Run ``python -m module --run-one name --result FILE *arguments`` and return the JSON
    the child wrote to FILE; a failing child raises SoftmaxregError with its last line."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", module, "--run-one", name, "--result", str(out)]
        done = subprocess.run(command + arguments, capture_output=True, text=True)
        if done.returncode != 0:
            raise SoftmaxregError(
                f"benchmark contender {name!r} failed (exit {done.returncode}): "
                + (done.stderr.strip().splitlines() or ["no output"])[-1]
            )
        return json.loads(out.read_text())
