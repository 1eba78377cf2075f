"""Work split over threads into runs of about equal weight (rows of a CSR matrix by their
non-zeros, columns of a CSC matrix by theirs), for compiled or BLAS kernels that release
the GIL: scipy's CSR products (``sparse_products.py``) and the proximal Newton solver's
column Hessian blocks (``solvers/_column_kernels.py``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np


def balanced_runs(bounds: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """``[(first, end)]``: at most ``parts`` consecutive runs of the items ``0 .. len(bounds)
    - 1`` with about equal weight, where ``bounds[i]`` is the total weight of the items
    before ``i`` (a CSR ``indptr``: ``bounds[0] = 0``, ``bounds[-1]`` the total). Empty runs
    are left out."""
    cuts = np.searchsorted(bounds, np.linspace(0, bounds[-1], parts + 1)[1:-1])
    edges = [0, *sorted({int(cut) for cut in cuts}), len(bounds) - 1]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def run_on_threads(function, blocks, threads: int | None = None, name: str = "softmaxreg"):
    """``[function(*block) for block in blocks]``, on ``threads`` threads (default one a
    block; 1: on this thread), in block order."""
    if threads == 1:
        return [function(*block) for block in blocks]
    workers = len(blocks) if threads is None else threads
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        futures = [pool.submit(function, *block) for block in blocks]
        return [future.result() for future in futures]
