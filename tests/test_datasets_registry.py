"""load_dataset: names and files to train/test splits with the names that go with them."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from softmaxreg import preprocessing
from softmaxreg.datasets import Dataset, load_bundled, load_dataset, load_mnist, load_toy
from softmaxreg.errors import DataError, DataNotFoundError


def same_rows(parts: Dataset, X: np.ndarray) -> bool:
    """Train and test together hold exactly the rows of X (as a multiset)."""
    joined = np.vstack([parts.X_train, parts.X_test])
    return np.array_equal(np.sort(joined, axis=0), np.sort(X, axis=0))


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "wine"])
def test_bundled_sets_get_a_seeded_stratified_quarter(name):
    data = load_bundled(name)
    first = load_dataset(name, seed=3, standardize=False)
    assert first.name == name and first.class_names == data.class_names
    assert first.X_test.shape[0] == int(np.ceil(0.25 * data.X.shape[0]))
    assert same_rows(first, data.X)
    share_all = np.bincount(data.y) / data.y.size
    share_test = np.bincount(first.y_test, minlength=share_all.size) / first.y_test.size
    assert np.abs(share_all - share_test).max() < 0.02
    again = load_dataset(name, seed=3, standardize=False)
    np.testing.assert_array_equal(again.X_test, first.X_test)
    assert not np.array_equal(load_dataset(name, seed=4).y_test, first.y_test)
    assert load_dataset("digits").image_shape == (8, 8)


@pytest.mark.parametrize(
    ("name", "scaled"), [("digits", False), ("breast_cancer", True), ("wine", True)]
)
def test_bundled_sets_in_units_far_apart_are_standardised_by_default(name, scaled):
    """The lecture's SGD recipe diverges on raw wine / breast-cancer features (areas in the
    thousands beside ratios near 0.1); standardised with train statistics, stored as the
    model's preprocessing, it fits them."""
    data = load_dataset(name, seed=3)
    assert (data.preprocessing is not None) is scaled
    if scaled:
        np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-9)
        raw = load_dataset(name, seed=3, standardize=False)
        np.testing.assert_allclose(
            preprocessing.apply(raw.X_test, data.preprocessing), data.X_test, rtol=1e-12
        )


def test_toy_and_iris_use_the_lecture_splits(monkeypatch, tmp_path):
    if not os.environ.get("SOFTMAXREG_DATA"):
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it)")
    toy = load_dataset("toy")
    assert toy.X_train.shape == (75, 2) and toy.X_test.shape == (25, 2)
    np.testing.assert_allclose(toy.X_train.mean(axis=0), 0, atol=1e-12)
    raw = load_dataset("toy", standardize=False)
    assert same_rows(raw, load_toy()[0])
    iris = load_dataset("iris")
    assert iris.X_train.shape == (120, 2) and iris.X_test.shape == (30, 2)
    assert iris.feature_names == ["sepal width (cm)", "petal width (cm)"]
    assert iris.class_names == ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]
    # without the lecture's file: scikit-learn's copy of the same flowers, same split
    monkeypatch.setenv("SOFTMAXREG_DATA", str(tmp_path))
    fallback = load_dataset("iris")
    np.testing.assert_array_equal(fallback.y_test, iris.y_test)


def test_file_with_a_seeded_split_and_with_a_test_file(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    table["target"] = ["yes", "no"] * 20
    path = tmp_path / "train.csv"
    table.to_csv(path, index=False)
    data = load_dataset(str(path), seed=1)
    assert data.name == "train.csv" and data.feature_names == ["a", "b", "c"]
    assert data.X_test.shape == (10, 3) and sorted(set(data.y_test)) == ["no", "yes"]
    assert same_rows(data, table[["a", "b", "c"]].to_numpy())
    test_path = tmp_path / "test.parquet"
    table.iloc[:5].to_parquet(test_path)
    split = load_dataset(path, test_file=test_path)
    assert split.X_train.shape == (40, 3) and split.X_test.shape == (5, 3)
    narrow = tmp_path / "narrow.csv"
    table[["a", "target"]].to_csv(narrow, index=False)
    with pytest.raises(DataError, match="narrow.csv: has 1 feature columns, the training file"):
        load_dataset(path, test_file=narrow)
    with pytest.raises(DataError, match="training needs a label column"):
        load_dataset(path, target=None)
    with pytest.raises(DataError, match=r"test_size must be a fraction in \(0, 1\)"):
        load_dataset(path, test_size=1.5)


def test_standardize_uses_train_statistics(tmp_path):
    data = load_dataset("wine", standardize=True)
    np.testing.assert_allclose(data.X_train.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(data.X_train.std(axis=0), 1)
    assert np.abs(data.X_test.mean(axis=0)).max() > 1e-3  # test rows are not re-centred


def test_unknown_name():
    with pytest.raises(DataNotFoundError, match="unknown data set 'mnits': not a known name"):
        load_dataset("mnits")


@pytest.mark.mnist
def test_mnist_is_scaled_to_unit_interval(monkeypatch, tmp_path):
    if not os.environ.get("SOFTMAXREG_DATA"):
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it)")
    monkeypatch.setenv("SOFTMAXREG_CACHE", str(tmp_path))
    data = load_dataset("mnist", download=False)
    assert data.X_train.shape == (60000, 784) and data.X_train.dtype == np.float32
    assert data.X_test.shape == (10000, 784) and data.image_shape == (28, 28)
    assert data.X_train.min() == 0 and data.X_train.max() == 1
    raw, labels = load_mnist("test", download=False)
    np.testing.assert_array_equal(data.X_test, raw.astype(np.float32) / 255)
    np.testing.assert_array_equal(data.y_test, labels)
    assert data.class_names == [str(k) for k in range(10)]
