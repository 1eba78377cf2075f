"""MNIST: 70,000 handwritten digits, 28x28 grey pixels (60,000 train, 10,000 test).

``load_mnist`` returns the raw pixels, ``X`` uint8 of shape (n, 784) (each 28x28 image
flattened row by row, 0 = background, 255 = ink) and ``y`` int64 labels 0..9. The lecture's
model uses ``x = X / 255``; :func:`softmaxreg.datasets.load_dataset` does that scaling.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from softmaxreg.datasets._paths import DATA_ENV, cache_dir, data_dir
from softmaxreg.datasets.download import RemoteFile, download
from softmaxreg.datasets.idx import read_idx
from softmaxreg.errors import DataError, DataNotFoundError

MIRRORS_ENV = "SOFTMAXREG_MNIST_MIRRORS"
DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://raw.githubusercontent.com/fgnt/mnist/master/",
    "http://yann.lecun.com/exdb/mnist/",
)

# SHA-256 of the four files as published (gzip) and of their decompressed IDX content.
# The content digests also match copies that were re-compressed with another gzip.
MNIST_FILES: dict[tuple[str, str], RemoteFile] = {
    ("train", "images"): RemoteFile(
        "train-images-idx3-ubyte.gz",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    ("train", "labels"): RemoteFile(
        "train-labels-idx1-ubyte.gz",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    ("test", "images"): RemoteFile(
        "t10k-images-idx3-ubyte.gz",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    ),
    ("test", "labels"): RemoteFile(
        "t10k-labels-idx1-ubyte.gz",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
}
SPLITS = ("train", "test")
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10


def load_mnist(
    split: str = "train",
    root: str | Path | None = None,
    download: bool = True,
    *,
    mirrors: list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Return MNIST ``(X, y)``: X uint8 (n, 784) row-major pixels, y int64 (n,) in 0..9.

    ``split``: "train" (n = 60,000) or "test" (n = 10,000). Files are the standard
    ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
    ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``) or raw, looked for in order in:
    ``root``; ``$SOFTMAXREG_DATA/mnist``; the user cache folder ``<cache>/mnist`` (see
    ``softmaxreg.datasets.cache_dir()``). When absent and ``download`` is true they are
    fetched from ``mirrors`` (default :data:`DEFAULT_MIRRORS`, or the whitespace/comma
    separated URLs in ``$SOFTMAXREG_MNIST_MIRRORS``), SHA-256 verified and moved atomically
    into the cache. The pixel scaling of the lecture, ``x = X / 255``, is left to the caller.
    """
    if split not in SPLITS:
        raise DataError(f"unknown MNIST split {split!r}; accepted: 'train' or 'test'")
    images_file, labels_file = MNIST_FILES[(split, "images")], MNIST_FILES[(split, "labels")]
    folder = find_mnist_folder(split, root)
    if folder is None:
        if not download:
            raise DataNotFoundError(_not_found_message(split, root, None))
        folder = cache_dir() / "mnist"
        try:
            for remote in (images_file, labels_file):
                if _locate(folder, remote.name) is None:
                    _download_one(remote, folder, mirrors, progress)
        except DataNotFoundError as error:
            raise DataNotFoundError(_not_found_message(split, root, str(error))) from error
    images_path = _locate(folder, images_file.name)
    labels_path = _locate(folder, labels_file.name)
    if images_path is None or labels_path is None:  # removed by someone else meanwhile
        raise DataNotFoundError(
            _not_found_message(split, root, "files vanished from " + str(folder))
        )
    return _load_pair(images_path, labels_path)


def find_mnist_folder(split: str, root: str | Path | None = None) -> Path | None:
    """The first folder of the search order that holds both files of ``split``, or None."""
    images = MNIST_FILES[(split, "images")].name
    labels = MNIST_FILES[(split, "labels")].name
    for folder in mnist_search_folders(root):
        if _locate(folder, images) is not None and _locate(folder, labels) is not None:
            return folder
    return None


def mnist_search_folders(root: str | Path | None = None) -> list[Path]:
    """The folders searched for MNIST files, in order: root, $SOFTMAXREG_DATA/mnist, cache."""
    folders = [Path(root).expanduser()] if root is not None else []
    env = data_dir()
    if env is not None:
        folders.append(env / "mnist")
    folders.append(cache_dir() / "mnist")
    return folders


def mirror_list(mirrors: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """Mirrors to try: the argument, else ``$SOFTMAXREG_MNIST_MIRRORS``, else the defaults."""
    if mirrors is not None:
        return list(mirrors)
    env = os.environ.get(MIRRORS_ENV, "").replace(",", " ").split()
    return env or list(DEFAULT_MIRRORS)


def _locate(folder: Path, gz_name: str) -> Path | None:
    """The gzipped file if present, else the raw one (name without .gz), else None."""
    for candidate in (folder / gz_name, folder / gz_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _download_one(remote: RemoteFile, folder: Path, mirrors, progress: bool) -> None:
    destination = folder / remote.name
    download(remote, mirror_list(mirrors), destination, progress=progress)
    try:
        read_idx(destination)
    except DataError:
        destination.unlink(missing_ok=True)
        raise


def _load_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check an images file and a labels file of one split."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{images_path}: inconsistent dimensions: expected uint8 images of shape "
            f"(n, 28, 28), found {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: inconsistent dimensions: expected uint8 labels of shape (n,), "
            f"found {labels.dtype} {labels.shape}"
        )
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"inconsistent dimensions: {images_path} holds {images.shape[0]} images but "
            f"{labels_path} holds {labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= N_CLASSES:
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0..9")
    return images.reshape(images.shape[0], -1), labels.astype(np.int64)


def _not_found_message(split: str, root, download_error: str | None) -> str:
    names = [MNIST_FILES[(split, kind)].name for kind in ("images", "labels")]
    env = data_dir()
    lines = [
        f"MNIST {split} files not found ({names[0]} and {names[1]}, gzipped or not).",
        "Looked in:",
    ]
    if root is not None:
        lines.append(f"  - root argument: {Path(root).expanduser()}")
    env_text = f"{env / 'mnist'}" if env is not None else "(not set)"
    lines.append(f"  - ${DATA_ENV}/mnist: {env_text}")
    lines.append(f"  - user cache: {cache_dir() / 'mnist'}")
    if download_error is None:
        lines.append("Downloading was disabled (download=False).")
    else:
        lines.append("Download failed: " + download_error)
    lines.append(
        f"Place the files named above in one of these folders, set {DATA_ENV} to a folder "
        f"whose mnist/ subfolder holds them, or pass root=; set {MIRRORS_ENV} to use "
        "another mirror."
    )
    return "\n".join(lines)
