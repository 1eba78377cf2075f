"""Where data sets are looked for.

Search order for a named data set's files: an explicit ``root`` argument, then
``$SOFTMAXREG_DATA/<subfolder>``, then the user cache folder (``platformdirs`` convention,
e.g. ``~/.cache/softmaxreg`` on Linux; override with ``$SOFTMAXREG_CACHE``).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "SOFTMAXREG_DATA"
CACHE_ENV = "SOFTMAXREG_CACHE"


def data_dir() -> Path | None:
    """The folder named by ``$SOFTMAXREG_DATA``, or None when the variable is unset or empty."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The user cache folder for downloads: ``$SOFTMAXREG_CACHE`` or the platform's cache dir."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("softmaxreg", appauthor=False))
