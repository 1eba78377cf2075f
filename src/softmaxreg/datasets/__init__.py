"""Data sets and file readers.

- ``load_mnist(split, root, download)``: MNIST's raw pixels, X uint8 (n, 784), y int64.
- ``load_toy()``, ``load_iris()``: the lecture's small sets; ``load_bundled(name)``:
  scikit-learn's iris, digits, breast_cancer, wine.
- ``load_dataset(name_or_path)``: a named set or a file, split into train and test.
- ``read_tabular(path, target)``, ``iter_tabular_chunks(path, chunk_rows)``: CSV, Parquet,
  NPY/NPZ, LIBSVM files, whole or in bounded-memory blocks.
- ``load_digit_images(paths)``: PNG/JPEG digits -> MNIST-style (n, 784) float32.

Files are found through ``$SOFTMAXREG_DATA`` (see ``data_dir``/``cache_dir``). Names are
imported on first use, so importing this package does not load pandas or Pillow.
"""

from __future__ import annotations

from softmaxreg._lazy import lazy_exports

_EXPORTS = {
    "cache_dir": "softmaxreg.datasets._paths",
    "data_dir": "softmaxreg.datasets._paths",
    "read_idx": "softmaxreg.datasets.idx",
    "write_idx": "softmaxreg.datasets.idx",
    "load_mnist": "softmaxreg.datasets.mnist",
    "load_toy": "softmaxreg.datasets.lecture",
    "generate_toy": "softmaxreg.datasets.lecture",
    "load_iris": "softmaxreg.datasets.lecture",
    "toy_notebook_split": "softmaxreg.datasets.lecture",
    "iris_notebook_split": "softmaxreg.datasets.lecture",
    "load_bundled": "softmaxreg.datasets.bundled",
    "BundledData": "softmaxreg.datasets.bundled",
    "read_tabular": "softmaxreg.datasets.tabular",
    "TabularData": "softmaxreg.datasets.tabular",
    "iter_tabular_chunks": "softmaxreg.datasets.chunks",
    "tabular_feature_names": "softmaxreg.datasets.chunks",
    "load_dataset": "softmaxreg.datasets.registry",
    "Dataset": "softmaxreg.datasets.registry",
    "NAMES": "softmaxreg.datasets.registry",
    "load_digit_images": "softmaxreg.datasets.images",
    "Shards": "softmaxreg.datasets.shards",
    "write_shards": "softmaxreg.datasets.shards",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
