"""Fetching a file from a list of mirrors, with SHA-256 verification and a progress bar.

A download streams into a temporary file beside its destination, is hashed on the way, and
is renamed into place only after its checksum matched; a failed or corrupt download leaves
nothing behind. Mirrors are tried in order until one delivers the expected bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from softmaxreg._atomic import atomic_write, open_regular_file
from softmaxreg.errors import DataError, DataNotFoundError

_CHUNK = 1 << 16
TIMEOUT_SECONDS = 30.0


class ChecksumMismatch(DataError):
    """Downloaded bytes whose SHA-256 is not the published one."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: its name on the mirrors and its accepted SHA-256 digests.

    ``sha256`` is the digest of the file as published; ``content_sha256`` (optional) the
    digest of its gunzipped content, so a mirror that re-compressed the same data is accepted.
    """

    name: str
    sha256: str
    content_sha256: str | None = None


def sha256_of_file(path: Path, *, gunzip: bool = False) -> str:
    """Hex SHA-256 of a file's bytes (of its decompressed bytes when ``gunzip``)."""
    digest = hashlib.sha256()
    with open_regular_file(path, "data file") as raw:
        handle = gzip.GzipFile(fileobj=raw) if gunzip else raw
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    remote: RemoteFile,
    mirrors: Sequence[str],
    destination: Path,
    *,
    progress: bool = True,
) -> Path:
    """Fetch ``remote`` from the first mirror that serves bytes with an accepted checksum.

    The URL is ``mirror.rstrip('/') + '/' + remote.name``. Returns ``destination`` (written
    atomically). Raises :class:`ChecksumMismatch` when some mirror answered but none with the
    right bytes, :class:`DataNotFoundError` when no mirror could be reached.
    """
    if not mirrors:
        raise DataNotFoundError(f"no download mirror given for {remote.name}")
    failures: list[str] = []
    mismatch = False
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.name
        try:
            _fetch_verified(url, remote, Path(destination), progress=progress)
            return Path(destination)
        except ChecksumMismatch as error:
            mismatch = True
            failures.append(f"{url}: {error}")
        except (OSError, urllib.error.URLError, ValueError) as error:
            failures.append(f"{url}: {_describe(error)}")
    detail = "\n  ".join(failures)
    kind = ChecksumMismatch if mismatch else DataNotFoundError
    raise kind(f"could not download {remote.name}; tried:\n  {detail}")


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return f"unreachable ({error.reason})"
    return f"{type(error).__name__}: {error}"


def _fetch_verified(url: str, remote: RemoteFile, destination: Path, *, progress: bool) -> None:
    """Stream ``url`` into a temporary file, check the digest, then rename onto ``destination``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(destination, "wb") as handle:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            total = response.headers.get("Content-Length")
            for chunk in _with_progress(response, int(total) if total else None, url, progress):
                digest.update(chunk)
                handle.write(chunk)
        handle.flush()
        got = digest.hexdigest()
        if got != remote.sha256 and not _content_matches(Path(handle.name), remote):
            raise ChecksumMismatch(
                f"checksum mismatch for {remote.name}: SHA-256 {got}, expected {remote.sha256}"
                " (the file was not kept)"
            )


def _content_matches(path: Path, remote: RemoteFile) -> bool:
    if remote.content_sha256 is None:
        return False
    try:
        return sha256_of_file(path, gunzip=True) == remote.content_sha256
    except (OSError, EOFError, zlib.error):
        return False


def _with_progress(response, total: int | None, url: str, enabled: bool) -> Iterable[bytes]:
    """Yield the response body in chunks, advancing a rich progress bar (on stderr)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not enabled) as bar:
        task = bar.add_task(f"download {url.rsplit('/', 1)[-1]}", total=total)
        while chunk := response.read(_CHUNK):
            bar.advance(task, len(chunk))
            yield chunk
