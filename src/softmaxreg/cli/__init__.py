"""The ``softmaxreg`` command: train, evaluate, predict, export, serve, shard, bench.

Each sub-command lives in its own module; this one builds the typer application and turns
the library's own errors into a one-line message on stderr and a non-zero exit status, and
warnings into one ``warning: ...`` line each (no file name, line number or source line).
SIGINT, SIGTERM and SIGHUP end a command through its clean-ups (see ``interruption``), so
no temporary file or empty run folder is left behind, with status 128 + signal number.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

from rich.markup import escape

from softmaxreg.cli.app import app
from softmaxreg.cli.interruption import Interrupted, signals_raise
from softmaxreg.errors import SoftmaxregError

EXIT_FAILURE = 1


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``softmaxreg`` console script."""
    # Register the sub-commands (each module adds itself to ``app`` when imported).
    from softmaxreg.cli import (  # noqa: F401
        bench_command,
        evaluate_command,
        export_command,
        predict_command,
        serve_command,
        shard_command,
        train_command,
    )
    from softmaxreg.cli.console import error_console

    shown = warnings.showwarning
    warnings.showwarning = _one_line_warning
    with signals_raise(), contextlib.ExitStack() as restore:
        restore.callback(setattr, warnings, "showwarning", shown)
        try:
            app(args=argv, prog_name="softmaxreg")
        except (SoftmaxregError, ValueError, OSError) as error:
            # Refused input (the library's errors, scikit-learn's parameter checks, files that
            # cannot be read or written): one line on stderr, no traceback.
            error_console.print("[bold red]error:[/]", escape(str(error)))
            sys.exit(EXIT_FAILURE)
        except Interrupted as interruption:
            error_console.print(f"interrupted ({interruption})")
            sys.exit(interruption.exit_status)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, ``warning: TEXT`` (no file, line or source line)."""
    from softmaxreg.cli.console import error_console

    error_console.print("[yellow]warning:[/]", escape(" ".join(str(message).split())))


__all__ = ["app", "main"]
