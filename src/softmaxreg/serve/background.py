"""A prediction server in a child process: for integration tests, benchmarks and notebooks.

    with serve_in_background("runs/mnist") as url:
        requests.post(url + "/predict", json={"instances": rows})

The child runs :func:`softmaxreg.serve.run` on 127.0.0.1 and a free port; the context is
entered once ``GET /healthz`` answers 200, and leaving it stops the child (SIGTERM, then
SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

_CHILD = (
    "import sys; from softmaxreg.serve import run; "
    "run(sys.argv[1], port=int(sys.argv[2]), workers=int(sys.argv[3]), log_level=sys.argv[4])"
)
STOP_GRACE_SECONDS = 15.0


def free_local_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def serve_in_background(
    model_dir: str | os.PathLike,
    *,
    workers: int = 1,
    port: int | None = None,
    startup_timeout: float = 60.0,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve ``model_dir`` from a child process; yields the base URL ``http://127.0.0.1:PORT``.

    Raises ``RuntimeError`` carrying the child's output when it exits before answering
    (a bad model file, a port in use) or does not answer within ``startup_timeout`` seconds.
    """
    port = free_local_port() if port is None else int(port)
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CHILD,
                os.fspath(model_dir),
                str(port),
                str(workers),
                log_level,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_healthy(process, url, startup_timeout, output)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(process, url: str, timeout: float, output) -> None:
    deadline = time.monotonic() + timeout
    while not _healthy(url):
        if process.poll() is not None:
            output.seek(0)
            message = output.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"the server exited with status {process.returncode}: {message}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer {url}/healthz within {timeout:g} s")
        time.sleep(0.2)
