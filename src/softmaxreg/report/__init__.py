"""Metrics and pictures of a fitted classifier, from plain arrays (no estimator needed).

- metrics: :func:`classification_metrics` (JSON-ready dict), :func:`accuracy`,
  :func:`log_loss`, :func:`confusion_matrix`, :func:`reliability_bins`;
- rich tables for the CLI: :func:`summary_table`, :func:`per_class_table`,
  :func:`confusion_table`;
- figures, each ``(arrays..., path) -> path`` writing one PNG atomically:
  :func:`loss_curve_figure`, :func:`weight_templates_figure`, :func:`confusion_matrix_figure`,
  :func:`misclassified_figure`, :func:`decision_regions_figure`,
  :func:`reliability_diagram_figure`, :func:`coefficient_figure`;
- the page: :func:`render_report_html`, :func:`write_html`, and :func:`write_report`, which
  writes every figure and ``report.html`` of a training run.

The submodules import matplotlib only when a figure is asked for.
"""

from __future__ import annotations

from softmaxreg._lazy import lazy_exports

_EXPORTS = {
    "accuracy": "metrics",
    "log_loss": "metrics",
    "confusion_matrix": "metrics",
    "classification_metrics": "metrics",
    "reliability_bins": "calibration",
    "summary_table": "tables",
    "per_class_table": "tables",
    "confusion_table": "tables",
    "loss_curve_figure": "loss_curve",
    "weight_templates_figure": "weight_templates",
    "confusion_matrix_figure": "confusion_figure",
    "normalize_confusion": "confusion_figure",
    "misclassified_figure": "misclassified",
    "misclassified_indices": "misclassified",
    "decision_regions_figure": "decision_regions",
    "linear_predict_indices": "decision_regions",
    "reliability_diagram_figure": "reliability_diagram",
    "coefficient_figure": "coefficients",
    "render_report_html": "html",
    "write_html": "html",
    "png_data_uri": "html",
    "write_report": "write",
    "ReportFiles": "write",
    "REPORT_FILE": "file_names",
    "FIGURE_FILES": "file_names",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"{__name__}.{module}" for name, module in _EXPORTS.items()}
)
