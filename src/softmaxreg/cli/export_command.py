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
    dtype: Annotated[
        str | None,
        typer.Option(
            help="Type of the input X and of `probabilities`: float32 or float64. Default: the "
            "dtype the model was trained in (`train --dtype`, float32 unless asked; float64 "
            "for API models fitted on float64 data). float64 keeps large features such as "
            "1e6 + x exact; float32 rounds them and can change labels."
        ),
    ] = None,
) -> None:
    """Write an ONNX graph X -> `label`, `probabilities` that agrees with `predict`."""
    from softmaxreg.onnx_export import export_onnx, input_dtype

    model = load_model(model_dir)
    if dtype is not None and dtype not in ("float32", "float64"):
        raise typer.BadParameter(f"must be float32 or float64, got {dtype!r}", param_hint="--dtype")
    export_onnx(model, onnx, dtype=dtype)
    console.print(f"ONNX graph written to {onnx} (input X: {input_dtype(model, dtype)})")
