"""Prediction for files of any size: rows are read, predicted and written block by block.

For each block of rows ``X`` the model's preprocessing ``x' = (x - shift) * scale`` is
applied, then ``a = predict_proba(x')`` and ``label = classes_[argmax_t a_t]``. Output goes
to a temporary file beside the target and is renamed into place when every row is done, so a
failure or a kill leaves no half-written predictions. Memory stays proportional to the
block size (``chunk_rows``), whatever the number of rows.

Output formats, chosen by the output file's extension:
- ``.csv``: a header ``label,p_<class>...`` and one line per input row;
- ``.json``: ``{"classes": [...], "predictions": [{"label": ..., "probabilities": [...]}]}``;
- ``.jsonl``: one such prediction object per line.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from softmaxreg import preprocessing
from softmaxreg._atomic import atomic_write, check_output_path
from softmaxreg._exact_json import plain_value
from softmaxreg.errors import DataError

OUTPUT_FORMATS = (".csv", ".json", ".jsonl")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_CHUNK_ROWS = 4096


def output_format(path: str | Path) -> str:
    """``.csv``, ``.json`` or ``.jsonl`` from the output file name; anything else refused."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise DataError(
            f"cannot write predictions to {str(path)!r}: use a file ending in "
            f"{', '.join(OUTPUT_FORMATS)}"
        )
    return suffix


@contextlib.contextmanager
def rows_in_feature_order() -> Iterator[None]:
    """Silence scikit-learn's "X does not have valid feature names" inside the block.

    For callers that pass plain arrays whose columns they have already put in the model's
    feature order (files read by the command line, the server's rows), where the warning
    would only repeat on every block or request.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        yield


def predict_block(model: Any, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class probabilities for one block of raw input rows (columns in the model's
    feature order; multi-label: the 0/1 matrix ``[a_t > 0.5]``)."""
    X = preprocessing.apply(X, getattr(model, "preprocessing_", None), model.n_features_in_)
    with rows_in_feature_order():  # (checked by the caller)
        probabilities = np.asarray(model.predict_proba(X), dtype=np.float64)
    if getattr(model, "kind_", None) == "multilabel":
        labels = (probabilities > 0.5).astype(np.int64)
    else:
        labels = model.classes_[np.argmax(probabilities, axis=1)]
    return labels, probabilities


def is_image_input(paths: list[str | Path]) -> bool:
    """True when every input is a PNG/JPEG file (predicted as digit images)."""
    return bool(paths) and all(Path(path).suffix.lower() in IMAGE_SUFFIXES for path in paths)


def tabular_predictions(
    model: Any, path: str | Path, chunk_rows: int = DEFAULT_CHUNK_ROWS, target: Any = None
) -> Iterator[tuple[np.ndarray, np.ndarray, None]]:
    """``(labels, probabilities, None)`` for consecutive blocks of a tabular file's rows."""
    from softmaxreg.datasets import iter_tabular_chunks

    for X in iter_tabular_chunks(path, chunk_rows, target):
        if X.shape[1] != model.n_features_in_:
            raise DataError(
                f"{str(path)!r} has {X.shape[1]} feature columns, but the model expects "
                f"{model.n_features_in_}"
                + (
                    ""
                    if target is not None
                    else "; if the file has a label column, name it with --target"
                )
            )
        labels, probabilities = predict_block(model, X)
        yield labels, probabilities, None


def predict_images(model: Any, paths: list[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Predict PNG/JPEG digit images, converted to 28 x 28 grey in [0, 1] the MNIST way.

    The conversion already gives MNIST's ``x = pixels / 255``, so only the model's
    standardisation beyond that scale (if any) is applied.
    """
    from softmaxreg.datasets import load_digit_images

    if model.n_features_in_ != 784:
        raise DataError(
            f"images become 784 pixels (28 x 28), but this model expects "
            f"{model.n_features_in_} features"
        )
    X = load_digit_images([Path(path) for path in paths])
    X = preprocessing.apply(X * 255.0, getattr(model, "preprocessing_", None), 784)
    probabilities = model.predict_proba(X)
    return model.classes_[np.argmax(probabilities, axis=1)], probabilities


def write_predictions(
    output: str | Path,
    classes: np.ndarray,
    blocks: Iterable[tuple[np.ndarray, np.ndarray, list[str] | None]],
) -> int:
    """Write ``(labels, probabilities, names)`` blocks atomically; returns the row count."""
    fmt = output_format(output)
    target = check_output_path(output)
    with atomic_write(target, "w", encoding="utf-8", newline="") as handle:
        return _write(handle, fmt, classes, blocks)


def stream_predictions(
    handle: IO[str],
    fmt: str,
    classes: np.ndarray,
    blocks: Iterable[tuple[np.ndarray, np.ndarray, list[str] | None]],
) -> int:
    """Like :func:`write_predictions`, to an open text stream (e.g. stdout)."""
    return _write(handle, fmt, classes, blocks)


def _write(handle: IO[str], fmt: str, classes, blocks) -> int:
    class_names = [_plain(value) for value in classes]
    rows = 0
    first = True
    if fmt == ".json":
        handle.write('{"classes": ' + json.dumps(class_names) + ', "predictions": [')
    for labels, probabilities, names in blocks:
        if fmt == ".csv" and first:
            columns = (["file"] if names is not None else []) + ["label"]
            columns += [f"p_{name}" for name in class_names]
            handle.write(",".join(_csv_field(column) for column in columns) + "\n")
        if fmt == ".csv":
            handle.write(_csv_lines(labels, probabilities, names))
            rows += len(labels)
        else:
            for index in range(len(labels)):
                record = json.dumps(_record(labels[index], probabilities[index], names, index))
                if fmt == ".jsonl":
                    handle.write(record + "\n")
                else:
                    handle.write(("" if rows == 0 else ", ") + record)
                rows += 1
        first = False
    if fmt == ".json":
        handle.write("]}\n")
    if fmt == ".csv" and first:
        handle.write(",".join(["label"] + [f"p_{name}" for name in class_names]) + "\n")
    return rows


def _csv_lines(labels: np.ndarray, probabilities: np.ndarray, names) -> str:
    """One block as CSV text: ``[file,]label,p_1,...`` per row, floats written exactly (repr)."""
    row_format = ",".join(["%r"] * probabilities.shape[1])
    prefixes = [_csv_field(_plain(label)) for label in labels]
    if names is not None:
        prefixes = [
            f"{_csv_field(name)},{prefix}" for name, prefix in zip(names, prefixes, strict=True)
        ]
    lines = [
        f"{prefix},{row_format % tuple(row)}\n"
        for prefix, row in zip(prefixes, probabilities.tolist(), strict=True)
    ]
    return "".join(lines)


def _record(label: Any, probabilities: np.ndarray, names, index: int) -> dict:
    record = {"label": _plain(label), "probabilities": [float(p) for p in probabilities]}
    if names is not None:
        record = {"file": names[index], **record}
    return record


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value]
    return plain_value(value)


def _csv_field(value: Any) -> str:
    if isinstance(value, list):
        value = " ".join(str(item) for item in value)
    text = str(value)
    if any(character in text for character in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text
