"""``write_report``: every picture and the HTML page of one training run, from arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from softmaxreg.errors import DataError
from softmaxreg.report._canvas import DEFAULT_DPI
from softmaxreg.report._checks import as_class_names, as_classes, as_labels, as_probabilities
from softmaxreg.report.coefficients import coefficient_figure
from softmaxreg.report.confusion_figure import confusion_matrix_figure
from softmaxreg.report.decision_regions import decision_regions_figure
from softmaxreg.report.file_names import FIGURE_FILES, REPORT_FILE
from softmaxreg.report.html import render_report_html, write_html
from softmaxreg.report.loss_curve import loss_curve_figure
from softmaxreg.report.metrics import classification_metrics
from softmaxreg.report.misclassified import misclassified_figure
from softmaxreg.report.reliability_diagram import reliability_diagram_figure
from softmaxreg.report.weight_templates import weight_templates_figure

OBJECTIVE_LABEL = "objective (negative log-likelihood + penalty)"
HEADINGS = {
    "loss_curve": "loss curve",
    "weight_templates": "learned weight templates",
    "confusion_matrix": "confusion matrix (test)",
    "confusion_matrix_normalized": "confusion matrix, rows normalised (recall on the diagonal)",
    "misclassified": "misclassified test samples",
    "decision_regions": "decision regions",
    "reliability": "reliability diagram (test)",
    "coefficients": "coefficients with confidence intervals",
}
CAPTIONS = {
    "loss_curve": "The loss after each step: the mean cross-entropy -1/n sum_i log a_{y_i} "
    "(train and test), or the solver's objective.",
    "weight_templates": "Each class's weights w_k reshaped to the image: red pixels raise the "
    "score z_k = w_k^T x + b_k, blue ones lower it; one colour scale centred at 0.",
    "confusion_matrix": "Rows: true class, columns: predicted class; counts of test samples.",
    "confusion_matrix_normalized": "Each row divided by its total, in percent.",
    "misclassified": "The test samples the model gets most confidently wrong.",
    "decision_regions": "The plane coloured by the predicted class of z = W x + b.",
    "reliability": "Observed frequency against predicted probability per bin; the diagonal "
    "is perfect calibration.",
    "coefficients": "Each coefficient with its Wald interval (softmaxreg.inference on the "
    "training part; multinomial: log odds against the reference class); red intervals exclude 0.",
}


@dataclass(frozen=True)
class ReportFiles:
    """What :func:`write_report` wrote: the page, each figure by name, the test metrics."""

    html: Path
    figures: dict[str, Path] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def write_report(
    out_dir,
    *,
    dataset: str,
    y_test,
    test_proba,
    classes,
    class_names=None,
    summary: Mapping | None = None,
    history: Mapping | None = None,
    history_unit: str = "epoch",
    coef=None,
    intercept=None,
    X_test=None,
    X_train=None,
    y_train=None,
    image_shape: tuple[int, int] | None = None,
    feature_names=None,
    coefficient_intervals: Mapping | None = None,
    hyperparameters: Mapping | None = None,
    timings: Mapping[str, float] | None = None,
    model_description: str = "",
    title: str | None = None,
    dpi: int = DEFAULT_DPI,
) -> ReportFiles:
    """Write the PNG figures and ``report.html`` of a fitted model into ``out_dir``.

    Test metrics (accuracy ``1/n sum_i 1[y_hat_i = y_i]``, log loss ``-1/n sum_i log a_{y_i}``,
    per-class precision / recall / F1, confusion matrix) are computed from ``y_test`` and
    ``test_proba`` (the (n, K) ``predict_proba`` of the test part, columns in the order of
    ``classes``), with ``y_hat_i = classes[argmax_k test_proba[i, k]]``. ``class_names``: one
    display name per class, or a mapping label -> name (e.g. ``dict(enumerate(names))``).
    Figures written when their inputs are given:

    - always: confusion_matrix.png, confusion_matrix_normalized.png, reliability.png;
    - ``history`` (``EpochHistory.as_dict()``: "epoch", "train_loss", "test_loss",
      "train_accuracy", "test_accuracy"; missing or empty lists are skipped; with no
      "train_loss", its "objective" list, e.g. an estimator's ``loss_history_``): loss_curve.png;
    - ``coef`` (K x m) and ``image_shape`` (rows, cols) with rows*cols = m:
      weight_templates.png;
    - ``X_test`` and ``image_shape``: misclassified.png;
    - ``coef``, ``intercept`` and 2 features, with ``X_train, y_train`` (and the test part):
      decision_regions.png;
    - ``coefficient_intervals`` (the keyword arguments of ``coefficient_figure``: "coef",
      "lower", "upper" (E x p), "parameter_names", optional "class_names" and "level"):
      coefficients.png.

    ``summary`` (train/test accuracy and log loss, n_train, n_test, fit_seconds),
    ``hyperparameters`` and ``timings`` (name -> seconds) are shown as tables. ``out_dir`` is
    created when missing; every file is written atomically. Returns :class:`ReportFiles`.
    """
    truth = as_labels(y_test, "y_test")
    class_labels = as_classes(classes, [truth])
    probabilities = as_probabilities(test_proba, truth.size, class_labels.size, "test_proba")
    names = as_class_names(class_names, class_labels)
    folder = Path(out_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise DataError(f"out_dir {str(folder)!r} is a file; give a folder for the report")
    folder.mkdir(parents=True, exist_ok=True)

    metrics = classification_metrics(
        truth, proba=probabilities, classes=class_labels, class_names=names
    )
    predicted = class_labels[np.argmax(probabilities, axis=1)]
    figures: dict[str, Path] = {}

    def target(name: str) -> Path:
        return folder / FIGURE_FILES[name]

    train_loss = list((history or {}).get("train_loss") or [])
    objective = list((history or {}).get("objective") or [])
    if train_loss:
        figures["loss_curve"] = loss_curve_figure(
            train_loss,
            target("loss_curve"),
            test_loss=_optional_series(history, "test_loss"),
            epochs=_optional_series(history, "epoch"),
            train_accuracy=_optional_series(history, "train_accuracy"),
            test_accuracy=_optional_series(history, "test_accuracy"),
            unit=history_unit,
            dpi=dpi,
        )
    elif objective:
        figures["loss_curve"] = loss_curve_figure(
            objective,
            target("loss_curve"),
            epochs=_optional_series(history, "epoch"),
            unit=history_unit,
            loss_label=OBJECTIVE_LABEL,
            dpi=dpi,
        )
    is_image = image_shape is not None
    if coef is not None and is_image:
        figures["weight_templates"] = weight_templates_figure(
            coef, target("weight_templates"), image_shape=image_shape, class_names=names, dpi=dpi
        )
    figures["confusion_matrix"] = confusion_matrix_figure(
        metrics["confusion_matrix"], target("confusion_matrix"), class_names=names, dpi=dpi
    )
    figures["confusion_matrix_normalized"] = confusion_matrix_figure(
        metrics["confusion_matrix"],
        target("confusion_matrix_normalized"),
        class_names=names,
        normalize="true",
        dpi=dpi,
    )
    if X_test is not None and is_image:
        label_names = dict(zip(class_labels.tolist(), names, strict=True))
        figures["misclassified"] = misclassified_figure(
            X_test,
            truth,
            predicted,
            target("misclassified"),
            image_shape=image_shape,
            label_names=label_names,
            confidence=probabilities.max(axis=1),
            dpi=dpi,
        )
    two_features = X_train is not None and np.shape(X_train)[1] == 2
    if coef is not None and intercept is not None and two_features and y_train is not None:
        figures["decision_regions"] = decision_regions_figure(
            X_train,
            y_train,
            coef,
            intercept,
            target("decision_regions"),
            classes=class_labels,
            class_names=names,
            X_test=X_test,
            y_test=None if X_test is None else truth,
            feature_names=feature_names,
            dpi=dpi,
        )
    figures["reliability"] = reliability_diagram_figure(
        truth, probabilities, target("reliability"), classes=class_labels, dpi=dpi
    )
    if coefficient_intervals is not None:
        figures["coefficients"] = coefficient_figure(
            **coefficient_intervals, path=target("coefficients"), dpi=dpi
        )

    ordered = {HEADINGS[name]: path for name, path in figures.items()}
    captions = {HEADINGS[name]: CAPTIONS[name] for name in figures}
    page = render_report_html(
        title=title or f"softmaxreg report: {dataset}",
        dataset=dataset,
        figures=ordered,
        metrics=metrics,
        summary=summary,
        hyperparameters=hyperparameters,
        timings=timings,
        model_description=model_description,
        captions=captions,
    )
    html_path = write_html(folder / REPORT_FILE, page)
    return ReportFiles(html=html_path, figures=figures, metrics=metrics)


def _optional_series(history: Mapping, key: str):
    values = history.get(key)
    return list(values) if values else None
