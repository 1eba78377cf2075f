"""Resident memory of the running process, as the benchmarks report it (Linux figures).

A fit's memory is the peak resident size during the fit minus the size just before it.
The peak is restarted at the fit's start (:func:`rss_at_fit_start_mb`): the process's
lifetime peak would also hold what came before the fit (generating or loading the data,
a warm-up), which on the text-like data is larger than some fits.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

STATUS = Path("/proc/self/status")
# Linux (>= 4.0): writing 5 here resets the peak resident size (VmHWM, ru_maxrss) to now
CLEAR_REFS = Path("/proc/self/clear_refs")


def peak_rss_mb() -> float:
    """This process's peak resident set size since the last restart (VmHWM), or since it
    began where /proc cannot be read (``ru_maxrss``, in KiB on Linux)."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # POSIX only: imported here so that the CLI loads everywhere

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident set size now, from /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_at_fit_start_mb() -> float:
    """Restart the peak resident size (where Linux allows it) and return the size now."""
    # not Linux, or a kernel without it: the lifetime peak stands
    with contextlib.suppress(OSError):
        CLEAR_REFS.write_text("5")
    return current_rss_mb()
