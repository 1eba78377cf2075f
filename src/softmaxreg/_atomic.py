"""Safe file access: atomic writes, and reads that only ever open regular files.

Writes: a reader sees the old file or the new one, never half of either.

Recipe (POSIX): write to a temporary file in the target's own folder, flush, ``fsync`` the
file, ``os.replace`` it over the target (an atomic rename on one file system), then ``fsync``
the folder so the rename itself survives a power cut. A process killed at any moment leaves
the target untouched or completely replaced; at worst a stray ``.NAME.*.tmp`` file remains
(only after SIGKILL or a power cut: the command line turns SIGTERM, SIGHUP and SIGINT into
an exception, see ``softmaxreg.cli.interruption``, so the temporary file is removed).

Every module of softmaxreg that writes a file (models, ONNX graphs, checkpoints, predictions,
reports) goes through :func:`atomic_write` or :func:`write_bytes_atomic`.

Reads: every file softmaxreg reads (models, data sets, checkpoints) is opened with
:func:`open_regular_file`, which refuses FIFOs, devices (``/dev/zero``, also behind a
symlink), sockets and folders before a byte is read, so a read can neither hang nor run
without end; its size is then known, and callers bound their work by it.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from softmaxreg.errors import DataError, DataNotFoundError

TEMPORARY_SUFFIX = ".tmp"


def check_output_path(path: str | os.PathLike) -> Path:
    """Refuse, before any work is done, an output path that cannot become a file.

    Accepted: a path whose folder exists and which is not itself a folder (an existing file
    there is replaced).
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise DataError(f"cannot write to {str(path)!r}: it names a folder, not a file")
    if target.is_dir():
        raise DataError(
            f"cannot write to {str(target)!r}: it is a folder; give a file path such as "
            f"{str(target / 'model.safetensors')!r}"
        )
    folder = target.parent
    if not folder.exists():
        raise DataNotFoundError(
            f"cannot write {str(target)!r}: the folder {str(folder)!r} does not exist; "
            "create it first or choose an existing folder"
        )
    if not folder.is_dir():
        raise DataError(f"cannot write {str(target)!r}: {str(folder)!r} is a file, not a folder")
    return target


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular_file(path: str | os.PathLike, what: str = "file") -> IO[bytes]:
    """Open ``path`` for binary reading, refusing anything that is not a regular file.

    The file is opened without blocking (a FIFO with no writer would otherwise hang the
    ``open``) and checked with ``fstat`` on the open descriptor, so a symlink to
    ``/dev/zero`` or a FIFO is refused and no race can swap the file after the check.
    ``what`` names the file in errors ("model file", "data file"). The size is
    ``os.fstat(handle.fileno()).st_size``.

    Raises :class:`~softmaxreg.errors.DataNotFoundError` when nothing is there and
    :class:`~softmaxreg.errors.DataError` for a non-regular file or one that cannot be read.
    """
    name = str(path)
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataNotFoundError(f"no {what} at {name!r}: the file does not exist") from None
    except OSError as error:  # a folder, a socket (ENXIO), no permission, ...
        try:
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        _refuse_irregular(mode, name, what)
        raise DataError(f"cannot read {what} {name!r}: {error.strerror or error}") from None
    try:
        _refuse_irregular(os.fstat(descriptor).st_mode, name, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _refuse_irregular(mode: int, name: str, what: str) -> None:
    if not stat.S_ISREG(mode):
        kind = next((label for test, label in _KINDS if test(mode)), "not a plain file")
        raise DataError(
            f"{name!r} is not a regular file: it is {kind}; give the path of a {what} on disk"
        )


def read_regular_file(path: str | os.PathLike, what: str = "file") -> bytes:
    """All bytes of the regular file at ``path`` (see :func:`open_regular_file`).

    Reads at most the size ``fstat`` reported, so a file that grows while it is read
    cannot make the read run on.
    """
    with open_regular_file(path, what) as handle:
        size = os.fstat(handle.fileno()).st_size
        return handle.read(size)


def _temporary_path(target: Path) -> Path:
    token = secrets.token_hex(4)
    return target.with_name(f".{target.name}.{os.getpid()}.{token}{TEMPORARY_SUFFIX}")


_TEMPORARY_NAME = re.compile(r"\..+\.(?P<pid>[0-9]+)\.[0-9a-f]{8}" + re.escape(TEMPORARY_SUFFIX))


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writers (SIGKILL, power cut) left in ``folder``.

    Only files named as :func:`atomic_write` names them (``.NAME.PID.TOKEN.tmp``) whose
    process ``PID`` no longer runs are removed; returns their paths.
    """
    removed = []
    for entry in Path(folder).iterdir():
        match = _TEMPORARY_NAME.fullmatch(entry.name)
        if match is None or not entry.is_file() or _process_exists(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _process_exists(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: keep the file
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process, or a number out of range
        return True
    return True


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (no-op where folders cannot be opened)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        descriptor = os.open(folder, flags)
    except OSError:  # e.g. Windows, where folders cannot be opened for fsync
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems refuse fsync on folders; the rename is still atomic
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO]:
    """Open a temporary file for writing; on success it atomically replaces ``path``.

    ``with atomic_write("preds.csv", "w", encoding="utf-8") as f: f.write(...)``.
    If the block raises (or the process dies), ``path`` keeps its previous content and the
    temporary file is removed (on an exception) or left as ``.NAME.PID.TOKEN.tmp`` (on a
    kill). ``mode`` is "wb" or "w".
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes files: mode 'wb' or 'w', not {mode!r}")
    target = check_output_path(path)
    temporary = _temporary_path(target)
    # exclusive creation ("x"), with the permissions a plain open(path, "w") would give;
    # ``handle.name`` is the temporary file's path (a download checks its content there)
    try:
        handle = open(temporary, mode.replace("w", "x"), encoding=encoding, newline=newline)  # noqa: SIM115
    except PermissionError:
        raise DataError(
            f"cannot write {str(target)!r}: no permission to create files in the folder "
            f"{str(target.parent)!r}"
        ) from None
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_folder(target.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return Path(path)
