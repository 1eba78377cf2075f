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


def text_like(
    n_rows: int,
    n_features: int = 2**18,
    n_classes: int = 20,
    words_per_row: int = 150,
    seed: int = 0,
    zipf_exponent: float = 1.1,
    topic_share: float = 0.1,
):
    """A seeded sparse, text-like classification set: ``(X (CSR, float64), y)``.

    Each row gets a class ``y`` (uniform) and draws ``words_per_row`` feature indices
    ("words") with Zipf frequencies ``P(rank r) ~ r^-zipf_exponent``: a share
    ``topic_share`` of them from its class's own ranking of the columns (a seeded
    permutation per class), the rest from a ranking shared by all classes (background
    vocabulary). Repeated words add up (term counts: 150 draws give about 100 distinct
    non-zeros per row with 2^18 features), then each row is scaled to unit L2 norm.
    Generated block by block (``BLOCK_ROWS``).
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    probabilities = np.arange(1, n_features + 1, dtype=np.float64) ** -zipf_exponent
    cumulative = np.cumsum(probabilities / probabilities.sum())
    # ranking 0 is the background vocabulary, ranking 1 + c the vocabulary of class c
    column_of_rank = np.stack([rng.permutation(n_features) for _ in range(n_classes + 1)])
    blocks, labels = [], []
    for start in range(0, n_rows, BLOCK_ROWS):
        rows = min(BLOCK_ROWS, n_rows - start)
        y = rng.integers(n_classes, size=rows)
        draws = rows * words_per_row
        ranks = np.minimum(
            np.searchsorted(cumulative, rng.random(draws), side="right"), n_features - 1
        )
        ranking = np.where(rng.random(draws) < topic_share, np.repeat(y, words_per_row) + 1, 0)
        indptr = np.arange(0, draws + 1, words_per_row)
        X = sp.csr_matrix(
            (np.ones(draws), column_of_rank[ranking, ranks], indptr), (rows, n_features)
        )
        X.sum_duplicates()
        norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        blocks.append(sp.csr_matrix(sp.diags(1.0 / norms) @ X))
        labels.append(y)
    return sp.vstack(blocks, format="csr"), np.concatenate(labels)
