"""Safe file access: atomic writes, and reads that only ever open regular files.

Writes: a reader sees the old file or the new one, never half of either.

Recipe (POSIX): write to a temporary file in the target's own folder, flush, ``fsync`` the
file, ``os.replace`` it over the target (an atomic rename on one file system), then ``fsync``
the folder so the rename itself survives a power cut. A process killed at any moment leaves
the target untouched or completely replaced; at worst a stray ``.NAME.*.tmp`` file remains
(only after SIGKILL or a power cut: the command line turns SIGTERM, SIGHUP and SIGINT into
an exception, see ``softmaxreg.cli.interruption``, so the temporary file is removed).

Every module of softmaxreg that writes a file (models, ONNX graphs, checkpoints, predictions,
reports) goes through :func:`atomic_write` or :func:`write_bytes_atomic`. Only regular files
are written: a target that is a device (``/dev/null``), a FIFO or a socket is refused before a
byte is written, never replaced; a symlink is written through (the link stays, the file it
points to is replaced atomically). Whatever the operating system refuses while writing (disk
full, read-only file system, quota, I/O error) comes out as one
:class:`~softmaxreg.errors.DataError` naming the target and the reason.

Reads: every file softmaxreg reads (models, data sets, checkpoints) is opened with
:func:`open_regular_file`, which refuses FIFOs, devices (``/dev/zero``, also behind a
symlink), sockets and folders before a byte is read, so a read can neither hang nor run
without end; its size is then known, and callers bound their work by it.
"""

from __future__ import annotations

import contextlib
import errno
import io
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

    Accepted: a path whose folder exists and which is not itself a folder; an existing regular
    file there is replaced. A symlink is followed: the file it points to (which may not exist
    yet) must meet the same conditions, and is the one replaced; the link itself stays.

    Returns ``Path(path)``. Raises :class:`~softmaxreg.errors.DataError` when the path names
    a folder, or something that exists and is not a regular file (a device such as
    ``/dev/null``, a FIFO, a socket; also behind a symlink), or a symlink loop, and
    :class:`~softmaxreg.errors.DataNotFoundError` when the folder does not exist.
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise DataError(f"cannot write to {str(path)!r}: it names a folder, not a file")
    if target.is_dir():
        raise DataError(
            f"cannot write to {str(target)!r}: it is a folder; give a file path such as "
            f"{str(target / 'model.safetensors')!r}"
        )
    destination = write_destination(target)
    shown = shown_target(target, destination)
    try:
        mode = os.stat(destination).st_mode
    except (FileNotFoundError, NotADirectoryError):  # a new file (or a dangling link)
        mode = None
    except OSError as error:
        raise DataError(f"cannot write to {shown}: {_reason(error)}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise DataError(_not_regular_message(shown, mode))
    folder = destination.parent
    if not folder.exists():
        raise DataNotFoundError(
            f"cannot write {shown}: the folder {str(folder)!r} does not exist; "
            "create it first or choose an existing folder"
        )
    if not folder.is_dir():
        raise DataError(f"cannot write {shown}: {str(folder)!r} is a file, not a folder")
    return target


def write_destination(target: Path) -> Path:
    """The path whose directory entry a write to ``target`` replaces: ``target`` itself, or
    for a symlink the file (or shards folder) it finally points to (which may not exist
    yet). ``DataError`` for a symlink loop."""
    if not os.path.islink(target):
        return target
    destination = Path(os.path.realpath(target))
    if os.path.islink(destination):  # realpath stops where the links go round in a loop
        raise DataError(f"cannot write to {str(target)!r}: it is a symlink whose links form a loop")
    return destination


def shown_target(target: Path, destination: Path) -> str:
    """How errors name the target: its path, and where a symlink leads."""
    if destination == target:
        return repr(str(target))
    return f"{str(target)!r} (a symlink to {str(destination)!r})"


def _not_regular_message(shown: str, mode: int) -> str:
    kind = next((label for test, label in _KINDS if test(mode)), "not a plain file")
    return (
        f"cannot write to {shown}: it is {kind}, not a regular file; softmaxreg replaces "
        "only regular files: give the path of a file to create or replace"
    )


def _reason(error: OSError) -> str:
    """The operating system's reason, without the "[Errno N]" and the temporary file name."""
    return error.strerror or str(error) or type(error).__name__


def _write_error(shown: str, error: OSError) -> DataError:
    """The one-line error for an OS failure while writing the target ``shown``."""
    return DataError(f"cannot write {shown}: {_reason(error)}")


@contextlib.contextmanager
def named_as_final(temporary: Path, final: Path) -> Iterator[None]:
    """Errors of the block that writes into the folder ``temporary`` (renamed to ``final``
    when complete) come out naming ``final``: a ``DataError`` with the path replaced, an
    ``OSError`` on a file in ``temporary`` (or on no named file) as ``cannot write PATH:
    reason`` (one line, no "[Errno N]"); other files' errors pass unchanged."""
    try:
        yield
    except OSError as error:
        if error.filename is not None and str(temporary) not in str(error.filename):
            raise  # another file's error (the input's): its own message
        shown = str(error.filename or temporary).replace(str(temporary), str(final))
        raise _write_error(repr(shown), error) from None
    except DataError as error:
        raise DataError(str(error).replace(str(temporary), str(final))) from None


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


NAME_MAX = 255  # bytes in one file name on the usual file systems (ext4, XFS, APFS, NTFS)


def _temporary_path(target: Path) -> Path:
    token = secrets.token_hex(4)
    tail = f".{os.getpid()}.{token}{TEMPORARY_SUFFIX}"
    name = os.fsencode(target.name)
    room = NAME_MAX - 1 - len(os.fsencode(tail))
    if len(name) > room:  # a long target name: shorten it in the temporary's name
        name = name[:room]
    return target.with_name(f".{os.fsdecode(name)}{tail}")


_TEMPORARY_NAME = re.compile(r"\..+\.(?P<pid>[0-9]+)\.[0-9a-f]{8}" + re.escape(TEMPORARY_SUFFIX))


def remove_stale_temporaries(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove what killed writers (SIGKILL, power cut) left in ``folder``.

    Only files and folders named as this library names its temporaries
    (``.NAME.PID.TOKEN.tmp``: :func:`atomic_write`'s files, the shards and run-staging
    folders) whose process ``PID`` no longer runs are removed, and with ``name`` only those
    of the target ``name``; returns their paths.
    """
    import shutil

    removed = []
    for entry in Path(folder).iterdir():
        match = _TEMPORARY_NAME.fullmatch(entry.name)
        if match is None or process_exists(int(match["pid"])):
            continue
        if name is not None and not entry.name.startswith(f".{name}."):
            continue
        with contextlib.suppress(OSError):  # gone, or a folder that refuses: best effort
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif entry.is_file():
                entry.unlink()
            else:
                continue
            removed.append(entry)
    return removed


def process_exists(pid: int) -> bool:
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


# OS errors that the block's own code may meet writing to the temporary file's descriptor
# (not through the handle), and that can only mean the disk refused the write
_DISK_REFUSALS = frozenset(
    code
    for code in (getattr(errno, name, None) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS"))
    if code is not None
)


class _TemporaryFile(io.FileIO):
    """The temporary file's raw stream: a refused ``write`` raises the one-line
    :class:`~softmaxreg.errors.DataError` naming the target, not the temporary file."""

    def __init__(self, temporary: Path, shown: str) -> None:
        super().__init__(temporary, "xb")  # exclusive creation, permissions as open(path, "w")
        self._shown = shown

    def write(self, data) -> int:
        try:
            return os.write(self.fileno(), data)
        except OSError as error:
            raise _write_error(self._shown, error) from None


def _create_temporary(
    temporary: Path, mode: str, encoding: str | None, newline: str | None, shown: str
) -> IO:
    try:
        raw = _TemporaryFile(temporary, shown)
    except PermissionError:
        raise DataError(
            f"cannot write {shown}: no permission to create files in the folder "
            f"{str(temporary.parent)!r}"
        ) from None
    except FileNotFoundError as error:  # the folder exists but takes no new files (/proc)
        raise DataError(
            f"cannot write {shown}: {_reason(error)} (the folder {str(temporary.parent)!r} "
            "does not accept new files)"
        ) from None
    except OSError as error:
        raise _write_error(shown, error) from None
    try:
        handle: IO = io.BufferedWriter(raw)
        if mode == "w":
            handle = io.TextIOWrapper(handle, encoding=encoding, newline=newline)
            handle.mode = mode  # as open() sets it
        return handle
    except BaseException:  # e.g. an unknown encoding: leave nothing behind
        raw.close()
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


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

    ``path`` is checked first with :func:`check_output_path`: a folder, a device, a FIFO or
    a socket (also behind a symlink) is refused before anything is created. A symlink is
    written through: the temporary file goes into the folder of the file the link points
    to and replaces that file; the link itself is left as it is.

    Raises :class:`~softmaxreg.errors.DataError` (one line naming ``path`` and the reason)
    when the target is refused or the operating system refuses the write: no permission,
    disk full, quota exceeded, read-only file system, I/O error, ... (writes through the
    handle raise it too); :class:`~softmaxreg.errors.DataNotFoundError` when the folder does
    not exist; ``ValueError`` for another ``mode``. Other exceptions from the block pass
    through unchanged.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write writes files: mode 'wb' or 'w', not {mode!r}")
    target = check_output_path(path)
    destination = write_destination(target)
    shown = shown_target(target, destination)
    temporary = _temporary_path(destination)
    # ``handle.name`` is the temporary file's path (a download checks its content there)
    handle = _create_temporary(temporary, mode, encoding, newline, shown)
    block_done = False  # from then on, every OS error is about writing the target
    try:
        with handle:
            yield handle
            block_done = True
            handle.flush()
            os.fsync(handle.fileno())
        _refuse_swapped_target(destination, shown)
        os.replace(temporary, destination)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError) and (
            block_done  # flushing, fsync, closing or renaming failed
            or error.errno in _DISK_REFUSALS
            or error.filename in (str(temporary), os.fsencode(temporary))
        ):
            raise _write_error(shown, error) from None
        raise
    fsync_folder(destination.parent)


def _refuse_swapped_target(destination: Path, shown: str) -> None:
    """Refuse, just before the rename, a target that became a device, FIFO or socket."""
    try:
        mode = os.lstat(destination).st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise DataError(_not_regular_message(shown, mode))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`); returns the path.

    Raises :class:`~softmaxreg.errors.DataError` for a target that is not a regular file (or
    a symlink to one) and for any write the operating system refuses, as ``atomic_write``.
    """
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return Path(path)
