"""The one-page HTML report: metrics tables and every figure, in a single self-contained file.

Figures are embedded as base64 ``data:image/png`` URIs, so the one .html file can be mailed or
moved alone (the PNG files are written beside it too). Every piece of text that comes from
outside (dataset, class names, hyper-parameters) is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path

from softmaxreg._atomic import atomic_write
from softmaxreg.errors import DataError

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1150px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f3f7; } tr.average td { background: #fafafa; font-style: italic; }
.tables { display: flex; flex-wrap: wrap; gap: 2.5em; align-items: flex-start; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.95em; }
footer { color: #888; font-size: 0.85em; margin-top: 3em; }
"""

SUMMARY_ROWS = (
    ("accuracy", "train_accuracy", "test_accuracy", "percent"),
    ("log loss", "train_log_loss", "test_log_loss", "decimal"),
    ("rows", "n_train", "n_test", "integer"),
)


def png_data_uri(path) -> str:
    """``data:image/png;base64,...`` for the PNG file at ``path``."""
    data = Path(path).read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise DataError(f"{str(path)!r} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_report_html(
    *,
    title: str,
    dataset: str,
    figures: Mapping[str, str | Path],
    metrics: Mapping | None = None,
    summary: Mapping | None = None,
    hyperparameters: Mapping | None = None,
    timings: Mapping[str, float] | None = None,
    model_description: str = "",
    captions: Mapping[str, str] | None = None,
) -> str:
    """The report page as one HTML string.

    ``figures`` maps a heading to a PNG file (embedded, in the given order); ``captions``
    adds a sentence under a figure; ``metrics`` is the dict of ``classification_metrics``
    (per-class precision ``TP/(TP+FP)``, recall ``TP/(TP+FN)``, F1, support);
    ``summary`` holds train/test accuracy and log loss, rows and ``fit_seconds``;
    ``hyperparameters`` and ``timings`` (seconds) are shown as name/value tables.
    """
    from softmaxreg import __version__

    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="subtitle">data set: <strong>{esc(dataset)}</strong>'
        + (f" &middot; model: {esc(model_description)}" if model_description else "")
        + "</p>",
        '<div class="tables">',
    ]
    if summary:
        parts.append(_summary_table(summary))
    elif metrics:
        parts.append(_name_value_table("test metrics", _metric_values(metrics)))
    if hyperparameters:
        parts.append(_name_value_table("hyper-parameters", hyperparameters))
    if timings:
        parts.append(
            _name_value_table("timings", {k: f"{float(v):.3f} s" for k, v in timings.items()})
        )
    parts.append("</div>")
    if metrics and "per_class" in metrics:
        parts.append(_per_class_table(metrics))
    for heading, path in figures.items():
        caption = (captions or {}).get(heading, "")
        parts.append(
            f'<figure id="{esc(_anchor(heading))}"><h2>{esc(heading)}</h2>'
            f'<img src="{png_data_uri(path)}" alt="{esc(heading)}">'
            + (f"<figcaption>{esc(caption)}</figcaption>" if caption else "")
            + "</figure>"
        )
    parts.append(f"<footer>written by softmaxreg {esc(__version__)}</footer></body></html>")
    return "\n".join(parts) + "\n"


def write_html(path, text: str) -> Path:
    """Write the page atomically (UTF-8) to ``path``; returns the path."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(path)


def _summary_table(summary: Mapping) -> str:
    rows = []
    for label, train_key, test_key, kind in SUMMARY_ROWS:
        if train_key in summary or test_key in summary:
            rows.append(
                f"<tr><td>{label}</td><td>{_format(summary.get(train_key), kind)}</td>"
                f"<td>{_format(summary.get(test_key), kind)}</td></tr>"
            )
    if "fit_seconds" in summary:
        rows.append(
            f"<tr><td>fit time</td><td>{float(summary['fit_seconds']):.2f} s</td><td></td></tr>"
        )
    return (
        "<section><h2>summary</h2><table><thead><tr><th></th><th>train</th><th>test</th></tr>"
        "</thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


def _metric_values(metrics: Mapping) -> dict:
    values = {"accuracy": f"{metrics['accuracy']:.2%}", "samples": metrics.get("n_samples", "")}
    if "log_loss" in metrics:
        values["log loss"] = f"{metrics['log_loss']:.4f}"
    return values


def _name_value_table(heading: str, values: Mapping) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(str(name))}</td><td>{esc(_plain(value))}</td></tr>"
        for name, value in values.items()
    )
    return f"<section><h2>{esc(heading)}</h2><table><tbody>{rows}</tbody></table></section>"


def _per_class_table(metrics: Mapping) -> str:
    esc = html.escape
    head = (
        "<thead><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
        "<th>support</th></tr></thead>"
    )
    rows = [
        f"<tr><td>{esc(str(row['name']))}</td>{_score_cells(row)}</tr>"
        for row in metrics["per_class"]
    ]
    for label, key in (("macro avg", "macro_avg"), ("weighted avg", "weighted_avg")):
        if key in metrics:
            rows.append(f'<tr class="average"><td>{label}</td>{_score_cells(metrics[key])}</tr>')
    extra = f"accuracy {metrics['accuracy']:.2%}"
    if "log_loss" in metrics:
        extra += f", log loss {metrics['log_loss']:.4f}"
    return (
        f"<section><h2>per class (test, {esc(extra)})</h2><table>{head}<tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _score_cells(row: Mapping) -> str:
    return (
        f"<td>{row['precision']:.4f}</td><td>{row['recall']:.4f}</td>"
        f"<td>{row['f1']:.4f}</td><td>{int(row['support'])}</td>"
    )


def _format(value, kind: str) -> str:
    if value is None:
        return ""
    if kind == "percent":
        return f"{float(value):.2%}"
    if kind == "decimal":
        return f"{float(value):.4f}"
    return str(int(value))


def _plain(value) -> str:
    if isinstance(value, float) and math.isfinite(value) and len(repr(value)) > 10:
        return f"{value:.6g}"
    return str(value)


def _anchor(heading: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in heading.lower()).strip("-")
