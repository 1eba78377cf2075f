"""Seeded synthetic classification data, generated block by block (any size, bounded memory)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

BLOCK_ROWS = 65_536


def synthetic_blocks(
    n_rows: int, n_features: int, n_classes: int, seed: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Blocks ``(X, y)`` of at most BLOCK_ROWS rows: ``x ~ N(0, 1)`` (float32) and
    ``y = argmax(3 x W^T + Gumbel noise)`` for a seeded ``W`` with rows of norm about 1."""
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(n_classes, n_features)).astype(np.float32) / np.sqrt(n_features)
    for start in range(0, n_rows, BLOCK_ROWS):
        rows = min(BLOCK_ROWS, n_rows - start)
        X = rng.standard_normal((rows, n_features), dtype=np.float32)
        noise = rng.gumbel(size=(rows, n_classes)).astype(np.float32)
        yield X, np.argmax(X @ W.T * 3 + noise, axis=1)


def synthetic_arrays(
    n_rows: int, n_features: int, n_classes: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The same data as :func:`synthetic_blocks`, as one ``(X, y)`` pair in memory."""
    blocks = list(synthetic_blocks(n_rows, n_features, n_classes, seed))
    return np.concatenate([X for X, _ in blocks]), np.concatenate([y for _, y in blocks])
