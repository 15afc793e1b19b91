"""Model files: one ``.npz`` read with ``allow_pickle=False`` and a JSON header.

Layout: ``header`` (a 0-d unicode array holding JSON: format name and version,
scratchnet version, layers, dtype, activation, loss, classes, preprocessing,
history columns), ``W1…WL`` and ``b1…bL``, and ``history`` (epochs × columns).
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
from .network import HISTORY_COLUMNS, MultilayerNeuralNetClassifier

FORMAT_NAME = "scratchnet-model"
FORMAT_VERSION = 1


def _header(net, extra):
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "scratchnet_version": __version__,
        "layers": list(net.layers),
        "dtype": net.dtype.name,
        "activation": net.activation,
        "loss": net.loss_function.name,
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
        raise ValueError(f"model file {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a readable scratchnet model file (truncated or not an .npz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "header" not in data.files:
                raise ValueError("it has no scratchnet header")
            arrays = {name: data[name] for name in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            exc = "it holds object arrays, which are refused because loading them could run code"
        raise ValueError(f"{str(path)!r} is not a usable scratchnet model file: {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a readable scratchnet model file (truncated or not an .npz): {exc}"
        ) from None
    try:
        header = json.loads(str(arrays.pop("header")[()]))
    except (json.JSONDecodeError, TypeError, IndexError) as exc:
        raise ValueError(f"{str(path)!r} has a corrupt header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"{str(path)!r} is not a scratchnet model file (foreign .npz)")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"{str(path)!r} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} uses model format version {version}, newer than this scratchnet "
            f"understands ({FORMAT_VERSION}); upgrade scratchnet to read it"
        )
    return header, arrays


def _check_array(arrays, name, shape, path):
    if name not in arrays:
        raise ValueError(f"{str(path)!r} is missing the array {name!r}")
    arr = arrays[name]
    if arr.dtype.kind != "f" or arr.shape != tuple(shape):
        raise ValueError(
            f"{str(path)!r}: array {name!r} has shape {arr.shape} and dtype {arr.dtype}, "
            f"expected floats of shape {tuple(shape)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{str(path)!r}: array {name!r} contains NaN or infinite values")
    return arr


def network_from_file(header, arrays, path="<model>"):
    """Build a ``MultilayerNeuralNetClassifier`` from a checked header and arrays."""
    try:
        net = MultilayerNeuralNetClassifier(header["layers"], random_seed=None, dtype=header["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} has an invalid header ({exc})") from None
    if header.get("activation", "sigmoid") != net.activation or header.get("loss", "mse") != net.loss_function.name:
        raise ValueError(
            f"{str(path)!r} needs activation {header.get('activation')!r} and loss {header.get('loss')!r}, "
            "which this scratchnet does not provide"
        )
    seed = header.get("random_seed")
    net.random_seed = seed if isinstance(seed, int) else None
    for k in range(1, net.n_layers + 1):
        net.weights[k - 1] = _check_array(arrays, f"W{k}", net.weights[k - 1].shape, path).astype(net.dtype)
        net.biases[k - 1] = _check_array(arrays, f"b{k}", net.biases[k - 1].shape, path).astype(net.dtype)
    history = arrays.get("history", np.zeros((0, len(HISTORY_COLUMNS))))
    if history.ndim != 2 or history.shape[1] != len(HISTORY_COLUMNS) or history.dtype.kind != "f":
        raise ValueError(f"{str(path)!r} has a malformed training history of shape {history.shape}")
    net.history_records = [
        {c: (int(v) if c == "epoch" else float(v)) for c, v in zip(HISTORY_COLUMNS, row)} for row in history
    ]
    return net


def load_network(path):
    """Read a ``MultilayerNeuralNetClassifier`` written by ``save_network``."""
    header, arrays = read_model_file(path)
    return network_from_file(header, arrays, path)
