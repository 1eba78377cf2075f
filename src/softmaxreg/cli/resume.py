"""``softmaxreg train --resume DIR``: read a run's last checkpoint and check it fits the run.

A checkpoint (``DIR/checkpoint.safetensors``, written by ``train --checkpoint-every``) is a
model file whose metrics hold the run's options, the epoch it was written after, the
per-epoch history, the number of training rows and whether the fit had already ended. Every
input that is not such a file, or that does not match the run (another data set, other
options on the command line, data that changed since), is refused with one line naming it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer

from softmaxreg._model_file import MODEL_FILE
from softmaxreg.cli.epoch_monitor import EpochHistory
from softmaxreg.cli.run_directory import CHECKPOINT_FILE
from softmaxreg.errors import DataError, DataNotFoundError


@dataclass(frozen=True)
class Checkpoint:
    """A run's last checkpoint: its options, the epochs done, their history, the model.

    ``fit_done``: written after the fit ended (its last epoch, or early stopping), before the
    final writes; resuming it only writes the model, metrics and report.
    """

    options: object  # train_command.TrainingOptions
    epoch: int
    history: EpochHistory
    model: object
    n_train: int | None
    fit_done: bool = False

    @property
    def total_epochs(self) -> int:
        return self.options.estimator_params()["max_iter"]


def check_resume_folder(resume: Path, out: Path | None) -> None:
    """Refuse, before anything is created or locked, a ``--resume`` that is no run folder."""
    if out is not None and Path(out).expanduser().resolve() != resume.expanduser().resolve():
        raise typer.BadParameter(
            f"a resumed run writes to its own folder {str(resume)!r}; leave out --out {out}",
            param_hint="--out",
        )
    if not resume.expanduser().exists():
        raise DataNotFoundError(f"--resume {str(resume)!r}: no such folder")
    if not resume.expanduser().is_dir():
        raise DataError(
            f"--resume {str(resume)!r} is a file; give the run folder (train --out) to continue"
        )


def read_checkpoint(folder: Path) -> Checkpoint:
    """The checkpoint in ``folder``, checked to be one ``train --checkpoint-every`` wrote."""
    from softmaxreg import io
    from softmaxreg.cli.train_command import MINIBATCH_SOLVERS

    path = Path(folder) / CHECKPOINT_FILE
    if not path.exists():
        done = Path(folder) / MODEL_FILE
        hint = " (its run already finished)" if done.exists() else ""
        raise DataError(f"--resume {str(folder)!r}: there is no {CHECKPOINT_FILE}{hint}")
    model = io.load(path)
    saved = getattr(model, "metrics_", None)
    foreign = DataError(
        f"--resume: {str(path)!r} is a model file but not a checkpoint of "
        "`softmaxreg train --checkpoint-every` (it lacks the run's options and epoch)"
    )
    if not isinstance(saved, dict) or not {"options", "checkpoint_epoch"} <= saved.keys():
        raise foreign
    options = _options_from(saved["options"], foreign)
    epoch, history = saved["checkpoint_epoch"], saved.get("history")
    n_train, fit_done = saved.get("n_train"), saved.get("fit_done", False)
    if (
        options.solver not in MINIBATCH_SOLVERS
        or not _is_int(epoch)
        or not isinstance(history, dict)
        or not all(isinstance(column, list) for column in history.values())
        or not (n_train is None or _is_int(n_train))
        or not isinstance(fit_done, bool)
    ):
        raise foreign
    history = EpochHistory.from_dict(history)
    checkpoint = Checkpoint(options, epoch, history, model, n_train, fit_done)
    if not 1 <= epoch <= checkpoint.total_epochs:
        raise DataError(
            f"--resume: {str(path)!r} says it was written after epoch {epoch} of a "
            f"{checkpoint.total_epochs}-epoch run; the checkpoint is damaged"
        )
    return checkpoint


_JSON_TYPES = {"str": (str,), "int": (int,), "float": (int, float), "None": (type(None),)}


def _options_from(values, foreign: DataError):
    """``TrainingOptions`` from a checkpoint's stored dict, each field of its declared type."""
    from softmaxreg.cli.train_command import TrainingOptions

    fields = {field.name: field for field in dataclasses.fields(TrainingOptions)}
    if not isinstance(values, dict) or not set(values) <= set(fields):
        raise foreign
    for name, value in values.items():
        allowed = sum((_JSON_TYPES[part.strip()] for part in fields[name].type.split("|")), ())
        if isinstance(value, bool) or not isinstance(value, allowed):
            raise foreign
    try:
        return TrainingOptions(**values)
    except TypeError:  # a field without a default is missing
        raise foreign from None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# train's parameter names that differ from the TrainingOptions field they set
_OPTION_FIELDS = {"lr": "learning_rate"}


def check_same_run(ctx, given, saved, folder: Path) -> None:
    """Refuse a data set or option on the command line that the resumed run did not use.

    ``given``: the ``TrainingOptions`` of this command line; ``saved``: the checkpoint's.
    Only options given on the command line count (``ctx``'s parameter sources).
    """
    if given.dataset != saved.dataset:
        raise DataError(
            f"--resume {str(folder)!r} continues a run on {saved.dataset!r}, not {given.dataset!r}"
        )
    for parameter in ctx.command.params:
        name = _OPTION_FIELDS.get(parameter.name, parameter.name)
        if name == "dataset" or not hasattr(saved, name):
            continue
        source = ctx.get_parameter_source(parameter.name)  # (typer bundles its own click)
        if source is None or source.name != "COMMANDLINE":
            continue
        if getattr(given, name) != getattr(saved, name):
            flag = max(parameter.opts, key=len)
            started = "without " + flag if getattr(saved, name) is None else f"with {flag} "
            started += "" if getattr(saved, name) is None else str(getattr(saved, name))
            raise DataError(
                f"--resume {str(folder)!r}: the run was started {started}, not {flag} "
                f"{getattr(given, name)}; a resumed run keeps its options (leave them out, or "
                "start a new run)"
            )


def check_same_data(checkpoint: Checkpoint, data, folder: Path) -> None:
    """Refuse to continue a checkpoint on data other than the data it was trained on."""
    model = checkpoint.model
    y = data.y_train
    classes = np.unique(y) if y.ndim == 1 else np.arange(y.shape[1])
    n_train, n_features = data.X_train.shape
    if checkpoint.n_train is None:  # a checkpoint of an older softmaxreg: rows not recorded
        n_train = None
    before = (checkpoint.n_train, model.n_features_in_, list(model.classes_))
    now = (n_train, n_features, list(classes))
    if before != now:
        raise DataError(
            f"--resume {str(folder)!r}: the checkpoint was trained on {_describe(*before)}, "
            f"but {checkpoint.options.dataset!r} now gives {_describe(*now)}; the data changed, "
            "start a new run"
        )


def _describe(n_rows: int | None, n_features: int, classes: list) -> str:
    shown = ", ".join(str(label) for label in classes[:10]) + (", ..." if len(classes) > 10 else "")
    rows = "" if n_rows is None else f"{n_rows} rows of "
    return f"{rows}{n_features} features with classes [{shown}]"
