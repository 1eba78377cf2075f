"""softmaxreg: logistic and softmax regression, from the lecture's formulas to production.

The heavy parts are imported on first use, so ``import softmaxreg`` (and the CLI) start fast.
"""

from __future__ import annotations

from softmaxreg._lazy import lazy_exports

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
    "inference": "softmaxreg.inference",
}

__all__ = ["__version__", *_LAZY_EXPORTS]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
