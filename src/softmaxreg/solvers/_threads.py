"""How many threads a full-batch fit uses on CPU.

torch splits each product and each element-wise operation over its intra-op threads, and
every split ends in a barrier where the threads wait for each other. When other processes
already keep every core busy (the one-minute load average at or above the number of
cores), a thread that is descheduled holds up the others at every barrier: on a 2-core
machine with a load average of 11, a default MNIST fit took 140 s on two threads and 24 s
on one. So a full-batch fit runs on one thread when the machine is that busy, and with
torch's setting otherwise (where the threads do speed up the large products).
"""

from __future__ import annotations

import contextlib
import functools
import os

import torch


def machine_is_busy() -> bool:
    """Whether the one-minute load average already reaches the number of cores."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this system
        return False
    return load >= (os.cpu_count() or 1)


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


def threads_for_the_machine(device: torch.device):
    """One intra-op thread on a busy machine's CPU, torch's setting otherwise."""
    return one_thread_if(device.type == "cpu" and torch.get_num_threads() > 1 and machine_is_busy())


def full_batch(solver):
    """Decorate a solver ``solver(objective, theta0, **options)`` to run under
    :func:`threads_for_the_machine`."""

    @functools.wraps(solver)
    def run(objective, theta0, **options):
        with threads_for_the_machine(objective.device):
            return solver(objective, theta0, **options)

    return run
