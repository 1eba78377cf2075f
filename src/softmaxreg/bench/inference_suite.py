"""``softmaxreg bench --suite inference``: run the inference comparison and print its table."""

from __future__ import annotations

from pathlib import Path


def run_inference_suite(rows: int | None, json_path: Path | None, only, train_rows) -> None:
    """Run :mod:`softmaxreg.bench.inference_comparison` (both contenders, ``rows`` rows)."""
    import typer

    from softmaxreg._atomic import check_output_path
    from softmaxreg.bench.inference_comparison import (
        FULL_ROWS,
        check_available,
        format_table,
        run_benchmark,
    )
    from softmaxreg.bench.mnist_comparison import write_json
    from softmaxreg.cli.console import console

    if only or train_rows is not None:
        raise typer.BadParameter("--only and --train-rows belong to --suite mnist; use --rows")
    check_available()
    if json_path is not None:
        check_output_path(json_path)
    with console.status("") as status:
        payload = run_benchmark(
            rows or FULL_ROWS,
            on_start=lambda name: status.update(f"{name}: fit + inference (its own process) ..."),
        )
    console.print(format_table(payload), highlight=False, markup=False, soft_wrap=True)
    if json_path is not None:
        write_json(payload, json_path)
        console.print(f"results written to {json_path}")
