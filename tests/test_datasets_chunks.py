"""Chunked reading: blocks reassemble the file, stay within chunk_rows, and bound memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from softmaxreg.datasets import iter_tabular_chunks, read_tabular, tabular_feature_names
from softmaxreg.errors import DataError

N_ROWS, N_COLS = 2500, 6


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    data = pd.DataFrame(rng.normal(size=(N_ROWS, N_COLS)), columns=[f"f{k}" for k in range(6)])
    data["label"] = rng.integers(0, 3, size=N_ROWS)
    return data


def write(table: pd.DataFrame, path):
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        pq.write_table(arrow, path, row_group_size=700, use_dictionary=False)
    else:
        np.save(path, table.to_numpy())
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy", ".npz", ".svm"])
def test_blocks_reassemble_the_file_within_the_bound(tmp_path, table, suffix):
    if suffix == ".npz":
        path = tmp_path / "t.npz"
        np.savez(path, X=table.iloc[:, :-1].to_numpy(), y=table["label"].to_numpy())
        target = "auto"
    elif suffix == ".svm":
        from sklearn.datasets import dump_svmlight_file

        path = tmp_path / "t.svm"
        dump_svmlight_file(table.iloc[:, :-1].to_numpy(), table["label"].to_numpy(), str(path))
        target = "auto"
    else:
        path = write(table, tmp_path / f"t{suffix}")
        target = "label" if suffix != ".npy" else -1
    blocks = list(iter_tabular_chunks(path, 1000, target=target))
    assert [b.shape[0] for b in blocks if b.shape[0] > 1000] == []
    assert sum(b.shape[0] for b in blocks) == N_ROWS
    whole = read_tabular(path, target=target).X
    stacked = np.vstack([b.toarray() if hasattr(b, "toarray") else b for b in blocks])
    dense = whole.toarray() if hasattr(whole, "toarray") else whole
    np.testing.assert_allclose(stacked, dense, rtol=1e-15)
    if suffix == ".csv":
        assert [b.shape[0] for b in blocks] == [1000, 1000, 500]


def test_without_target_every_column_is_a_feature_and_dtype_is_honoured(tmp_path, table):
    path = write(table, tmp_path / "t.csv")
    blocks = list(iter_tabular_chunks(path, 999, dtype=np.float32))
    assert all(b.dtype == np.float32 and b.shape[1] == N_COLS + 1 for b in blocks)
    assert tabular_feature_names(path) == [*table.columns]
    assert tabular_feature_names(path, target="label") == [f"f{k}" for k in range(6)]
    assert tabular_feature_names(write(table, tmp_path / "t.parquet"), "auto")[-1] == "f5"
    assert tabular_feature_names(write(table, tmp_path / "t.npy")) is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npy"])
def test_bad_value_is_reported_with_its_row_in_the_whole_file(tmp_path, table, suffix):
    broken = table.copy()
    broken.iloc[2100, 3] = np.nan
    path = write(broken, tmp_path / f"t{suffix}")
    blocks = iter_tabular_chunks(path, 1000)
    assert next(blocks).shape == (1000, N_COLS + 1)  # the first blocks are fine
    column = "'f3'" if suffix != ".npy" else "'3'"
    message = rf"missing value \(NaN\) in data row 2101, column {column}"
    with pytest.raises(DataError, match=message):
        list(blocks)


def test_ragged_row_found_in_a_later_chunk(tmp_path, table):
    path = write(table, tmp_path / "t.csv")
    lines = path.read_text().splitlines()
    lines[1800] = ",".join(lines[1800].split(",")[:3])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="ragged rows: data row 1800 has 3 fields, expected 7"):
        list(iter_tabular_chunks(path, 500))


@pytest.mark.parametrize("chunk_rows", [0, -5, 2.5, True])
def test_chunk_rows_must_be_a_positive_integer(tmp_path, table, chunk_rows):
    path = write(table, tmp_path / "t.npy")
    with pytest.raises(DataError, match="chunk_rows must be a positive integer"):
        list(iter_tabular_chunks(path, chunk_rows))


@pytest.mark.parametrize("suffix", [".npy", ".csv", ".parquet"])
def test_memory_stays_proportional_to_the_chunk(tmp_path, suffix):
    """Peak allocations while streaming (Python/NumPy traced, Arrow's pool sampled per block):
    far below the size of the whole matrix."""
    rng = np.random.default_rng(2)
    big = pd.DataFrame(rng.random((40000, 20)), columns=[f"c{k}" for k in range(20)])
    path = write(big, tmp_path / f"big{suffix}")
    whole_bytes = big.to_numpy().nbytes  # 6.4 MB
    arrow_base, arrow_peak = pa.total_allocated_bytes(), 0
    tracemalloc.start()
    try:
        rows = 0
        for block in iter_tabular_chunks(path, 500):
            rows += block.shape[0]
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes() - arrow_base)
            del block
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 40000
    assert peak < whole_bytes / 4, f"peak {peak} bytes for a {whole_bytes}-byte matrix"
    assert arrow_peak < whole_bytes / 4, f"Arrow held {arrow_peak} bytes"
