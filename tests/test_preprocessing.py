"""The stored feature transform x' = (x - shift) * scale, and what the data sets record."""

import numpy as np
import pytest
import scipy.sparse as sp

from softmaxreg import preprocessing
from softmaxreg.datasets import load_dataset, read_tabular
from softmaxreg.errors import DataError


def test_affine_applies_shift_then_scale():
    X = np.array([[1.0, 4.0], [3.0, 8.0]])
    spec = preprocessing.affine([1.0, 4.0], [0.5, 0.25])
    np.testing.assert_allclose(preprocessing.apply(X, spec), [[0.0, 0.0], [1.0, 1.0]])


def test_standardization_matches_mean_and_std_and_leaves_constant_columns_centred():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    spec = preprocessing.standardization(X.mean(axis=0), X.std(axis=0))
    out = preprocessing.apply(X, spec)
    np.testing.assert_allclose(out.mean(axis=0), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [1.0, 0.0], atol=1e-12)


def test_none_spec_is_identity_and_sparse_scaling_keeps_sparsity():
    X = np.arange(6.0).reshape(2, 3)
    assert preprocessing.apply(X, None) is X
    sparse = sp.csr_matrix(X)
    scaled = preprocessing.apply(sparse, preprocessing.affine(0.0, 0.5))
    assert sp.issparse(scaled)
    np.testing.assert_allclose(scaled.toarray(), X * 0.5)


def test_sparse_input_with_centring_is_refused():
    with pytest.raises(DataError, match="sparse"):
        preprocessing.apply(sp.csr_matrix(np.eye(2)), preprocessing.affine([1.0, 1.0], 1.0))


def test_spec_with_the_wrong_width_is_refused():
    with pytest.raises(DataError, match="does not fit 3 features"):
        preprocessing.apply(np.ones((2, 3)), preprocessing.affine([0.0, 0.0], 1.0))


@pytest.mark.parametrize("name", ["toy", "iris", "wine"])
def test_dataset_preprocessing_reproduces_the_standardised_test_part(name):
    data = load_dataset(name, standardize=True)
    assert data.preprocessing is not None
    # undo the transform on the test part, then apply the stored spec: same values
    shift = np.asarray(data.preprocessing["shift"])
    scale = np.asarray(data.preprocessing["scale"])
    raw_test = data.X_test / scale + shift
    np.testing.assert_allclose(
        preprocessing.apply(raw_test, data.preprocessing), data.X_test, atol=1e-10
    )


def test_dataset_from_file_without_standardisation_records_no_transform(tmp_path):
    path = tmp_path / "data.csv"
    rows = "\n".join(f"{i},{i % 3},{i % 2}" for i in range(40))
    path.write_text("a,b,label\n" + rows + "\n", encoding="utf-8")
    assert load_dataset(path).preprocessing is None
    assert read_tabular(path).X.shape == (40, 2)


@pytest.mark.mnist
def test_mnist_records_pixel_scaling():
    data = load_dataset("mnist")
    spec = data.preprocessing
    assert spec == {"shift": 0.0, "scale": pytest.approx(1 / 255)}
