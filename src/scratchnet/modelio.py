"""Model files: one ``.npz`` read with ``allow_pickle=False`` and a JSON header; the format layer.

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
missing, truncated, foreign or newer file is a ``ModelFileError`` (a ``ValueError``).

This module knows the file and the network's part of its header; it imports
neither the network nor the estimator. ``MultilayerNeuralNetClassifier.save/load``
call ``save_network``/``load_network`` with their class; the estimator adds its
own header entries (``classes``, ``estimator``) through ``extra_header`` and reads
them back itself (``scratchnet.estimator``).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import diagnostics
from .errors import ModelFileError
from .recipe import DEFAULTS, NETWORK_FIELDS
from .version import __version__

FORMAT_NAME = "scratchnet-model"
FORMAT_VERSION = 2
"""The format written; every version from 1 up to it is read."""


class Network(Protocol):
    """What a model file stores of a network (``network.MultilayerNeuralNetClassifier``)."""

    layers: list[int]
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    history_records: list[dict]
    random_seed: Any
    dtype: np.dtype
    options: dict[str, str]
    n_layers: int
    history: Any


def network_header(net: Network, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The header of a model file of ``net``: format, version, layers, dtype, the network recipe …, with ``extra``."""
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "scratchnet_version": __version__,
        "layers": list(net.layers),
        "dtype": net.dtype.name,
        **net.options,
        "random_seed": net.random_seed if isinstance(net.random_seed, int | type(None)) else None,
        "history_columns": list(net.history.columns),
        "classes": None,
        "preprocessing": None,
    }
    header.update(extra or {})
    return header


def network_arrays(net: Network) -> dict[str, np.ndarray]:
    """``W1…WL``, ``b1…bL`` and ``history`` (epochs × columns) of ``net``."""
    arrays = {}
    for k, (W, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        arrays[f"W{k}"] = W
        arrays[f"b{k}"] = b
    history = net.history
    arrays["history"] = history.to_numpy(dtype=np.float64).reshape(-1, len(history.columns))
    return arrays


def write_model_file(path: str | os.PathLike, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``header`` (JSON) and ``arrays`` to ``path`` atomically (``.npz`` appended if missing); the path."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    try:
        text = json.dumps(header)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"the header of a model file must be JSON-serialisable: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, header=np.array(text), **arrays)
    os.replace(tmp, path)
    return path


def save_network(net: Network, path: str | os.PathLike, extra_header: dict[str, Any] | None = None) -> Path:
    """Write ``net`` to ``path`` (``.npz`` is appended if missing); returns the path written.

    ``extra_header`` adds JSON-serialisable entries (e.g. ``preprocessing``, ``classes``).
    """
    header, arrays = network_header(net, extra_header), network_arrays(net)
    diagnostics.save_extra(net, arrays, header)
    return write_model_file(path, header, arrays)


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model file: ``(header dict, {name: array})``; ``ModelFileError`` if anything is off."""
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


def _check_array(arrays: dict, name: str, shape: tuple, path: str | os.PathLike) -> np.ndarray:
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


def network_options(header: dict[str, Any], path: str | os.PathLike = "<model>") -> dict[str, str]:
    """The network recipe of a header (``activation, output, loss, init``); a format-1 header lacks some: the
    article's."""
    options = {name: header.get(name, DEFAULTS[name]) for name in NETWORK_FIELDS}
    for name, value in options.items():
        if not isinstance(value, str):
            raise ModelFileError(f"{str(path)!r} has an invalid header: {name} must be a name, got {value!r}")
    return options


def _new_network(network_class: type, header: dict[str, Any], path: str | os.PathLike) -> Network:
    """An untrained ``network_class`` of the header's layers, dtype and recipe (no seed), or ``ModelFileError``."""
    options = network_options(header, path)
    try:
        net = network_class(header["layers"], random_seed=None, dtype=header["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{str(path)!r} has an invalid header ({exc})") from None
    try:
        return network_class(net.layers, random_seed=None, dtype=net.dtype, **options)
    except ValueError as exc:
        raise ModelFileError(
            f"{str(path)!r} needs activation {options['activation']!r}, output {options['output']!r} and loss "
            f"{options['loss']!r}, which this scratchnet does not provide ({exc})"
        ) from None


def _history_records(arrays: dict[str, np.ndarray], columns: list[str], path: str | os.PathLike) -> list[dict]:
    """The training history of a file as records of ``columns`` (those of the network), checked."""
    history = arrays.get("history", np.zeros((0, len(columns))))
    if history.ndim != 2 or history.shape[1] != len(columns) or history.dtype.kind != "f":
        raise ModelFileError(f"{str(path)!r} has a malformed training history of shape {history.shape}")
    return [{c: (int(v) if c == "epoch" else float(v)) for c, v in zip(columns, row, strict=True)} for row in history]


def network_from_file(
    header: dict[str, Any], arrays: dict[str, np.ndarray], path: str | os.PathLike, network_class: type
) -> Network:
    """Build a network of ``network_class`` (``MultilayerNeuralNetClassifier``) from a checked header and arrays."""
    net = _new_network(network_class, header, path)
    seed = header.get("random_seed")
    net.random_seed = seed if isinstance(seed, int) else None
    for k in range(1, net.n_layers + 1):
        net.weights[k - 1] = _check_array(arrays, f"W{k}", net.weights[k - 1].shape, path).astype(net.dtype)
        net.biases[k - 1] = _check_array(arrays, f"b{k}", net.biases[k - 1].shape, path).astype(net.dtype)
    net.history_records = _history_records(arrays, list(net.history.columns), path)
    diagnostics.load_extra(net, header, arrays, path)
    return net


def load_network(path: str | os.PathLike, network_class: type) -> Network:
    """Read a network written by ``save_network`` as a ``network_class`` (``MultilayerNeuralNetClassifier.load``)."""
    header, arrays = read_model_file(path)
    return network_from_file(header, arrays, path, network_class)
