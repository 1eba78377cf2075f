"""``load_dataset``: one call from a name or a file path to a train/test split.

Names: ``mnist``, ``toy``, ``iris``, ``digits``, ``breast_cancer``, ``wine``; anything else
is read as a tabular file (see :func:`softmaxreg.datasets.tabular.read_tabular`).

Splits: MNIST uses its own 60,000/10,000 split; ``toy`` and ``iris`` the lecture notebooks'
splits (and, by default, their standardisation); the other bundled sets and files a seeded,
stratified split with ``test_size`` (default 25%) in the test part, unless a separate
``test_file`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import scipy.sparse

from softmaxreg import preprocessing
from softmaxreg.datasets.bundled import BUNDLED, load_bundled
from softmaxreg.datasets.lecture import (
    IRIS_CLASSES,
    IRIS_FEATURES,
    TOY_FEATURES,
    iris_notebook_split,
    load_iris,
    load_toy,
    toy_notebook_split,
)
from softmaxreg.datasets.mnist import IMAGE_SHAPE, load_mnist
from softmaxreg.datasets.tabular import read_tabular
from softmaxreg.errors import DataError, DataNotFoundError

NAMES = ("mnist", "toy", "iris", *[name for name in BUNDLED if name != "iris"])
# bundled sets whose features differ in scale by orders of magnitude: standardised by default
UNSCALED = ("breast_cancer", "wine")


@dataclass(frozen=True)
class Dataset:
    """A train/test split with the names needed to report on it.

    ``X_*``: (n, m) float arrays (CSR sparse for LIBSVM files); ``y_*``: (n,) labels
    (int64 for the named sets; a file's labels keep their type). ``class_names[k]`` names
    label ``k`` for the named sets (None for files); ``image_shape`` is (rows, cols) when
    each row of X is an image (MNIST, digits), else None. ``preprocessing`` is the transform
    already applied to the file's raw features, ``x' = (x - shift) * scale`` (see
    :mod:`softmaxreg.preprocessing`), so a saved model can apply it to new raw input.
    ``target_name``: the file's label column (None for the named sets and unnamed columns).
    """

    name: str
    X_train: np.ndarray | scipy.sparse.csr_matrix
    y_train: np.ndarray
    X_test: np.ndarray | scipy.sparse.csr_matrix
    y_test: np.ndarray
    feature_names: list[str] | None
    class_names: list[str] | None
    image_shape: tuple[int, int] | None
    preprocessing: dict | None = None
    target_name: str | None = None

    def with_named_classes(self) -> Dataset:
        """The same split with each label ``k`` replaced by its name ``class_names[k]``.

        Only when the names say more than the numbers (iris: setosa, versicolor, virginica;
        breast_cancer, wine); digit sets (mnist, digits, toy) keep their integer labels. The
        returned labels are the names themselves, so its ``class_names`` is None.
        """
        names = self.class_names
        if names is None or names == [str(k) for k in range(len(names))]:
            return self
        lookup = np.asarray(names, dtype=object)
        return replace(
            self, y_train=lookup[self.y_train], y_test=lookup[self.y_test], class_names=None
        )


def load_dataset(
    name_or_path: str | Path,
    *,
    target: str | int | None = "auto",
    test_file: str | Path | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    standardize: bool | None = None,
    root: str | Path | None = None,
    download: bool = True,
    test_only: bool = False,
) -> Dataset:
    """Load a named data set or a file, split into train and test parts.

    - ``mnist``: ``x = X / 255`` as float32 in [0, 1] (``load_mnist`` gives raw uint8),
      the official 60,000 train / 10,000 test images; ``root``/``download`` as in load_mnist.
    - ``toy``: the lecture's 100 points, its split (NumPy seed 123, 25 test rows).
    - ``iris``: the lecture's notebook: features x2 and x4 (sepal width, petal width),
      80/20 split after ``torch.randperm`` with seed 123; the lecture's iris.data, or
      scikit-learn's copy of the same 150 flowers when that file is absent.
    - ``digits``, ``breast_cancer``, ``wine``: scikit-learn's bundled sets.
    - a path: ``target`` selects the label column (see ``read_tabular``).

    ``standardize``: ``x := (x - mu_train) / sigma_train``; None means "as the lecture
    notebook does" for its sets (on for toy and iris), on for ``breast_cancer`` and
    ``wine`` (features in units thousands of times apart, on which the lecture's SGD
    recipe diverges) and off otherwise. ``test_size``/``seed``: the seeded
    stratified split used for the bundled sets and for files without ``test_file``.
    ``test_only``: MNIST (not standardised) reads only its test files, so the training files
    need not be present; ``X_train``/``y_train`` are then empty. Other sets load as usual.
    """
    key = str(name_or_path)
    if key == "mnist":
        return _mnist(root, download, standardize, test_only=test_only and not standardize)
    if key == "toy":
        X, y = load_toy()
        parts = toy_notebook_split(X, y, standardize=False)
        parts, spec = _standardized(parts, standardize is not False, ddof=0)
        return Dataset("toy", *parts, list(TOY_FEATURES), ["0", "1"], None, spec)
    if key == "iris":
        return _lecture_iris(standardize)
    if key in BUNDLED:
        data = load_bundled(key)
        parts = _stratified_split(data.X, data.y, test_size, seed)
        if standardize is None:
            standardize = key in UNSCALED
        parts, spec = _standardized(parts, standardize)
        return Dataset(key, *parts, data.feature_names, data.class_names, data.image_shape, spec)
    path = Path(key).expanduser()
    if not path.exists() and path.suffix == "" and "/" not in key:
        raise DataNotFoundError(
            f"unknown data set {key!r}: not a known name ({', '.join(NAMES)}) and no such file"
        )
    return _from_files(path, target, test_file, test_size, seed, standardize)


def _mnist(root, download: bool, standardize: bool | None, *, test_only: bool) -> Dataset:
    X_test, y_test = load_mnist("test", root=root, download=download)
    if test_only:
        X_train, y_train = X_test[:0], y_test[:0]
    else:
        X_train, y_train = load_mnist("train", root=root, download=download)
    X_train = X_train.astype(np.float32) / np.float32(255)
    X_test = X_test.astype(np.float32) / np.float32(255)
    parts, spec = _standardized((X_train, y_train, X_test, y_test), standardize)
    # raw pixels p -> p / 255, then (if asked) -> (p / 255 - mu) / sigma
    spec = spec or preprocessing.affine(0.0, 1.0)
    spec = preprocessing.affine(
        np.asarray(spec["shift"]) * 255.0, np.asarray(spec["scale"]) / 255.0
    )
    classes = [str(k) for k in range(10)]
    return Dataset("mnist", *parts, None, classes, IMAGE_SHAPE, spec)


def _lecture_iris(standardize: bool | None) -> Dataset:
    try:
        X, y = load_iris()
    except DataNotFoundError:
        data = load_bundled("iris")
        X, y = data.X, data.y
    parts = iris_notebook_split(X[:, [1, 3]], y, standardize=False)
    parts, spec = _standardized(parts, standardize is not False, ddof=1)
    names = [IRIS_FEATURES[1], IRIS_FEATURES[3]]
    return Dataset("iris", *parts, names, list(IRIS_CLASSES), None, spec)


def _from_files(path: Path, target, test_file, test_size, seed, standardize) -> Dataset:
    if target is None:
        raise DataError(f"{path}: training needs a label column; target=None reads none")
    data = read_tabular(path, target)
    names, target_name = data.feature_names, data.target_name
    if test_file is not None:
        from softmaxreg.datasets.columns import column_order, file_feature_names, names_columns

        # a label column given by its index is looked up by its name in a file with names
        # (its columns may come in another order): by position only between unnamed files
        by_name = isinstance(target, int) and names_columns(path) and names_columns(test_file)
        test_target = target_name if by_name else target
        test = read_tabular(test_file, test_target)
        if test.X.shape[1] != data.X.shape[1]:
            raise DataError(
                f"{test_file}: has {test.X.shape[1]} feature columns, the training file "
                f"{path} has {data.X.shape[1]}; both need the same columns"
            )
        order = column_order(
            file_feature_names(test_file, test_target),
            file_feature_names(path, target),
            str(test_file),
            owner=f"the training file {path}'s columns",
        )
        parts = (data.X, data.y, test.X if order is None else test.X[:, order], test.y)
    else:
        X, y = data.X, data.y
        del data  # the split copies the rows: let the whole matrix go as soon as it is split
        parts = _stratified_split(X, y, test_size, seed)
        del X, y
    parts, spec = _standardized(parts, standardize)
    return Dataset(path.name, *parts, names, None, None, spec, target_name)


def _stratified_split(X, y, test_size: float, seed: int):
    """Seeded split keeping class proportions (plain seeded split when a class is too rare)."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_size < 1.0:
        raise DataError(f"test_size must be a fraction in (0, 1), got {test_size!r}")
    n_test = int(np.ceil(test_size * y.shape[0]))
    if n_test < 1 or y.shape[0] - n_test < 1:
        raise DataError(f"{y.shape[0]} rows are too few to split with test_size={test_size}")
    _, counts = np.unique(y, return_counts=True)
    n_classes = counts.size
    can_stratify = counts.min() >= 2 and n_classes <= min(n_test, y.shape[0] - n_test)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y if can_stratify else None
    )
    return X_train, y_train, X_test, y_test


def _standardized(parts, standardize: bool | None, ddof: int = 0):
    """``x := (x - mu) / sigma`` with the train mean and std (constant columns: sigma = 1).

    The parts are standardised in place (they are the split's own copies), so no second
    copy of the data is made. Returns the parts and the preprocessing spec (None when
    nothing was applied).
    """
    if not standardize:
        return parts, None
    X_train, y_train, X_test, y_test = parts
    if scipy.sparse.issparse(X_train):
        raise DataError("standardize=True would densify a sparse (LIBSVM) matrix; leave it off")
    mu = X_train.mean(axis=0)
    sigma = X_train.std(axis=0, ddof=ddof)
    sigma[sigma == 0] = 1
    spec = preprocessing.standardization(mu, sigma)
    for X in (X_train, X_test):
        X -= mu
        X /= sigma
    return (X_train, y_train, X_test, y_test), spec
