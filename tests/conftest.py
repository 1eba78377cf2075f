"""Shared test set-up: the MNIST marker's rule and the in-process CLI runner."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI runs the property tests with a fixed seed (a red CI run is then reproducible); a local
# run explores new examples every time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_configure(config):
    """Under pytest-xdist (``-n``, on by default: see pyproject.toml) the cores are shared
    out: each worker, and every process it starts, gets ``cores // workers`` intra-op
    threads, so that two workers never wait on each other's OpenMP threads."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if os.environ.get("PYTEST_XDIST_WORKER") and workers > 1:
        import torch

        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``mnist`` need the MNIST files.

    With ``SOFTMAXREG_DATA`` set (as in CI) they always run, and fail loudly if the files are
    missing. Without it they run when MNIST is already in the user cache, and are skipped
    with a reason otherwise (the test suite never downloads).
    """
    if os.environ.get("SOFTMAXREG_DATA"):
        return
    from softmaxreg.datasets.mnist import find_mnist_folder

    if find_mnist_folder("train") and find_mnist_folder("test"):
        return
    skip = pytest.mark.skip(reason="MNIST not found: set SOFTMAXREG_DATA (CI sets it)")
    for item in items:
        if "mnist" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of tiny tensors: one intra-op thread avoids OpenMP wake-ups on shared cores
    (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def toy_csv(tmp_path):
    """The lecture's toy data as ``tmp_path/toy.csv``: columns x1, x2, label, 100 rows."""
    from softmaxreg.datasets import load_toy

    X, y = load_toy()
    path = tmp_path / "toy.csv"
    lines = [f"{a},{b},{label}" for (a, b), label in zip(X.tolist(), y.tolist(), strict=True)]
    path.write_text("x1,x2,label\n" + "\n".join(lines) + "\n")
    return path


def run_cli(*args) -> int:
    """Run the ``softmaxreg`` command in-process; returns its exit status."""
    from softmaxreg.cli import main

    with pytest.raises(SystemExit) as exited:
        main([str(arg) for arg in args])
    return int(exited.value.code or 0)


def make_problem(kind, seed=0, n=40, m=5, k=3):
    """A small random problem of ``kind`` (binary, multinomial or multilabel) with about 30%
    zeros in X (so that its CSR copy is really sparse) and positive sample weights:
    ``(X (n, m), y, weights (n,))`` with ``k`` classes or labels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, m))
    X[rng.random((n, m)) < 0.3] = 0.0
    if kind == "binary":
        y = (rng.random(n) < 0.4).astype(np.float64)
    elif kind == "multinomial":
        y = rng.integers(0, k, n)
    else:
        y = (rng.random((n, k)) < 0.5).astype(np.float64)
    return X, y, rng.uniform(0.2, 2.0, n)
