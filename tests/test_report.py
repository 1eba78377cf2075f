"""softmaxreg.report: metrics agree with scikit-learn and hand counts, figures are real PNGs of
the documented size, the HTML page embeds every figure and escapes text, writes are atomic."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from sklearn.calibration import calibration_curve
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import classification_report, log_loss

from softmaxreg.errors import DataError
from softmaxreg.functional import softmax
from softmaxreg.report import (
    FIGURE_FILES,
    REPORT_FILE,
    accuracy,
    classification_metrics,
    confusion_matrix,
    confusion_matrix_figure,
    confusion_table,
    decision_regions_figure,
    linear_predict_indices,
    loss_curve_figure,
    misclassified_figure,
    misclassified_indices,
    normalize_confusion,
    per_class_table,
    reliability_bins,
    reliability_diagram_figure,
    render_report_html,
    summary_table,
    weight_templates_figure,
    write_report,
)
from softmaxreg.report import log_loss as report_log_loss

TOY_FILE = "stat453/toydata.txt"

# the lecture's worked example (section 6): 4 examples, 3 classes, true labels [0, 1, 2, 2]
LECTURE_Z = np.array(
    [[-0.30, -0.50, -0.50], [-0.40, -0.10, -0.50], [-0.30, -0.94, -0.50], [-0.99, -0.88, -0.50]]
)
LECTURE_Y = np.array([0, 1, 2, 2])


def png_facts(path: Path) -> tuple[tuple[int, int], float]:
    """(width, height) and grey-level variance of a PNG, after Pillow fully decodes it."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        grey = np.asarray(image.convert("L"), dtype=np.float64)
        return image.size, float(grey.var())


def assert_png(path: Path, size: tuple[int, int]) -> None:
    actual_size, variance = png_facts(path)
    assert actual_size == size
    assert variance > 0, f"{path.name} is blank"


def no_temporary_files(folder: Path) -> bool:
    return not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- metrics


def test_metrics_match_hand_counts_and_scikit_learn():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0, 2])
    metrics = classification_metrics(y_true, y_pred, class_names=["zero", "one", "two"])
    # counted by hand: class 0 TP 1 FP 1 FN 1; class 1 TP 2 FP 1 FN 0; class 2 TP 2 FP 0 FN 1
    assert metrics["accuracy"] == pytest.approx(5 / 7)
    assert [row["precision"] for row in metrics["per_class"]] == pytest.approx([1 / 2, 2 / 3, 1])
    assert [row["recall"] for row in metrics["per_class"]] == pytest.approx([1 / 2, 1, 2 / 3])
    assert [row["f1"] for row in metrics["per_class"]] == pytest.approx([1 / 2, 4 / 5, 4 / 5])
    assert [row["support"] for row in metrics["per_class"]] == [2, 2, 3]
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert [row["name"] for row in metrics["per_class"]] == ["zero", "one", "two"]
    reference = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    for key in ("precision", "recall", "f1-score"):
        ours = "f1" if key == "f1-score" else key
        assert metrics["macro_avg"][ours] == pytest.approx(reference["macro avg"][key])
        assert metrics["weighted_avg"][ours] == pytest.approx(reference["weighted avg"][key])
    assert accuracy(y_true, y_pred) == pytest.approx(5 / 7)
    assert confusion_matrix(y_true, y_pred).tolist() == metrics["confusion_matrix"]
    assert "log_loss" not in metrics
    assert json.loads(json.dumps(metrics)) == metrics


def test_log_loss_reproduces_the_lecture_numbers():
    proba = softmax(LECTURE_Z)
    metrics = classification_metrics(LECTURE_Y, proba=proba, classes=[0, 1, 2])
    # lecture: per-example cross-entropy [0.9698, 0.8801, 1.0527, 0.8314], mean 0.9335;
    # predicted labels [0, 1, 0, 2]
    assert metrics["log_loss"] == pytest.approx(0.9335, abs=5e-5)
    assert report_log_loss(LECTURE_Y, proba) == pytest.approx(log_loss(LECTURE_Y, proba))
    assert metrics["accuracy"] == pytest.approx(3 / 4)
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_string_labels_keep_their_class_order_and_serialise():
    classes = np.array(["setosa", "versicolor", "virginica"])
    y_true = np.array(["virginica", "setosa", "versicolor", "virginica"])
    proba = np.array([[0.1, 0.2, 0.7], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    metrics = classification_metrics(y_true, proba=proba, classes=classes)
    assert metrics["classes"] == ["setosa", "versicolor", "virginica"]
    assert metrics["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert metrics["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.3, 0.3])))
    json.dumps(metrics)
    named = classification_metrics(
        y_true, proba=proba, classes=classes, class_names={"setosa": "S", "virginica": "V"}
    )
    assert named["class_names"] == ["S", "versicolor", "V"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: classification_metrics([0, 1], [0]), "same length"),
        (lambda: classification_metrics([0, 3], [0, 1], classes=[0, 1]), r"not among the classes"),
        (lambda: classification_metrics([0, 1], proba=[[0.9, 0.3], [0.5, 0.5]]), "sum to 1"),
        (lambda: classification_metrics([0, 1], proba=[[1.0], [1.0]]), r"shape \(n_samples"),
        (lambda: classification_metrics([0, 1]), "give y_pred"),
        (lambda: classification_metrics([[0, 1]], [0, 1]), "1-D array"),
        (lambda: classification_metrics([0, 1], [0, 1], class_names=["a"]), "one per class"),
        (lambda: classification_metrics([0, 1], ["a", "b"], classes=[0, 1]), "y_pred has labels"),
    ],
)
def test_bad_metric_inputs_are_refused_with_a_reason(call, message):
    with pytest.raises(DataError, match=message):
        call()


def test_reliability_bins_agree_with_scikit_learn_calibration_curve():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p**1.5).astype(int)
    bins = reliability_bins(y, np.column_stack([1 - p, p]), n_bins=8)
    observed, predicted = calibration_curve(y, p, n_bins=8, strategy="uniform")
    filled = [v is not None for v in bins["observed"]]
    assert np.array([v for v in bins["observed"] if v is not None]) == pytest.approx(observed)
    assert np.array([v for v in bins["confidence"] if v is not None]) == pytest.approx(predicted)
    assert sum(bins["count"]) == 400
    counts = np.array(bins["count"])[filled]
    ece = np.sum(counts / 400 * np.abs(observed - predicted))
    assert bins["expected_calibration_error"] == pytest.approx(ece)
    assert bins["kind"] == "binary" and bins["positive_class"] == 1


def test_reliability_bins_of_string_labels_held_as_python_objects():
    """Labels in an object array (a CSV's strings) are Python objects, not NumPy scalars:
    the positive class is given as the string itself."""
    p = np.array([0.2, 0.7, 0.9, 0.4])
    y = np.array(["no", "yes", "yes", "no"], dtype=object)
    bins = reliability_bins(
        y, np.column_stack([1 - p, p]), n_bins=2, classes=np.array(["no", "yes"], dtype=object)
    )
    assert bins["kind"] == "binary" and bins["positive_class"] == "yes"
    assert bins["count"] == [2, 2]


def test_reliability_bins_top_label_counts_by_hand():
    proba = np.array([[0.9, 0.05, 0.05], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6], [0.1, 0.85, 0.05]])
    y = np.array([0, 1, 2, 2])  # correct, wrong, correct, wrong
    bins = reliability_bins(y, proba, n_bins=2)
    # confidences 0.9, 0.5, 0.6, 0.85 -> bin [0, .5]: {0.5 wrong}; (.5, 1]: {0.9, 0.6, 0.85}
    assert bins["kind"] == "top-label"
    assert bins["count"] == [1, 3]
    assert bins["observed"] == pytest.approx([0.0, 2 / 3])
    assert bins["confidence"] == pytest.approx([0.5, (0.9 + 0.6 + 0.85) / 3])
    expected = 1 / 4 * 0.5 + 3 / 4 * abs(2 / 3 - 2.35 / 3)
    assert bins["expected_calibration_error"] == pytest.approx(expected)


def test_normalize_confusion_rows_columns_and_all():
    counts = np.array([[3, 1], [0, 0]])
    assert normalize_confusion(counts, "true").tolist() == [[0.75, 0.25], [0.0, 0.0]]
    assert normalize_confusion(counts, "pred").tolist() == [[1.0, 1.0], [0.0, 0.0]]
    assert normalize_confusion(counts, "all").tolist() == [[0.75, 0.25], [0.0, 0.0]]
    with pytest.raises(DataError, match="normalize must be one of"):
        normalize_confusion(counts, "rows")


def test_rich_tables_show_the_numbers():
    metrics = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], class_names=["[cat]", "dog"])
    console = Console(record=True, width=120)
    console.print(
        summary_table(
            {"dataset": "toy", "train_accuracy": 0.9, "test_accuracy": 0.75, "fit_seconds": 1.5}
        )
    )
    console.print(per_class_table(metrics))
    console.print(confusion_table(metrics))
    text = console.export_text()
    assert "softmaxreg on toy" in text and "90.00%" in text and "75.00%" in text
    assert "1.50 s" in text
    assert "[cat]" in text  # a class name is text, never rich markup
    assert "0.6667" in text  # precision of "dog": 2 / 3
    with pytest.raises(DataError, match="missing keys"):
        per_class_table({"accuracy": 1.0})
    with pytest.raises(DataError, match="summary has none of"):
        summary_table({"dataset": "toy"})


# ---------------------------------------------------------------- figures


def test_loss_curve_png(tmp_path):
    path = loss_curve_figure(
        [0.9, 0.5, 0.4],
        tmp_path / "loss.png",
        test_loss=[1.0, 0.6, 0.5],
        train_accuracy=[0.7, 0.8, 0.9],
        test_accuracy=[0.6, 0.7, 0.8],
    )
    assert_png(path, (1000, 420))
    assert_png(loss_curve_figure([0.9, 0.5], tmp_path / "small.png", dpi=50), (500, 210))
    with pytest.raises(DataError, match="one per step"):
        loss_curve_figure([0.9, 0.5], tmp_path / "bad.png", test_loss=[1.0])
    with pytest.raises(DataError, match="NaN or inf"):
        loss_curve_figure([0.9, np.nan], tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


def test_weight_templates_png(tmp_path):
    rng = np.random.default_rng(1)
    coef = rng.normal(size=(10, 784))
    assert_png(weight_templates_figure(coef, tmp_path / "w.png"), (1100, 500))
    binary = weight_templates_figure(
        coef[:1, :64], tmp_path / "b.png", image_shape=(8, 8), class_names=["no", "yes"]
    )
    assert_png(binary, (300, 280))
    with pytest.raises(DataError, match="has 784 pixels but coef has 64"):
        weight_templates_figure(coef[:, :64], tmp_path / "x.png")


def test_confusion_matrix_png(tmp_path):
    counts = np.array([[50, 2, 0], [3, 40, 7], [0, 1, 60]])
    assert_png(confusion_matrix_figure(counts, tmp_path / "c.png"), (700, 600))
    normalised = confusion_matrix_figure(
        counts, tmp_path / "n.png", class_names=["a", "b", "c"], normalize="true"
    )
    assert_png(normalised, (700, 600))
    with pytest.raises(DataError, match="square"):
        confusion_matrix_figure(counts[:2], tmp_path / "x.png")


def test_misclassified_grid_png_and_order(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(30, 64))
    y_true = np.arange(30) % 3
    y_pred = y_true.copy()
    y_pred[[4, 9, 17]] = (y_true[[4, 9, 17]] + 1) % 3
    confidence = np.linspace(0.4, 0.9, 30)
    assert misclassified_indices(y_true, y_pred, confidence).tolist() == [17, 9, 4]
    assert misclassified_indices(y_true, y_pred).tolist() == [4, 9, 17]
    path = misclassified_figure(
        images,
        y_true,
        y_pred,
        tmp_path / "m.png",
        image_shape=(8, 8),
        confidence=confidence,
        max_images=10,
    )
    assert_png(path, (850, 440))
    none_wrong = misclassified_figure(
        images, y_true, y_true, tmp_path / "none.png", image_shape=(8, 8), max_images=10
    )
    assert_png(none_wrong, (850, 440))
    with pytest.raises(DataError, match=r"images must be \(n, 784\)"):
        misclassified_figure(images, y_true, y_pred, tmp_path / "x.png")


def toy_split(data_root: Path):
    table = np.loadtxt(data_root / TOY_FILE)
    X, y = table[:, :2], table[:, 2].astype(np.int64)
    order = np.random.RandomState(123).permutation(len(y))
    test, train = order[:25], order[25:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    return (X[train] - mean) / std, y[train], (X[test] - mean) / std, y[test]


@pytest.fixture(scope="module")
def data_root() -> Path:
    import os

    root = os.environ.get("SOFTMAXREG_DATA")
    if root and (Path(root) / TOY_FILE).exists():
        return Path(root)
    pytest.fail("set SOFTMAXREG_DATA to the folder holding stat453/toydata.txt")


def test_decision_regions_binary_toy_png(tmp_path, data_root):
    X_train, y_train, X_test, y_test = toy_split(data_root)
    model = SkLogisticRegression().fit(X_train, y_train)
    # the regions are the model's own predictions
    assert np.array_equal(
        linear_predict_indices(X_test, model.coef_, model.intercept_), model.predict(X_test)
    )
    both = decision_regions_figure(
        X_train,
        y_train,
        model.coef_,
        model.intercept_,
        tmp_path / "d.png",
        X_test=X_test,
        y_test=y_test,
        resolution=60,
    )
    assert_png(both, (1100, 500))
    one = decision_regions_figure(
        X_train, y_train, model.coef_, model.intercept_, tmp_path / "one.png", resolution=60
    )
    assert_png(one, (600, 500))
    with pytest.raises(DataError, match="2-D data only"):
        decision_regions_figure(
            np.ones((4, 3)), [0, 1, 0, 1], model.coef_, model.intercept_, tmp_path / "x.png"
        )


def test_decision_regions_multiclass_follow_argmax(tmp_path):
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    y = np.repeat([0, 1, 2], 20)
    X = centres[y] + rng.normal(scale=0.6, size=(60, 2))
    model = SkLogisticRegression().fit(X, y)
    assert np.array_equal(
        linear_predict_indices(X, model.coef_, model.intercept_), model.predict(X)
    )
    path = decision_regions_figure(
        X,
        y,
        model.coef_,
        model.intercept_,
        tmp_path / "r.png",
        class_names=["a", "b", "c"],
        resolution=60,
    )
    assert_png(path, (600, 500))


def test_reliability_diagram_png(tmp_path):
    proba = softmax(LECTURE_Z)
    assert_png(reliability_diagram_figure(LECTURE_Y, proba, tmp_path / "r.png"), (600, 650))


def test_figure_paths_are_checked_before_drawing(tmp_path):
    with pytest.raises(DataError, match="ending in .png"):
        confusion_matrix_figure([[1]], tmp_path / "c.jpg")
    with pytest.raises(DataError, match="does not exist"):
        confusion_matrix_figure([[1]], tmp_path / "missing" / "c.png")


def test_a_failed_render_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    path = confusion_matrix_figure([[2, 1], [0, 3]], tmp_path / "c.png")
    before = path.read_bytes()

    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="renderer failed"):
        confusion_matrix_figure([[9, 9], [9, 9]], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]


def test_figures_never_touch_pyplot():
    code = (
        "import sys, tempfile, pathlib\n"
        "from softmaxreg.report import confusion_matrix_figure\n"
        "folder = pathlib.Path(tempfile.mkdtemp())\n"
        "confusion_matrix_figure([[1, 2], [3, 4]], folder / 'c.png')\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- the report


@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    X_train, y_train, X_test, y_test = X[:600], y[:600], X[600:900], y[600:900]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SkLogisticRegression(max_iter=60).fit(X_train, y_train)
    folder = tmp_path_factory.mktemp("run") / "nested" / "report"
    names = [f"<{k}> & co" for k in range(10)]
    files = write_report(
        folder,
        dataset="digits <8x8>",
        y_test=y_test,
        test_proba=model.predict_proba(X_test),
        classes=model.classes_,
        class_names=names,
        summary={"train_accuracy": model.score(X_train, y_train), "fit_seconds": 0.25},
        history={
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.5, 0.3],
            "test_loss": [1.1, 0.6, 0.4],
            "train_accuracy": [0.8, 0.9, 0.95],
            "test_accuracy": [0.75, 0.85, 0.9],
        },
        coef=model.coef_,
        intercept=model.intercept_,
        X_test=X_test,
        image_shape=(8, 8),
        hyperparameters={"solver": "lbfgs", "C": 1.0, "note": "<script>alert(1)</script>"},
        timings={"fit": 0.25},
        model_description="softmax regression",
    )
    return files, model, X_test, y_test


def test_write_report_writes_every_image_figure(digits_report):
    files, model, X_test, y_test = digits_report
    folder = files.html.parent
    expected = {
        "loss_curve",
        "weight_templates",
        "confusion_matrix",
        "confusion_matrix_normalized",
        "misclassified",
        "reliability",
    }
    assert set(files.figures) == expected
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [FIGURE_FILES[name] for name in expected] + [REPORT_FILE]
    )
    assert no_temporary_files(folder)
    sizes = {
        "loss_curve": (1000, 420),
        "weight_templates": (1100, 500),
        "confusion_matrix": (700, 600),
        "confusion_matrix_normalized": (700, 600),
        "misclassified": (850, 1025),
        "reliability": (600, 650),
    }
    for name, path in files.figures.items():
        assert_png(path, sizes[name])
    assert files.metrics["accuracy"] == pytest.approx(model.score(X_test, y_test))
    assert files.metrics["log_loss"] == pytest.approx(log_loss(y_test, model.predict_proba(X_test)))


def test_report_html_embeds_every_figure_and_escapes_text(digits_report):
    files, *_ = digits_report
    page = files.html.read_text(encoding="utf-8")
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert sorted(base64.b64decode(data) for data in embedded) == sorted(
        path.read_bytes() for path in files.figures.values()
    )
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "digits &lt;8x8&gt;" in page
    for k in range(10):
        assert f"&lt;{k}&gt; &amp; co" in page and f"<{k}>" not in page
    assert "precision" in page and "recall" in page and "F1" in page
    assert f"{files.metrics['accuracy']:.2%}" in page


def test_write_report_on_the_toy_data_draws_decision_regions(tmp_path, data_root):
    X_train, y_train, X_test, y_test = toy_split(data_root)
    model = SkLogisticRegression().fit(X_train, y_train)
    files = write_report(
        tmp_path,
        dataset="toy",
        y_test=y_test,
        test_proba=model.predict_proba(X_test),
        classes=model.classes_,
        coef=model.coef_,
        intercept=model.intercept_,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        history={"objective": [30.0, 12.0, 9.5]},
        history_unit="iteration",
        dpi=40,
    )
    assert set(files.figures) == {
        "loss_curve",
        "confusion_matrix",
        "confusion_matrix_normalized",
        "decision_regions",
        "reliability",
    }
    assert_png(files.figures["decision_regions"], (440, 200))
    assert files.metrics["accuracy"] == pytest.approx(model.score(X_test, y_test))
    assert no_temporary_files(tmp_path)


def test_write_report_refuses_bad_inputs_before_writing(tmp_path):
    with pytest.raises(DataError, match="sum to 1"):
        write_report(
            tmp_path / "run",
            dataset="x",
            y_test=[0, 1],
            test_proba=[[0.5, 0.6], [0.5, 0.5]],
            classes=[0, 1],
        )
    assert not (tmp_path / "run").exists()
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(DataError, match="is a file"):
        write_report(
            a_file,
            dataset="x",
            y_test=[0, 1],
            test_proba=[[1.0, 0.0], [0.0, 1.0]],
            classes=[0, 1],
        )


def test_render_report_html_without_summary_shows_test_metrics(tmp_path):
    path = confusion_matrix_figure([[1, 0], [1, 2]], tmp_path / "c.png")
    metrics = classification_metrics([0, 1, 1, 1], [0, 0, 1, 1])
    page = render_report_html(
        title="t & t", dataset="d", figures={"confusion <matrix>": path}, metrics=metrics
    )
    assert "<title>t &amp; t</title>" in page
    assert "75.00%" in page and "confusion &lt;matrix&gt;" in page
