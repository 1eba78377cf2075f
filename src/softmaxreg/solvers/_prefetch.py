"""Minibatches of an epoch gathered ahead of the steps by one worker thread.

Gathering a shuffled batch (``X.take(rows)``) reads rows scattered over the whole array and
is bound by memory, not arithmetic: on MNIST (60,000 x 784 float32) it is 21 ms of a 73 ms
epoch when it runs between the steps. NumPy releases the GIL while it copies, so a second
thread can gather the next rows while the first runs the steps' products; an epoch then
costs about the larger of the two (one BLAS thread each, as ``_softmax_steps`` runs them).

The rows are gathered a chunk of whole batches at a time into two buffers used in turn, so
the two threads meet once per chunk (about ``CHUNK_BYTES`` of rows), not once per batch. The
batches, and so every step, are exactly those of gathering in the loop.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# A chunk fills about 2 MB: the threads meet about a hundred times an MNIST epoch, and the
# chunk stays in cache while its batches are used. Measured on MNIST (median of 6 fits):
# 0.7 MB 1.55 s, 2 MB 1.48 s, 4 MB 1.52 s, 16 MB 1.97 s.
CHUNK_BYTES = 2 << 20


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without affinity (macOS)
        return os.cpu_count() or 1


def batches(X: np.ndarray, y: np.ndarray, order: np.ndarray, batch: int):
    """Yield ``(X[rows], y[rows])`` for ``rows = order[s : s + batch]``, ``s = 0, batch, ...``.

    ``X`` is ``(n, m)`` and C-contiguous, ``y`` is ``(n,)``, ``order`` holds row indices in
    ``[0, n)``. A yielded pair is a view into a buffer that is refilled two chunks later: use
    it before asking for the batch after next. With one usable core the rows are gathered in
    the loop, as a second thread would only take turns with the first.
    """
    if _cores() < 2 or len(order) <= batch:
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            yield X.take(rows, axis=0), y[rows]
        return
    row_bytes = max(1, X.shape[1] * X.itemsize)
    chunk = batch * max(1, CHUNK_BYTES // (batch * row_bytes))
    buffers = [np.empty((min(chunk, len(order)), X.shape[1]), dtype=X.dtype) for _ in range(2)]

    def gather(start, buffer):
        rows = order[start : start + chunk]
        # mode="clip": writes straight into ``out`` (the default "raise" buffers a copy);
        # the rows are valid indices, so nothing is clipped
        X.take(rows, axis=0, out=buffer[: len(rows)], mode="clip")
        return buffer[: len(rows)], y[rows]

    starts = range(0, len(order), chunk)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="softmaxreg-gather") as pool:
        pending = pool.submit(gather, starts[0], buffers[0])
        for index in range(len(starts)):
            X_chunk, y_chunk = pending.result()
            if index + 1 < len(starts):
                pending = pool.submit(gather, starts[index + 1], buffers[(index + 1) % 2])
            for start in range(0, len(y_chunk), batch):
                yield X_chunk[start : start + batch], y_chunk[start : start + batch]
