"""Work split over threads into runs of about equal weight (rows of a CSR matrix by their
non-zeros, columns of a CSC matrix by theirs), for compiled or BLAS kernels that release
the GIL: scipy's CSR products (``sparse_products.py``) and the proximal Newton solver's
column Hessian blocks (``solvers/_column_kernels.py``)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

# the pools of run_on_threads, by (threads, name), kept for the process: a fresh pool a call
# started its threads each time (1.9-2.1 ms against 0.7-0.9 ms a call of two blocks on two
# cores; a text-like Newton-CG fit makes about 45 such calls); a forked child has none of
# its parent's threads, so it starts with no pools
_POOLS: dict[tuple[int, str], ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()
_IN_POOL = threading.local()  # set on the pools' own threads
os.register_at_fork(after_in_child=_POOLS.clear)


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
    block; 1: on this thread), in block order. The threads are a pool kept for the process
    (named ``name``); a call from one of the pools' own threads runs on that thread (a
    pool waiting on itself could deadlock)."""
    if threads == 1 or len(blocks) <= 1 or getattr(_IN_POOL, "flag", False):
        return [function(*block) for block in blocks]
    pool = _pool(len(blocks) if threads is None else threads, name)
    futures = [pool.submit(function, *block) for block in blocks]
    wait(futures)  # every block ends before any error is raised (they may share outputs)
    return [future.result() for future in futures]


def _pool(workers: int, name: str) -> ThreadPoolExecutor:
    with _POOLS_LOCK:
        pool = _POOLS.get((workers, name))
        if pool is None:
            pool = _POOLS[workers, name] = ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix=name, initializer=_mark_pool_thread
            )
        return pool


def _mark_pool_thread() -> None:
    _IN_POOL.flag = True
