"""Whether this process was forked from one that had imported softmaxreg's solvers.

GNU OpenMP (numba's OpenMP threading layer uses it, and so does torch) is not fork-safe: a
child forked after its parent ran OpenMP threads can hang or abort when it starts threads
of its own. Seen here: a parent's two-thread torch product, then the child's first numba
parallel loop, hung; a parent's numba parallel loop, then the child's, aborted
("Terminating: fork() called from a process already using GNU OpenMP, this is unsafe.").
The threaded column sweeps (``_threaded_sweep``) run on one thread in such a child, with
the same result. Registered with ``os.register_at_fork`` when the solvers are imported.
"""

from __future__ import annotations

import os

_forked = False


def _mark_child() -> None:
    global _forked
    _forked = True


def forked() -> bool:
    """True in a process forked (``os.fork``, multiprocessing's "fork") after this module
    was imported in its parent, or in such a process's own children."""
    return _forked


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_child)
