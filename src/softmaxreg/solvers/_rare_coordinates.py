"""The rare columns' part of a softmax model's Hessian block, from their non-zeros.

The dense way of ``_gram_cd`` forms ``G_NN`` by BLAS from blocks of rows of the coordinate
columns ``Z = [sqrt(c_i) x_ij a_ik]``: ``n q^2 / 2`` multiply-adds for ``q`` coordinates on
``n`` rows, whatever share of ``Z`` is zero. On text the active columns are a few frequent
words (each with coefficients in most of the 20 classes) and many rare ones (one class
each): at a late L1 model of the text-like bench, 100 of 503 active columns held 720 of
1,123 coefficients, the other 403 held 2.8 non-zeros a row between them. The entries of a
rare column's coordinate

    G[(k, j), (l, j')] = sum_i c_i x_ij x_ij' a_ik (delta_kl - a_il)

need only the rows where ``x_ij != 0``. So the coordinates of columns with at most
``RARE_SHARE`` of the rows leave the product (``R``; the others ``D``): ``G_RD`` comes a
block of rows at a time from the rare columns' rows as a sparse matrix weighted as ``Z``
and ``Y`` (:class:`RareCoordinates`: ``Z_R^T Z_D`` between classes, ``Y_R^T Y_D`` within
one, the block's own factors and dtype), ``G_RR`` from the pairs of their non-zeros within
rows (the sparse way's kernel on the rare columns, float64); the block of ``X``'s rows that
the product reads holds the dense coordinates' columns only. The formed matrix is the same
to the products' rounding; that model's block took 0.39-0.43 -> 0.21 s on two cores (703
dense coordinates of 1,179), and the fit to glmnet's objective spent 4.8 -> 3.3 s forming
blocks (in process, 13.3-13.7 -> 11.8 s in all).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# a column is rare where its non-zeros are at most this share of the rows the block is
# formed on (a rare coordinate costs 2 |D| multiply-adds a non-zero in the sparse products,
# a dense one n |D| in the syrk). The model above: 0.39 s with none rare; 0.22, 0.21, 0.21
# and 0.26 s with shares of 0.02, 0.05, 0.1 and 0.2
RARE_SHARE = 0.05


def rare_columns(counts: np.ndarray, rows: int) -> np.ndarray:
    """Which columns (bool) are rare: those with at most ``RARE_SHARE`` of ``rows``
    non-zeros (``counts``: the columns' non-zeros in the rows the block is formed on)."""
    return counts <= RARE_SHARE * rows


class RareCoordinates:
    """The rare coordinates (columns ``source`` of the CSC ``(indptr, indices, data)`` of
    ``n`` rows, classes ``klass``) against the dense ones (classes ``dense_klass``):
    :attr:`against_dense` (``G_RD``, float64) summed a block of rows at a time by
    :meth:`add_rows`. Their rows of ``X`` are held as CSR."""

    def __init__(self, indptr, indices, data, source, klass, dense_klass, n: int):
        X = sp.csc_matrix((data, indices, indptr), shape=(n, len(indptr) - 1))
        self.rows = X[:, source].tocsr()
        self.klass = klass
        self.same_class = klass[:, None] == dense_klass[None, :]
        self.against_dense = np.zeros(self.same_class.shape)

    def add_rows(self, start: int, stop: int, cross, shift: float, same, scale: float, Z, Y):
        """Add rows ``start .. stop - 1``'s part: ``-Z_R^T Z / shift^2`` between classes,
        ``Y_R^T Y / scale^2`` within one, with the rare columns weighted as the dense
        ones' ``Z`` and ``Y`` (the block's factors ``cross`` and ``same``, ``(stop - start,
        K)``, scaled by ``shift`` and ``scale``)."""
        block = self.rows[start:stop]
        row = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        klass = self.klass[block.indices]
        products = []
        for factor, weighted in ((cross, Z), (same, Y)):
            rare = sp.csr_matrix(
                (block.data * factor[row, klass], block.indices, block.indptr),
                shape=block.shape,
            )
            products.append((rare.T @ weighted).astype(np.float64))
        versus, own = products
        self.against_dense += np.where(
            self.same_class, own / (scale * scale), -versus / (shift * shift)
        )

    def joined(self, G, dense: np.ndarray, rare: np.ndarray, pairs, pairs_order) -> np.ndarray:
        """The whole block from its parts: ``G`` between the coordinates ``dense``, these
        between ``rare`` and ``dense``, ``pairs`` between the rare ones ``pairs_order``
        (positions in ``rare``)."""
        whole = np.empty((len(dense) + len(rare),) * 2)
        whole[np.ix_(dense, dense)] = G
        whole[np.ix_(rare, dense)] = self.against_dense
        whole[np.ix_(dense, rare)] = self.against_dense.T
        whole[np.ix_(rare[pairs_order], rare[pairs_order])] = pairs
        return whole
