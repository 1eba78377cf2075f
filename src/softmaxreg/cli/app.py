"""The typer application object that every sub-command module registers itself on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="softmaxreg",
    help="Logistic and softmax regression: train, evaluate, predict, export, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
