"""``softmaxreg predict DIR INPUT...``: labels and class probabilities for new data.

INPUT is one tabular file (CSV, Parquet, NPY, NPZ, LIBSVM), read and predicted in blocks of
``--chunk-rows`` rows so any number of rows fits in bounded memory, or PNG/JPEG images of
digits (converted to 28 x 28 grey the MNIST way). Output: ``--out`` a ``.csv``, ``.json`` or
``.jsonl`` file, written atomically; without ``--out``, CSV on stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from softmaxreg.cli.app import app
from softmaxreg.cli.console import error_console
from softmaxreg.cli.model_loading import load_model
from softmaxreg.errors import DataError


@app.command(short_help="Predict labels and probabilities for files or images.")
def predict(
    model_dir: Annotated[
        Path,
        typer.Argument(metavar="MODEL_DIR", help="Run folder (or model file) to predict with."),
    ],
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT", help="A tabular file, or one or more PNG/JPEG digit images."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Output: a .csv, .json or .jsonl file.", show_default="CSV on stdout"),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(help="Rows per block when streaming a file.")] = 4096,
    target: Annotated[
        str | None, typer.Option(help="A label column in the input to leave out (name or index).")
    ] = None,
) -> None:
    """Predict labels and class probabilities; large files are streamed block by block."""
    from softmaxreg import batch_predict

    if chunk_rows <= 0:
        raise typer.BadParameter(f"must be > 0, got {chunk_rows}", param_hint="--chunk-rows")
    if out is not None:
        try:  # a bad extension is a misused option: refused before any work
            batch_predict.output_format(out)
        except DataError as refused:
            raise typer.BadParameter(str(refused), param_hint="--out") from None
        batch_predict.check_output_path(out)
    model = load_model(model_dir)
    if batch_predict.is_image_input(inputs):
        labels, probabilities = batch_predict.predict_images(model, inputs)
        blocks = [(labels, probabilities, [path.name for path in inputs])]
    elif len(inputs) == 1:
        blocks = _tabular_blocks(model, inputs[0], chunk_rows, _target(target))
    else:
        raise typer.BadParameter(
            "several inputs are accepted only as PNG/JPEG images; pass one tabular file",
            param_hint="INPUTS",
        )
    if out is None:
        rows = batch_predict.stream_predictions(sys.stdout, ".csv", model.classes_, blocks)
    else:
        rows = batch_predict.write_predictions(out, model.classes_, blocks)
        error_console.print(f"{rows} predictions written to {out}")


def _tabular_blocks(model, path: Path, chunk_rows: int, target):
    """The prediction blocks of a tabular file, its named columns put in the model's order."""
    from softmaxreg import batch_predict
    from softmaxreg.datasets import iter_tabular_chunks
    from softmaxreg.datasets.columns import column_order, file_feature_names, model_feature_names

    hint = "; if the file has a label column, name it with --target" if target is None else ""
    order = column_order(
        file_feature_names(path, target), model_feature_names(model), repr(str(path)), hint
    )
    if order is None:
        return batch_predict.tabular_predictions(model, path, chunk_rows, target)
    return (
        (*batch_predict.predict_block(model, X[:, order]), None)
        for X in iter_tabular_chunks(path, chunk_rows, target)
    )


def _target(value: str | None):
    if value is None:
        return None
    return int(value) if value.lstrip("-").isdigit() else value
