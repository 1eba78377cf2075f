"""Batches gathered ahead by a worker thread (solvers/_prefetch.py) are exactly the batches
of gathering in the loop, across chunk boundaries and with one core."""

from __future__ import annotations

import numpy as np
import pytest

from softmaxreg.solvers import _prefetch


def _expected(X, y, order, batch):
    return [(X[order[s : s + batch]], y[order[s : s + batch]]) for s in range(0, len(order), batch)]


@pytest.mark.parametrize("cores", [1, 2])
@pytest.mark.parametrize("n, batch, chunk_bytes", [
    (1000, 7, 200),  # chunks of 3 batches; the last chunk and batch are short
    (1000, 64, 1),  # a chunk smaller than one batch holds one batch
    (50, 256, 1 << 20),  # fewer rows than one batch
    (4096, 256, 1 << 20),  # whole chunks only
])
def test_prefetched_batches_are_the_gathered_batches(monkeypatch, cores, n, batch, chunk_bytes):
    monkeypatch.setattr(_prefetch, "_cores", lambda: cores)
    monkeypatch.setattr(_prefetch, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = rng.integers(0, 5, size=n)
    order = rng.permutation(n)
    got = [(Xb.copy(), yb.copy()) for Xb, yb in _prefetch.batches(X, y, order, batch)]
    want = _expected(X, y, order, batch)
    assert len(got) == len(want)
    for (X_got, y_got), (X_want, y_want) in zip(got, want, strict=True):
        np.testing.assert_array_equal(X_got, X_want)
        np.testing.assert_array_equal(y_got, y_want)


def test_stopping_early_leaves_no_worker_running(monkeypatch):
    import threading

    monkeypatch.setattr(_prefetch, "CHUNK_BYTES", 64)
    monkeypatch.setattr(_prefetch, "_cores", lambda: 2)
    X = np.arange(3000.0).reshape(1000, 3)
    batches = _prefetch.batches(X, np.zeros(1000, dtype=int), np.arange(1000), 4)
    np.testing.assert_array_equal(next(batches)[0], X[:4])
    batches.close()
    assert not any(t.name.startswith("softmaxreg-gather") for t in threading.enumerate())


def test_a_failing_gather_raises_in_the_caller(monkeypatch):
    monkeypatch.setattr(_prefetch, "_cores", lambda: 2)
    X = np.zeros((10, 2))
    with pytest.raises(IndexError):
        list(_prefetch.batches(X, np.zeros(10, dtype=int), np.array([0, 1, 2, 99]), 2))


def test_a_callback_that_raises_mid_epoch_leaves_no_worker_running(monkeypatch):
    import threading

    from softmaxreg import LogisticRegression

    monkeypatch.setattr(_prefetch, "CHUNK_BYTES", 64)
    monkeypatch.setattr(_prefetch, "_cores", lambda: 2)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(400, 3)), rng.integers(0, 3, size=400)

    def stop_at_third(epoch, step, n_batches, loss):
        if step == 3:
            raise RuntimeError("stop")

    model = LogisticRegression(solver="sgd", batch_size=16, max_iter=2)
    with pytest.raises(RuntimeError, match="stop") as raised:
        model.fit(X, y, batch_callback=stop_at_third)
    assert raised.traceback  # the traceback (and the frames it holds) is still alive
    assert not any(t.name.startswith("softmaxreg-gather") for t in threading.enumerate())
