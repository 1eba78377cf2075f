"""``softmaxreg serve``: an HTTP prediction API and a page to draw a digit on.

``create_app(model_path)`` builds the FastAPI app; ``run(model_dir)`` serves it with
uvicorn on 127.0.0.1 unless another host is given. Endpoints: ``POST /predict``,
``POST /predict/image``, ``GET /model``, ``GET /model/templates/{k}.png``, ``GET /healthz``,
``GET /`` (the page), ``/openapi.json`` and ``/docs``. ``serve_in_background(model_dir)``
runs the server in a child process and yields its URL (tests, benchmarks, notebooks).
On a loopback address the server answers only Host headers naming this machine
(:mod:`softmaxreg.serve.hosts`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from softmaxreg.serve.app import (
    DEFAULT_MAX_BATCH_ROWS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_IMAGE_BYTES,
    create_app,
)
from softmaxreg.serve.background import serve_in_background
from softmaxreg.serve.hosts import allowed_hosts_for
from softmaxreg.serve.images import limit_pillow_decoding

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# each worker is a process holding its own copy of the model; prediction is CPU-bound, so
# more than a few per CPU only costs memory (gunicorn's advice is 2 x CPUs + 1)
WORKERS_PER_CPU = 4


def run(
    model_dir: str | os.PathLike,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = 1,
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    log_level: str = "info",
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve the model at ``model_dir`` (run folder or model file) until interrupted.

    The model is loaded (and checked) before the server starts listening, in every worker
    process; a bad model file raises ``ModelFileError`` / ``DataNotFoundError`` here, a bad
    setting ``ValueError`` (``workers`` from 1 to ``WORKERS_PER_CPU`` x the CPUs).
    ``allowed_hosts``: Host header names answered besides
    localhost, 127.0.0.1 and [::1] (see :func:`softmaxreg.serve.hosts.allowed_hosts_for`:
    a server on a non-loopback ``host`` answers any Host unless names are given).
    """
    import uvicorn

    from softmaxreg.serve.http_protocol import JsonBadRequestProtocol

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    most = WORKERS_PER_CPU * (os.cpu_count() or 1)
    if workers > most:
        raise ValueError(
            f"workers must be at most {most} ({WORKERS_PER_CPU} per CPU on this machine; each "
            f"is a process holding the model), got {workers}"
        )
    settings = {
        "model_path": os.fspath(model_dir),
        "max_batch_rows": max_batch_rows,
        "max_body_bytes": max_body_bytes,
        "allowed_hosts": allowed_hosts_for(host, allowed_hosts),
    }
    app = create_app(**settings)  # fails early, in this process, on a bad model or limit
    prepare_server_process()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "server_header": False,
        "timeout_keep_alive": 5,
        "http": JsonBadRequestProtocol,  # uvicorn's parser, with 400s as JSON
    }
    if workers == 1:
        uvicorn.run(app, **options)
        return
    os.environ[_SETTINGS_VARIABLE] = _encode(settings)
    uvicorn.run("softmaxreg.serve:_app_from_environment", factory=True, workers=workers, **options)


_SETTINGS_VARIABLE = "SOFTMAXREG_SERVE_SETTINGS"


def _encode(settings: dict[str, Any]) -> str:
    import json

    return json.dumps(settings)


def _app_from_environment():
    """The app for one of several worker processes (uvicorn imports it by name)."""
    import json

    app = create_app(**json.loads(os.environ[_SETTINGS_VARIABLE]))
    prepare_server_process()
    return app


def prepare_server_process() -> None:
    """Process-wide settings of a server: one compute thread, Pillow's bomb guard."""
    one_compute_thread()
    limit_pillow_decoding()


def one_compute_thread() -> None:
    """One BLAS / torch thread per server process.

    A request's ``X W^T`` is tiny (at most max_batch_rows x n_features x K), and requests
    run concurrently in the thread pool: several BLAS threads per product only contend for
    the cores (measured: 256 rows x 784 features, 30 ms with 2 contending BLAS threads,
    1.2 ms with one). Throughput scales with ``workers`` instead.
    """
    import threadpoolctl
    import torch

    threadpoolctl.threadpool_limits(limits=1)
    torch.set_num_threads(1)


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BATCH_ROWS",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_PORT",
    "create_app",
    "run",
    "serve_in_background",
]
