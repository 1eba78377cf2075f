"""rich tables for the command line: the run summary, the per-class scores, the confusion matrix.

Each function returns a :class:`rich.table.Table`; the caller prints it with its own console
(``console.print(summary_table(summary))``), so nothing here writes to the terminal.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.markup import escape
from rich.table import Table

from softmaxreg.errors import DataError


def summary_table(summary: Mapping, *, title: str | None = None) -> Table:
    """Train / test accuracy ``1/n sum_i 1[y_hat_i = y_i]``, log loss ``-1/n sum_i log a_{y_i}``,
    rows and fit time of a run.

    ``summary`` keys (all optional except at least one of them): ``train_accuracy``,
    ``test_accuracy``, ``train_log_loss``, ``test_log_loss``, ``n_train``, ``n_test``,
    ``fit_seconds``, ``dataset`` (used in the default title) -- the dict the CLI stores in
    metrics.json.
    """
    rows = [
        ("accuracy", "train_accuracy", "test_accuracy", _percent),
        ("log loss", "train_log_loss", "test_log_loss", _decimal),
        ("rows", "n_train", "n_test", _integer),
    ]
    present = [row for row in rows if row[1] in summary or row[2] in summary]
    if not present and "fit_seconds" not in summary:
        raise DataError(
            "summary has none of train_accuracy, test_accuracy, train_log_loss, test_log_loss, "
            f"n_train, n_test, fit_seconds; got keys {sorted(summary)}"
        )
    dataset = summary.get("dataset")
    default_title = f"softmaxreg on {escape(str(dataset))}" if dataset else "softmaxreg"
    table = Table(title=title or default_title)
    table.add_column("")
    table.add_column("train", justify="right")
    table.add_column("test", justify="right")
    for label, train_key, test_key, show in present:
        table.add_row(label, show(summary.get(train_key)), show(summary.get(test_key)))
    if "fit_seconds" in summary:
        table.add_row("fit time", f"{float(summary['fit_seconds']):.2f} s", "")
    return table


def per_class_table(metrics: Mapping, *, title: str = "per class (test)") -> Table:
    """Precision ``TP/(TP+FP)``, recall ``TP/(TP+FN)``, F1 and support of every class, then
    the macro and support-weighted averages and the accuracy.

    ``metrics`` is the dict of :func:`softmaxreg.report.classification_metrics`.
    """
    _require(metrics, ("per_class", "accuracy"), "per_class_table")
    table = Table(title=title)
    table.add_column("class")
    for column in ("precision", "recall", "F1", "support"):
        table.add_column(column, justify="right")
    for row in metrics["per_class"]:
        table.add_row(escape(str(row["name"])), *_scores(row))
    table.add_section()
    for label, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        if key in metrics:
            table.add_row(label, *_scores(metrics[key]))
    table.add_row("accuracy", "", "", _percent(metrics["accuracy"]), str(metrics["n_samples"]))
    return table


def confusion_table(metrics: Mapping, *, title: str = "confusion matrix (rows: true)") -> Table:
    """The counts ``C[j, k] = #{i : y_i = j, y_hat_i = k}``; rows true class, columns predicted.

    ``metrics`` is the dict of :func:`softmaxreg.report.classification_metrics`.
    """
    _require(metrics, ("confusion_matrix", "class_names"), "confusion_table")
    names = [str(name) for name in metrics["class_names"]]
    table = Table(title=title)
    table.add_column("true \\ pred")
    for name in names:
        table.add_column(escape(name), justify="right")
    for j, (name, row) in enumerate(zip(names, metrics["confusion_matrix"], strict=True)):
        cells = [f"[bold]{count}[/bold]" if k == j else str(count) for k, count in enumerate(row)]
        table.add_row(escape(name), *cells)
    return table


def _scores(row: Mapping) -> list[str]:
    return [
        f"{row['precision']:.4f}",
        f"{row['recall']:.4f}",
        f"{row['f1']:.4f}",
        str(row["support"]),
    ]


def _require(metrics: Mapping, keys: tuple[str, ...], caller: str) -> None:
    missing = [key for key in keys if key not in metrics]
    if missing:
        raise DataError(
            f"{caller} needs the dict of classification_metrics(); missing keys {missing}"
        )


def _percent(value) -> str:
    return "" if value is None else f"{float(value):.2%}"


def _decimal(value) -> str:
    return "" if value is None else f"{float(value):.4f}"


def _integer(value) -> str:
    return "" if value is None else str(int(value))
