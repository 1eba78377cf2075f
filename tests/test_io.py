"""softmaxreg.save / softmaxreg.load: exact round trips, and refusal of every bad file."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.numpy import load_file
from safetensors.numpy import save as safetensors_save

import softmaxreg
from softmaxreg import LogisticRegression
from softmaxreg._atomic import atomic_write, write_bytes_atomic
from softmaxreg._exact_json import decode, encode
from softmaxreg._model_file import decode_model_file, metadata_sha256, metadata_text, weights_sha256
from softmaxreg.errors import DataError, DataNotFoundError, ModelFileError
from softmaxreg.io import load, read_metadata, save

SOURCE = Path(softmaxreg.__file__).parent


def _data(seed=0, n=120, m=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, m)), rng


def _fitted(kind: str, labels=None):
    """A genuinely fitted model of each kind (small data, converges in milliseconds)."""
    X, rng = _data()
    if kind == "multilabel":
        y = (X[:, :3] + rng.normal(scale=0.5, size=(len(X), 3)) > 0).astype(np.int64)
    else:
        n_classes = 2 if kind == "binary" else 4
        score = X @ rng.normal(size=(X.shape[1], n_classes))
        y = np.argmax(score + rng.gumbel(size=score.shape), axis=1)
        if labels is not None:
            y = np.asarray(labels, dtype=object)[y] if isinstance(labels, list) else labels[y]
    multi_class = {"ovr": "ovr", "multinomial": "multinomial"}.get(kind, "auto")
    model = LogisticRegression(multi_class=multi_class, C=0.7, tol=1e-6).fit(X, y)
    assert model.kind_ == kind
    return model, X


def _same_labels(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and all(type(x) is type(y) and x == y for x, y in zip(a.tolist(), b.tolist(), strict=True))
        and all(type(x) is type(y) for x, y in zip(a, b, strict=True))
    )


# ---------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("kind", ["binary", "multinomial", "ovr", "multilabel"])
def test_round_trip_predicts_bit_for_bit(tmp_path, kind):
    model, X = _fitted(kind)
    path = save(model, tmp_path / "model.safetensors")
    loaded = softmaxreg.load(path)
    assert isinstance(loaded, LogisticRegression) and loaded.kind_ == kind
    assert np.array_equal(loaded.coef_, model.coef_) and loaded.coef_.dtype == np.float64
    assert np.array_equal(loaded.intercept_, model.intercept_)
    assert np.array_equal(loaded.decision_function(X), model.decision_function(X))
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    predicted = loaded.predict(X)
    assert np.array_equal(predicted, model.predict(X)) and predicted.dtype == model.predict(X).dtype
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.n_iter_, model.n_iter_) and loaded.n_iter_.dtype == np.int32
    assert loaded.loss_history_ == model.loss_history_ and len(loaded.loss_history_) > 0
    assert loaded.n_features_in_ == X.shape[1]
    assert _same_labels(loaded.classes_, model.classes_)


def test_method_style_save_and_load(tmp_path):
    model, X = _fitted("multinomial")
    model.save(tmp_path / "m.safetensors")
    loaded = LogisticRegression.load(tmp_path / "m.safetensors")
    assert type(loaded) is LogisticRegression
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, -7, 10**12, 42], dtype=np.int64),
        np.array([3, 1, 2, 250], dtype=np.uint8),
        np.array([5, 6, 7, 8], dtype=np.int32),
        np.array([1.0, -2.0, 1e15, 7.0]),  # integral: scikit-learn's rule for labels
        np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32),
        np.array(["cat", "dog", "", "äöü ✓"]),
        # one kind of label per model: a mix of strings, booleans and numbers is refused
        # (tests/test_mixed_labels.py), but Python and NumPy types of one kind may mix
        [2, 3.5, -1, 10**12],
        [np.int32(4), np.float32(0.25), 7, np.int64(9)],
        ["cat", np.str_("x"), "dog", np.str_("äöü ✓")],
    ],
    ids=["int64", "uint8", "int32", "float64", "float32", "str", "numbers", "np-scalars", "strs"],
)
def test_class_labels_keep_their_types(tmp_path, labels):
    model, X = _fitted("multinomial", labels=labels)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert _same_labels(loaded.classes_, model.classes_), (loaded.classes_, model.classes_)
    assert np.array_equal(loaded.predict(X), model.predict(X))
    assert all(
        type(x) is type(y)
        for x, y in zip(loaded.predict(X[:10]), model.predict(X[:10]), strict=True)
    )


def test_boolean_labels_round_trip(tmp_path):
    X, rng = _data(1)
    y = X[:, 0] + rng.normal(size=len(X)) > 0
    model = LogisticRegression().fit(X, y)
    save(model, tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert _same_labels(loaded.classes_, model.classes_) and loaded.classes_.dtype == bool
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_feature_names_params_preprocessing_and_metrics(tmp_path):
    X, rng = _data(2)
    frame = pd.DataFrame(X, columns=["height", "weight", "âge", "x 4"])
    y = np.where(X[:, 1] > 0, "heavy", "light")
    model = LogisticRegression(C=np.float32(0.5), class_weight={"heavy": 2.0, "light": 1}).fit(
        frame, y
    )
    path = tmp_path / "m.safetensors"
    save(model, path, preprocessing={"scale": 1 / 255}, metrics={"accuracy": 0.9, "nll": np.inf})
    loaded = load(path)
    assert list(loaded.feature_names_in_) == ["height", "weight", "âge", "x 4"]
    assert np.array_equal(loaded.predict_proba(frame), model.predict_proba(frame))
    assert loaded.get_params() == model.get_params()
    assert type(loaded.get_params()["C"]) is np.float32
    assert loaded.preprocessing_ == {"scale": 1 / 255}
    assert loaded.metrics_ == {"accuracy": 0.9, "nll": np.inf}
    # loading and saving again keeps the optional metadata
    save(loaded, tmp_path / "again.safetensors")
    again = read_metadata(tmp_path / "again.safetensors")
    assert again["preprocessing"] == {"scale": 1 / 255} and again["metrics"]["nll"] == np.inf


def test_metadata_and_checksum_are_readable_with_plain_safetensors(tmp_path):
    model, _ = _fitted("ovr")
    path = save(model, tmp_path / "m.safetensors")
    tensors = load_file(path)  # the reference reader understands the file
    assert np.array_equal(tensors["coef"], model.coef_)
    assert np.array_equal(tensors["intercept"], model.intercept_)
    with safe_open(path, framework="numpy") as handle:
        metadata = json.loads(handle.metadata()["softmaxreg"])
        text = handle.metadata()["softmaxreg"]
    digest = hashlib.sha256()
    for name in sorted(tensors):
        shape = ",".join(map(str, tensors[name].shape))
        digest.update(
            f"{name}\x00F64\x00{shape}\x00".encode() + tensors[name].astype("<f8").tobytes()
        )
    assert metadata["weights_sha256"] == digest.hexdigest()
    # the last field is the SHA-256 of the text written without it
    unsigned, recorded = text.rsplit(',"metadata_sha256":', 1)
    assert recorded == f'"{hashlib.sha256((unsigned + "}").encode()).hexdigest()}"}}'

    assert metadata["format"] == "softmaxreg-model" and metadata["format_version"] == 2
    assert metadata["library_version"] == softmaxreg.__version__
    assert metadata["kind"] == "ovr" and metadata["n_outputs"] == 4
    summary = read_metadata(path)
    assert summary["n_features"] == 4 and list(summary["classes"]) == [0, 1, 2, 3]


def test_saving_twice_gives_identical_bytes(tmp_path):
    model, _ = _fitted("binary")
    first = save(model, tmp_path / "a.safetensors").read_bytes()
    assert save(model, tmp_path / "b.safetensors").read_bytes() == first


def _identical(a, b) -> bool:
    """Equal values of identical types, all the way down (nan equals nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (
            a.dtype == b.dtype
            and a.shape == b.shape
            and all(
                _identical(x, y)
                for x, y in zip(a.ravel().tolist(), b.ravel().tolist(), strict=True)
            )
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_identical(a[k], b[k]) for k in a)
    if isinstance(a, (float, np.floating)) and np.isnan(a):
        return bool(np.isnan(b))
    return a == b


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary(max_size=20)
    | st.integers(-(2**63), 2**63 - 1).map(np.int64)
    | st.integers(0, 255).map(np.uint8)
    | st.floats(width=32).map(np.float32)
    | st.booleans().map(np.bool_)
    | st.text(max_size=5).map(np.str_)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
        | st.lists(st.integers(-5, 5), max_size=6).map(np.array)
        | st.lists(st.text(max_size=3), max_size=6).map(np.array)
        | st.lists(st.floats(width=32), max_size=6).map(lambda v: np.array(v, dtype=np.float32))
        | st.lists(_SCALARS, max_size=4).map(lambda v: np.array(v + [object()], dtype=object)[:-1])
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_metadata_values_survive_json_exactly(value):
    """Labels, parameters and metrics come back with their types: np.int32(3) is not 3."""
    text = json.dumps(encode(value), allow_nan=False)
    assert _identical(decode(json.loads(text)), value)


# ---------------------------------------------------------------------------- refusals
_VALID_FILES: dict[str, bytes] = {}


def _valid_bytes(tmp_path, kind="binary") -> bytes:
    """The bytes of a good model file of ``kind`` (fitted once), also written to tmp_path."""
    if kind not in _VALID_FILES:
        model, _ = _fitted(kind)
        _VALID_FILES[kind] = save(model, tmp_path / "valid.safetensors").read_bytes()
    (tmp_path / "valid.safetensors").write_bytes(_VALID_FILES[kind])
    return _VALID_FILES[kind]


def _rewrite(data: bytes, change) -> bytes:
    """The same file after ``change(metadata, tensors)``, with the metadata's checksum
    recomputed (so that the checks behind it are what refuses the file) and the weights'
    checksum left as it was."""
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    metadata = json.loads(header["__metadata__"]["softmaxreg"])
    tensors = decode_model_file(data)[0]
    change(metadata, tensors)
    metadata["metadata_sha256"] = metadata_sha256(metadata)
    return safetensors_save(tensors, metadata={"softmaxreg": metadata_text(metadata)})


def _refused(tmp_path, data: bytes, message: str) -> str:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(ModelFileError, match=message) as caught:
        load(path)
    return str(caught.value)


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "nothing.safetensors")
    with pytest.raises(ModelFileError, match="is a folder without a model.safetensors"):
        load(tmp_path)
    model = _fitted("binary")[0]
    save(model, tmp_path / "model.safetensors")
    # a run folder (what `softmaxreg train --out` writes) loads like its model file
    assert np.array_equal(load(tmp_path).coef_, model.coef_)
    assert read_metadata(tmp_path)["kind"] == "binary"


def test_every_truncation_is_refused(tmp_path):
    data = _valid_bytes(tmp_path)
    for length in range(len(data)):
        with pytest.raises(ModelFileError, match="truncated|empty|not a softmaxreg model"):
            decode_model_file(data[:length])
    message = _refused(tmp_path, data[:-3], "truncated")
    assert "weights need" in message


def test_checksum_mismatch_is_refused(tmp_path):
    data = bytearray(_valid_bytes(tmp_path))
    data[-5] ^= 0x01  # one bit of the last weight
    _refused(tmp_path, bytes(data), "checksum mismatch")


@pytest.mark.parametrize(
    ("version", "message"), [(3, "newer softmaxreg"), (0, "not a format"), ("1", "not a format")]
)
def test_unknown_format_version_is_refused(tmp_path, version, message):
    data = _rewrite(_valid_bytes(tmp_path), lambda meta, _: meta.update(format_version=version))
    _refused(tmp_path, data, f"unknown format version.*{message}")


def test_shapes_that_disagree_with_metadata_are_refused(tmp_path):
    def extra_row(meta, tensors):
        tensors["coef"] = np.vstack([tensors["coef"], tensors["coef"]])
        tensors["intercept"] = np.concatenate([tensors["intercept"]] * 2)
        meta["weights_sha256"] = weights_sha256(tensors)  # only the shapes are wrong

    _refused(tmp_path, _rewrite(_valid_bytes(tmp_path), extra_row), "shapes disagree")

    def more_features(meta, _):
        meta["n_features"] += 1

    _refused(tmp_path, _rewrite(_valid_bytes(tmp_path), more_features), "shapes disagree")

    def three_classes(meta, _):
        meta["classes"]["$ndarray"][1] = [3]
        meta["classes"]["$ndarray"][2].append(9)

    _refused(tmp_path, _rewrite(_valid_bytes(tmp_path), three_classes), "2 classes")


def test_damaged_metadata_is_refused(tmp_path):
    data = _valid_bytes(tmp_path)
    _refused(tmp_path, _rewrite(data, lambda m, _: m.pop("kind")), "damaged metadata")
    _refused(tmp_path, _rewrite(data, lambda m, _: m.update(kind="tree")), "unknown model kind")
    bad_dtype = _rewrite(data, lambda m, _: m["classes"]["$ndarray"].__setitem__(0, "V8"))
    _refused(tmp_path, bad_dtype, "damaged metadata.*not allowed")
    plain = safetensors_save({"coef": np.zeros((1, 3))}, metadata={"other": "tool"})
    _refused(tmp_path, plain, "not a softmaxreg model")


class _Trap:
    """Unpickling this would create a file: proof that nothing was unpickled."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickles_are_refused_without_unpickling(tmp_path, protocol):
    marker = tmp_path / "unpickled"
    data = pickle.dumps({"coef": _Trap(str(marker))}, protocol=protocol)
    message = _refused(tmp_path, data, "pickle")
    assert "never unpickles" in message
    assert not marker.exists()


def test_torch_save_files_are_refused(tmp_path):
    marker = tmp_path / "unpickled"
    zipped, legacy = tmp_path / "zip.pt", tmp_path / "legacy.pt"
    torch.save({"coef": torch.zeros(2, 3), "trap": _Trap(str(marker))}, zipped)
    torch.save({"coef": torch.zeros(2, 3)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ModelFileError, match="ZIP archive .torch.save"):
        load(zipped)
    with pytest.raises(ModelFileError, match="pickle"):
        load(legacy)
    np.save(tmp_path / "w.npy", np.zeros(3))
    with pytest.raises(ModelFileError, match="NumPy .npy"):
        load(tmp_path / "w.npy")
    assert not marker.exists()


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=4096),
        # a plausible start: a header length, then a '{' and anything
        st.builds(
            lambda length, rest: struct.pack("<Q", length) + b"{" + rest,
            st.integers(0, 2**64 - 1) | st.integers(0, 300),
            st.binary(max_size=400),
        ),
    )
)
def test_random_bytes_raise_model_file_error(tmp_path_factory, data):
    """Any bytes at all: ModelFileError, never another exception, a crash or a hang."""
    path = tmp_path_factory.mktemp("random") / "model.safetensors"
    path.write_bytes(data)
    with pytest.raises(ModelFileError):
        load(path)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_valid_file_is_refused_or_unchanged(tmp_path_factory, data):
    """Flip, drop or insert bytes of a good file: load refuses it, or gives the same model."""
    folder = tmp_path_factory.mktemp("damage")
    original = _valid_bytes(folder, "multinomial")
    X = _data()[0]
    expected = load(folder / "valid.safetensors").predict_proba(X)
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(damaged) - 1))
        action = data.draw(st.sampled_from(["flip", "drop", "insert"]))
        if action == "flip":
            damaged[position] ^= data.draw(st.integers(1, 255))
        elif action == "drop":
            del damaged[position]
        else:
            damaged.insert(position, data.draw(st.integers(0, 255)))
    path = folder / "damaged.safetensors"
    path.write_bytes(bytes(damaged))
    try:
        model = load(path)
    except ModelFileError:
        return
    assert np.array_equal(model.predict_proba(X), expected)


# ---------------------------------------------------------------------------- saving
def test_unfitted_model_and_unstorable_parameters_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="not fitted"):
        save(LogisticRegression(), tmp_path / "m.safetensors")
    model, _ = _fitted("binary")
    model.set_params(random_state=np.random.RandomState(0))
    with pytest.raises(ModelFileError, match="parameter random_state.*RandomState"):
        save(model, tmp_path / "m.safetensors")
    with pytest.raises(ModelFileError, match="preprocessing.*must be a dict"):
        save(_fitted("binary")[0], tmp_path / "m.safetensors", preprocessing=[1 / 255])
    assert os.listdir(tmp_path) == []


def test_bad_output_paths_are_refused_and_leave_nothing(tmp_path):
    model, _ = _fitted("binary")
    with pytest.raises(DataNotFoundError, match="folder .* does not exist"):
        save(model, tmp_path / "missing" / "m.safetensors")
    with pytest.raises(DataError, match="is a folder"):
        save(model, tmp_path)
    assert os.listdir(tmp_path) == []


def test_save_replaces_an_existing_model(tmp_path):
    first, X = _fitted("binary")
    second, _ = _fitted("multinomial")
    path = tmp_path / "m.safetensors"
    save(first, path)
    save(second, path)
    assert np.array_equal(load(path).predict_proba(X), second.predict_proba(X))
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_atomic_write_keeps_old_content_when_the_writer_fails(tmp_path):
    path = tmp_path / "out.csv"
    write_bytes_atomic(path, b"old")
    with pytest.raises(RuntimeError, match="disk on fire"), atomic_write(path, "w") as handle:
        handle.write("half of the new")
        raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.csv"]
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write("new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_library_never_unpickles():
    """No pickle, torch.load or allow_pickle=True anywhere in the package's source."""
    forbidden = re.compile(
        r"^\s*(import pickle|from pickle|import dill|import joblib|import cloudpickle)"
        r"|torch\.load\(|allow_pickle\s*=\s*True|pickle\.loads?\(",
        re.MULTILINE,
    )
    offenders = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if forbidden.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# ------------------------------------------------------------------------------------------
# every model softmaxreg saves loads again, whatever its header length
# ------------------------------------------------------------------------------------------


def _header_length(path) -> int:
    with open(path, "rb") as handle:
        return struct.unpack("<Q", handle.read(8))[0]


def _save_with_header_length(model, path, target: int) -> None:
    """Save ``model`` with a ``metrics`` note padded so that the header is ``target`` bytes."""
    save(model, path, metrics={"note": ""})
    padding = target - _header_length(path)
    for _ in range(16):  # safetensors pads headers to 8 bytes; converge on the exact length
        save(model, path, metrics={"note": "x" * max(padding, 0)})
        if _header_length(path) == target:
            return
        padding += target - _header_length(path)
    raise AssertionError(f"could not reach a header of {target} bytes")


@pytest.mark.parametrize(
    "header_length",
    [
        # 0x480 and 0x580 (1152, 1408 bytes) lost models before; a model's metadata is now
        # longer than that, so the same first two bytes come from 0x10480 and 0x10580
        0x10480,  # bytes 80 04 01 ...: a pickle's protocol-4 marker
        0x10580,  # bytes 80 05 01 ...: protocol 5
        0x10498,  # (not a marker: a neighbour for comparison)
        0x04034B50,  # its bytes are b"PK\x03\x04": a ZIP archive's marker (67 MB of metadata)
    ],
)
def test_header_lengths_that_look_like_foreign_formats_still_load(tmp_path, header_length):
    model, X = _fitted("multinomial")
    path = tmp_path / "m.safetensors"
    _save_with_header_length(model, path, header_length)
    assert _header_length(path) == header_length
    loaded = load(path)
    assert np.array_equal(loaded.coef_, model.coef_)
    assert np.array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert len(loaded.metrics_["note"]) > 0


_LABEL_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=400
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    labels=st.lists(_LABEL_TEXT, min_size=2, max_size=5, unique=True),
    note_length=st.integers(min_value=0, max_value=70_000),
    fit_seconds=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_every_saved_model_loads_back_bit_for_bit(tmp_path, labels, note_length, fit_seconds):
    """Property: across header lengths from a few hundred bytes to 70,000+, with any label
    lengths and metadata, what save writes load reads back exactly."""
    X, rng = _data(3, n=40, m=3)
    y = np.asarray(labels, dtype=object)[np.arange(len(X)) % len(labels)]
    model = LogisticRegression(max_iter=5).fit(X, y)
    path = save(
        model,
        tmp_path / "m.safetensors",
        metrics={"fit_seconds": fit_seconds, "note": "n" * note_length},
    )
    loaded = load(path)
    assert _same_labels(loaded.classes_, model.classes_)
    assert loaded.coef_.tobytes() == model.coef_.tobytes()
    assert loaded.intercept_.tobytes() == model.intercept_.tobytes()
    assert loaded.metrics_ == {"fit_seconds": fit_seconds, "note": "n" * note_length}
    assert np.array_equal(loaded.predict(X), model.predict(X))


def test_every_header_length_near_the_pickle_markers_loads(tmp_path):
    """Every header length (they are multiples of 8) around the ones whose first two bytes
    read as a pickle's (0x80, protocol 2..5), below 70,000 bytes: all decode."""
    model, _ = _fitted("binary")
    path = save(model, tmp_path / "m.safetensors", metrics={"note": ""})
    base = path.read_bytes()
    tensors, _ = decode_model_file(base)
    (length,) = struct.unpack("<Q", base[:8])
    metadata = json.loads(json.loads(base[8 : 8 + length])["__metadata__"]["softmaxreg"])
    del metadata["metadata_sha256"]
    wanted = {*range(0x0200, 0x0600, 8), *range(0x10200, 0x10600, 8)}
    wanted = {target for target in wanted if target > length}
    seen = set()
    for target in sorted(wanted):
        metadata["metrics"] = {"note": "p" * (target - length)}
        signed = {**metadata, "metadata_sha256": metadata_sha256(metadata)}
        data = safetensors_save(tensors, metadata={"softmaxreg": metadata_text(signed)})
        seen.add(struct.unpack("<Q", data[:8])[0])
        assert decode_model_file(data)[0]["coef"].tobytes() == model.coef_.tobytes()
    assert {0x10280, 0x10380, 0x10480, 0x10580} <= seen
    assert {marker for marker in (0x0480, 0x0580) if marker > length} <= seen


def test_format_version_1_files_still_load(tmp_path):
    """Files of the first format (weights checksum over names and bytes only, no metadata
    checksum) load as before."""
    model, X = _fitted("ovr")
    data = save(model, tmp_path / "new.safetensors").read_bytes()
    tensors = decode_model_file(data)[0]
    (length,) = struct.unpack("<Q", data[:8])
    metadata = json.loads(json.loads(data[8 : 8 + length])["__metadata__"]["softmaxreg"])
    del metadata["metadata_sha256"]
    metadata["format_version"] = 1
    metadata["weights_sha256"] = weights_sha256(tensors, format_version=1)
    old = tmp_path / "old.safetensors"
    old.write_bytes(safetensors_save(tensors, metadata={"softmaxreg": json.dumps(metadata)}))
    assert np.array_equal(load(old).predict_proba(X), model.predict_proba(X))
    # a version-2 file must carry its metadata checksum
    metadata["format_version"] = 2
    metadata["weights_sha256"] = weights_sha256(tensors)
    old.write_bytes(safetensors_save(tensors, metadata={"softmaxreg": json.dumps(metadata)}))
    with pytest.raises(ModelFileError, match="records the metadata's checksum"):
        load(old)


# ------------------------------------------------------------------------------------------
# the checksums cover what the file stores
# ------------------------------------------------------------------------------------------


def _header_and_body(data: bytes) -> tuple[dict, bytes]:
    (length,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + length]), data[8 + length :]


def _with_header(header_text: str, body: bytes) -> bytes:
    encoded = header_text.encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(encoded)) + encoded + body


def test_editing_dtype_or_shape_in_the_header_is_refused(tmp_path):
    model, _ = _fitted("binary")
    model.loss_history_ = [3.0, 2.0, 1.5, 1.25]
    header, body = _header_and_body(save(model, tmp_path / "m.safetensors").read_bytes())
    # F64 -> F32 with twice the elements: the same bytes, read as garbage
    entry = header["loss_history"]
    entry["dtype"], entry["shape"] = "F32", [entry["shape"][0] * 2]
    path = tmp_path / "edited.safetensors"
    path.write_bytes(_with_header(json.dumps(header), body))
    with pytest.raises(ModelFileError, match="edited.safetensors.*checksum mismatch"):
        load(path)


def test_edited_metadata_is_refused(tmp_path):
    header, body = _header_and_body(_valid_bytes(tmp_path))
    metadata = json.loads(header["__metadata__"]["softmaxreg"])
    metadata["classes"]["$ndarray"][2].reverse()  # swap the two class labels
    header["__metadata__"]["softmaxreg"] = json.dumps(metadata)
    path = tmp_path / "edited.safetensors"
    path.write_bytes(_with_header(json.dumps(header), body))
    with pytest.raises(ModelFileError, match="checksum mismatch, the metadata is corrupted"):
        load(path)


def test_duplicate_names_are_refused(tmp_path):
    header, body = _header_and_body(_valid_bytes(tmp_path))
    coef = json.dumps(header["coef"])
    text = json.dumps(header)
    duplicated = text.replace('"coef": ', f'"coef": {coef}, "coef": ', 1)
    path = tmp_path / "twice.safetensors"
    path.write_bytes(_with_header(duplicated, body))
    with pytest.raises(ModelFileError, match=r"twice.safetensors.*the name 'coef' appears twice"):
        load(path)


def test_lone_surrogates_are_refused_on_load_and_save(tmp_path):
    header, body = _header_and_body(_valid_bytes(tmp_path))
    text = json.dumps(header).replace('"coef"', '"\\ud800"', 1)
    path = tmp_path / "surrogate.safetensors"
    path.write_bytes(_with_header(text, body))
    with pytest.raises(ModelFileError, match="surrogate.safetensors.*lone surrogate"):
        load(path)
    model, _ = _fitted("binary")
    with pytest.raises(ModelFileError, match="cannot save metrics: the string .* not valid"):
        save(model, tmp_path / "m.safetensors", metrics={"name": "\ud800"})
    assert not (tmp_path / "m.safetensors").exists()


def test_deeply_nested_metrics_are_refused_with_a_model_file_error(tmp_path):
    model, _ = _fitted("binary")
    nested: dict = {}
    for _ in range(500):
        nested = {"inner": nested}
    with pytest.raises(ModelFileError, match="cannot save metrics: .*nested more than 64"):
        save(model, tmp_path / "m.safetensors", metrics=nested)
    # and a file whose metadata nests that deep (written by hand) is refused on load
    data = _rewrite(_valid_bytes(tmp_path), lambda meta, _: meta.update(metrics=nested))
    _refused(tmp_path, data, "damaged metadata: values are nested more than 64")


# ------------------------------------------------------------------------------------------
# reading is bounded by the file, not by what it declares
# ------------------------------------------------------------------------------------------


def test_metadata_declaring_wide_strings_is_refused_without_allocating(tmp_path):
    """23 KB of metadata whose arrays declare 1 MB per item would take gigabytes."""
    wide = {"$ndarray": ["<U262144", [256], ["a"] * 256]}  # 256 MB declared, 1.3 KB written
    data = _rewrite(_valid_bytes(tmp_path), lambda m, _: m.update(metrics={"w": [wide] * 14}))
    assert len(data) < 30_000
    _refused(tmp_path, data, "damaged metadata: an array .* would need .* bytes")
    scalars = [{"$numpy": ["|S1000000", "x"]}] * 20_000  # 20 GB of byte scalars in ~760 KB
    data = _rewrite(_valid_bytes(tmp_path), lambda m, _: m.update(metrics={"s": scalars}))
    _refused(tmp_path, data, "damaged metadata: a NumPy scalar .* would need")


def test_a_legitimate_wide_string_array_still_loads(tmp_path):
    """A label array padded to its longest label is far below the budget."""
    labels = np.array(["x" * 3000] + [f"c{i}" for i in range(3)])
    model, X = _fitted("multinomial", labels=labels)
    assert model.classes_.dtype.itemsize == 4 * 3000
    loaded = load(save(model, tmp_path / "m.safetensors"))
    assert _same_labels(loaded.classes_, model.classes_)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "socket"])
def test_model_paths_that_are_not_regular_files_are_refused(tmp_path, kind):
    import socket

    path = tmp_path / "model.safetensors"
    if kind == "fifo":
        os.mkfifo(path)
        expected = "a FIFO"
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
        expected = "a character device"
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        expected = "a socket"
    with pytest.raises(ModelFileError, match=f"is not a regular file: it is {expected}"):
        load(path)
    with pytest.raises(ModelFileError, match="is not a regular file"):
        load(tmp_path)  # the run folder's model.safetensors is that same path


# ------------------------------------------------------------------------------------------
# what a model file stores can be used by every reader
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        ([None, "x", "y", "z"], "None"),
        ([b"a", b"b", b"c", b"d"], "b'a'"),
        ([(1, 2), (3, 4), (5, 6), (7, 8)], r"\(1, 2\)"),
        ([1.5, float("nan"), 2.5, 3.5], "nan"),
    ],
    ids=["None", "bytes", "tuple", "nan"],
)
def test_labels_that_cannot_be_served_are_refused_at_save(tmp_path, labels, shown):
    X, rng = _data()
    y = np.empty(len(X), dtype=object)
    y[:] = [labels[i % 4] for i in range(len(X))]
    # fit refuses these (None: a missing label; the others: scikit-learn's label checks);
    # a model can still be given them
    model = LogisticRegression(max_iter=5).fit(X, np.arange(len(X)) % 4)
    model.classes_ = y[:4]
    with pytest.raises(ModelFileError, match=f"the class label {shown}.*cannot be stored"):
        save(model, tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize(
    "label", [None, {"$bytes": "YQ=="}, {"$tuple": [1, 2]}, {"$dict": [["k", 1]]}]
)
def test_crafted_files_with_unusable_labels_are_refused_at_load(tmp_path, label):
    def set_label(meta, _):
        meta["classes"] = {"$ndarray": ["|O", [2], [label, "x"]]}

    _refused(tmp_path, _rewrite(_valid_bytes(tmp_path), set_label), "cannot be stored")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"shift": {"$float": "nan"}}, "shift holds NaN or infinite"),
        ({"scale": {"$float": "inf"}}, "scale holds NaN or infinite"),
        ({"scale": "big"}, "scale 'big' is not a number"),
        ({"scale": [1.0, 2.0]}, "does not fit 4 features"),
        ({"log": True}, "is not x' = \\(x - shift\\) \\* scale"),
        ({"scale": 0.0}, "scale holds 0, which would erase a feature"),
        ({"scale": [1.0, 0.0, 2.0, 1.0]}, "scale holds 0, which would erase a feature"),
    ],
)
def test_unusable_preprocessing_is_refused_at_save_and_load(tmp_path, spec, message):
    _refused(
        tmp_path,
        _rewrite(_valid_bytes(tmp_path), lambda meta, _: meta.update(preprocessing=spec)),
        message,
    )
    plain = decode(spec)
    with pytest.raises(ModelFileError, match=message):
        save(_fitted("binary")[0], tmp_path / "m.safetensors", preprocessing=plain)


# ------------------------------------------------------------------------------------------
# fuzzing the decoder: whatever the bytes, a ModelFileError or a model, nothing else
# ------------------------------------------------------------------------------------------


def _decode_or_refuse(data: bytes) -> None:
    try:
        tensors, metadata = decode_model_file(data, "fuzzed.safetensors")
    except ModelFileError as error:
        assert "fuzzed.safetensors" in str(error) and "\n" not in str(error)
        return
    assert set(tensors) <= {"coef", "intercept", "loss_history"}
    assert metadata["format"] == "softmaxreg-model"


_FUZZ = settings(max_examples=300, deadline=None, derandomize=True)


@_FUZZ
@given(data=st.binary(max_size=512))
def test_fuzz_random_bytes_are_refused_cleanly(data):
    _decode_or_refuse(data)
    _decode_or_refuse(struct.pack("<Q", len(data)) + data)


@_FUZZ
@given(
    position=st.integers(min_value=0, max_value=10**6),
    value=st.integers(min_value=0, max_value=255),
    cut=st.integers(min_value=0, max_value=10**6),
)
def test_fuzz_mutated_model_files_are_refused_cleanly(tmp_path_factory, position, value, cut):
    valid = _valid_bytes(tmp_path_factory.mktemp("fuzz"), "multinomial")
    mutated = bytearray(valid)
    mutated[position % len(valid)] = value
    _decode_or_refuse(bytes(mutated))
    _decode_or_refuse(bytes(mutated[: cut % (len(valid) + 1)]))


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["$ndarray", "$numpy", "$bytes", "$tuple", "a"]), children
        )
    ),
    max_leaves=12,
)


@_FUZZ
@given(
    field=st.sampled_from(
        [
            "classes",
            "feature_names",
            "params",
            "metrics",
            "preprocessing",
            "n_iter",
            "label_dtype",
            "kind",
            "n_features",
        ]
    ),
    value=_JSON,
)
def test_fuzz_metadata_fields_are_refused_cleanly(tmp_path_factory, field, value):
    valid = _valid_bytes(tmp_path_factory.mktemp("fuzz"), "binary")
    data = _rewrite(valid, lambda meta, _: meta.update({field: value}))
    path = tmp_path_factory.mktemp("fuzzed") / "fuzzed.safetensors"
    path.write_bytes(data)
    try:
        load(path)
    except ModelFileError as error:
        assert "fuzzed.safetensors" in str(error) and "\n" not in str(error)
