"""``softmaxreg shard INPUT OUTDIR``: split a data file into shards for out-of-core training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from softmaxreg.cli.app import app
from softmaxreg.cli.console import console


@app.command(short_help="Split a data file into shards for out-of-core training.")
def shard(
    input_file: Annotated[
        Path, typer.Argument(metavar="INPUT", help="CSV/TSV, Parquet or NPY file.")
    ],
    outdir: Annotated[Path, typer.Argument(metavar="OUTDIR", help="The shards folder to create.")],
    rows_per_shard: Annotated[int, typer.Option(help="Rows in each shard.")] = 262_144,
    target: Annotated[
        str,
        typer.Option(
            help="Label column: name, index (-1 is the last) or auto (the one column named "
            "label, target, y or class)."
        ),
    ] = "auto",
    file_format: Annotated[str, typer.Option("--format", help="npy or parquet.")] = "npy",
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing shards folder.")] = False,
) -> None:
    """Split a data file into shards plus a manifest, in bounded memory, atomically."""
    from softmaxreg.datasets import write_shards

    if rows_per_shard <= 0:
        raise typer.BadParameter(
            f"must be > 0, got {rows_per_shard}", param_hint="--rows-per-shard"
        )
    label = int(target) if target.lstrip("-").isdigit() else target
    shards = write_shards(
        input_file,
        outdir,
        rows_per_shard,
        target=label,
        format=file_format,
        dtype=dtype,
        overwrite=overwrite,
    )
    console.print(f"{shards.n_rows} rows in {shards.n_shards} shards written to {outdir}")

