"""load_mnist: search order, validation, and downloads from a local HTTP server (no internet)."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from softmaxreg.datasets import load_mnist, write_idx
from softmaxreg.datasets.download import ChecksumMismatch, RemoteFile, download
from softmaxreg.datasets.mnist import MNIST_FILES
from softmaxreg.errors import DataError, DataNotFoundError

TRAIN_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")


def write_tiny_mnist(folder: Path, n: int = 5, *, gz: bool = True, seed: int = 0) -> tuple:
    """Write tiny MNIST-shaped train and test files; return the train (images, labels)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    for prefix in ("train", "t10k"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No SOFTMAXREG_DATA, an empty private cache, and no mirror reachable by default."""
    monkeypatch.delenv("SOFTMAXREG_DATA", raising=False)
    monkeypatch.setenv("SOFTMAXREG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SOFTMAXREG_MNIST_MIRRORS", "http://127.0.0.1:9/")
    return tmp_path


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving the folder tmp_path/'served'; yields its base URL."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.mark.parametrize("gz", [True, False])
def test_reads_tiny_files_from_root(isolated, gz):
    root = isolated / "root"
    images, labels = write_tiny_mnist(root, gz=gz)
    X, y = load_mnist("train", root=root, download=False)
    assert X.dtype == np.uint8 and X.shape == (5, 784)
    assert y.dtype == np.int64 and y.shape == (5,)
    np.testing.assert_array_equal(X, images.reshape(5, 784))
    np.testing.assert_array_equal(y, labels)
    X_test, _ = load_mnist("test", root=root, download=False)
    assert X_test.shape == (5, 784)


def test_search_order_root_then_env_then_cache(isolated, monkeypatch):
    root, env, cache = isolated / "root", isolated / "env", isolated / "cache"
    from_root = write_tiny_mnist(root, n=2, seed=1)[1]
    from_env = write_tiny_mnist(env / "mnist", n=3, seed=2)[1]
    from_cache = write_tiny_mnist(cache / "mnist", n=4, seed=3)[1]
    monkeypatch.setenv("SOFTMAXREG_DATA", str(env))
    np.testing.assert_array_equal(load_mnist(root=root, download=False)[1], from_root)
    np.testing.assert_array_equal(load_mnist(download=False)[1], from_env)
    np.testing.assert_array_equal(load_mnist(root=isolated / "nothing")[1], from_env)
    monkeypatch.setenv("SOFTMAXREG_DATA", str(isolated / "empty"))
    np.testing.assert_array_equal(load_mnist(download=False)[1], from_cache)


def test_unknown_split(isolated):
    with pytest.raises(DataError, match="unknown MNIST split 'valid'; accepted: 'train' or 'test'"):
        load_mnist("valid")


def test_offline_without_files_says_where_to_put_them(isolated, monkeypatch):
    monkeypatch.setenv("SOFTMAXREG_DATA", str(isolated / "data"))
    with pytest.raises(DataNotFoundError) as raised:
        load_mnist("train", root=isolated / "mine", progress=False)
    message = str(raised.value)
    for expected in (
        "train-images-idx3-ubyte.gz",
        str(isolated / "mine"),
        str(isolated / "data" / "mnist"),
        str(isolated / "cache" / "mnist"),
        "SOFTMAXREG_DATA",
        "http://127.0.0.1:9/train-images-idx3-ubyte.gz: unreachable",
    ):
        assert expected in message
    assert not [p for p in (isolated / "cache").rglob("*") if p.is_file()]  # nothing kept
    with pytest.raises(DataNotFoundError, match="Downloading was disabled"):
        load_mnist("test", download=False)


def test_inconsistent_counts_name_both_files(isolated):
    root = isolated / "root"
    write_tiny_mnist(root, n=5)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match=r"holds 5 images but .*train-labels-idx1-ubyte.gz holds 4"):
        load_mnist(root=root, download=False)


def test_images_of_the_wrong_size_are_refused(isolated):
    root = isolated / "root"
    write_tiny_mnist(root, n=5)
    write_idx(root / "train-images-idx3-ubyte.gz", np.zeros((5, 27, 28), dtype=np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz: inconsistent dimensions"):
        load_mnist(root=root, download=False)


def test_corrupt_local_file_is_reported_not_skipped(isolated):
    root = isolated / "root"
    write_tiny_mnist(root)
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_mnist(root=root, download=False)


def test_download_tries_mirrors_in_order_and_verifies(isolated, server):
    url, served = server
    payload = gzip.compress(b"some bytes")
    (served / "second").mkdir()
    (served / "second" / "f.gz").write_bytes(payload)
    remote = RemoteFile("f.gz", hashlib.sha256(payload).hexdigest())
    destination = isolated / "out" / "f.gz"
    mirrors = ["http://127.0.0.1:9/", url + "first/", url + "second/"]
    assert download(remote, mirrors, destination, progress=True) == destination
    assert destination.read_bytes() == payload
    assert [p.name for p in destination.parent.iterdir()] == ["f.gz"]


def test_recompressed_copy_is_accepted_by_its_content_digest(isolated, server):
    url, served = server
    content = b"the same content"
    (served / "f.gz").write_bytes(gzip.compress(content, compresslevel=1))
    remote = RemoteFile("f.gz", "0" * 64, hashlib.sha256(content).hexdigest())
    path = download(remote, [url], isolated / "f.gz", progress=False)
    assert gzip.decompress(path.read_bytes()) == content


def test_checksum_mismatch_names_the_file_and_caches_nothing(isolated, server):
    url, served = server
    write_tiny_mnist(served)  # right names, wrong bytes: not the published files
    with pytest.raises(ChecksumMismatch) as raised:
        load_mnist("train", mirrors=[url], progress=False)
    message = str(raised.value)
    assert "checksum mismatch for train-images-idx3-ubyte.gz" in message
    assert MNIST_FILES[("train", "images")].sha256 in message
    assert isinstance(raised.value, DataError)
    cache = isolated / "cache"
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_mirrors_come_from_the_environment(isolated, server, monkeypatch):
    url, served = server
    write_tiny_mnist(served)
    monkeypatch.setenv("SOFTMAXREG_MNIST_MIRRORS", f"http://127.0.0.1:9/, {url}")
    with pytest.raises(ChecksumMismatch, match=r"127.0.0.1:9/.*unreachable(.|\n)*mismatch"):
        load_mnist("test", progress=False)


def mnist_folder() -> Path:
    value = os.environ.get("SOFTMAXREG_DATA")
    if not value:
        pytest.skip("SOFTMAXREG_DATA is not set (CI sets it)")
    folder = Path(value) / "mnist"
    assert folder.is_dir(), f"SOFTMAXREG_DATA is set but {folder} does not exist"
    return folder


@pytest.mark.mnist
def test_real_mnist_through_softmaxreg_data(monkeypatch, tmp_path):
    mnist_folder()
    monkeypatch.setenv("SOFTMAXREG_CACHE", str(tmp_path / "cache"))
    X, y = load_mnist("train", download=False)
    assert X.shape == (60000, 784) and X.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 255
    expected = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y, minlength=10).tolist() == expected
    X_test, y_test = load_mnist("test", download=False)
    assert X_test.shape == (10000, 784)
    assert y_test[:4].tolist() == [7, 2, 1, 0]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(y_test, minlength=10).tolist() == test_counts


@pytest.mark.mnist
def test_real_mnist_download_into_the_cache(monkeypatch, tmp_path, server):
    source = mnist_folder()
    url, served = server
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copyfile(source / name, served / name)
    monkeypatch.delenv("SOFTMAXREG_DATA")
    monkeypatch.setenv("SOFTMAXREG_CACHE", str(tmp_path / "cache"))
    X, y = load_mnist("test", mirrors=["http://127.0.0.1:9/", url], progress=False)
    assert X.shape == (10000, 784) and y[:4].tolist() == [7, 2, 1, 0]
    cached = sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir())
    assert cached == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # the second call reads the cache: no server needed any more
    X_again, _ = load_mnist("test", mirrors=[], download=False)
    np.testing.assert_array_equal(X_again, X)
