"""Resident memory of the running process, as the benchmarks report it (Linux figures)."""

from __future__ import annotations

import os
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (Linux reports ``ru_maxrss`` in KiB)."""
    import resource  # POSIX only: imported here so that the CLI loads everywhere

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    """This process's resident set size now, from /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
