"""Where data sets are looked for, and how files are written safely.

Search order for a named data set's files: an explicit ``root`` argument, then
``$SOFTMAXREG_DATA/<subfolder>``, then the user cache folder (``platformdirs`` convention,
e.g. ``~/.cache/softmaxreg`` on Linux; override with ``$SOFTMAXREG_CACHE``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

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


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was, so a
    reader never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, then renamed)
        mode="wb", dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False
    )
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable by syncing the folder entry (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
