"""Where the command prints: results on stdout, progress and errors on stderr."""

from __future__ import annotations

from rich.console import Console

# soft_wrap: a long message stays one line (terminals wrap it; grep and logs keep it whole)
console = Console(highlight=False)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)
