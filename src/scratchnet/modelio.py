"""Model files: one ``.npz`` read with ``allow_pickle=False`` and a JSON header.

Layout: ``header`` (a 0-d unicode array holding JSON: format name and version,
scratchnet version, layers, dtype, activation, output, loss, init, classes,
preprocessing, history columns), ``W1…WL`` and ``b1…bL``, and ``history``
(epochs × columns).

Versions: format 2 added ``output`` and ``init`` (and the activations and
losses beyond the article); a scratchnet that only knows format 1 refuses it
instead of silently computing a sigmoid output. Format 1 files are still read:
a header without ``output`` or ``init`` means the article's (sigmoid output,
N(0, 0.1²) init).
Loading checks every piece and never executes anything from the file: any
missing, truncated, foreign or newer file is a ``ValueError``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ModelFileError
from .network import HISTORY_COLUMNS, MultilayerNeuralNetClassifier

FORMAT_NAME = "scratchnet-model"
FORMAT_VERSION = 2
"""The format written; every version from 1 up to it is read."""


def _header(net, extra):
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "scratchnet_version": __version__,
        "layers": list(net.layers),
        "dtype": net.dtype.name,
        "activation": net.activation,
        "output": net.output,
        "loss": net.loss_function.name,
        "init": net.init,
        "random_seed": net.random_seed if isinstance(net.random_seed, (int, type(None))) else None,
        "history_columns": HISTORY_COLUMNS,
        "classes": None,
        "preprocessing": None,
    }
    header.update(extra or {})
    return header


def save_network(net, path, extra_header=None):
    """Write ``net`` to ``path`` (``.npz`` is appended if missing); returns the path written.

    ``extra_header`` adds JSON-serialisable entries (e.g. ``classes``).
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"header": np.array(json.dumps(_header(net, extra_header)))}
    for k, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        arrays[f"W{k}"] = W
        arrays[f"b{k}"] = b
    arrays["history"] = np.array(
        [[rec[c] for c in HISTORY_COLUMNS] for rec in net.history_records], dtype=np.float64
    ).reshape(-1, len(HISTORY_COLUMNS))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def read_model_file(path):
    """Read and check a model file: ``(header dict, {name: array})``; ``ValueError`` if anything is off."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{str(path)!r} is not a readable scratchnet model file (truncated or not an .npz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "header" not in data.files:
                raise ModelFileError("it has no scratchnet header")
            arrays = {name: data[name] for name in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            exc = "it holds object arrays, which are refused because loading them could run code"
        raise ModelFileError(f"{str(path)!r} is not a usable scratchnet model file: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ModelFileError(
            f"{str(path)!r} is not a readable scratchnet model file (truncated or not an .npz): {exc}"
        ) from None
    try:
        header = json.loads(str(arrays.pop("header")[()]))
    except (json.JSONDecodeError, TypeError, IndexError) as exc:
        raise ModelFileError(f"{str(path)!r} has a corrupt header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{str(path)!r} is not a scratchnet model file (foreign .npz)")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{str(path)!r} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model format version {version}, newer than this scratchnet "
            f"understands ({FORMAT_VERSION}); upgrade scratchnet to read it"
        )
    return header, arrays


def _check_array(arrays, name, shape, path):
    if name not in arrays:
        raise ModelFileError(f"{str(path)!r} is missing the array {name!r}")
    arr = arrays[name]
    if arr.dtype.kind != "f" or arr.shape != tuple(shape):
        raise ModelFileError(
            f"{str(path)!r}: array {name!r} has shape {arr.shape} and dtype {arr.dtype}, "
            f"expected floats of shape {tuple(shape)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ModelFileError(f"{str(path)!r}: array {name!r} contains NaN or infinite values")
    return arr


def network_from_file(header, arrays, path="<model>"):
    """Build a ``MultilayerNeuralNetClassifier`` from a checked header and arrays."""
    options = {
        name: header.get(name, default)
        for name, default in (("activation", "sigmoid"), ("output", "sigmoid"), ("loss", "mse"), ("init", "normal"))
    }
    for name, value in options.items():
        if not isinstance(value, str):
            raise ModelFileError(f"{str(path)!r} has an invalid header: {name} must be a name, got {value!r}")
    try:
        net = MultilayerNeuralNetClassifier(header["layers"], random_seed=None, dtype=header["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{str(path)!r} has an invalid header ({exc})") from None
    try:
        net = MultilayerNeuralNetClassifier(net.layers, random_seed=None, dtype=net.dtype, **options)
    except ValueError as exc:
        raise ModelFileError(
            f"{str(path)!r} needs activation {options['activation']!r}, output {options['output']!r} and loss "
            f"{options['loss']!r}, which this scratchnet does not provide ({exc})"
        ) from None
    seed = header.get("random_seed")
    net.random_seed = seed if isinstance(seed, int) else None
    for k in range(1, net.n_layers + 1):
        net.weights[k - 1] = _check_array(arrays, f"W{k}", net.weights[k - 1].shape, path).astype(net.dtype)
        net.biases[k - 1] = _check_array(arrays, f"b{k}", net.biases[k - 1].shape, path).astype(net.dtype)
    history = arrays.get("history", np.zeros((0, len(HISTORY_COLUMNS))))
    if history.ndim != 2 or history.shape[1] != len(HISTORY_COLUMNS) or history.dtype.kind != "f":
        raise ModelFileError(f"{str(path)!r} has a malformed training history of shape {history.shape}")
    net.history_records = [
        {c: (int(v) if c == "epoch" else float(v)) for c, v in zip(HISTORY_COLUMNS, row)} for row in history
    ]
    return net


def load_network(path):
    """Read a ``MultilayerNeuralNetClassifier`` written by ``save_network``."""
    header, arrays = read_model_file(path)
    return network_from_file(header, arrays, path)


# ------------------------------------------------------------ the estimator
_CLASS_KINDS = {"int": (np.int64, int), "float": (np.float64, float), "str": (np.str_, str), "bool": (np.bool_, bool)}


def encode_classes(classes):
    """``classes_`` → ``{"kind": "int"|"float"|"str"|"bool", "values": [...]}`` for the JSON header."""
    classes = np.asarray(classes)
    values = classes.tolist()
    if classes.dtype.kind == "b" or all(isinstance(v, (bool, np.bool_)) for v in values):
        kind = "bool"
    elif classes.dtype.kind in "iu" or all(
        isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values
    ):
        kind = "int"
    elif classes.dtype.kind == "f" or all(isinstance(v, (float, np.floating)) for v in values):
        kind = "float"
        if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
            raise ModelFileError(f"class labels must be finite to be saved, got {values}")
    elif classes.dtype.kind in "US" or all(isinstance(v, str) for v in values):
        kind = "str"
    else:
        raise ModelFileError(
            f"cannot save class labels {values!r}: labels must all be whole numbers, all floats, all strings "
            "or all booleans"
        )
    python_type = _CLASS_KINDS[kind][1]
    return {"kind": kind, "values": [python_type(v.decode() if isinstance(v, bytes) else v) for v in values]}


def decode_classes(spec, n_classes, path="<model>"):
    """The header's ``classes`` entry → a sorted ``classes_`` array; anything odd is a ``ValueError``."""
    if spec is None:
        return np.arange(n_classes, dtype=np.int64)
    bad = f"{str(path)!r} has an invalid classes entry in its header"
    if not isinstance(spec, dict) or spec.get("kind") not in _CLASS_KINDS or not isinstance(spec.get("values"), list):
        raise ModelFileError(f"{bad}: expected {{'kind': int|float|str|bool, 'values': [...]}}, got {spec!r}")
    dtype, python_type = _CLASS_KINDS[spec["kind"]]
    values = spec["values"]
    for v in values:
        ok = isinstance(v, python_type) and not (python_type is not bool and isinstance(v, bool))
        if python_type is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)
        if not ok:
            raise ModelFileError(f"{bad}: {v!r} is not a {spec['kind']} label")
    if len(values) != n_classes:
        raise ModelFileError(f"{bad}: {len(values)} labels for a network with {n_classes} outputs")
    classes = np.asarray(values, dtype=dtype)
    if classes.size and not np.array_equal(np.unique(classes), classes):
        raise ModelFileError(f"{bad}: labels must be unique and sorted, got {values}")
    return classes


def _estimator_params(est):
    params = est.get_params()
    rs = params["random_state"]
    params["random_state"] = int(rs) if isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) else None
    hidden = params["hidden_layer_sizes"]
    params["hidden_layer_sizes"] = [int(hidden)] if np.ndim(hidden) == 0 else [int(n) for n in hidden]
    params["learning_rate"] = float(params["learning_rate"])
    params["dtype"] = est.network_.dtype.name
    params["epochs"] = int(params["epochs"])
    params["batch_size"] = int(params["batch_size"])
    verbose = params["verbose"]
    params["verbose"] = bool(verbose) if isinstance(verbose, (bool, np.bool_)) else int(verbose)
    if params["validation_fraction"] is not None:
        params["validation_fraction"] = float(params["validation_fraction"])
    for name in ("momentum", "weight_decay", "dropout"):
        params[name] = float(params[name])
    params["early_stopping"] = bool(params["early_stopping"])
    params["patience"] = int(params["patience"])
    return params


def save_estimator(est, path, preprocessing=None):
    """Write a fitted ``NeuralNetClassifier`` in the network's format, with its classes and parameters.

    ``preprocessing``: an optional JSON-serialisable description of how raw
    inputs become ``X`` (e.g. ``{"name": "scale_pixels", "max_value": 255}``).
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    names = getattr(est, "feature_names_in_", None)
    extra = {
        "classes": encode_classes(est.classes_),
        "preprocessing": preprocessing,
        "estimator": {
            "class": type(est).__name__,
            "params": _estimator_params(est),
            "n_features_in": int(est.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
        },
    }
    try:
        json.dumps(extra)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"preprocessing must be JSON-serialisable: {exc}") from None
    return save_network(est.network_, path, extra_header=extra)


def load_estimator(path):
    """Read a ``NeuralNetClassifier`` saved by ``save_estimator``, or wrap a bare network file.

    A network file (no estimator entry) gives an estimator with ``classes_``
    ``0…nᴸ−1`` and ``hidden_layer_sizes`` from its layers.
    """
    header, arrays = read_model_file(path)
    return estimator_from_file(header, arrays, path)


def estimator_from_file(header, arrays, path="<model>"):
    """Build a fitted ``NeuralNetClassifier`` from a checked header and arrays."""
    from sklearn.preprocessing import LabelEncoder

    from .estimator import NeuralNetClassifier

    net = network_from_file(header, arrays, path)
    classes = decode_classes(header.get("classes"), net.n_classes, path)
    info = header.get("estimator")
    est = NeuralNetClassifier(hidden_layer_sizes=tuple(net.layers[1:-1]), dtype=net.dtype.name, **net.options)
    names = None
    if info is not None:
        if (
            not isinstance(info, dict)
            or info.get("class") != "NeuralNetClassifier"
            or not isinstance(info.get("params"), dict)
        ):
            raise ModelFileError(f"{str(path)!r} has an invalid estimator entry in its header")
        try:
            params = dict(info["params"])
            if isinstance(params.get("hidden_layer_sizes"), list):
                params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
            est.set_params(**params)
            est._validate_params()
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{str(path)!r} has invalid estimator parameters: {exc}") from None
        try:
            wanted = MultilayerNeuralNetClassifier(
                net.layers[:1] + net.layers[-1:],
                activation=est.activation,
                output=est.output,
                loss=est.loss,
                init=est.init,
            ).options
        except ValueError as exc:
            raise ModelFileError(f"{str(path)!r} has invalid estimator parameters: {exc}") from None
        if wanted != net.options:
            raise ModelFileError(
                f"{str(path)!r}: estimator parameters {wanted} do not match the stored network {net.options}"
            )
        if list(np.atleast_1d(est.hidden_layer_sizes)) != net.layers[1:-1] or est.dtype != net.dtype.name:
            raise ModelFileError(
                f"{str(path)!r}: estimator parameters (hidden {est.hidden_layer_sizes}, {est.dtype}) do not match "
                f"the stored network (layers {net.layers}, {net.dtype.name})"
            )
        if info.get("n_features_in") != net.layers[0]:
            raise ModelFileError(
                f"{str(path)!r}: n_features_in {info.get('n_features_in')!r} ≠ input width {net.layers[0]}"
            )
        names = info.get("feature_names_in")
        if names is not None and (
            not isinstance(names, list) or len(names) != net.layers[0] or not all(isinstance(n, str) for n in names)
        ):
            raise ModelFileError(f"{str(path)!r}: feature_names_in must list {net.layers[0]} strings")
    est.network_ = net
    est._label_encoder = LabelEncoder().fit(classes)
    est.classes_ = est._label_encoder.classes_
    est.n_features_in_ = net.layers[0]
    if names is not None:
        est.feature_names_in_ = np.asarray(names, dtype=object)
    est.history_ = net.history
    est._batch_seed = est.random_state if isinstance(est.random_state, int) else None
    return est
