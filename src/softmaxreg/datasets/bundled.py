"""scikit-learn's bundled data sets (shipped inside scikit-learn, so they work offline)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from softmaxreg.errors import DataError

BUNDLED = ("iris", "digits", "breast_cancer", "wine")


@dataclass(frozen=True)
class BundledData:
    """One bundled data set: features, integer labels and the names that go with them."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    image_shape: tuple[int, int] | None


def load_bundled(name: str) -> BundledData:
    """Load scikit-learn's ``iris`` (150 x 4, 3 classes), ``digits`` (1797 x 64, 8x8 images,
    10 classes), ``breast_cancer`` (569 x 30, 2 classes) or ``wine`` (178 x 13, 3 classes).

    X float64, y int64 in ``0..K-1``; class ``k`` is named ``class_names[k]``.
    """
    from sklearn import datasets

    loaders = {
        "iris": datasets.load_iris,
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }
    if name not in loaders:
        raise DataError(f"unknown bundled data set {name!r}; accepted: {', '.join(BUNDLED)}")
    bunch = loaders[name]()
    return BundledData(
        X=np.asarray(bunch.data, dtype=np.float64),
        y=np.asarray(bunch.target, dtype=np.int64),
        feature_names=[str(f) for f in bunch.feature_names],
        class_names=[str(c) for c in bunch.target_names],
        image_shape=(8, 8) if name == "digits" else None,
    )
