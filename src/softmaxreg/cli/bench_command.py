"""``softmaxreg bench``: softmaxreg against scikit-learn and the lecture's loop on MNIST
(``--suite mnist``), or fit + inference against statsmodels' MNLogit (``--suite inference``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from softmaxreg.bench.mnist_comparison import CONTENDERS, MNIST_TRAIN_ROWS
from softmaxreg.bench.suites import SUITES as PEER_SUITES
from softmaxreg.cli.app import app
from softmaxreg.cli.console import console, error_console

SUITES = ("mnist", "inference", *PEER_SUITES)
# softmaxreg.bench.inference_comparison.MIN_ROWS, checked before any work (not imported: it
# would load the benchmark modules for every command)
INFERENCE_MIN_ROWS = 1_000


@app.command(short_help="softmaxreg vs scikit-learn and the lecture on MNIST.")
def bench(
    suite: Annotated[
        str,
        typer.Option(
            help="mnist: fit MNIST against scikit-learn and the lecture's loop; inference: fit "
            "+ inference on synthetic data against statsmodels' MNLogit; "
            + ", ".join(PEER_SUITES)
            + ": softmaxreg against its peers (softmaxreg.bench.suites; --only names the "
            "suite's contenders, --train-rows its rows)."
        ),
    ] = "mnist",
    rows: Annotated[
        int | None,
        typer.Option(help="--suite inference: rows of synthetic data [default: 1000000]."),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            help="Run only this contender (repeat for several); default: all of "
            + ", ".join(CONTENDERS)
            + ".",
            metavar="NAME",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results to this JSON file.")
    ] = None,
    train_rows: Annotated[
        int | None,
        typer.Option(help="Fit on the first N training images only (a quick look)."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option("--quick", help=", ".join(PEER_SUITES) + ": the small form (under 2 min)."),
    ] = False,
) -> None:
    """Fit MNIST (pixels / 255, C = 1) with each contender in its own process; print fit
    seconds, test accuracy, final objective, memory, and the speed and memory ratios."""
    if rows is not None and rows < INFERENCE_MIN_ROWS:
        raise typer.BadParameter(
            f"must be at least {INFERENCE_MIN_ROWS}, got {rows}", param_hint="--rows"
        )
    if suite == "mnist" and train_rows is not None and not 1 <= train_rows <= MNIST_TRAIN_ROWS:
        raise typer.BadParameter(
            f"must be between 1 and {MNIST_TRAIN_ROWS} (the MNIST training images), "
            f"got {train_rows}",
            param_hint="--train-rows",
        )
    if train_rows is not None and train_rows < 1:
        raise typer.BadParameter(f"must be >= 1, got {train_rows}", param_hint="--train-rows")
    if suite in PEER_SUITES:
        from softmaxreg.cli.bench_suites import run_suite_command

        run_suite_command(suite, quick, only, json_path, train_rows)
        return
    from softmaxreg._atomic import check_output_path
    from softmaxreg.bench.mnist_comparison import (
        check_contenders,
        format_table,
        progress_lines,
        run_benchmark,
        write_json,
    )

    if suite not in SUITES:
        raise typer.BadParameter(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
    if suite == "inference":
        from softmaxreg.bench.inference_suite import run_inference_suite

        run_inference_suite(rows, json_path, only, train_rows)
        return
    names = tuple(only) if only else CONTENDERS
    try:
        check_contenders(names, train_rows)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if json_path is not None:
        check_output_path(json_path)
    on_start, on_done = progress_lines(
        names, train_rows, lambda line: error_console.print(line, markup=False, highlight=False)
    )
    payload = run_benchmark(names, train_rows, on_start=on_start, on_done=on_done)
    console.print(format_table(payload), highlight=False, markup=False, soft_wrap=True)
    if json_path is not None:
        write_json(payload, json_path)
        console.print(f"results written to {json_path}")
