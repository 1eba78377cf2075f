"""Lazy package exports: names are imported from their module on first use.

A package's ``__init__`` says ``__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)``
with ``EXPORTS = {name: module}``, so ``import softmaxreg`` (and the CLI) stays fast and
heavy dependencies (torch, pandas, matplotlib) load only when a name needs them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` exporting ``exports`` (name -> module).

    A module path equal to ``package.name`` exports the module itself.
    """

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(module_name)
        value = module if module_name == f"{package}.{name}" else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted([*vars(sys.modules[package]), *exports])

    return __getattr__, __dir__
