"""Benchmark plumbing shared by the suites: one contender in a fresh interpreter, and the
end of a suite's ``main`` (print the table, write the JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from softmaxreg.errors import SoftmaxregError


def run_child(module: str, name: str, arguments: list[str]) -> dict:
    """``python -m module --run-one name *arguments --result FILE`` and the JSON it wrote
    (memory and threads do not leak between contenders); a failure names the contender and
    its last line of stderr."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        command = [sys.executable, "-m", module, "--run-one", name, *arguments]
        done = subprocess.run([*command, "--result", str(out)], capture_output=True, text=True)
        if done.returncode != 0:
            raise SoftmaxregError(
                f"benchmark contender {name!r} failed (exit {done.returncode}): "
                + (done.stderr.strip().splitlines() or ["no output"])[-1]
            )
        return json.loads(out.read_text())


def print_and_write(table: str, payload: dict, json_path: Path | None) -> int:
    """Print a suite's table, write its payload as JSON when asked; the exit status 0."""
    from softmaxreg.bench.mnist_comparison import write_json

    print(table)
    if json_path:
        write_json(payload, json_path)
    return 0
