"""Data inputs cost what they hold, never what they claim (issue 11, section 2).

Each kind of claim gets its inputs: a FIFO or ``/dev/zero`` where a data file is expected
(refused before a byte is read, for every reader), an ``.npy`` header declaring more than the
file holds, a LIBSVM file whose feature index declares 2e8 or 4e9 features, a gzipped CSV
whose header declares millions of columns, an IDX header declaring a billion items, an
image declaring 16.7 million pixels, shard files that hold fewer rows than the manifest
says. Memory is measured in a child process (peak resident set growth per input).
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from conftest import run_cli

from softmaxreg import LogisticRegression, io
from softmaxreg.datasets import (
    Shards,
    iter_tabular_chunks,
    load_digit_images,
    load_toy,
    read_idx,
    read_tabular,
    write_shards,
)
from softmaxreg.datasets.limits import MAX_FEATURES_ENV
from softmaxreg.errors import DataError

CLAIMED_SHAPE = (3_000_000, 1000)


@pytest.fixture(autouse=True)
def no_hang():
    """A read that blocks (the fault this file guards against) fails the test after 20 s."""

    def expire(signum, frame):
        raise TimeoutError("the read blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def refusal(call, *args, **kwargs) -> str:
    """The message of the DataError that ``call(*args, **kwargs)`` raises."""
    with pytest.raises(DataError) as raised:
        call(*args, **kwargs)
    return str(raised.value)


def fifo_refusal(path: Path, what: str = "data file") -> str:
    return (
        f"{str(path)!r} is not a regular file: it is a FIFO (named pipe); give the path of a "
        f"{what} on disk"
    )


def device_refusal(path: Path, what: str = "data file") -> str:
    return (
        f"{str(path)!r} is not a regular file: it is a character device; give the path of a "
        f"{what} on disk"
    )


# ------------------------------------------------------------------ inputs (written once)


def write_claiming_npy(path: Path, shape=CLAIMED_SHAPE, data_values: int = 100) -> Path:
    """An .npy header declaring ``shape`` float64, followed by ``data_values`` values only."""
    with open(path, "wb") as handle:
        header = {"descr": "<f8", "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(np.zeros(data_values).tobytes())
    return path


def npy_data_bytes(path: Path) -> int:
    with open(path, "rb") as handle:
        np.lib.format.read_magic(handle)
        np.lib.format.read_array_header_1_0(handle)
        return path.stat().st_size - handle.tell()


def write_wide_csv_gz(path: Path, columns: int) -> Path:
    """A gzipped CSV whose header names ``columns`` columns (a few KB compressed)."""
    with gzip.open(path, "wb") as handle:
        handle.write(b",".join(b"c" for _ in range(columns)) + b"\n")
        handle.write(b",".join(b"1" for _ in range(columns)) + b"\n")
    return path


def write_claiming_idx_gz(path: Path) -> Path:
    """A gzipped IDX header declaring 1000 x 1000 x 1000 uint8 items, holding 10 of them."""
    payload = bytes([0, 0, 0x08, 3]) + struct.pack(">III", 1000, 1000, 1000) + bytes(10)
    path.write_bytes(gzip.compress(payload))
    return path


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A PNG of a few dozen bytes whose header declares ``width`` x ``height`` grey pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\xff" * 4)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
    path.write_bytes(png + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("claims")
    write_claiming_npy(folder / "claim.npy")
    (folder / "index2e8.svm").write_text("1 2:1 200000000:1\n0 1:1\n1 3:1\n0 2:1\n")
    (folder / "index4e9.svm").write_text("1 2:1 4000000000:1\n0 1:1\n1 3:1\n0 2:1\n")
    write_wide_csv_gz(folder / "wide.csv.gz", 3_000_000)
    write_claiming_idx_gz(folder / "claim-idx3-ubyte.gz")
    with zipfile.ZipFile(folder / "claim.npz", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(folder / "claim.npy", "X.npy")
    return folder


# ------------------------------------------------------------------ not a regular file

READERS = {
    "csv": lambda path: read_tabular(path),
    "gzipped csv": lambda path: read_tabular(path),
    "tsv": lambda path: read_tabular(path),
    "parquet": lambda path: read_tabular(path),
    "npy": lambda path: read_tabular(path),
    "npz": lambda path: read_tabular(path),
    "libsvm": lambda path: read_tabular(path),
    "csv in blocks": lambda path: list(iter_tabular_chunks(path, 10)),
    "npy in blocks": lambda path: list(iter_tabular_chunks(path, 10)),
    "parquet in blocks": lambda path: list(iter_tabular_chunks(path, 10)),
    "toy text file": lambda path: load_toy(path),
}
SUFFIXES = {
    "csv": ".csv",
    "gzipped csv": ".csv.gz",
    "tsv": ".tsv",
    "parquet": ".parquet",
    "npy": ".npy",
    "npz": ".npz",
    "libsvm": ".svm",
    "csv in blocks": ".csv",
    "npy in blocks": ".npy",
    "parquet in blocks": ".parquet",
    "toy text file": ".txt",
}
OTHER_READERS = {
    "idx": (lambda path: read_idx(path), "-idx3-ubyte.gz", "IDX file"),
    "image": (lambda path: load_digit_images([path]), ".png", "image file"),
}


@pytest.mark.parametrize("reader", list(READERS) + list(OTHER_READERS))
def test_a_fifo_is_refused_by_every_reader_without_blocking(tmp_path, reader):
    call, suffix, what = OTHER_READERS.get(reader, (READERS.get(reader), None, "data file"))
    path = tmp_path / f"pipe{suffix or SUFFIXES[reader]}"
    os.mkfifo(path)
    assert refusal(call, path) == fifo_refusal(path, what)


@pytest.mark.parametrize("reader", list(READERS) + list(OTHER_READERS))
def test_a_symlink_to_dev_zero_is_refused_by_every_reader(tmp_path, reader):
    call, suffix, what = OTHER_READERS.get(reader, (READERS.get(reader), None, "data file"))
    path = tmp_path / f"zero{suffix or SUFFIXES[reader]}"
    path.symlink_to("/dev/zero")
    assert refusal(call, path) == device_refusal(path, what)


# ------------------------------------------------------------------ declared sizes


def test_npy_header_declaring_more_than_the_file_holds_is_refused(inputs):
    path = inputs / "claim.npy"
    expected = (
        f"{path}: the .npy header declares shape (3000000, 1000) of float64 (22.4 GiB) but "
        f"only {npy_data_bytes(path)} bytes follow it (truncated or damaged file)"
    )
    for call in (read_tabular, lambda p: list(iter_tabular_chunks(p, 10))):
        assert refusal(call, path) == expected


def test_npz_member_declaring_more_than_it_holds_is_refused(inputs):
    path = inputs / "claim.npz"
    assert refusal(read_tabular, path, target=None) == (
        f"{path} (array 'X'): the .npy header declares shape (3000000, 1000) of float64 "
        f"(22.4 GiB) but only {npy_data_bytes(inputs / 'claim.npy')} bytes follow it "
        "(truncated or damaged file)"
    )


def test_npz_member_with_a_forged_size_is_bounded_by_its_compressed_size(tmp_path):
    """The zip entry says 8 MB, but 36 compressed bytes inflate to at most 1032 times that."""
    npy = write_claiming_npy(tmp_path / "X.npy", shape=(1000, 1000), data_values=100)
    path = tmp_path / "forged.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(npy, "X.npy")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("X.npy")
    forged = bytearray(path.read_bytes())
    declared = 128 + 8 * 1000 * 1000
    struct.pack_into("<I", forged, info.header_offset + 22, declared)  # local header
    central = forged.rindex(b"PK\x01\x02")
    struct.pack_into("<I", forged, central + 24, declared)  # central directory
    path.write_bytes(bytes(forged))
    bound = info.compress_size * 1032 + 1024 - 128
    assert refusal(read_tabular, path, target=None) == (
        f"{path} (array 'X'): the .npy header declares shape (1000, 1000) of float64 "
        f"(7.63 MiB) but only {bound} bytes follow it (truncated or damaged file)"
    )


def test_truncated_npy_is_a_one_line_data_error(tmp_path):
    path = tmp_path / "cut.npy"
    np.save(path, np.arange(12.0).reshape(4, 3))
    path.write_bytes(path.read_bytes()[:-5])
    assert refusal(read_tabular, path) == (
        f"{path}: the .npy header declares shape (4, 3) of float64 (96 bytes) but only "
        "91 bytes follow it (truncated or damaged file)"
    )


def test_libsvm_feature_index_beyond_the_limit_is_refused(inputs):
    path = inputs / "index2e8.svm"
    assert refusal(read_tabular, path) == (
        f"{path}: its largest feature index makes 200,000,000 features, above the limit of "
        f"1,048,576 features; if the data really are that wide, raise the limit with "
        f"{MAX_FEATURES_ENV}=N"
    )


def test_libsvm_raised_limit_keeps_the_file_sparse(inputs, monkeypatch):
    monkeypatch.setenv(MAX_FEATURES_ENV, "300000000")
    data = read_tabular(inputs / "index2e8.svm")
    assert scipy.sparse.issparse(data.X) and data.X.shape == (4, 200_000_000)
    assert data.X.nnz == 5 and data.y.tolist() == [1, 0, 1, 0]


def test_libsvm_feature_index_above_int32_is_a_one_line_data_error(inputs):
    path = inputs / "index4e9.svm"
    assert refusal(read_tabular, path) == (
        f"{path}: a feature index is larger than 2,147,483,647, the largest a LIBSVM file may use"
    )


def test_gzipped_csv_with_millions_of_columns_is_refused_from_its_first_line(inputs):
    path = inputs / "wide.csv.gz"
    assert path.stat().st_size < 50_000
    message = refusal(read_tabular, path)
    assert message.startswith(f"{path}: its first line has ")
    assert message.endswith(
        " fields, above the limit of 1,048,576 features; if the data really are that wide, "
        f"raise the limit with {MAX_FEATURES_ENV}=N"
    )


def test_gzipped_idx_declaring_a_billion_items_is_refused_as_truncated(inputs):
    path = inputs / "claim-idx3-ubyte.gz"
    assert refusal(read_idx, path) == (
        f"{path}: inconsistent dimensions: the header declares shape (1000, 1000, 1000) of "
        "uint8 (1000000000 bytes) but the data holds 10 bytes (truncated file)"
    )


@pytest.mark.parametrize("size", [(1, 16_777_216), (4097, 4097)])
def test_image_declaring_too_many_pixels_is_refused_before_decoding(tmp_path, size):
    """The issue's 69-byte PNG of 1 x 16,777,216 pixels (too long a side), and one over
    4096 x 4096 pixels in all."""
    path = write_png_header(tmp_path / "big.png", *size)
    assert refusal(load_digit_images, [path]) == (
        f"{path} is {size[0]} x {size[1]} pixels; at most 16,777,216 pixels and 16,384 on a "
        "side are accepted: scale it down (a digit needs a few hundred pixels a side) or "
        "pass max_pixels="
    )


@pytest.fixture
def shards(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    write_shards((X, y), tmp_path / "shards", rows_per_shard=20)
    return tmp_path / "shards"


def test_shard_manifest_declaring_more_rows_than_the_files_hold_is_refused(shards):
    manifest = json.loads((shards / "manifest.json").read_text())
    manifest["shards"][1]["rows"] = 20_000_000
    manifest["n_rows"] = 20_000_020
    (shards / "manifest.json").write_text(json.dumps(manifest))
    assert refusal(Shards, shards) == (
        f"{shards}: shard 1 holds features of shape (20, 3) (float32) and labels of shape "
        "(20,); the manifest says (20000000, 3) float32 and (20000000,)"
    )


def test_shard_file_declaring_more_rows_than_it_holds_is_refused(shards):
    write_claiming_npy(shards / "shard-00000.X.npy", shape=(20, 3), data_values=30)
    assert refusal(Shards, shards) == (
        f"{shards / 'shard-00000.X.npy'}: the .npy header declares shape (20, 3) of float64 "
        "(480 bytes) but only 240 bytes follow it (truncated or damaged file)"
    )


# ------------------------------------------------------------------ memory, in a child

MEMORY_SCRIPT = """
import json, sys
from pathlib import Path
from softmaxreg.bench.memory import current_rss_mb
from softmaxreg.datasets import read_tabular, read_idx, iter_tabular_chunks
from softmaxreg.errors import DataError



def peak_since_reset_mb():
    # the peak resident set (VmHWM) since the last reset; writing 5 to clear_refs resets it
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


folder = Path(sys.argv[1])
for warm, target in (("small.csv.gz", "auto"), ("small.svm", "auto"), ("small.npy", -1)):
    read_tabular(folder / warm, target=target)  # imports are not the inputs' cost
read_idx(folder / "small-idx1-ubyte.gz")
calls = {
    "npy claiming 22 GiB": lambda: read_tabular(folder / "claim.npy", target=-1),
    "npy claiming 22 GiB, in blocks": lambda: list(
        iter_tabular_chunks(folder / "claim.npy", 9, target=-1)
    ),
    "npz claiming 22 GiB": lambda: read_tabular(folder / "claim.npz", target=None),
    "libsvm index 2e8": lambda: read_tabular(folder / "index2e8.svm"),
    "libsvm index 4e9": lambda: read_tabular(folder / "index4e9.svm"),
    "csv.gz with 3e6 columns": lambda: read_tabular(folder / "wide.csv.gz"),
    "idx.gz claiming 1e9 items": lambda: read_idx(folder / "claim-idx3-ubyte.gz"),
    "csv.gz whose first line is a 64 MiB field": lambda: read_tabular(folder / "endless.csv.gz"),
    "csv.gz of real rows": lambda: read_tabular(folder / "rows.csv.gz"),
}
growth = {}
for name, call in calls.items():
    Path("/proc/self/clear_refs").write_text("5")
    before = current_rss_mb()
    try:
        data = call()
        outcome = [int(getattr(data.X, "nbytes", 0) + data.y.nbytes), list(data.X.shape)]
    except DataError as error:
        outcome = str(error)
    growth[name] = [peak_since_reset_mb() - before, outcome]
print(json.dumps(growth))
"""


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux's /proc"
)
def test_memory_follows_the_data_not_the_claims(inputs):
    """Peak RSS growth per input: under 40 MB for claims of 1 to 22 GiB; for a gzipped CSV
    of 30 MB (150,000 rows of 99 features and a label, 0.1 MB compressed), under 1.3 times
    the parsed matrix (114 MiB) plus 40 MB: parsed into one matrix block by block, with no
    whole-file DataFrame or concatenated copy (which took 2.5 times the matrix)."""
    small = pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, 1.0], "label": [0, 1]})
    small.to_csv(inputs / "small.csv.gz", index=False)
    np.save(inputs / "small.npy", np.array([[1.0, 0.0], [2.0, 1.0]]))
    (inputs / "small.svm").write_text("1 1:1\n0 2:1\n")
    (inputs / "small-idx1-ubyte.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 1, 7])))
    with gzip.open(inputs / "endless.csv.gz", "wb") as handle:
        for _ in range(64):
            handle.write(b"a" * 2**20)
    with gzip.open(inputs / "rows.csv.gz", "wb") as handle:
        handle.write(b",".join(b"x%d" % k for k in range(99)) + b",label\n")
        handle.write((b"0," * 99 + b"1\n" + b"0," * 99 + b"0\n") * 75_000)
    script = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(inputs)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert script.returncode == 0, script.stderr
    growth = json.loads(script.stdout)
    for name, (megabytes, outcome) in growth.items():
        if name == "csv.gz of real rows":
            data_bytes, shape = outcome
            assert shape == [150_000, 99]
            assert megabytes < 1.3 * data_bytes / 2**20 + 40, (name, megabytes)
        else:
            assert isinstance(outcome, str), (name, outcome)  # refused, one line
            assert "\n" not in outcome
            assert megabytes < 40, (name, megabytes, outcome)


# ------------------------------------------------------------------ command line


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(1)
    io.save(
        LogisticRegression().fit(rng.normal(size=(30, 3)), np.arange(30) % 2),
        folder / "model.safetensors",
    )
    return folder


def _cli_error(capsys, *args) -> str:
    assert run_cli(*args) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


@pytest.mark.parametrize("command", ["train", "predict", "evaluate", "shard"])
def test_cli_refuses_a_fifo_as_data_in_one_line(tmp_path, capsys, model_dir, command):
    path = tmp_path / "pipe.csv"
    os.mkfifo(path)
    args = {
        "train": ["train", path, "--out", tmp_path / "run", "-q"],
        "predict": ["predict", model_dir, path],
        "evaluate": ["evaluate", model_dir, path],
        "shard": ["shard", path, tmp_path / "shards"],
    }[command]
    assert _cli_error(capsys, *args) == f"error: {fifo_refusal(path)}\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "run") == ["pipe.csv"]


@pytest.mark.parametrize("command", ["train", "predict"])
def test_cli_refuses_an_npy_claiming_22_gib_in_one_line(
    inputs, tmp_path, capsys, model_dir, command
):
    path = inputs / "claim.npy"
    args = {
        "train": ["train", path, "--out", tmp_path / "run", "-q"],
        "predict": ["predict", model_dir, path],
    }[command]
    expected = (
        f"error: {path}: the .npy header declares shape (3000000, 1000) of float64 (22.4 GiB) "
        f"but only {npy_data_bytes(path)} bytes follow it (truncated or damaged file)\n"
    )
    assert _cli_error(capsys, *args) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "index2e8.svm",
            "its largest feature index makes 200,000,000 features, above the limit of "
            f"1,048,576 features; if the data really are that wide, raise the limit with "
            f"{MAX_FEATURES_ENV}=N",
        ),
        (
            "index4e9.svm",
            "a feature index is larger than 2,147,483,647, the largest a LIBSVM file may use",
        ),
    ],
)
def test_cli_train_refuses_huge_libsvm_indices_in_one_line(inputs, tmp_path, capsys, name, message):
    path = inputs / name
    err = _cli_error(capsys, "train", path, "--out", tmp_path / "run", "-q")
    assert err == f"error: {path}: {message}\n"


def test_gzipped_csv_whose_first_line_is_one_endless_field_is_refused_early(tmp_path):
    path = tmp_path / "endless.csv.gz"
    with gzip.open(path, "wb") as handle:
        for _ in range(64):
            handle.write(b"a" * 2**20)  # 64 MiB of one field, 64 KiB compressed
    assert refusal(read_tabular, path) == (
        f"{path}: its first line holds a field longer than 131,072 characters; is it a CSV file?"
    )


def test_the_feature_limit_is_set_in_python_or_by_the_environment(tmp_path, monkeypatch):
    from softmaxreg.datasets.limits import set_max_features

    path = tmp_path / "eleven.csv"
    pd.DataFrame(np.eye(3, 11), columns=[f"x{k}" for k in range(10)] + ["label"]).to_csv(
        path, index=False
    )
    set_max_features(10)
    try:
        assert refusal(read_tabular, path) == (
            f"{path}: its first line has 11+ fields, above the limit of 10 features; if the "
            f"data really are that wide, raise the limit with {MAX_FEATURES_ENV}=N"
        )
    finally:
        set_max_features(None)
    assert read_tabular(path).X.shape == (3, 10)
    monkeypatch.setenv(MAX_FEATURES_ENV, "ten")
    assert refusal(read_tabular, path) == (
        f"{MAX_FEATURES_ENV} must be a positive whole number, got 'ten'"
    )
