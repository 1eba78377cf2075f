"""Bad input, across the Python API and the command line: a clear error naming the problem,
and no file left behind.

Each API case is ``(name, call, error type, fragment of the message)``; each CLI case is the
command's arguments and a fragment expected on stderr, with a non-zero exit status.
"""

from __future__ import annotations

import gzip
import pickle
import socket
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_cli

from softmaxreg import LogisticRegression, io
from softmaxreg.datasets import load_dataset, read_tabular
from softmaxreg.errors import DataError, ModelFileError

RNG = np.random.default_rng(0)
X = RNG.normal(size=(30, 3))
y = np.arange(30) % 3


def _with(value, row, column):
    copy = X.copy()
    copy[row, column] = value
    return copy


@pytest.fixture(scope="module")
def fitted():
    return LogisticRegression().fit(X, y)


API_CASES = [
    ("NaN in X", lambda m: LogisticRegression().fit(_with(np.nan, 3, 1), y), "NaN"),
    ("inf in X", lambda m: LogisticRegression().fit(_with(np.inf, 2, 0), y), "infinity"),
    ("NaN at predict", lambda m: m.predict(_with(np.nan, 0, 0)), "NaN"),
    ("wrong feature count", lambda m: m.predict(X[:, :2]), "2 features"),
    ("a single class", lambda m: LogisticRegression().fit(X, np.zeros(30)), "only one class"),
    ("empty X", lambda m: LogisticRegression().fit(np.zeros((0, 3)), []), "0 sample"),
    ("X and y lengths differ", lambda m: LogisticRegression().fit(X, y[:10]), "[30, 10]"),
    (
        "non-numeric column",
        lambda m: LogisticRegression().fit(pd.DataFrame({"a": ["x"] * 30, "b": y}), y),
        "'x'",
    ),
    ("3-D X", lambda m: LogisticRegression().fit(X.reshape(30, 3, 1), y), "dim 3"),
    ("C = 0", lambda m: LogisticRegression(C=0).fit(X, y), "C must be"),
    ("negative C", lambda m: LogisticRegression(C=-1.0).fit(X, y), "C must be"),
    (
        "learning rate 0",
        lambda m: LogisticRegression(solver="sgd", learning_rate=0).fit(X, y),
        "learning_rate",
    ),
    (
        "batch size 0",
        lambda m: LogisticRegression(solver="sgd", batch_size=0).fit(X, y),
        "batch_size",
    ),
    (
        "negative epochs",
        lambda m: LogisticRegression(solver="sgd", max_iter=-1).fit(X, y),
        "max_iter",
    ),
    ("unknown solver", lambda m: LogisticRegression(solver="magic").fit(X, y), "solver must be"),
    ("unknown device", lambda m: LogisticRegression(device="tpu").fit(X, y), "device must be"),
    (
        "negative sample weight",
        lambda m: LogisticRegression().fit(X, y, sample_weight=-np.ones(30)),
        "sample_weight",
    ),
    # C * s_i = 1 (the problem of C=1), but sum_i s_i overflows: the stopping rule's divisor
    # C * sum_i s_i was inf, and the fit returned its start (L2) or one step (L1) as
    # converged
    *[
        (
            f"sample weights whose sum overflows ({name})",
            lambda m, r=l1_ratio: LogisticRegression(l1_ratio=r, C=1e-307).fit(
                X, y, sample_weight=np.full(30, 1e307)
            ),
            "C * sum(sample_weight) = 1e-307 * inf overflows float64",
        )
        for name, l1_ratio in (("L2", 0.0), ("L1", 1.0))
    ],
    (
        "C times the row count overflows",
        lambda m: LogisticRegression(C=1e307).fit(X, y),
        "C * sum(sample_weight) = 1e+307 * 30 overflows float64",
    ),
    (
        "a seed beyond numpy's",
        lambda m: LogisticRegression(random_state=2**64 + 1).fit(X, y),
        "random_state must be an integer in [0, 2**32 - 1]",
    ),
]


@pytest.mark.parametrize(("name", "call", "fragment"), API_CASES, ids=[c[0] for c in API_CASES])
def test_api_refuses_bad_input_with_a_clear_message(name, call, fragment, fitted):
    with pytest.raises(ValueError) as raised:
        call(fitted)
    assert fragment in str(raised.value), f"{name}: {raised.value}"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_cuda_requested_without_cuda_says_so():
    with pytest.raises(ValueError, match="CUDA is not available"):
        LogisticRegression(device="cuda").fit(X, y)


# ------------------------------------------------------------------------- files (API)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing.csv"):
        read_tabular(tmp_path / "missing.csv")


def test_non_utf8_csv(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b,label\n1,2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        read_tabular(path)


def test_ragged_csv_rows(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,label\n1,2,0\n3,1\n4,5,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="row"):
        read_tabular(path)


def test_directory_where_a_file_is_expected(tmp_path):
    with pytest.raises(DataError, match="folder|directory"):
        read_tabular(tmp_path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "socket.csv"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(DataError):
            read_tabular(path)


def test_model_file_that_is_a_pickle_is_refused_unopened(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"coef": [1.0]}))
    with pytest.raises(ModelFileError, match="pickle"):
        io.load(path)


def test_truncated_model_file(tmp_path, fitted):
    path = tmp_path / "model.safetensors"
    io.save(fitted, path)
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ModelFileError):
        io.load(path)


def test_save_into_a_missing_folder_leaves_nothing(tmp_path, fitted):
    with pytest.raises(DataError, match="does not exist"):
        io.save(fitted, tmp_path / "nope" / "model.safetensors")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, fitted):
    folder = tmp_path_factory.mktemp("run")
    io.save(fitted, folder / "model.safetensors")
    return folder


@pytest.fixture(scope="module")
def pixels_model_dir(tmp_path_factory):
    """A model over 784 pixel features, so image input reaches the image reader."""
    folder = tmp_path_factory.mktemp("pixels")
    pixels = RNG.random((40, 784))
    io.save(
        LogisticRegression(max_iter=20).fit(pixels, np.arange(40) % 2), folder / "m.safetensors"
    )
    return folder / "m.safetensors"


def _files(folder):
    return sorted(path.name for path in folder.iterdir())


CLI_CASES = [
    ("unknown data set", ["train", "no-such-set"], "unknown data set"),
    ("unknown device", ["train", "toy", "--device", "tpu"], "device must be"),
    ("missing model", ["predict", "{tmp}/none", "{tmp}/x.csv"], "no model at"),
    ("missing input", ["predict", "{model}", "{tmp}/none.csv"], "none.csv"),
    ("wrong feature count", ["predict", "{model}", "{tmp}/two.csv"], "expects 3"),
    ("NaN in input", ["predict", "{model}", "{tmp}/nan.csv"], "NaN"),
    ("not an image", ["predict", "{pixels_model}", "{tmp}/fake.png"], "fake.png"),
    (
        "output folder missing",
        ["predict", "{model}", "{tmp}/three.csv", "--out", "{tmp}/no/dir/p.csv"],
        "does not exist",
    ),
    ("input is a folder", ["predict", "{model}", "{tmp}"], "directory"),
    ("labels the model does not know", ["evaluate", "{model}", "{tmp}/alien.csv"], "label"),
]


@pytest.fixture
def inputs(tmp_path):
    pd.DataFrame(X[:, :2], columns=["a", "b"]).to_csv(tmp_path / "two.csv", index=False)
    pd.DataFrame(X, columns=["a", "b", "c"]).to_csv(tmp_path / "three.csv", index=False)
    nan = pd.DataFrame(X, columns=["a", "b", "c"])
    nan.iloc[4, 1] = np.nan
    nan.to_csv(tmp_path / "nan.csv", index=False)
    (tmp_path / "fake.png").write_bytes(gzip.compress(b"not a picture"))
    alien = pd.DataFrame(X, columns=["a", "b", "c"]).assign(label=y + 7)
    alien.to_csv(tmp_path / "alien.csv", index=False)
    return tmp_path


@pytest.mark.parametrize(("name", "args", "fragment"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_bad_input_on_stderr(
    name, args, fragment, inputs, model_dir, pixels_model_dir, capsys
):
    before = _files(inputs)
    filled = [
        arg.format(tmp=inputs, model=model_dir, pixels_model=pixels_model_dir) for arg in args
    ]
    if filled[0] == "train":
        filled += ["--out", str(inputs / "run"), "-q"]
    assert run_cli(*filled) == 1, name
    captured = capsys.readouterr()
    assert fragment in captured.err, f"{name}: {captured.err}"
    assert "Traceback" not in captured.err
    assert [f for f in _files(inputs) if f != "run"] == before  # nothing half-written


def test_dataset_file_with_a_single_class_is_refused(tmp_path, capsys):
    path = tmp_path / "one.csv"
    pd.DataFrame({"a": range(20), "label": [1] * 20}).to_csv(path, index=False)
    assert run_cli("train", path, "--out", tmp_path / "run", "-q") == 1
    assert "class" in capsys.readouterr().err


def test_named_dataset_is_not_shadowed_by_bad_options():
    with pytest.raises(DataError, match="test_size"):
        load_dataset("wine", test_size=1.5)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_float32_data_beyond_float32_squares_is_computed_in_float64(sparse, l1_ratio):
    """float32 X with a column of ~1e38 (valid float32, squares far beyond it): computed in
    float64 (it fitted all-zero coefficients in float32, products overflowed), with no
    RuntimeWarning from validating it, float32 coefficients as scikit-learn gives, and the
    fit of dtype='float64'."""
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 10))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    X[:, 1] *= 1e38
    X = X.astype(np.float32)
    X = sp.csr_matrix(X) if sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(l1_ratio=l1_ratio).fit(X, y)
        wide = LogisticRegression(l1_ratio=l1_ratio, dtype="float64").fit(X, y)
    assert model.coef_.dtype == np.float32 and np.isfinite(model.coef_).all()
    np.testing.assert_allclose(model.coef_, wide.coef_.astype(np.float32), rtol=1e-6)
    assert model.score(X, y) == wide.score(X, y) > 0.95
