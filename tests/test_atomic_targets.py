"""Atomic writes refuse targets that are not regular files, write through symlinks, and turn
the operating system's refusals (disk full, read-only file system, ...) into one line naming
the target, leaving no temporary file and the old content intact."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import softmaxreg
from softmaxreg import LogisticRegression, _atomic
from softmaxreg._atomic import atomic_write, check_output_path, write_bytes_atomic
from softmaxreg.errors import DataError, DataNotFoundError


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return LogisticRegression(C=1.0).fit(X, y)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(_atomic.TEMPORARY_SUFFIX))


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# --- targets that are not regular files ------------------------------------------------------


def _fifo(folder: Path) -> Path:
    path = folder / "pipe"
    os.mkfifo(path)
    return path


def _char_device(folder: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("creating a device node needs root")
    path = folder / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        pytest.skip("this container may not create device nodes")
    return path


@contextlib.contextmanager
def _socket(folder: Path):
    path = folder / "sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        yield path
    finally:
        server.close()


SPECIALS = {
    "fifo": (lambda folder: contextlib.nullcontext(_fifo(folder)), "a FIFO (named pipe)"),
    "char": (lambda folder: contextlib.nullcontext(_char_device(folder)), "a character device"),
    "socket": (_socket, "a socket"),
}


@pytest.mark.parametrize("kind", sorted(SPECIALS))
@pytest.mark.parametrize("through_link", [False, True], ids=["direct", "symlink"])
def test_non_regular_target_is_refused_before_anything_is_written(
    kind, through_link, tmp_path, model
):
    make, label = SPECIALS[kind]
    with make(tmp_path) as special:
        mode = os.lstat(special).st_mode
        target = special
        if through_link:
            target = tmp_path / "link.safetensors"
            target.symlink_to(special)
        before = sorted(os.listdir(tmp_path))
        for write in (
            lambda: softmaxreg.save(model, target),
            lambda: write_bytes_atomic(target, b"data"),
            lambda: check_output_path(target),
        ):
            with pytest.raises(DataError) as refused:
                write()
            message = _one_line(refused)
            assert message.startswith(f"cannot write to {str(target)!r}")
            assert f"it is {label}, not a regular file" in message
            if through_link:
                assert f"a symlink to {str(special)!r}" in message
        # nothing created, nothing replaced: the node is still what it was
        assert sorted(os.listdir(tmp_path)) == before
        assert os.lstat(special).st_mode == mode
        if through_link:
            assert target.is_symlink() and os.readlink(target) == str(special)


def test_atomic_write_refuses_a_fifo_before_opening_anything(tmp_path, monkeypatch):
    fifo = _fifo(tmp_path)
    opened = []
    monkeypatch.setattr(_atomic, "_create_temporary", lambda *a: opened.append(a))
    with pytest.raises(DataError, match="FIFO"), atomic_write(fifo, "w") as handle:
        handle.write("never")
    assert opened == []
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_cli_refuses_a_fifo_output_in_one_line(tmp_path, model, capsys):
    softmaxreg.save(model, tmp_path / "m.safetensors")
    fifo = _fifo(tmp_path)
    assert run_cli("export", tmp_path / "m.safetensors", "--onnx", fifo) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: cannot write to {str(fifo)!r}: it is a FIFO (named pipe), not a regular "
        "file; softmaxreg replaces only regular files: give the path of a file to create or "
        "replace"
    ]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# --- symlinks are written through ------------------------------------------------------------


def test_symlink_to_a_file_is_written_through(tmp_path, model):
    real_folder = tmp_path / "real"
    real_folder.mkdir()
    real = real_folder / "model.safetensors"
    real.write_bytes(b"old")
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    assert softmaxreg.save(model, link) == link
    assert link.is_symlink() and os.readlink(link) == str(real)
    np.testing.assert_array_equal(softmaxreg.load(real).coef_, model.coef_)
    assert sorted(os.listdir(real_folder)) == ["model.safetensors"]
    assert sorted(os.listdir(tmp_path)) == ["link.safetensors", "real"]


def test_relative_symlink_chain_is_written_through(tmp_path):
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "out.csv"
    real.write_text("old")
    (tmp_path / "hop").symlink_to("data/out.csv")
    (tmp_path / "link").symlink_to("hop")
    with atomic_write(tmp_path / "link", "w", encoding="utf-8") as handle:
        assert Path(handle.name).parent == real.parent  # the temporary sits next to the file
        handle.write("new")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "hop").is_symlink()
    assert real.read_text() == "new"
    assert _temporaries(tmp_path / "data") == [] and _temporaries(tmp_path) == []


def test_dangling_symlink_into_an_existing_folder_creates_the_file(tmp_path):
    (tmp_path / "data").mkdir()
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "data" / "new.bin")
    write_bytes_atomic(link, b"payload")
    assert link.is_symlink()
    assert (tmp_path / "data" / "new.bin").read_bytes() == b"payload"
    assert os.listdir(tmp_path / "data") == ["new.bin"]


def test_dangling_symlink_into_a_missing_folder_is_refused(tmp_path):
    link = tmp_path / "link.bin"
    link.symlink_to(tmp_path / "nowhere" / "new.bin")
    with pytest.raises(DataNotFoundError) as refused:
        write_bytes_atomic(link, b"payload")
    message = _one_line(refused)
    assert str(link) in message and f"the folder {str(tmp_path / 'nowhere')!r}" in message
    assert link.is_symlink() and os.listdir(tmp_path) == ["link.bin"]


def test_symlink_loop_is_refused(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(DataError, match="loop"):
        write_bytes_atomic(tmp_path / "a", b"x")
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_symlink_to_a_folder_is_refused_as_a_folder(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "folder")
    with pytest.raises(DataError, match="it is a folder"):
        write_bytes_atomic(tmp_path / "link", b"x")
    assert os.listdir(tmp_path / "folder") == []


# --- the operating system refuses the write --------------------------------------------------


def _old_file(tmp_path: Path) -> Path:
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old content")
    return path


def _assert_intact(path: Path) -> None:
    assert path.read_bytes() == b"old content"
    assert os.listdir(path.parent) == [path.name]


def _disk_full(monkeypatch, after: int = 0) -> None:
    """``os.write`` (the temporary file's writes) fails with ENOSPC after ``after`` bytes."""
    real_write, budget = os.write, [after]

    def write(descriptor, data):
        if len(data) > budget[0]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        budget[0] -= len(data)
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("after", [0, 100])
def test_disk_full_names_the_target_and_keeps_the_old_file(tmp_path, monkeypatch, model, after):
    path = _old_file(tmp_path)
    with monkeypatch.context() as patched:
        _disk_full(patched, after)
        with pytest.raises(DataError) as refused:
            softmaxreg.save(model, path)
    assert _one_line(refused) == f"cannot write {str(path)!r}: No space left on device"
    _assert_intact(path)


def test_disk_full_in_text_mode_and_through_a_symlink(tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    path = _old_file(tmp_path / "real")
    link = tmp_path / "link.csv"
    link.symlink_to(path)
    with monkeypatch.context() as patched:
        _disk_full(patched)
        with pytest.raises(DataError) as refused, atomic_write(link, "w") as handle:
            handle.write("x" * 100_000)  # more than the buffer: the write itself fails
    assert _one_line(refused) == (
        f"cannot write {str(link)!r} (a symlink to {str(path)!r}): No space left on device"
    )
    _assert_intact(path)
    assert link.is_symlink()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EIO])
def test_failure_at_fsync_names_the_target(tmp_path, monkeypatch, code):
    path = _old_file(tmp_path)

    def fsync(descriptor):
        raise OSError(code, os.strerror(code))

    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", fsync)
        with pytest.raises(DataError) as refused:
            write_bytes_atomic(path, b"new")
    assert _one_line(refused) == f"cannot write {str(path)!r}: {os.strerror(code)}"
    _assert_intact(path)


def _refusing_creation(code: int):
    """A temporary file class whose creation fails as ``os.open`` would with ``code``."""

    class Refusing(_atomic._TemporaryFile):
        def __init__(self, temporary, shown):
            error = OSError(code, os.strerror(code), str(temporary))  # the subclass for code
            raise error

    return Refusing


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.EROFS, "Read-only file system"),
        (errno.ENOSPC, "No space left on device"),
        (errno.EDQUOT, os.strerror(errno.EDQUOT)),
        (errno.ENOENT, "No such file or directory (the folder {folder!r} does not accept new"),
        (errno.EACCES, "no permission to create files in the folder {folder!r}"),
    ],
)
def test_refused_creation_names_the_target(tmp_path, monkeypatch, model, code, reason):
    path = _old_file(tmp_path)
    monkeypatch.setattr(_atomic, "_TemporaryFile", _refusing_creation(code))
    with pytest.raises(DataError) as refused:
        softmaxreg.save(model, path)
    message = _one_line(refused)
    assert message.startswith(f"cannot write {str(path)!r}: " + reason.format(folder=str(tmp_path)))
    assert ".tmp" not in message
    _assert_intact(path)


def test_read_only_file_system_at_rename_names_the_target(tmp_path, monkeypatch):
    path = _old_file(tmp_path)

    def replace(source, destination):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(source))

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", replace)
        with pytest.raises(DataError) as refused, atomic_write(path, "w") as handle:
            handle.write("new")
    assert _one_line(refused) == f"cannot write {str(path)!r}: Read-only file system"
    _assert_intact(path)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_saving_under_proc_names_the_target(model):
    with pytest.raises(DataError) as refused:
        softmaxreg.save(model, "/proc/softmaxreg-test.safetensors")
    message = _one_line(refused)
    assert message.startswith("cannot write '/proc/softmaxreg-test.safetensors': ")
    assert ".tmp" not in message


def test_other_errors_of_the_block_pass_through_unchanged(tmp_path):
    path = _old_file(tmp_path)
    with pytest.raises(ConnectionResetError), atomic_write(path, "wb") as handle:
        handle.write(b"half")
        raise ConnectionResetError(errno.ECONNRESET, "peer went away")
    _assert_intact(path)


def test_unknown_encoding_leaves_no_temporary(tmp_path):
    path = _old_file(tmp_path)
    with pytest.raises(LookupError), atomic_write(path, "w", encoding="no-such-codec"):
        pass
    _assert_intact(path)


def test_long_target_name_still_gets_a_temporary(tmp_path):
    path = tmp_path / ("n" * 250)
    write_bytes_atomic(path, b"one")
    write_bytes_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(tmp_path) == [path.name]


def test_cli_disk_full_is_one_line_naming_the_target(tmp_path, model, monkeypatch, capsys):
    softmaxreg.save(model, tmp_path / "m.safetensors")
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old content")
    _disk_full(monkeypatch)
    status = run_cli("export", tmp_path / "m.safetensors", "--onnx", target)
    monkeypatch.undo()
    assert status == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == f"error: cannot write {str(target)!r}: No space left on device"
    assert target.read_bytes() == b"old content"
    assert _temporaries(tmp_path) == []


def test_disk_full_met_by_the_block_itself_names_the_target(tmp_path):
    """A writer that writes to the descriptor directly (as numpy's ``tofile`` does)."""
    path = _old_file(tmp_path)
    with pytest.raises(DataError) as refused, atomic_write(path, "wb"):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert _one_line(refused) == f"cannot write {str(path)!r}: No space left on device"
    _assert_intact(path)


def test_target_swapped_for_a_fifo_during_the_write_is_not_replaced(tmp_path):
    path = _old_file(tmp_path)
    with pytest.raises(DataError, match="it is a FIFO"), atomic_write(path, "w") as handle:
        handle.write("new")
        path.unlink()
        os.mkfifo(path)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert os.listdir(tmp_path) == [path.name]
