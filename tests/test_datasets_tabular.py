"""Tabular files: every format round trip, the target option, and every error message."""

from __future__ import annotations

import gzip
import socket

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import dump_svmlight_file

from softmaxreg.datasets import iter_tabular_chunks, read_tabular
from softmaxreg.errors import DataError, DataNotFoundError, SoftmaxregError

RNG = np.random.default_rng(0)
FEATURES = np.round(RNG.normal(size=(12, 3)), 4)
LABELS = np.array([0, 1, 2] * 4)


def frame() -> pd.DataFrame:
    data = pd.DataFrame(FEATURES, columns=["height", "width", "depth"])
    data["label"] = LABELS
    return data


def write(path, kind):
    data = frame()
    if kind == "csv":
        data.to_csv(path, index=False)
    elif kind == "tsv":
        data.to_csv(path, index=False, sep="\t")
    elif kind == "csv.gz":
        path.write_bytes(gzip.compress(data.to_csv(index=False).encode()))
    elif kind == "parquet":
        data.to_parquet(path)
    elif kind == "npy":
        np.save(path, np.column_stack([FEATURES, LABELS]))
    elif kind == "npz":
        np.savez(path, X=FEATURES, y=LABELS)
    elif kind == "svm":
        dump_svmlight_file(FEATURES, LABELS, str(path))
    return path


@pytest.mark.parametrize("kind", ["csv", "tsv", "csv.gz", "parquet", "npy", "npz", "svm"])
def test_round_trip(tmp_path, kind):
    # an .npy file has no column names: its target is given by index
    data = read_tabular(write(tmp_path / f"data.{kind}", kind), -1 if kind == "npy" else "auto")
    X = data.X.toarray() if scipy.sparse.issparse(data.X) else data.X
    np.testing.assert_allclose(X, FEATURES, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(data.y, LABELS)
    assert data.y.dtype == np.int64
    if kind in ("csv", "tsv", "csv.gz", "parquet"):
        assert data.feature_names == ["height", "width", "depth"]
        assert data.target_name == "label"
    if kind == "svm":
        assert data.X.format == "csr"


def test_target_by_name_index_and_none(tmp_path):
    data = frame().rename(columns={"label": "kind"})
    data.insert(0, "y", [10, 20, 30] * 4)
    path = tmp_path / "d.csv"
    data.to_csv(path, index=False)
    auto = read_tabular(path)  # the one column named label / target / y / class
    assert auto.target_name == "y" and auto.y.tolist() == [10, 20, 30] * 4
    assert auto.feature_names == ["height", "width", "depth", "kind"]
    by_name = read_tabular(path, target="kind")
    np.testing.assert_array_equal(by_name.y, LABELS)
    by_index = read_tabular(path, target=-1)
    np.testing.assert_array_equal(by_index.y, LABELS)
    assert read_tabular(path, target=None).y is None



def test_auto_target_never_guesses(tmp_path):
    """No label-like column name, or several: refused with the candidate columns listed."""
    plain = tmp_path / "plain.csv"
    frame().rename(columns={"label": "last"}).to_csv(plain, index=False)
    with pytest.raises(DataError) as refused:
        read_tabular(plain)
    assert str(refused.value) == (
        f"{plain} has no column named label, target, y or class; candidates (4): 'height', "
        "'width', 'depth', 'last'; name it with --target (target= in Python): a column name, "
        "or an index such as -1 for the last column"
    )
    two = tmp_path / "two.csv"
    frame().assign(Class=LABELS).to_csv(two, index=False)
    with pytest.raises(DataError, match=r"several columns could be the target; candidates "
                       r"\(2\): 'label', 'Class'; name it"):
        read_tabular(two)
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((3, 20)))
    with pytest.raises(DataError, match=r"wide.npy has no column names; candidates \(20\): "
                       r"0, 1, 2, 3, 4, 5, \.\.\., 14, 15, 16, 17, 18, 19; name it"):
        read_tabular(wide)


def test_string_and_float_labels_keep_their_type(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a,class\n1,setosa\n2,virginica\n")
    assert read_tabular(path).y.tolist() == ["setosa", "virginica"]
    path.write_text("a,Target\n1,0.5\n2,1\n")
    labels = read_tabular(path).y
    assert labels.dtype == np.float64 and labels.tolist() == [0.5, 1.0]
    path.write_text("a,label\n1,1e300\n2,0\n3,-1e19\n")  # integral, beyond int64
    labels = read_tabular(path).y
    assert labels.dtype == np.float64 and labels.tolist() == [1e300, 0.0, -1e19]


def test_csv_without_header_gets_generated_names(tmp_path):
    path = tmp_path / "raw.csv"
    path.write_text("1.5,2,0\n3,4.5,1\n")
    data = read_tabular(path, -1)
    assert data.feature_names == ["x0", "x1"]
    np.testing.assert_array_equal(data.X, [[1.5, 2], [3, 4.5]])
    np.testing.assert_array_equal(data.y, [0, 1])


def test_npz_and_npy_target_choices(tmp_path):
    path = np.save(tmp_path / "m.npy", np.column_stack([LABELS, FEATURES])) or tmp_path / "m.npy"
    data = read_tabular(path, target=0)
    np.testing.assert_array_equal(data.y, LABELS)
    np.testing.assert_allclose(data.X, FEATURES)
    assert read_tabular(path, target=None).X.shape == (12, 4)
    npz = tmp_path / "f.npz"
    np.savez(npz, X=FEATURES)
    assert read_tabular(npz, target=None).y is None


def unix_socket(path):
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    return server


ERROR_CASES = {
    "missing": (lambda p: p / "absent.csv", DataNotFoundError, r"data file not found: .*absent"),
    "directory": (lambda p: p, DataError, r"is a directory; expected a data file"),
    "unknown extension": (
        lambda p: write_text(p / "d.xlsx", "a"),
        DataError,
        r"d.xlsx: unknown file extension '.xlsx'; accepted: CSV",
    ),
    "non-UTF-8": (
        lambda p: write_bytes(p / "d.csv", b"a,b\n1,\xe9\n"),
        DataError,
        r"d.csv is not UTF-8 text .*iconv",
    ),
    "empty": (lambda p: write_text(p / "d.csv", ""), DataError, r"d.csv is empty"),
    "header only": (lambda p: write_text(p / "d.csv", "a,b\n"), DataError, "no data rows"),
    "short row": (
        lambda p: write_text(p / "d.csv", "a,b,label\n1,2,0\n3,4\n"),
        DataError,
        r"d.csv: ragged rows: data row 2 has 2 fields, expected 3",
    ),
    "long row": (
        lambda p: write_text(p / "d.csv", "a,b,c\n1,2,0\n3,4,5,6\n"),
        DataError,
        r"d.csv: ragged rows: line 3 has 4 fields, expected 3",
    ),
    "non-numeric": (
        lambda p: write_text(p / "d.csv", "city,size,colour,label\nx,1,red,0\ny,2,blue,1\n"),
        DataError,
        r"non-numeric feature column\(s\) \['city', 'colour'\]",
    ),
    "NaN": (
        lambda p: write_text(p / "d.csv", "a,b,label\n1,2,0\n3,,1\n"),
        DataError,
        r"d.csv: missing value \(NaN\) in data row 2, column 'b'",
    ),
    "inf": (
        lambda p: write_text(p / "d.csv", "a,b,label\n1,2,0\n-inf,1,1\n"),
        DataError,
        r"infinite value \(-inf\) in data row 2, column 'a'",
    ),
    "missing label": (
        lambda p: write_text(p / "d.csv", "a,label\n1,0\n2,\n"),
        DataError,
        r"missing label in data row 2 of column 'label'",
    ),
    "unknown target": (
        lambda p: write_text(p / "d.csv", "a,b\n1,0\n"),
        DataError,
        r"no target column 'klass'; columns are \['a', 'b'\]",
    ),
    "single column": (
        lambda p: write_text(p / "d.csv", "a\n1\n"),
        DataError,
        r"needs at least two columns",
    ),
    "damaged parquet": (
        lambda p: write_bytes(p / "d.parquet", b"PAR1 not really"),
        DataError,
        r"d.parquet: not a readable Parquet file",
    ),
    "pickled npy": (
        lambda p: np.save(p / "d.npy", np.array([{"a": 1}], dtype=object)) or p / "d.npy",
        DataError,
        r"d.npy: not a plain numeric .npy array",
    ),
    "3-D npy": (
        lambda p: np.save(p / "d.npy", np.zeros((2, 2, 2))) or p / "d.npy",
        DataError,
        r"d.npy: array has shape \(2, 2, 2\); expected 2-D",
    ),
    "npz without X": (
        lambda p: np.savez(p / "d.npz", data=np.zeros((2, 2))) or p / "d.npz",
        DataError,
        r"an .npz file needs an array named 'X'; found \['data'\]",
    ),
    "npz y length": (
        lambda p: np.savez(p / "d.npz", X=np.zeros((3, 2)), y=np.zeros(2)) or p / "d.npz",
        DataError,
        r"'y' has shape \(2,\); expected \(3,\)",
    ),
    "malformed svmlight": (
        lambda p: write_text(p / "d.svm", "1 1:0.5 oops\n"),
        DataError,
        r"d.svm: malformed LIBSVM/svmlight file",
    ),
}


def write_text(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def write_bytes(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_messages(tmp_path, case):
    make, kind, message = ERROR_CASES[case]
    path = make(tmp_path)
    target = "klass" if case == "unknown target" else "auto"
    with pytest.raises(kind, match=message):
        read_tabular(path, target=target)


def test_unreadable_file(tmp_path):
    path = tmp_path / "s.csv"
    server = unix_socket(path)  # exists, is not a directory, cannot be opened (even by root)
    try:
        with pytest.raises(DataError, match=r"s.csv' is not a regular file: it is a socket"):
            read_tabular(path)
    finally:
        server.close()


PIECES = [*",0123456789.-+eE \t\n\r\"'", "nan", "inf", "label", "x", "\u00e9", "\x00"]


@settings(
    max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.lists(st.sampled_from(PIECES), max_size=50).map("".join),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
    suffix=st.sampled_from([".csv", ".tsv", ".svm"]),
)
def test_random_text_gives_data_or_the_library_error(tmp_path, text, encoding, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(text.encode(encoding))
    for read in (lambda: read_tabular(path), lambda: list(iter_tabular_chunks(path, 2))):
        try:
            result = read()
        except SoftmaxregError as error:
            assert isinstance(error, DataError) and "random" in str(error)
            continue
        blocks = result if isinstance(result, list) else [result.X]
        for block in blocks:
            dense = block.toarray() if scipy.sparse.issparse(block) else block
            assert np.isfinite(dense).all()


@pytest.mark.parametrize("kind", ["csv", "tsv"])
def test_a_header_naming_a_column_twice_is_refused_by_every_reader(tmp_path, kind):
    from softmaxreg.datasets import tabular_feature_names

    sep = "\t" if kind == "tsv" else ","
    path = tmp_path / f"dup.{kind}"
    path.write_text(sep.join(["f1", "f1", "f3", "label"]) + "\n" + sep.join("1001") + "\n")
    message = (
        f"{path}: its header names the column 'f1' more than once; each column needs its own "
        "name"
    )
    for read in (
        lambda: read_tabular(path),
        lambda: list(iter_tabular_chunks(path, 10, "label")),
        lambda: tabular_feature_names(path, "label"),
    ):
        with pytest.raises(DataError) as refused:
            read()
        assert str(refused.value) == message


def test_header_names_as_pandas_gives_them_without_reading_the_rows(tmp_path):
    from softmaxreg.datasets import tabular_feature_names

    path = tmp_path / "named.csv"
    path.write_bytes(b'\xef\xbb\xbf,"b, c",label\n1,2,0\n3,4,1\n')  # BOM, empty, quoted
    assert tabular_feature_names(path, "label") == ["Unnamed: 0", "b, c"]
    assert read_tabular(path, "label").feature_names == ["Unnamed: 0", "b, c"]
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{k}" for k in range(200_000)) + "\n")  # no rows at all
    assert tabular_feature_names(wide, None)[-1] == "c199999"
