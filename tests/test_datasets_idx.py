"""IDX reader: hand-made files, round trips, every corruption, and random bytes."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softmaxreg.datasets import read_idx, write_idx
from softmaxreg.errors import DataError, DataNotFoundError, SoftmaxregError


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """IDX bytes written by hand from the format description (independent of write_idx)."""
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    dims = struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + dims + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.fixture
def images() -> np.ndarray:
    return np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)


def test_reads_hand_written_raw_file(tmp_path, images):
    path = tmp_path / "tiny-images-idx3-ubyte"
    path.write_bytes(idx_bytes(images))
    result = read_idx(path)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, images)


def test_reads_hand_written_gzipped_file_whatever_its_name(tmp_path, images):
    path = tmp_path / "tiny-no-extension"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(path), images)


def test_big_endian_int32_and_float64_are_converted_to_native(tmp_path):
    values = np.array([[1, -2, 70000], [3, 4, -5]], dtype=np.int32)
    path = tmp_path / "ints.idx"
    path.write_bytes(idx_bytes(values, 0x0C))
    result = read_idx(path)
    assert result.dtype == np.dtype(np.int32)
    np.testing.assert_array_equal(result, values)
    floats = np.array([0.5, -1.25, 3e100])
    path.write_bytes(idx_bytes(floats, 0x0E))
    np.testing.assert_array_equal(read_idx(path), floats)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_write_then_read_round_trip(tmp_path, dtype, name):
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    path = write_idx(tmp_path / name, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    result = read_idx(path)
    assert result.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(result, array)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_write_refuses_unsupported_dtype(tmp_path):
    with pytest.raises(DataError, match="cannot write dtype int64 as IDX"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


def test_truncated_raw_file_names_the_file(tmp_path, images):
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(idx_bytes(images)[:-7])
    with pytest.raises(DataError, match=r"cut-idx3-ubyte.*truncated"):
        read_idx(path)


def test_truncated_header_names_the_file(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(DataError, match=r"short: truncated file: expected 3 dimension sizes"):
        read_idx(path)


def test_truncated_gzip_stream_names_the_file(tmp_path, images):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.tile(images, (50, 1, 1))))[:-20])
    with pytest.raises(DataError, match=r"cut\.gz"):
        read_idx(path)


def test_gzipped_file_with_fewer_items_than_declared(tmp_path, images):
    path = tmp_path / "few.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)[:-5]))
    with pytest.raises(DataError, match=r"few\.gz: inconsistent dimensions.*truncated"):
        read_idx(path)


def test_wrong_magic_number_names_the_file_and_the_magic(tmp_path, images):
    path = tmp_path / "magic"
    path.write_bytes(b"\x00\x01" + idx_bytes(images)[2:])
    with pytest.raises(DataError, match=r"magic: wrong magic number 0x00010803"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x03" + idx_bytes(images)[4:])
    with pytest.raises(DataError, match="wrong magic number 0x00000703"):
        read_idx(path)


@pytest.mark.parametrize("extra", [b"", b"\x00" * 3])
def test_inconsistent_dimensions(tmp_path, images, extra):
    data = idx_bytes(images)
    # declare 4 images but store 3 (raw) / store 3 plus 3 stray bytes
    wrong = data[:4] + struct.pack(">I", 4) + data[8:] + extra
    path = tmp_path / "dims-idx3-ubyte"
    path.write_bytes(wrong)
    with pytest.raises(DataError, match=r"dims-idx3-ubyte: inconsistent dimensions.*\(4, 4, 5\)"):
        read_idx(path)
    path.write_bytes(data + b"\x01")
    with pytest.raises(DataError, match="inconsistent dimensions"):
        read_idx(path)
    gz = tmp_path / "dims.gz"
    gz.write_bytes(gzip.compress(data + b"\x01\x02"))
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(gz)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "absent")
    with pytest.raises(DataError, match="is a directory"):
        read_idx(tmp_path)


random_files = st.one_of(
    st.binary(max_size=64),
    st.binary(max_size=64).map(lambda b: b"\x00\x00" + b),
    st.tuples(
        st.sampled_from([8, 9, 11, 12, 13, 14]), st.integers(1, 4), st.binary(max_size=40)
    ).map(lambda t: bytes([0, 0, t[0], t[1]]) + t[2]),
    st.binary(max_size=64).map(lambda b: b"\x1f\x8b" + b),
    st.binary(max_size=64).map(gzip.compress),
)


@settings(
    max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=random_files)
def test_random_bytes_give_an_array_or_the_library_error(tmp_path, data):
    path = tmp_path / "random.idx"
    path.write_bytes(data)
    try:
        result = read_idx(path)
    except SoftmaxregError as error:
        assert isinstance(error, DataError)
        assert "random.idx" in str(error)
        return
    # accepted only when the header describes exactly the bytes that follow
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    ndim = raw[3]
    assert raw[:2] == b"\x00\x00"
    assert result.shape == struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    assert len(raw) == 4 + 4 * ndim + result.nbytes
