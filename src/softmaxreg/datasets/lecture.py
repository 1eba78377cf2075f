"""The lecture's two small data sets: the 2-D toy set and iris, with the notebooks' splits.

Files (found through ``$SOFTMAXREG_DATA``): ``stat453/toydata.txt`` (100 rows ``x1 <tab> x2
<tab> label``) and ``stat453/iris.data`` (the UCI file: 150 rows ``sepal length, sepal
width, petal length, petal width, species``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from softmaxreg._atomic import read_regular_file
from softmaxreg.datasets._paths import data_dir
from softmaxreg.errors import DataError, DataNotFoundError

TOY_FILE = Path("stat453") / "toydata.txt"
IRIS_FILE = Path("stat453") / "iris.data"
IRIS_CLASSES = ("Iris-setosa", "Iris-versicolor", "Iris-virginica")
IRIS_FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
TOY_FEATURES = ("x1", "x2")


def load_toy(path: str | Path | None = None, *, seed: int = 123) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's toy set for binary logistic regression: X float64 (100, 2), y int64 in {0,1}.

    Read from ``path``, else ``$SOFTMAXREG_DATA/stat453/toydata.txt`` (rows in file order: the
    first 50 are class 0, the last 50 class 1).

    Note: when no ``path`` is given and that file is absent, a stand-in of the same shape is
    **generated** with ``numpy.random.default_rng(seed)``: two Gaussian blobs, 50 points of
    class 0 around (-1.7, -1.6) with standard deviation 1.4 and 50 of class 1 around
    (2.0, 2.2) with standard deviation 1.0 (the file's class means and spreads), rounded to
    two decimals like the file. Numbers then differ from the lecture's (e.g. its 96% test
    accuracy).
    """
    if path is None:
        root = data_dir()
        candidate = root / TOY_FILE if root is not None else None
        if candidate is None or not candidate.is_file():
            return generate_toy(seed)
        path = candidate
    rows = _read_text_rows(Path(path), "\t", expected_fields=3)
    try:
        values = np.array(rows, dtype=np.float64)
    except ValueError as error:
        message = f"{path}: toy data must be numbers 'x1<TAB>x2<TAB>label' ({error})"
        raise DataError(message) from None
    labels = values[:, 2]
    if not np.all(np.isin(labels, (0.0, 1.0))):
        raise DataError(f"{path}: toy labels must be 0 or 1, found {np.unique(labels)}")
    if not np.all(np.isfinite(values[:, :2])):
        row = int(np.argwhere(~np.isfinite(values[:, :2]))[0, 0]) + 1
        raise DataError(f"{path}: NaN or infinite feature in row {row}")
    return np.ascontiguousarray(values[:, :2]), labels.astype(np.int64)


def generate_toy(seed: int = 123) -> tuple[np.ndarray, np.ndarray]:
    """Two Gaussian blobs like the lecture's toy set: ``x ~ N(mu_y, sigma_y^2 I)``, 50 per class.

    ``mu_0 = (-1.7, -1.6), sigma_0 = 1.4``; ``mu_1 = (2.0, 2.2), sigma_1 = 1.0``; class 0 rows
    first; values rounded to 2 decimals. Same ``seed`` -> same data.
    """
    rng = np.random.default_rng(seed)
    class0 = rng.normal(loc=(-1.7, -1.6), scale=1.4, size=(50, 2))
    class1 = rng.normal(loc=(2.0, 2.2), scale=1.0, size=(50, 2))
    X = np.round(np.vstack([class0, class1]), 2)
    y = np.repeat(np.arange(2, dtype=np.int64), 50)
    return X, y


def load_iris(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's iris file: X float64 (150, 4), y int64 (150,), classes in file order.

    ``y = 0`` Iris-setosa, ``1`` Iris-versicolor, ``2`` Iris-virginica (:data:`IRIS_CLASSES`,
    the notebook's mapping); columns :data:`IRIS_FEATURES`. Read from ``path``, else
    ``$SOFTMAXREG_DATA/stat453/iris.data``; raises :class:`DataNotFoundError` when absent
    (``load_dataset("iris")`` then falls back to scikit-learn's bundled copy).
    """
    if path is None:
        root = data_dir()
        if root is None or not (root / IRIS_FILE).is_file():
            where = root / IRIS_FILE if root is not None else "$SOFTMAXREG_DATA (not set)"
            raise DataNotFoundError(
                f"iris.data not found at {where}; set SOFTMAXREG_DATA to a folder holding "
                "stat453/iris.data or pass path=, or use load_dataset('iris') which falls back "
                "to scikit-learn's bundled iris"
            )
        path = root / IRIS_FILE
    rows = _read_text_rows(Path(path), ",", expected_fields=5)
    index = {name: k for k, name in enumerate(IRIS_CLASSES)}
    try:
        X = np.array([row[:4] for row in rows], dtype=np.float64)
    except ValueError as error:
        raise DataError(f"{path}: iris measurements must be numbers ({error})") from None
    unknown = sorted({row[4] for row in rows} - set(index))
    if unknown:
        raise DataError(f"{path}: unknown species {unknown}; accepted: {list(IRIS_CLASSES)}")
    y = np.array([index[row[4]] for row in rows], dtype=np.int64)
    return X, y


def toy_notebook_split(
    X: np.ndarray, y: np.ndarray, *, standardize: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The toy notebook's split: shuffle with ``np.random.seed(123)``, first 25 rows test.

    With ``standardize``: ``x := (x - mu_train) / sigma_train`` (population std, ddof=0).
    Returns ``X_train, y_train, X_test, y_test``.
    """
    order = np.arange(y.shape[0])
    np.random.RandomState(123).shuffle(order)
    test, train = order[:25], order[25:]
    X_train, X_test = X[train], X[test]
    if standardize:
        mu, sigma = X_train.mean(axis=0), X_train.std(axis=0)
        X_train, X_test = (X_train - mu) / sigma, (X_test - mu) / sigma
    return X_train, y[train], X_test, y[test]


def iris_notebook_split(
    X: np.ndarray, y: np.ndarray, *, standardize: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The iris notebook's 80/20 split, reproduced exactly (quirk included).

    The notebook draws ``p = torch.randperm(n)`` after ``torch.manual_seed(123)``, shuffles
    ``X, y = X[p], y[p]`` and then indexes the shuffled arrays with ``p`` again, so the train
    rows are ``p[p[:int(0.8 n)]]``. With ``standardize``: ``x := (x - mu) / s`` with the
    train mean and sample std (ddof=1, torch's default). Returns ``X_train, y_train, X_test,
    y_test``; pass ``X[:, [1, 3]]`` for the notebook's two features x2 and x4.
    """
    import torch

    generator = torch.Generator().manual_seed(123)
    perm = torch.randperm(y.shape[0], generator=generator).numpy()
    cut = int(y.shape[0] * 0.8)
    train, test = perm[perm[:cut]], perm[perm[cut:]]
    X_train, X_test = X[train], X[test]
    if standardize:
        mu, sigma = X_train.mean(axis=0), X_train.std(axis=0, ddof=1)
        X_train, X_test = (X_train - mu) / sigma, (X_test - mu) / sigma
    return X_train, y[train], X_test, y[test]


def _read_text_rows(path: Path, separator: str, expected_fields: int) -> list[list[str]]:
    """Non-blank lines of a small UTF-8 text file split on ``separator``, checked for width."""
    if path.is_dir():
        raise DataError(f"{path} is a directory; expected a text data file")
    try:
        text = read_regular_file(path, "data file").decode("utf-8")
    except DataNotFoundError:
        raise DataNotFoundError(f"data file not found: {path}") from None
    except UnicodeDecodeError as error:
        where = f"{error.reason} at byte {error.start}"
        raise DataError(f"{path} is not UTF-8 text ({where})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(separator)]
        if len(fields) != expected_fields:
            raise DataError(
                f"{path}, line {number}: expected {expected_fields} fields separated by "
                f"{separator!r}, found {len(fields)}"
            )
        rows.append(fields)
    if not rows:
        raise DataError(f"{path} is empty")
    return rows
