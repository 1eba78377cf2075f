"""``softmaxreg bench --suite NAME``: the CLI side of :mod:`softmaxreg.bench.suites`."""

from __future__ import annotations

import typer

from softmaxreg.cli.console import console


def run_suite_command(suite, quick, only, json_path, rows) -> None:
    """Check the set-up (exit 2 on a bad one), print the plan and progress to stderr, then
    the table; write ``--json`` if asked."""
    import sys

    from softmaxreg._atomic import check_output_path
    from softmaxreg.bench.mnist_comparison import write_json
    from softmaxreg.bench.suites import format_table, plan, run_suite

    try:
        plan(suite, quick, only, rows)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if rows is not None and rows < 1:
        raise typer.BadParameter(f"--train-rows must be >= 1, got {rows}")
    if json_path is not None:
        check_output_path(json_path)
    payload = run_suite(
        suite, quick, only, rows, say=lambda line: print(line, file=sys.stderr, flush=True)
    )
    console.print(format_table(payload), highlight=False, markup=False, soft_wrap=True)
    if json_path is not None:
        write_json(payload, json_path)
        console.print(f"results written to {json_path}")
