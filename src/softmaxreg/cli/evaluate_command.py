"""``softmaxreg evaluate DIR DATASET``: accuracy, log loss, per-class scores, confusion matrix.

DATASET is a named set (its test part, prepared as in training) or a tabular file (every
row, with the model's stored preprocessing applied to the raw features).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from softmaxreg.cli.app import app
from softmaxreg.cli.console import console
from softmaxreg.cli.model_loading import load_model


@app.command(short_help="Score a saved model on a data set.")
def evaluate(
    model_dir: Annotated[
        Path, typer.Argument(metavar="MODEL_DIR", help="Run folder (or model file) to evaluate.")
    ],
    dataset: Annotated[
        str,
        typer.Argument(
            metavar="DATASET", help="A named data set (its test part) or a labelled tabular file."
        ),
    ],
    target: Annotated[
        str, typer.Option(help="Label column of a tabular file (name, index or auto).")
    ] = "auto",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the metrics to this JSON file.")
    ] = None,
    inference: Annotated[
        bool,
        typer.Option(
            "--inference",
            help="Also print coefficients, standard errors, z tests, intervals and odds "
            "ratios, computed on DATA (softmaxreg.inference).",
        ),
    ] = False,
) -> None:
    """Score a saved model on a data set."""
    from softmaxreg._atomic import atomic_write, check_output_path
    from softmaxreg.batch_predict import rows_in_feature_order
    from softmaxreg.report import classification_metrics, confusion_table, per_class_table

    if json_out is not None:
        check_output_path(json_out)
    model = load_model(model_dir)
    X, y = _evaluation_data(model, dataset, target)
    _check_matches(model, model_dir, X, y, dataset)
    with rows_in_feature_order():  # arrays in the model's feature order (checked above)
        proba = model.predict_proba(X)
    metrics = classification_metrics(y, proba=proba, classes=model.classes_)
    console.print(
        f"{dataset}: accuracy {metrics['accuracy']:.2%}, log loss {metrics['log_loss']:.4f} "
        f"({metrics['n_samples']} rows)"
    )
    console.print(per_class_table(metrics))
    console.print(confusion_table(metrics))
    if inference:
        from softmaxreg.cli.inference_table import print_inference

        with rows_in_feature_order():
            print_inference(model, X, y)
    if json_out is not None:
        with atomic_write(json_out, "w", encoding="utf-8") as handle:
            json.dump(metrics, handle, indent=2)


def _evaluation_data(model, dataset: str, target: str):
    """``(X, y)``: a named set's test part (labels as the CLI trains them), or a whole file."""
    from softmaxreg import preprocessing
    from softmaxreg.datasets import NAMES, load_dataset, read_tabular

    if dataset in NAMES:
        data = load_dataset(dataset, test_only=True).with_named_classes()
        return data.X_test, data.y_test
    from softmaxreg.datasets.columns import column_order, file_feature_names, model_feature_names

    label = int(target) if target.lstrip("-").isdigit() else target
    order = column_order(
        file_feature_names(dataset, label), model_feature_names(model), repr(dataset)
    )
    table = read_tabular(dataset, label)
    if table.X.shape[1] != model.n_features_in_:
        return table.X, table.y  # _check_matches names both sides
    X = table.X if order is None else table.X[:, order]
    spec = getattr(model, "preprocessing_", None)
    return preprocessing.apply(X, spec, model.n_features_in_), table.y


def _check_matches(model, model_dir: Path, X, y, dataset: str) -> None:
    """Refuse data the model cannot score, naming the model and the data set."""
    import numpy as np

    from softmaxreg.errors import DataError

    if X.shape[1] != model.n_features_in_:
        raise DataError(
            f"the model {str(model_dir)!r} takes {model.n_features_in_} features; the data set "
            f"{dataset!r} has {X.shape[1]}: evaluate a model on data like its training data"
        )
    known = model.classes_.tolist()
    unseen = [label for label in np.unique(y).tolist() if label not in known]
    if unseen:
        raise DataError(
            f"the data set {dataset!r} has labels the model {str(model_dir)!r} never saw: "
            f"{unseen[:10]}; its classes are {known[:10]}"
        )
