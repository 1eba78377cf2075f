"""After ``train``: hand the fitted model, its data and its history to ``softmaxreg.report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import scipy.sparse as sp

from softmaxreg.cli.epoch_monitor import EpochHistory

# the coefficient plot is drawn for models with at most this many parameters
COEFFICIENT_PLOT_MAX_PARAMETERS = 300


def write_run_report(
    folder: Path,
    model: Any,
    data: Any,
    history: EpochHistory,
    summary: dict,
    hyperparameters: dict,
    unit: str,
) -> Path:
    """Write the run's PNGs and report.html into ``folder``; returns the HTML path.

    Dense data is drawn as given (so standardised features have standardised axes, which
    the feature names then say); sparse data only gets the figures that need no rows, and
    training from shards (no training rows in memory) no coefficient intervals.
    """
    from softmaxreg.report import write_report

    dense = not sp.issparse(data.X_test)
    feature_names = data.feature_names
    if feature_names is not None and data.preprocessing is not None and data.image_shape is None:
        feature_names = [f"{name} (standardised)" for name in feature_names]
    files = write_report(
        folder,
        dataset=data.name,
        y_test=data.y_test,
        test_proba=model.predict_proba(data.X_test),
        classes=model.classes_,
        class_names=dict(enumerate(data.class_names)) if data.class_names else None,
        summary=summary,
        history=history.as_dict(),
        history_unit=unit,
        coef=model.coef_,
        intercept=model.intercept_,
        X_test=data.X_test if dense else None,
        X_train=data.X_train if dense else None,
        y_train=data.y_train,
        image_shape=data.image_shape,
        feature_names=feature_names,
        coefficient_intervals=(
            _coefficient_intervals(model, data) if dense and data.X_train is not None else None
        ),
        hyperparameters=hyperparameters,
        timings={"fit": summary["fit_seconds"]},
        model_description=f"{model.kind_} logistic regression, solver {model.solver}",
    )
    return files.html


def _coefficient_intervals(model: Any, data: Any) -> dict | None:
    """The coefficient plot's inputs from ``softmaxreg.inference`` on the training part; None
    for multi-label or large models and for fits inference refuses (separation, a singular
    Hessian, a penalised multinomial model)."""
    import numpy as np

    from softmaxreg.errors import InferenceError
    from softmaxreg.inference import inference

    if model.kind_ == "multilabel" or model.coef_.size > COEFFICIENT_PLOT_MAX_PARAMETERS:
        return None
    try:
        results = inference(model, data.X_train, data.y_train)
    except InferenceError:
        return None
    if not isinstance(results, dict):
        return results.interval_arrays()
    per_class = [result.interval_arrays() for result in results.values()]
    merged = {
        key: np.vstack([part[key] for part in per_class]) for key in ("coef", "lower", "upper")
    }
    names = [name for part in per_class for name in part["class_names"]]
    return {**per_class[0], **merged, "class_names": names}
