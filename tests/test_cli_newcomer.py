"""The command line as a newcomer meets it (issue 15): no silent guesses about the label
column, names kept (features and classes), the values used in the report, plain progress
lines in logs, help text that reads well."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from fastapi.testclient import TestClient

from softmaxreg import io
from softmaxreg.serve import create_app

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pixels_csv(path, with_label: bool):
    """The digits set's 8x8 pixels as named columns, optionally with a 'label' column."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    frame = pd.DataFrame(
        digits.data[:300], columns=[f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    )
    if with_label:
        frame["label"] = digits.target[:300]
    frame.to_csv(path, index=False)
    return path


def test_a_csv_without_a_label_column_is_refused_with_the_candidates(tmp_path, capsys):
    source = _pixels_csv(tmp_path / "pixels.csv", with_label=False)
    assert run_cli("train", source, "--out", tmp_path / "run", "-q") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err == (
        f"error: {source} has no column named label, target, y or class; candidates (64): "
        "'pixel_0_0', 'pixel_0_1', 'pixel_0_2', 'pixel_0_3', 'pixel_0_4', 'pixel_0_5', ..., "
        "'pixel_7_2', 'pixel_7_3', 'pixel_7_4', 'pixel_7_5', 'pixel_7_6', 'pixel_7_7'; name it "
        "with --target (target= in Python): a column name, or an index such as -1 for the last "
        "column\n"
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.fixture(scope="module")
def pixels_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pixels")
    source = _pixels_csv(folder / "pixels.csv", with_label=True)
    assert run_cli("train", source, "--solver", "lbfgs", "--out", folder / "run", "-q") == 0
    return folder / "run"


def test_the_label_column_used_is_printed(tmp_path, capsys):
    source = _pixels_csv(tmp_path / "pixels.csv", with_label=True)
    args = ("train", source, "--epochs", "1", "--no-report", "-q")
    assert run_cli(*args, "--out", tmp_path / "a") == 0
    assert (
        "pixels.csv: labels from column 'label' (named label/target/y/class; --target "
        "picks another)" in capsys.readouterr().err
    )
    assert run_cli(*args, "--target", "label", "--out", tmp_path / "b") == 0
    assert "pixels.csv: labels from column 'label' (--target)" in capsys.readouterr().err


def test_csv_feature_names_are_kept_and_predict_takes_named_rows(pixels_run):
    model = io.load(pixels_run / "model.safetensors")
    assert model.feature_names_in_.tolist() == [
        f"pixel_{r}_{c}" for r in range(8) for c in range(8)
    ]
    client = TestClient(create_app(pixels_run), raise_server_exceptions=False)
    row = {f"pixel_{r}_{c}": 0.0 for r in range(8) for c in range(8)}
    row["pixel_3_4"] = 16.0
    named = client.post("/predict", json={"instances": [row]})
    plain = client.post("/predict", json={"instances": [list(row.values())]})
    assert named.status_code == 200, named.text
    assert named.json() == plain.json()
    assert client.get("/model").json()["feature_names"][:2] == ["pixel_0_0", "pixel_0_1"]


def test_parquet_feature_names_are_kept(tmp_path):
    frame = pd.DataFrame({"width": [1.0, 2.0, 3.0, 4.0] * 5, "height": [4.0, 3.0, 1.0, 0.5] * 5})
    frame["class"] = ["narrow", "narrow", "wide", "wide"] * 5
    frame.to_parquet(tmp_path / "shapes.parquet")
    out = tmp_path / "run"
    assert (
        run_cli(
            "train",
            tmp_path / "shapes.parquet",
            "--solver",
            "lbfgs",
            "--out",
            out,
            "--no-report",
            "-q",
        )
        == 0
    )
    model = io.load(out / "model.safetensors")
    assert model.feature_names_in_.tolist() == ["width", "height"]
    assert model.classes_.tolist() == ["narrow", "wide"]


@pytest.mark.parametrize(
    ("name", "classes"),
    [
        ("iris", ["Iris-setosa", "Iris-versicolor", "Iris-virginica"]),
        ("wine", ["class_0", "class_1", "class_2"]),
        ("breast_cancer", ["benign", "malignant"]),
        ("digits", list(range(10))),
        ("toy", [0, 1]),
    ],
)
def test_named_sets_keep_their_class_names(name, classes, tmp_path, capsys):
    out = tmp_path / name
    assert run_cli("train", name, "--epochs", "2", "--out", out, "--no-report", "-q") == 0
    model = io.load(out / "model.safetensors")
    assert model.classes_.tolist() == classes
    capsys.readouterr()
    assert run_cli("evaluate", out, name) == 0  # evaluate names the labels the same way
    assert "accuracy" in capsys.readouterr().out


def test_iris_server_answers_with_the_species_name(tmp_path):
    out = tmp_path / "iris"
    assert run_cli("train", "iris", "--solver", "lbfgs", "--C", "1", "--out", out, "-q") == 0
    client = TestClient(create_app(out), raise_server_exceptions=False)
    answer = client.post(
        "/predict", json={"instances": [{"sepal width (cm)": 2.8, "petal width (cm)": 1.3}]}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == "Iris-versicolor"


def test_report_table_shows_the_hyper_parameters_used(tmp_path):
    out = tmp_path / "toy"
    assert run_cli("train", "toy", "--out", out, "-q") == 0  # the lecture's sgd recipe
    used = json.loads((out / "metrics.json").read_text())["hyperparameters"]
    assert used == {
        "solver": "sgd",
        "epochs": 25,
        "epochs run": 25,
        "batch_size": 256,
        "learning_rate": 0.1,
        "penalty": "none",
        "tol": "none (every epoch runs)",
        "multi_class": "auto (binary)",
        "random_state": 0,
        "device": "cpu",
        "dtype": "float32",
    }
    html = (out / "report.html").read_text(encoding="utf-8")
    table = html[html.index("<h2>hyper-parameters</h2>") :]
    table = table[: table.index("</table>")]
    assert "<tr><td>epochs</td><td>25</td></tr>" in table
    assert "<tr><td>tol</td><td>none (every epoch runs)</td></tr>" in table
    assert "None" not in table


def test_log_output_is_one_plain_line_per_epoch(tmp_path, capsys):
    assert run_cli("train", "toy", "--epochs", "4", "--out", tmp_path / "a", "--no-report") == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 4
    for k, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"epoch {k}/4  loss \d\.\d{{4}}  train acc \d+\.\d\d%  test acc \d+\.\d\d%  "
            r"\d+\.\d s",
            line,
        ), line


def test_full_batch_log_has_the_first_and_last_iteration(tmp_path, capsys):
    out = tmp_path / "b"
    assert run_cli("train", "toy", "--solver", "lbfgs", "--out", out, "--no-report") == 0
    lines = capsys.readouterr().err.splitlines()
    n_iter = json.loads((out / "metrics.json").read_text())["hyperparameters"]["iterations run"]
    assert lines[0].startswith("iteration 1/1000  loss ")
    assert lines[-1].startswith(f"iteration {n_iter}/1000  loss ")
    # in between, at most one line per 5 s: far fewer lines than iterations
    assert len(lines) < n_iter and all(line.startswith("iteration ") for line in lines)


def test_evaluate_mnist_needs_only_the_test_files(tmp_path, monkeypatch, capsys):
    from softmaxreg import LogisticRegression
    from softmaxreg.datasets import load_mnist
    from softmaxreg.datasets.mnist import find_mnist_folder

    folder = find_mnist_folder("test")
    if folder is None:
        pytest.skip("MNIST test files not found (set SOFTMAXREG_DATA)")
    only_test = tmp_path / "data" / "mnist"
    only_test.mkdir(parents=True)
    for path in folder.iterdir():
        if path.name.startswith("t10k"):
            shutil.copy(path, only_test / path.name)
    monkeypatch.setenv("SOFTMAXREG_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("SOFTMAXREG_CACHE", str(tmp_path / "cache"))
    X, y = load_mnist("test")
    model = LogisticRegression(solver="sgd", max_iter=2, tol=None).fit(X[:500] / 255.0, y[:500])
    (tmp_path / "run").mkdir()
    io.save(
        model,
        tmp_path / "run" / "model.safetensors",
        preprocessing={"shift": 0.0, "scale": 1 / 255},
    )
    assert run_cli("evaluate", tmp_path / "run", "mnist") == 0
    printed = capsys.readouterr().out
    expected = float(np.mean(model.predict(X / 255.0) == y))
    assert f"mnist: accuracy {expected:.2%}" in printed and "(10000 rows)" in printed


def test_evaluate_on_a_mismatched_set_names_model_and_data(tmp_path, capsys):
    out = tmp_path / "iris"
    assert run_cli("train", "iris", "--solver", "lbfgs", "--out", out, "--no-report", "-q") == 0
    capsys.readouterr()
    assert run_cli("evaluate", out, "digits") == 1
    assert capsys.readouterr().err == (
        f"error: the model '{out}' takes 2 features; the data set 'digits' has 64: evaluate "
        "a model on data like its training data\n"
    )
    assert run_cli("evaluate", out, "toy") == 1
    assert capsys.readouterr().err == (
        f"error: the data set 'toy' has labels the model '{out}' never saw: [0, 1]; its "
        "classes are ['Iris-setosa', 'Iris-versicolor', 'Iris-virginica']\n"
    )


COMMANDS = ("train", "evaluate", "predict", "export", "serve", "shard", "bench")


def test_help_fits_80_columns_and_reads_well(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    for command in ((), *((name,) for name in COMMANDS)):
        assert run_cli(*command, "--help") == 0
        text = capsys.readouterr().out
        assert text.startswith("Usage: softmaxreg"), command
        too_wide = [line for line in text.splitlines() if len(line) > 80]
        assert too_wide == [], (command, too_wide)
        assert "<bool>" not in text and not re.search(r"\w \.(\s|$)", text), (command, text)
    assert run_cli("train", "--help") == 0
    train_help = " ".join(capsys.readouterr().out.split())
    assert (
        "--out <path> Run folder for model, metrics and report. [default: (runs/DATASET)]"
        in train_help
    )
    assert "--report / --no-report Write the pictures and report.html." in train_help


def test_top_level_help_lists_each_command_on_one_line(capsys):
    assert run_cli("--help") == 0
    listed = capsys.readouterr().out.split("Commands:\n")[1].splitlines()
    assert [line.split()[0] for line in listed] == sorted(COMMANDS)
    assert not any(line.endswith("...") for line in listed)


def test_validation_fraction_or_file_for_files(tmp_path, capsys):
    source = _pixels_csv(tmp_path / "pixels.csv", with_label=True)  # 300 rows
    args = ("train", source, "--epochs", "1", "--no-report", "-q")
    assert run_cli(*args, "--validation", "0.2", "--out", tmp_path / "a") == 0
    summary = json.loads((tmp_path / "a" / "metrics.json").read_text())["summary"]
    assert (summary["n_train"], summary["n_test"]) == (240, 60)
    held_out = tmp_path / "held_out.csv"
    pd.read_csv(source).head(50).to_csv(held_out, index=False)
    assert run_cli(*args, "--validation", held_out, "--out", tmp_path / "b") == 0
    summary = json.loads((tmp_path / "b" / "metrics.json").read_text())["summary"]
    assert (summary["n_train"], summary["n_test"]) == (300, 50)
    capsys.readouterr()
    assert run_cli(*args, "--validation", "1.5", "--out", tmp_path / "c") == 2  # usage error
    assert capsys.readouterr().err.splitlines()[-1].strip("│ ") == (
        "Error: Invalid value for --validation: a fraction must lie in (0, 1), e.g. 0.2; got 1.5"
    )
    assert run_cli("train", "iris", "--validation", "0.2", "--out", tmp_path / "d") == 1
    assert capsys.readouterr().err == (
        "error: iris has its own test split; --validation is for files, shards and the sets "
        "split at random (digits, breast_cancer, wine)\n"
    )
