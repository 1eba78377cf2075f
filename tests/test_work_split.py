"""``run_on_threads``: results in block order on a pool kept for the process, no deadlock
when a block calls it again, every block ended before an error is raised, and a forked
child (which has none of its parent's threads) still runs its blocks."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from softmaxreg._design import work_split
from softmaxreg._design.work_split import run_on_threads


def _names(blocks):
    return run_on_threads(lambda i: threading.current_thread().name, blocks, 2, "test-split")


def test_results_come_in_block_order_on_one_kept_pool():
    assert run_on_threads(lambda a, b: a * b, [(2, 3), (4, 5), (6, 7)]) == [6, 20, 42]
    first = set(_names([(i,) for i in range(6)]))
    pool = work_split._POOLS[2, "test-split"]
    again = set(_names([(i,) for i in range(6)]))
    assert work_split._POOLS[2, "test-split"] is pool
    assert all(name.startswith("test-split") for name in first | again)
    assert len(first | again) <= 2  # the pool's two threads, not new ones a call


def test_a_block_that_splits_again_runs_its_blocks_on_its_own_thread():
    def outer(i):
        # the same pool: both its threads wait here, so it could not run these blocks
        inner = run_on_threads(lambda j: (j, threading.current_thread().name), [(0,), (1,)], 2,
                               "test-nested")
        return {name for _, name in inner} == {threading.current_thread().name}

    assert run_on_threads(outer, [(0,), (1,)], 2, "test-nested") == [True, True]


def test_every_block_ends_before_an_error_is_raised():
    ended = []

    def block(i):
        if i == 0:
            raise ValueError("block 0 failed")
        time.sleep(0.2)
        ended.append(i)

    with pytest.raises(ValueError, match="block 0 failed"):
        run_on_threads(block, [(0,), (1,)], 2, "test-error")
    assert ended == [1]


def _child(queue):
    queue.put(run_on_threads(lambda a: a + 1, [(1,), (2,)], 2, "test-split"))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_forked_child_starts_its_own_pool():
    _names([(0,), (1,)])  # the parent's pool exists before the fork
    assert work_split._POOLS
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == [2, 3]
