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
    _check_replaceable(outdir, overwrite)
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


def _check_replaceable(outdir: Path, overwrite: bool) -> None:
    """Refuse, before any work, an ``--overwrite`` of a folder that cannot be replaced by
    shards: one without a manifest (not a shards folder), or one named ``.``, ``..`` or ``/``
    (a shards folder is written beside its target and renamed to it)."""
    from softmaxreg.cli.run_directory import is_shards_folder
    from softmaxreg.datasets.shards import MANIFEST_NAME
    from softmaxreg.errors import DataError

    path = outdir.expanduser()
    if not overwrite or not path.exists():
        return
    if path.name in ("", ".", ".."):
        raise DataError(
            f"refusing to replace {str(outdir)!r}: the shards folder must be given by its "
            "name (not '.', '..' or '/'), e.g. ../shards"
        )
    if not is_shards_folder(path):
        raise DataError(
            f"refusing to replace {outdir}: it is not a shards directory (no {MANIFEST_NAME})"
        )
