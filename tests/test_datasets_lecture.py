"""The lecture's toy set and iris, their notebook splits, and scikit-learn's bundled sets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from softmaxreg.datasets import (
    generate_toy,
    iris_notebook_split,
    load_bundled,
    load_iris,
    load_toy,
    toy_notebook_split,
)
from softmaxreg.errors import DataError, DataNotFoundError


@pytest.fixture
def lecture_data() -> Path:
    value = os.environ.get("SOFTMAXREG_DATA")
    if not value:
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it)")
    folder = Path(value) / "stat453"
    assert folder.is_dir(), f"SOFTMAXREG_DATA is set but {folder} does not exist"
    return folder


def test_toy_from_the_lecture_file(lecture_data):
    X, y = load_toy()
    assert X.shape == (100, 2) and X.dtype == np.float64
    assert y.dtype == np.int64
    np.testing.assert_array_equal(X[0], [0.77, -1.14])
    np.testing.assert_array_equal(y, np.repeat([0, 1], 50))


def test_toy_is_generated_with_a_seed_when_the_file_is_absent(monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTMAXREG_DATA", str(tmp_path))
    X, y = load_toy()
    np.testing.assert_array_equal(X, generate_toy(123)[0])
    np.testing.assert_array_equal(y, np.repeat([0, 1], 50))
    assert not np.array_equal(generate_toy(1)[0], X)
    np.testing.assert_array_equal(generate_toy(7)[0], generate_toy(7)[0])
    assert np.abs(X[:50].mean(axis=0) - [-1.7, -1.6]).max() < 0.6
    assert np.abs(X[50:].mean(axis=0) - [2.0, 2.2]).max() < 0.5
    np.testing.assert_array_equal(X, np.round(X, 2))


def test_toy_file_errors(tmp_path):
    bad = tmp_path / "toy.txt"
    bad.write_text("1\t2\t0\n3\t4\n")
    with pytest.raises(DataError, match=r"toy.txt, line 2: expected 3 fields"):
        load_toy(bad)
    bad.write_text("1\t2\t0\n3\tx\t1\n")
    with pytest.raises(DataError, match="toy data must be numbers"):
        load_toy(bad)
    bad.write_text("1\t2\t0\n3\t4\t2\n")
    with pytest.raises(DataError, match="toy labels must be 0 or 1"):
        load_toy(bad)
    bad.write_bytes(b"1\t2\t0\n\xff\t4\t1\n")
    with pytest.raises(DataError, match="not UTF-8"):
        load_toy(bad)
    with pytest.raises(DataNotFoundError):
        load_toy(tmp_path / "absent.txt")


def test_iris_from_the_lecture_file(lecture_data):
    X, y = load_iris()
    assert X.shape == (150, 4) and X.dtype == np.float64
    np.testing.assert_array_equal(X[0], [5.1, 3.5, 1.4, 0.2])
    np.testing.assert_array_equal(X[-1], [5.9, 3.0, 5.1, 1.8])
    np.testing.assert_array_equal(y, np.repeat([0, 1, 2], 50))
    # the same flowers as scikit-learn's copy (which corrects two values of the UCI file)
    assert (X != load_bundled("iris").X).sum() <= 3


def test_iris_missing_and_malformed(monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTMAXREG_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="iris.data not found"):
        load_iris()
    bad = tmp_path / "iris.data"
    bad.write_text("5.1,3.5,1.4,0.2,Iris-setosa\n5.0,3.0,1.0,0.1,Iris-unknown\n")
    with pytest.raises(DataError, match="unknown species"):
        load_iris(bad)


def test_toy_split_reproduces_the_lecture_96_percent(lecture_data):
    """The notebook: 30 epochs of full-batch GD, summed gradient, eta = 0.1 -> 96% test."""
    X_train, y_train, X_test, y_test = toy_notebook_split(*load_toy())
    assert X_train.shape == (75, 2) and X_test.shape == (25, 2)
    np.testing.assert_allclose(X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X_train.std(axis=0), 1)
    order = np.arange(100)
    np.random.seed(123)  # noqa: NPY002 (the notebook's own calls, reproduced)
    np.random.shuffle(order)  # noqa: NPY002
    np.testing.assert_array_equal(y_test, load_toy()[1][order[:25]])
    w, b = np.zeros(2), 0.0
    for _ in range(30):
        a = 1 / (1 + np.exp(-(X_train @ w + b)))
        w, b = w + 0.1 * X_train.T @ (y_train - a), b + 0.1 * (y_train - a).sum()
    assert np.mean((X_test @ w + b > 0) == y_test) == 0.96


def test_iris_split_reproduces_the_lecture_80_percent(lecture_data):
    """The notebook: x2 and x4, 50 epochs, mean gradient, eta = 0.1, bias never moves -> 80%."""
    X, y = load_iris()
    X_train, y_train, X_test, y_test = iris_notebook_split(X[:, [1, 3]], y)
    assert X_train.shape == (120, 2) and X_test.shape == (30, 2)
    torch.manual_seed(123)
    perm = torch.randperm(150).numpy()
    np.testing.assert_array_equal(y_test, y[perm][perm[120:]])
    np.testing.assert_allclose(X_train.std(axis=0, ddof=1), 1)
    W, Y = np.zeros((3, 2)), np.eye(3)[y_train]
    for _ in range(50):
        Z = X_train @ W.T
        A = np.exp(Z - Z.max(axis=1, keepdims=True))
        A /= A.sum(axis=1, keepdims=True)
        W += 0.1 * (X_train.T @ (Y - A)).T / len(y_train)
    assert np.mean((X_test @ W.T).argmax(axis=1) == y_test) == pytest.approx(0.8)


@pytest.mark.parametrize(
    ("name", "shape", "n_classes", "image_shape"),
    [
        ("iris", (150, 4), 3, None),
        ("digits", (1797, 64), 10, (8, 8)),
        ("breast_cancer", (569, 30), 2, None),
        ("wine", (178, 13), 3, None),
    ],
)
def test_bundled_sets(name, shape, n_classes, image_shape):
    data = load_bundled(name)
    assert data.X.shape == shape and data.X.dtype == np.float64
    assert data.y.dtype == np.int64
    assert sorted(np.unique(data.y)) == list(range(n_classes))
    assert len(data.class_names) == n_classes and len(data.feature_names) == shape[1]
    assert data.image_shape == image_shape


def test_unknown_bundled_name():
    with pytest.raises(DataError, match="unknown bundled data set 'mnist2'; accepted: iris"):
        load_bundled("mnist2")
