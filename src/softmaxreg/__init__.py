"""softmaxreg: logistic and softmax regression, from the lecture's formulas to production.

The heavy parts are imported on first use, so ``import softmaxreg`` (and the CLI) start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY_EXPORTS = {
    "LogisticRegression": "softmaxreg.estimator",
    "save": "softmaxreg.io",
    "load": "softmaxreg.io",
    "functional": "softmaxreg.functional",
    "datasets": "softmaxreg.datasets",
    "scratch": "softmaxreg.scratch",
    "nn": "softmaxreg.nn",
    "recipes": "softmaxreg.recipes",
    "report": "softmaxreg.report",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'softmaxreg' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value
