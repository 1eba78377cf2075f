"""Data sets and file readers: MNIST (IDX), the lecture's toy set and iris.

``load_mnist`` gives raw uint8 pixels; ``load_toy`` / ``load_iris`` the lecture's small sets.
Files are found through ``$SOFTMAXREG_DATA`` (see :mod:`softmaxreg.datasets._paths`).
"""

from softmaxreg.datasets._paths import cache_dir, data_dir
from softmaxreg.datasets.idx import read_idx, write_idx
from softmaxreg.datasets.lecture import (
    generate_toy,
    iris_notebook_split,
    load_iris,
    load_toy,
    toy_notebook_split,
)
from softmaxreg.datasets.mnist import load_mnist

__all__ = [
    "cache_dir",
    "data_dir",
    "generate_toy",
    "iris_notebook_split",
    "load_iris",
    "load_mnist",
    "load_toy",
    "read_idx",
    "toy_notebook_split",
    "write_idx",
]
