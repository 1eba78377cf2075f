"""Shards on disk, the objective accumulated shard by shard, and SGD streamed over shards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import softmaxreg
from softmaxreg.datasets import Shards, write_shards
from softmaxreg.distributed.row_sources import ArrayRows
from softmaxreg.distributed.shard_stream import epoch_order
from softmaxreg.distributed.sharded_objective import ShardedObjective
from softmaxreg.distributed.train import fit_sharded
from softmaxreg.errors import DataError
from softmaxreg.objective import LinearObjective


def _data(n: int, m: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, m)) + y[:, None] * np.linspace(-1, 1, m)
    return X, y


# ------------------------------------------------------------------ writing and reading
@pytest.mark.parametrize("suffix", ["csv", "parquet", "npy"])
@pytest.mark.parametrize("shard_format", ["npy", "parquet"])
def test_write_shards_from_files_round_trips(tmp_path, suffix, shard_format):
    X, y = _data(1_003)
    X = X.astype(np.float32)
    if suffix == "npy":
        labels = y
        np.save(tmp_path / "data.npy", np.column_stack([X.astype(np.float64), y]))
    else:
        labels = np.array(["cat", "dog", "emu"])[y]
        frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(4)]).assign(label=labels)
        if suffix == "csv":
            frame.to_csv(tmp_path / "data.csv", index=False)
        else:
            frame.to_parquet(tmp_path / "data.parquet")
    shards = write_shards(tmp_path / f"data.{suffix}", tmp_path / "out", 300,
                          format=shard_format, read_rows=128,
                          target=-1 if suffix == "npy" else "auto")
    assert shards.n_shards == 4 and shards.shard_rows == [300, 300, 300, 103]
    X_back, t = shards.read_all()
    np.testing.assert_array_equal(X_back, X)
    np.testing.assert_array_equal(shards.labels(t), labels)
    assert shards.dtype == np.float32 and len(shards) == 1_003
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["n_rows"] == 1_003 and manifest["format"] == shard_format
    if suffix != "npy":
        assert manifest["feature_names"] == ["f0", "f1", "f2", "f3"]
        assert manifest["classes"] == ["cat", "dog", "emu"]


def test_npy_shards_are_memory_mapped_and_blocks_cover_a_row_range(tmp_path):
    X, y = _data(1_000)
    shards = write_shards((X, y), tmp_path / "s", 256, dtype="float64")
    assert isinstance(shards.shard_features(0), np.memmap)
    seen = [(first, len(t)) for first, _, t in shards.iter_blocks(100, 700, block_rows=100)]
    assert seen == [(100, 100), (200, 56), (256, 100), (356, 100), (456, 56), (512, 100),
                    (612, 88)]
    rows = np.array([999, 0, 256, 255, 511, 3])
    X_rows, t_rows = shards.take(rows)
    np.testing.assert_array_equal(X_rows, X[rows])
    np.testing.assert_array_equal(t_rows, y[rows])
    assert [shards.row_range(r, 3) for r in range(3)] == [(0, 333), (333, 666), (666, 1000)]


def test_write_is_atomic_and_refuses_bad_input(tmp_path):
    X, y = _data(500)

    def blocks_then_crash():
        yield X[:200], y[:200]
        yield X[200:400], y[200:400]
        raise OSError("disk unplugged")

    with pytest.raises(OSError, match="disk unplugged"):
        write_shards(blocks_then_crash(), tmp_path / "s", 100)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary directory
    write_shards((X, y), tmp_path / "s", 100)
    with pytest.raises(DataError, match="already exists"):
        write_shards((X, y), tmp_path / "s", 100)
    replaced = write_shards((X[:50], y[:50]), tmp_path / "s", 100, overwrite=True)
    assert replaced.n_rows == 50 and sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    with pytest.raises(DataError, match="rows_per_shard must be an integer >= 1"):
        write_shards((X, y), tmp_path / "t", 0)
    X_bad = X.copy()
    X_bad[321, 2] = np.nan
    with pytest.raises(DataError, match="row 322"):
        write_shards((X_bad, y), tmp_path / "t", 100)
    with pytest.raises(DataError, match="needs a label column"):
        np.save(tmp_path / "a.npy", X)
        write_shards(tmp_path / "a.npy", tmp_path / "t", 100, target=None)
    assert not (tmp_path / "t").exists()


def test_damaged_directories_are_refused(tmp_path):
    X, y = _data(300)
    write_shards((X, y), tmp_path / "s", 100)
    with pytest.raises(DataError, match="no manifest.json"):
        Shards(tmp_path)
    (tmp_path / "s" / "shard-00001.X.npy").unlink()
    with pytest.raises(DataError, match="'shard-00001.X.npy' named in the manifest is missing"):
        Shards(tmp_path / "s")


# ------------------------------------------------------------------ the sharded objective
@pytest.mark.parametrize("kind", ["multinomial", "binary"])
@pytest.mark.parametrize("cache_bytes", [0, 1 << 30])
def test_sharded_objective_equals_in_memory_objective(tmp_path, kind, cache_bytes):
    """Value, gradient, Hessian-vector product, diagonal, subsampled Hessian and minibatch
    gradient summed shard by shard (streamed or cached) equal the in-memory objective."""
    X, y = _data(2_000)
    y[:700] = np.minimum(y[:700], 1)  # the first shards lack class 2
    shards = write_shards((X, y), tmp_path / "s", 700, dtype="float64")
    targets = y if kind == "multinomial" else (y == 1).astype(np.float64)
    reference = LinearObjective(X, targets, kind, C=0.7, dtype=torch.float64)
    sharded = ShardedObjective(shards, kind, C=0.7, dtype=torch.float64, block_rows=256,
                               cache_bytes=cache_bytes)
    generator = torch.Generator().manual_seed(0)
    theta = 0.3 * torch.randn(reference.n_params, generator=generator, dtype=torch.float64)
    v = torch.randn(reference.n_params, generator=generator, dtype=torch.float64)
    value, grad = sharded.value_and_grad(theta)
    expected_value, expected_grad = reference.value_and_grad(theta)
    assert value == pytest.approx(expected_value, rel=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(sharded.hessian_vector_product(theta, v),
                               reference.hessian_vector_product(theta, v), rtol=1e-12, atol=1e-10)
    rows = torch.randperm(2_000, generator=generator)[:300].sort().values
    hvp, diagonal = sharded.hessian_operator(theta, rows, with_diagonal=True)
    expected_hvp, expected_diagonal = reference.hessian_operator(theta, rows, with_diagonal=True)
    torch.testing.assert_close(hvp(v), expected_hvp(v), rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(diagonal, expected_diagonal, rtol=1e-12, atol=1e-10)
    # the Kronecker preconditioner's two factors
    torch.testing.assert_close(sharded.feature_gram(rows), reference.feature_gram(rows),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sharded.output_curvature(theta),
                               reference.output_curvature(theta), rtol=1e-12, atol=1e-10)
    batch = torch.randperm(2_000, generator=generator)[:64]
    batch_value, batch_grad = sharded.batch_value_and_grad(theta, batch)
    expected_batch_value, expected_batch_grad = reference.batch_value_and_grad(theta, batch)
    assert float(batch_value) == pytest.approx(float(expected_batch_value), rel=1e-12)
    torch.testing.assert_close(batch_grad, expected_batch_grad, rtol=1e-12, atol=1e-12)
    assert sharded.n_samples == 2_000 and sharded.gradient_scale() == pytest.approx(0.7 * 2_000)


def test_class_weights_are_sample_weights_per_class(tmp_path):
    X, y = _data(900)
    weights = np.array([0.5, 2.0, 1.0])
    sharded = ShardedObjective(ArrayRows(X, y, [0, 1, 2]), "multinomial", dtype=torch.float64,
                               block_rows=200, class_weights=weights)
    reference = LinearObjective(X, y, "multinomial", dtype=torch.float64,
                                sample_weight=weights[y])
    theta = torch.linspace(-1, 1, reference.n_params, dtype=torch.float64)
    value, grad = sharded.value_and_grad(theta)
    assert value == pytest.approx(reference.value(theta), rel=1e-12)
    torch.testing.assert_close(grad, reference.value_and_grad(theta)[1], rtol=1e-12, atol=1e-10)
    assert sharded.gradient_scale() == pytest.approx(reference.gradient_scale())


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_fit_sharded_equals_in_memory_fit(tmp_path, solver):
    """Full-batch solvers on float32 shards give the in-memory fit within 1e-6 relative."""
    X, y = _data(5_000, m=6)
    labels = np.array(["a", "b", "c"])[y]
    shards = write_shards((X, labels), tmp_path / "s", 1_200, dtype="float64")
    params = {"solver": solver, "C": 0.1, "tol": 1e-10, "max_iter": 300, "dtype": "float64"}
    model = fit_sharded(shards.path, block_rows=500, **params)
    reference = softmaxreg.LogisticRegression(**params).fit(X, labels)
    assert np.abs(model.coef_ - reference.coef_).max() <= 1e-6 * np.abs(reference.coef_).max()
    # softmax is unchanged by adding one constant to every intercept: compare centred ones
    centred, expected = model.intercept_, reference.intercept_
    np.testing.assert_allclose(centred - centred.mean(), expected - expected.mean(), rtol=1e-6)
    assert model.classes_.tolist() == ["a", "b", "c"] and model.kind_ == "multinomial"
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"solver": "newton-cholesky"}, "it factors the Hessian formed from all rows"),
        (
            {"solver": "liblinear", "dual": True},
            "its model adds a penalised constant feature to X and its dual visits rows",
        ),
    ],
)
def test_solvers_that_need_the_data_in_memory_are_refused(tmp_path, params, reason):
    X, y = _data(600)
    shards = write_shards((X, (y == 1).astype(np.int64)), tmp_path / "s", 200)
    with pytest.raises(ValueError) as error:
        fit_sharded(shards, **params)
    assert str(error.value) == (
        f"solver={params['solver']!r} needs the data in memory ({reason}); for sharded or "
        "distributed training use 'auto', 'newton-cg', 'lbfgs', 'sag', 'gd' or 'sgd'"
    )


def test_fit_sharded_binary_and_ovr_with_balanced_weights(tmp_path):
    X, y = _data(3_000)
    y_binary = (y == 2).astype(np.int64)
    for targets, multi_class in ((y_binary, "auto"), (y, "ovr")):
        shards = write_shards((X, targets), tmp_path / f"s{multi_class}", 800, dtype="float64",
                              overwrite=True)
        params = {"tol": 1e-10, "dtype": "float64", "class_weight": "balanced",
                  "multi_class": multi_class}
        model = fit_sharded(shards, **params)
        reference = softmaxreg.LogisticRegression(**params).fit(X, targets)
        assert model.kind_ == reference.kind_ and model.coef_.shape == reference.coef_.shape
        np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ SGD over shards
def test_epoch_order_shuffles_shards_then_rows_within_each_shard():
    order = epoch_order([4, 3, 5], seed=11, epoch=0)
    assert sorted(order.tolist()) == list(range(12))
    shard_of = np.searchsorted([0, 4, 7, 12], order, side="right") - 1
    runs = [int(s) for i, s in enumerate(shard_of) if i == 0 or s != shard_of[i - 1]]
    assert sorted(runs) == [0, 1, 2]  # each shard is read in one contiguous stretch
    assert not np.array_equal(order, epoch_order([4, 3, 5], seed=11, epoch=1))
    np.testing.assert_array_equal(order, epoch_order([4, 3, 5], seed=11, epoch=0))


def test_streamed_sgd_follows_epoch_order_and_is_deterministic(tmp_path):
    """SGD over shards equals the update rule applied by hand to the batches of epoch_order;
    the same seed gives the same model, another seed another one."""
    X, y = _data(1_000)
    shards = write_shards((X, y), tmp_path / "s", 300, dtype="float64")
    params = {"solver": "sgd", "batch_size": 50, "learning_rate": 0.1, "max_iter": 2,
              "tol": None, "random_state": 5, "dtype": "float64"}
    model = fit_sharded(shards, **params)
    reference = LinearObjective(X, y, "multinomial", dtype=torch.float64)
    theta = reference.zeros()
    for epoch in range(2):
        order = torch.from_numpy(epoch_order(shards.shard_rows, seed=5, epoch=epoch))
        for start in range(0, 1_000, 50):
            theta -= 0.1 * reference.batch_value_and_grad(theta, order[start : start + 50])[1]
    W, b = reference.unpack(theta)
    np.testing.assert_allclose(model.coef_, W.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.intercept_, b.numpy(), rtol=1e-10, atol=1e-12)
    again = fit_sharded(shards, **params)
    np.testing.assert_array_equal(again.coef_, model.coef_)
    other = fit_sharded(shards, **{**params, "random_state": 6})
    assert np.abs(other.coef_ - model.coef_).max() > 1e-4


def test_global_order_sgd_equals_in_memory_sgd(tmp_path):
    X, y = _data(1_000)
    shards = write_shards((X, y), tmp_path / "s", 300, dtype="float64")
    params = {"solver": "sgd", "batch_size": 32, "max_iter": 2, "tol": None,
              "random_state": 3, "dtype": "float64"}
    model = fit_sharded(shards, sgd_order="global", **params)
    reference = softmaxreg.LogisticRegression(**params).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.loss_history_, reference.loss_history_, rtol=1e-10)


def test_a_symlinked_shards_folder_is_written_through(tmp_path):
    """As for files (``_atomic``): the folder a symlink points to is written or replaced,
    the link stays, and nothing else is left beside either (no stale ``.old`` entry)."""
    X, y = _data(60)
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    write_shards((X, y), real / "s", 20)
    link.symlink_to(real / "s")
    replaced = write_shards((X[:30], y[:30]), link, 10, overwrite=True)
    assert link.is_symlink() and replaced.n_rows == 30 and Shards(real / "s").n_shards == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
    assert sorted(p.name for p in real.iterdir()) == ["s"]
    (tmp_path / "new").symlink_to(real / "t")  # dangling: the folder is made there
    assert write_shards((X, y), tmp_path / "new", 30).n_shards == 2
    assert (real / "t" / "manifest.json").is_file()
    (real / "notes").mkdir()
    (real / "notes" / "p.txt").write_text("keep")
    (tmp_path / "notes").symlink_to(real / "notes")
    with pytest.raises(DataError) as refused:  # no hint of overwrite: it would be refused
        write_shards((X, y), tmp_path / "notes", 30)
    assert str(refused.value) == (
        f"{tmp_path / 'notes'} (a symlink to {real / 'notes'}) already exists; it is not a "
        "shards folder, so it is never replaced; choose a new directory"
    )
    with pytest.raises(DataError, match="not a shards directory"):
        write_shards((X, y), tmp_path / "notes", 30, overwrite=True)
    assert (real / "notes" / "p.txt").read_text() == "keep"
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(DataError, match="a symlink whose links form a loop"):
        write_shards((X, y), tmp_path / "loop", 30)
