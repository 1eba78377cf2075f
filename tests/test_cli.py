"""The ``softmaxreg`` command end to end: train, evaluate, predict, export, and its errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from PIL import Image

from softmaxreg.batch_predict import rows_in_feature_order
from softmaxreg.datasets import load_dataset


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy-run")
    assert run_cli("train", "toy", "--solver", "lbfgs", "--C", "10", "--out", folder, "-q") == 0
    return folder


def test_train_writes_model_metrics_and_report(toy_run):
    for name in (
        "model.safetensors",
        "metrics.json",
        "report.html",
        "loss_curve.png",
        "decision_regions.png",
        "confusion_matrix.png",
        "reliability.png",
    ):
        assert (toy_run / name).is_file(), name
    assert not (toy_run / "checkpoint.safetensors").exists()
    metrics = json.loads((toy_run / "metrics.json").read_text())
    assert metrics["summary"]["test_accuracy"] >= 0.92
    assert len(metrics["history"]["train_loss"]) == len(metrics["history"]["epoch"]) > 0
    with Image.open(toy_run / "decision_regions.png") as picture:
        assert picture.size[0] > 400 and np.asarray(picture).std() > 0
    html = (toy_run / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in html and "toy" in html


def test_default_sgd_recipe_trains_toy(tmp_path, capsys):
    assert run_cli("train", "toy", "--out", tmp_path, "--no-report", "-q") == 0
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert summary["test_accuracy"] >= 0.88
    assert len(json.loads((tmp_path / "metrics.json").read_text())["history"]["epoch"]) == 25
    assert "accuracy" in capsys.readouterr().out


def test_evaluate_prints_accuracy_and_per_class_scores(toy_run, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert run_cli("evaluate", toy_run, "toy", "--json", out) == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed and "precision" in printed and "confusion" in printed
    scores = json.loads(out.read_text())
    trained = json.loads((toy_run / "metrics.json").read_text())["summary"]
    assert scores["accuracy"] == pytest.approx(trained["test_accuracy"])
    assert np.asarray(scores["confusion_matrix"]).sum() == 25


def test_predict_file_applies_the_stored_standardisation(toy_run, tmp_path):
    from softmaxreg import io
    from softmaxreg.datasets import load_toy

    X, _ = load_toy()
    source = tmp_path / "raw.csv"
    np.savetxt(source, X, delimiter=",", header="x1,x2", comments="")
    out = tmp_path / "preds.csv"
    assert run_cli("predict", toy_run, source, "--out", out, "--chunk-rows", "7") == 0
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    model = io.load(toy_run / "model.safetensors")
    data = load_dataset("toy")
    standardised = (X - np.asarray(data.preprocessing["shift"])) * np.asarray(
        data.preprocessing["scale"]
    )
    assert model.feature_names_in_.tolist() == ["x1", "x2"]  # the toy set's feature names
    expected = model.predict(pd.DataFrame(standardised, columns=model.feature_names_in_))
    assert [int(row["label"]) for row in rows] == expected.tolist()
    assert set(rows[0]) == {"label", "p_0", "p_1"}
    assert all(abs(float(r["p_0"]) + float(r["p_1"]) - 1) < 1e-9 for r in rows)


def test_predict_writes_json(toy_run, tmp_path):
    source = tmp_path / "raw.npy"
    np.save(source, np.array([[0.0, 0.0], [5.0, 5.0]]))
    out = tmp_path / "preds.json"
    assert run_cli("predict", toy_run, source, "--out", out) == 0
    written = json.loads(out.read_text())
    assert written["classes"] == [0, 1] and len(written["predictions"]) == 2


def test_export_writes_an_onnx_graph_that_runs(toy_run, tmp_path):
    import onnxruntime

    from softmaxreg import io

    target = tmp_path / "toy.onnx"
    assert run_cli("export", toy_run, "--onnx", target) == 0
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    X = np.array([[0.5, -1.0], [3.0, 2.0]], dtype=np.float32)
    labels, probabilities = session.run(None, {session.get_inputs()[0].name: X})
    model = io.load(toy_run / "model.safetensors")
    spec = model.preprocessing_
    standardised = (X - np.asarray(spec["shift"])) * np.asarray(spec["scale"])
    expected = model.predict_proba(pd.DataFrame(standardised, columns=model.feature_names_in_))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)


def test_export_dtype_option_gives_a_float64_graph(toy_run, tmp_path):
    import onnxruntime as ort

    from softmaxreg import io

    model = io.load(toy_run / "model.safetensors")
    spec = model.preprocessing_
    X = np.array([[0.5, -1.0], [3.0, 2.0], [1e6 + 0.1, -1e6]])
    prepared = (X - np.asarray(spec["shift"])) * np.asarray(spec["scale"])
    for dtype, expected_type in ((None, "tensor(float)"), ("float64", "tensor(double)")):
        target = tmp_path / f"{dtype}.onnx"
        option = [] if dtype is None else ["--dtype", dtype]
        assert run_cli("export", toy_run, "--onnx", target, *option) == 0
        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].type == expected_type  # the CLI trains in float32
    _, probabilities = session.run(None, {"X": X})  # the last session: the float64 graph
    # (the model's preprocessing rounds x' to float32, in the graph as in preprocessing.apply)
    with rows_in_feature_order():
        expected = model.predict_proba(prepared.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(probabilities, expected, rtol=1e-12, atol=1e-300)
    assert run_cli("export", toy_run, "--onnx", tmp_path / "x.onnx", "--dtype", "float16") != 0
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "no-such-set"], "unknown data set"),
        (["evaluate", "missing-run", "toy"], "no model at"),
        (["predict", "missing-run", "x.csv"], "no model at"),
    ],
)
def test_errors_exit_non_zero_with_a_message_on_stderr(args, message, capsys, tmp_path):
    assert run_cli(*args, *(["--out", tmp_path / "o"] if args[0] == "train" else [])) == 1
    captured = capsys.readouterr()
    assert message in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("option", [["--epochs", "0"], ["--lr", "-1"], ["--batch-size", "0"]])
def test_bad_numbers_are_usage_errors(option, capsys):
    assert run_cli("train", "toy", *option) == 2
    assert "must be > 0" in capsys.readouterr().err


def test_output_file_with_unknown_extension_is_refused_before_work(toy_run, tmp_path, capsys):
    source = tmp_path / "raw.npy"
    np.save(source, np.zeros((2, 2)))
    assert run_cli("predict", toy_run, source, "--out", tmp_path / "preds.xlsx") == 2
    assert ".csv, .json, .jsonl" in capsys.readouterr().err
    assert not (tmp_path / "preds.xlsx").exists()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    occupied = tmp_path / "taken"
    occupied.write_text("x")
    assert run_cli("train", "toy", "--out", occupied) == 1
    assert "is a file" in capsys.readouterr().err


def test_help_works_for_every_command(capsys):
    for command in ("train", "evaluate", "predict", "export", "serve", "shard"):
        assert run_cli(command, "--help") == 0
        assert "Usage" in capsys.readouterr().out


@pytest.mark.mnist
def test_train_mnist_default_is_the_lecture_model(tmp_path):
    folder = tmp_path / "mnist"
    assert run_cli("train", "mnist", "--out", folder, "-q") == 0
    written = json.loads((folder / "metrics.json").read_text())
    summary = written["summary"]
    assert summary["test_accuracy"] >= 0.92
    # the report's table shows the lecture's recipe as it ran (not "epochs None")
    used = written["hyperparameters"]
    assert (used["epochs"], used["epochs run"], used["batch_size"]) == (25, 25, 256)
    assert (used["learning_rate"], used["penalty"]) == (0.1, "none")
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert "<tr><td>epochs</td><td>25</td></tr>" in html
    for name, size in (("weight_templates.png", (1100, 500)), ("misclassified.png", None)):
        with Image.open(folder / name) as picture:
            assert size is None or picture.size == size
            assert np.asarray(picture).std() > 0

    # a real test digit written as a PNG (white digit on black, like MNIST) is predicted
    data = load_dataset("mnist")
    digit = (data.X_test[0].reshape(28, 28) * 255).astype(np.uint8)
    Image.fromarray(digit).resize((112, 112)).save(tmp_path / "seven.png")
    out = tmp_path / "digits.csv"
    assert run_cli("predict", folder, tmp_path / "seven.png", "--out", out) == 0
    with out.open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["file"] == "seven.png" and row["label"] == "7"


RUN_FILES = [
    "confusion_matrix.png",
    "confusion_matrix_normalized.png",
    "loss_curve.png",
    "metrics.json",
    "model.safetensors",
    "reliability.png",
    "report.html",
]


def test_shard_then_train_on_the_shards_equals_training_in_memory(tmp_path, capsys):
    """Training from shards writes the same run folder as in memory, with one held-out shard
    (seeded) scored in metrics.json, and the model of an in-memory fit on the other shards."""
    from softmaxreg import LogisticRegression, io
    from softmaxreg.datasets import Shards
    from softmaxreg.distributed.train import split_shards

    generator = np.random.default_rng(0)
    X = generator.normal(size=(900, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(y=y).to_csv(
        tmp_path / "data.csv", index=False
    )
    shards = tmp_path / "shards"
    args = ("shard", tmp_path / "data.csv", shards, "--rows-per-shard", "200")
    assert run_cli(*args, "--dtype", "float64") == 0
    assert len(list(shards.glob("*.X.npy"))) == 5 and (shards / "manifest.json").is_file()
    out = tmp_path / "run"
    fit = ("train", shards, "--solver", "lbfgs", "--C", "1", "--tol", "1e-10", "--dtype")
    assert run_cli(*fit, "float64", "--out", out, "-q") == 0
    assert "shards: labels from column 'y' (as the shards were written)" in capsys.readouterr().err
    assert sorted(path.name for path in out.iterdir()) == RUN_FILES

    training, held_out = split_shards(Shards(shards), None, seed=0)
    assert (training.n_shards, held_out.n_shards) == (4, 1)
    X_train, t_train = training.read_all()
    X_test, t_test = held_out.read_all()
    in_memory = LogisticRegression(C=1.0, solver="lbfgs", tol=1e-10, dtype="float64")
    in_memory.fit(X_train, t_train)
    sharded = io.load(out / "model.safetensors")
    np.testing.assert_allclose(sharded.coef_, in_memory.coef_, rtol=1e-6)
    assert sharded.feature_names_in_.tolist() == ["a", "b", "c", "d"]  # from the manifest
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert (summary["n_train"], summary["n_test"]) == (700, 200)
    assert summary["test_accuracy"] == in_memory.score(X_test, t_test)
    assert summary["train_accuracy"] == in_memory.score(X_train, t_train)

    more = tmp_path / "more"
    assert run_cli(*fit, "float64", "--validation", "0.4", "--out", more, "--no-report") == 0
    _, two_shards = split_shards(Shards(shards), 0.4, seed=0)  # round(0.4 * 5) = 2 shards
    assert two_shards.n_shards == 2
    held = json.loads((more / "metrics.json").read_text())["summary"]["n_test"]
    assert held == two_shards.n_rows


def test_one_shard_cannot_hold_out_a_part(tmp_path, capsys):
    np.save(tmp_path / "d.npy", np.column_stack([np.arange(20.0), np.arange(20) % 2]))
    assert run_cli("shard", tmp_path / "d.npy", tmp_path / "s", "--target", "-1") == 0
    capsys.readouterr()
    assert run_cli("train", tmp_path / "s", "--out", tmp_path / "run", "-q") == 1
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 's'} holds 1 shard, and a held-out part takes whole shards: write "
        "the shards with a smaller --rows-per-shard, or give --validation FILE\n"
    )


def test_distributed_outside_torchrun_says_how_to_start(tmp_path, capsys, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert run_cli("train", "toy", "--distributed", "--out", tmp_path / "run") == 1
    assert "torchrun --nproc-per-node" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # rank 0's folder goes with the failed run


def test_serve_refuses_a_missing_model_before_listening(tmp_path, capsys):
    assert run_cli("serve", tmp_path / "nothing-here", "--port", "8765") == 1
    assert "nothing-here" in capsys.readouterr().err
