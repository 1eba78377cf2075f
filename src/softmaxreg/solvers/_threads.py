"""One torch intra-op thread for small products.

torch splits each product and each element-wise operation over its intra-op threads, and
every split ends in a barrier where the threads wait for each other: for the small
products of a minibatch step that costs more than it gains (see ``solvers/sgd.py``).
Full-batch fits keep torch's thread setting, so that a fit's numbers never depend on how
busy the machine is.
"""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_thread_if(single: bool):
    """One torch intra-op thread for the duration if ``single``, the setting unchanged else."""
    previous = torch.get_num_threads()
    if single:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if single:
            torch.set_num_threads(previous)
