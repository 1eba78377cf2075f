"""The typer application object that every sub-command module registers itself on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="softmaxreg",
    help="Logistic and softmax regression: train, evaluate, predict, export, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: wrapped to the terminal (at most 80 columns), no type column
    # (no "<bool>" beside flags), and text such as "[default: ...]" shown as written
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
