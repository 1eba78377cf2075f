"""Where a process's rows come from: a shards directory or arrays in memory, with one API.

Both sources number rows globally (``0 .. n_rows - 1``) and hand out blocks of the rows
``[start, stop)`` and gathered rows ``X[rows]``, with targets as class indices ``t_i``
(``classes[t_i] = y_i``). A rank of a data-parallel job owns the contiguous rows
``[floor(r n / P), floor((r + 1) n / P))`` (see :func:`softmaxreg.datasets.shards.row_range`).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from softmaxreg.datasets.shards import READ_BLOCK_ROWS, Shards


class ArrayRows:
    """Rows held in memory, ``X`` (n, m) and class indices ``t`` (n,), with ``classes``.

    ``offset`` is the global index of row 0 of ``X`` (a rank that loaded only its part).
    """

    def __init__(self, X, t, classes, *, offset: int = 0, n_rows: int | None = None):
        self.X = np.asarray(X)
        self.t = np.asarray(t, dtype=np.int64)
        if self.X.ndim != 2 or self.t.shape != (self.X.shape[0],):
            raise ValueError(f"X must be (n, m) and t (n,), got {self.X.shape} and {self.t.shape}")
        self.classes = np.asarray(classes)
        self.offset = int(offset)
        self.n_rows = self.offset + self.X.shape[0] if n_rows is None else int(n_rows)
        self.n_features = self.X.shape[1]
        self.dtype = self.X.dtype

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def iter_blocks(
        self, start: int, stop: int, block_rows: int = READ_BLOCK_ROWS
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """``(first_row, X_block, t_block)`` for the global rows ``[start, stop)``."""
        self._check(start, stop)
        for first in range(start, stop, block_rows):
            last = min(first + block_rows, stop)
            a, b = first - self.offset, last - self.offset
            yield first, self.X[a:b], self.t[a:b]

    def take(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``X[rows]``, ``t[rows]`` for global row indices held here."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            self._check(int(rows.min()), int(rows.max()) + 1)
        local = rows - self.offset
        return self.X[local], self.t[local]

    def _check(self, start: int, stop: int) -> None:
        held = (self.offset, self.offset + self.X.shape[0])
        if not held[0] <= start <= stop <= held[1]:
            raise IndexError(f"rows [{start}, {stop}) are not held here (rows {held[0]}.."
                             f"{held[1] - 1} are)")


def as_row_source(data) -> Shards | ArrayRows:
    """A :class:`Shards` directory (path or object) or an ``ArrayRows`` as a row source."""
    if isinstance(data, (Shards, ArrayRows)):
        return data
    return Shards(data)
