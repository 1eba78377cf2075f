"""Models the serve tests fit: a 28x28 digit model (scikit-learn's bundled 8x8 digits, brought
to 28x28 the MNIST way, so no download is needed) and iris with named features."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, load_iris

from softmaxreg import LogisticRegression, preprocessing, save
from softmaxreg.datasets.images import mnist_style


def digit_pixels() -> tuple[np.ndarray, np.ndarray]:
    """(X raw pixels 0..255 float64 (1797, 784), y int64): each 8x8 digit made MNIST-style."""
    digits = load_digits()
    X = np.stack([mnist_style(image / 16.0).ravel() for image in digits.images]) * 255.0
    return X, digits.target.astype(np.int64)


@functools.cache
def _fitted_digit_model() -> LogisticRegression:
    X, y = digit_pixels()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(max_iter=60).fit(X / 255.0, y)


def fit_digit_model(path) -> LogisticRegression:
    """Softmax regression on ``x / 255``, saved with that preprocessing (like the CLI does).

    Fitted once per test session (the fit is deterministic); each call saves it to ``path``.
    """
    model = _fitted_digit_model()
    save(
        model,
        path,
        preprocessing=preprocessing.affine(0.0, 1.0 / 255.0),
        metrics={"train_accuracy": 0.99},
    )
    return model


def iris_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """Iris as a DataFrame with named features and string labels."""
    iris = load_iris(as_frame=True)
    labels = np.asarray(iris.target_names)[iris.target]
    return iris.data, labels


def fit_iris_model(path) -> LogisticRegression:
    """Softmax regression on iris's 4 named features, saved without preprocessing."""
    X, y = iris_frame()
    model = LogisticRegression(max_iter=200).fit(X, y)
    save(model, path)
    return model


def test_digit_model_learns_the_digits(tmp_path):
    model = fit_digit_model(tmp_path / "digits.safetensors")
    X, y = digit_pixels()
    assert model.score(X / 255.0, y) > 0.95
    assert model.coef_.shape == (10, 784)


def fit_standardized_iris_model(path) -> LogisticRegression:
    """Softmax regression on iris's sepal and petal width (cm), standardised, saved with that
    preprocessing (like ``softmaxreg train`` does): raw rows go in, ``(x - mu) / sigma`` is
    applied from the file."""
    X, y = iris_frame()
    X = X[["sepal width (cm)", "petal width (cm)"]]
    mean, std = X.mean().to_numpy(), X.std(ddof=0).to_numpy()
    model = LogisticRegression(max_iter=200).fit((X - mean) / std, y)
    save(model, path, preprocessing=preprocessing.standardization(mean, std))
    return model


def fit_wide_model(path, n_features: int = 2000) -> LogisticRegression:
    """A binary model of ``n_features`` named features f0, f1, ... (40 random rows)."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        rng.normal(size=(40, n_features)), columns=[f"f{j}" for j in range(n_features)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(max_iter=5).fit(X, np.arange(40) % 2)
    save(model, path)
    return model
