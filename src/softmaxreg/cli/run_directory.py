"""The layout of a training run's output folder, shared by every sub-command.

::

    DIR/model.safetensors      the fitted model (weights + metadata, one file)
    DIR/checkpoint.safetensors the latest checkpoint of a long minibatch run
    DIR/metrics.json           the summary metrics and the per-epoch history
    DIR/report.html, *.png     the pictures and the one-page report

The final files are written into a hidden staging folder inside the run folder
(``DIR/.staging.PID.TOKEN.tmp/``) and moved into place together at the end, signals held
meanwhile (:func:`staged_run_files`): a run stopped while it writes its model, metrics or
pictures leaves none of them (a new folder is removed; an earlier run's files stay as they
were), and a run that finishes leaves all of them.

While ``train`` runs, it holds an exclusive ``flock`` on the folder itself (no lock file), so
a second ``train`` to the same folder is refused instead of overwriting the first one's
files; the kernel releases the lock when the process ends, even by SIGKILL. A folder the run
created is removed again if the run fails before writing anything into it; temporary files
that killed runs left in it are removed when the next run claims it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from softmaxreg._atomic import (
    check_output_path,
    fsync_folder,
    named_as_final,
    remove_stale_temporaries,
    shown_target,
    write_bytes_atomic,
    write_destination,
)
from softmaxreg._model_file import MODEL_FILE
from softmaxreg.errors import DataError

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

CHECKPOINT_FILE = "checkpoint.safetensors"
METRICS_FILE = "metrics.json"
STAGING_PREFIX = ".staging"
# moved first: with these two in place the run is usable (evaluate, predict, serve)
_FIRST_FILES = (MODEL_FILE, METRICS_FILE)


def check_output_folder(folder: str | Path) -> Path:
    """The run folder's path; refuse one that is a file (before any work is done), or one
    that cannot be made: a file or a dangling symlink where one of its folders should be."""
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise DataError(f"--out {str(folder)!r} is a file; give a folder for the run")
    for candidate in (path, *path.parents):
        if candidate.is_dir():  # (through symlinks) the rest of the way exists
            break
        if not os.path.lexists(candidate):  # missing: made by the run
            continue
        refused = f"cannot use {str(folder)!r} as the run folder: {str(candidate)!r}"
        if candidate.is_symlink() and not candidate.exists():
            raise DataError(
                f"{refused} is a symlink to a missing target {os.readlink(candidate)!r}"
            )
        raise DataError(f"{refused} is a file, not a folder")
    return path


@contextlib.contextmanager
def claimed_run_folder(folder: str | Path, flag: str = "--out") -> Iterator[Path]:
    """The run folder, created when missing and locked for this process until the block ends.

    Raises :class:`~softmaxreg.errors.DataError` when the path is a file or another process
    holds the folder (the message names it as ``flag``, the option that gave it). When the
    block raises (an error, or a signal turned into an exception by the command line), the
    folders this call created are removed again if still empty.
    """
    path = check_output_folder(folder)
    created = _make_folders(path)
    completed = False
    try:
        descriptor = _lock(path, f"{flag} {str(folder)!r}")
    except BaseException:
        _remove_if_empty(created)
        raise
    try:
        if descriptor is not None:  # no other run writes here: what killed runs left goes
            remove_stale_temporaries(path)  # (the staging folders of killed runs too)
        yield path
        completed = True
    finally:
        if not completed:
            _remove_if_empty(created)  # while still locked: nobody else is using it
        if descriptor is not None:
            os.close(descriptor)  # releases the lock


def _make_folders(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the folders it created, outermost first."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    created = []
    for candidate in reversed(missing):
        try:
            candidate.mkdir()
        except FileExistsError:  # made meanwhile by someone else: theirs, not ours
            continue
        created.append(candidate)
    return created


def _remove_if_empty(created: list[Path]) -> None:
    for candidate in reversed(created):
        try:
            candidate.rmdir()
        except OSError:  # not empty (or gone): keep it and the folders around it
            return


def _lock(path: Path, name: str) -> int | None:
    """An open descriptor of ``path`` holding an exclusive flock, or None where locks are
    not available (Windows, file systems without flock)."""
    if fcntl is None:
        return None
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise DataError(
            f"{name} is in use by another `softmaxreg train`; wait for it to finish or give "
            "another --out"
        ) from None
    except OSError:  # this file system offers no flock: run without the lock
        os.close(descriptor)
        return None
    # a failed run removes the folder it created: the lock must be on the folder still there
    with contextlib.suppress(FileNotFoundError):
        if os.path.samestat(os.fstat(descriptor), os.stat(path)):
            return descriptor
    os.close(descriptor)
    raise DataError(f"{name} was removed while this run started; start it again")


def is_shards_folder(location: str | Path) -> bool:
    """True for a folder written by ``softmaxreg shard`` (it holds a manifest.json)."""
    path = Path(location).expanduser()
    from softmaxreg.datasets.shards import MANIFEST_NAME

    return path.is_dir() and (path / MANIFEST_NAME).is_file()


def _check_replaceable(folder: Path, names: list[str]) -> None:
    """Refuse (``DataError``) run files ``names`` in ``folder`` whose places a file cannot
    take: a folder there (an earlier run's picture is a file; also behind a symlink), a
    device, FIFO or socket, a symlink loop, or two of them that lead to the same file
    (symlinks: one would overwrite the other)."""
    written: dict[str, Path] = {}
    for final in sorted((folder / name for name in names), key=Path.is_symlink):
        destination = write_destination(final)  # (plain files first: a link is named)
        shown = shown_target(final, destination)
        if destination.is_dir():
            raise DataError(
                f"cannot write {shown}: a folder is in its place; move it away or choose "
                "another run folder (--out)"
            )
        check_output_path(final)
        other = written.setdefault(os.path.realpath(final), final)
        if other != final:
            raise DataError(
                f"cannot write {shown}: it leads to the same file as {str(other)!r}, which "
                "this run also writes; remove the symlink or choose another run folder "
                "(--out)"
            )


def _move_into_place(staged: Path, final: Path) -> None:
    """``staged`` renamed to ``final``; where ``final`` is a symlink, written through it
    (the file it points to replaced atomically, the link kept), as every softmaxreg
    write does (``_atomic``)."""
    if final.is_symlink():
        write_bytes_atomic(final, staged.read_bytes())
        staged.unlink()
    else:
        os.replace(staged, final)


@contextlib.contextmanager
def staged_run_files(folder: Path, remove: tuple[str, ...] = ()) -> Iterator[Path]:
    """A new hidden folder inside the run ``folder`` to write the run's files into.

    When the block ends normally, every file in it is moved into ``folder`` (the model and
    metrics first) and the files named in ``remove`` that the block did not write (an
    earlier run's checkpoint or pictures) are deleted, with SIGINT / SIGTERM / SIGHUP held
    until this is done; the staging folder is removed in every case, so a block that raises
    (an error, an interruption) leaves ``folder`` as it was. A ``DataError`` or ``OSError``
    of the block comes out as a ``DataError`` naming the files in ``folder`` (a disk found
    full names ``DIR/model.safetensors``, not the staging folder).
    """
    from softmaxreg.cli.interruption import signals_deferred

    staging = Path(folder) / f"{STAGING_PREFIX}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    with named_as_final(staging, Path(folder)):  # named as the files will be, not as staged
        staging.mkdir()
    try:
        with named_as_final(staging, Path(folder)):
            yield staging
        with signals_deferred():
            names = sorted(entry.name for entry in staging.iterdir())
            names.sort(key=lambda name: name not in _FIRST_FILES)  # stable: model, metrics
            _check_replaceable(Path(folder), names)  # before any move: none or all replaced
            with named_as_final(staging, Path(folder)):
                for name in names:
                    _move_into_place(staging / name, Path(folder) / name)
                for name in set(remove).difference(names):
                    earlier = Path(folder) / name
                    if earlier.is_symlink() or earlier.is_file():  # (a folder is not a run's)
                        earlier.unlink()
            fsync_folder(Path(folder))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
