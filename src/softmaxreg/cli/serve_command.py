"""``softmaxreg serve DIR``: the model over HTTP, with a page to draw a digit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from softmaxreg.cli.app import app
from softmaxreg.errors import SoftmaxregError

# softmaxreg.serve.WORKERS_PER_CPU, checked when the command line is parsed (not imported:
# softmaxreg.serve imports fastapi, which a bad --workers should not need)
WORKERS_PER_CPU = 4


@app.command(short_help="Serve a model over HTTP, with a page to draw digits.")
def serve(
    model_dir: Annotated[
        Path, typer.Argument(metavar="MODEL_DIR", help="Run folder (or model file) to serve.")
    ],
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (each loads the model).")
    ] = 1,
    max_batch_rows: Annotated[
        int, typer.Option(min=1, help="Most rows per /predict request.")
    ] = 1024,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="Most bytes per request body.")] = 16
    * 1024
    * 1024,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help=(
                "A Host header name to answer besides localhost, 127.0.0.1 and [::1] "
                "(repeatable; '*.example.com' patterns). On a loopback --host other names "
                "get a 400 (DNS rebinding); on another --host any name is answered unless "
                "names are given here."
            ),
        ),
    ] = None,
) -> None:
    """Serve a model: POST /predict, POST /predict/image, GET /model, /docs, and a page at /."""
    most = WORKERS_PER_CPU * (os.cpu_count() or 1)  # softmaxreg.serve.run's cap
    if workers > most:
        raise typer.BadParameter(
            f"must be at most {most} ({WORKERS_PER_CPU} per CPU on this machine; each is a "
            f"process holding the model), got {workers}",
            param_hint="--workers",
        )
    try:
        from softmaxreg.serve import run
    except ImportError as missing:
        raise SoftmaxregError(
            f"serving needs the web packages ({missing.name} is not installed): "
            'pip install "softmaxreg[serve]"'
        ) from None
    run(
        model_dir,
        host=host,
        port=port,
        workers=workers,
        max_batch_rows=max_batch_rows,
        max_body_bytes=max_body_bytes,
        allowed_hosts=allowed_host or (),
    )
