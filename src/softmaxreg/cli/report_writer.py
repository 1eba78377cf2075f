"""After ``train``: hand the fitted model, its data and its history to ``softmaxreg.report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import scipy.sparse as sp

from softmaxreg.cli.epoch_monitor import EpochHistory


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
    the feature names then say); sparse data only gets the figures that need no rows.
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
        hyperparameters=hyperparameters,
        timings={"fit": summary["fit_seconds"]},
        model_description=f"{model.kind_} logistic regression, solver {model.solver}",
    )
    return files.html
