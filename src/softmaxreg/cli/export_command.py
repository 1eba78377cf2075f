"""``softmaxreg export DIR --onnx model.onnx``: the model as an ONNX graph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from softmaxreg.cli.app import app
from softmaxreg.cli.console import console
from softmaxreg.cli.model_loading import load_model


@app.command(short_help="Write the model as an ONNX graph.")
def export(
    model_dir: Annotated[
        Path, typer.Argument(metavar="MODEL_DIR", help="Run folder (or model file) to export.")
    ],
    onnx: Annotated[Path, typer.Option("--onnx", help="Where to write the ONNX graph (.onnx).")],
) -> None:
    """Write an ONNX graph with outputs `label` and `probabilities` (float32 input X)."""
    from softmaxreg.onnx_export import export_onnx

    model = load_model(model_dir)
    export_onnx(model, onnx)
    console.print(f"ONNX graph written to {onnx}")
