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

import itertools
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from tokenize import TokenError
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


MAX_HEADER_CHARS = 1_000_000
"""The longest JSON header read (the header holds names, classes and the recipe: kilobytes)."""
MAX_HEADER_DEPTH = 16
"""The deepest nesting of lists and objects in a header (scratchnet writes 3)."""
MAX_LAYERS = 1_000
"""The most layer widths a header may list."""
MAX_PARAMETERS = 200_000_000
"""The most weights and biases a model file may hold (1.6 GB of float64): sizes beyond are refused before reading."""
MAX_HISTORY_CELLS = 1_000_000
"""The most cells (epochs × columns) of a stored training history."""
MAX_ENTRIES = 2 * MAX_LAYERS + 2
MAX_RATIO = 100
"""The largest uncompressed ÷ compressed size of an entry above ``_RATIO_FLOOR`` bytes (a zip bomb beyond)."""
_RATIO_FLOOR = 1 << 20
_NPY_PREAMBLE = 4096
"""The most bytes of an entry's ``.npy`` header (magic, length, the header dict)."""
_FLOATS = {"float32", "float64"}
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    NotImplementedError,
    RuntimeError,
    RecursionError,
    MemoryError,
    SyntaxError,
    TokenError,
    OverflowError,
    UnicodeDecodeError,
    struct.error,
    zlib.error,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
)
"""What a damaged or hostile archive can raise from ``zipfile``, ``zlib`` and ``numpy.lib.format``."""


def _json_depth(value: Any) -> int:
    """The nesting depth of a parsed JSON value, without recursion."""
    depth, level = 0, [(value, 1)]
    while level:
        item, d = level.pop()
        depth = max(depth, d)
        if d > MAX_HEADER_DEPTH:
            break
        if isinstance(item, dict):
            level.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            level.extend((v, d + 1) for v in item)
    return depth


def read_npy_header(f, max_header_size: int = _NPY_PREAMBLE) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` from the header of a ``.npy`` stream positioned at its start (left at the
    data); a header longer than ``max_header_size`` or of an unknown version is a ``ValueError``."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f, max_header_size=max_header_size)
    if version in ((2, 0), (3, 0)):
        return np.lib.format.read_array_header_2_0(f, max_header_size=max_header_size)
    raise ValueError(f"unknown .npy version {version}")


def _npy_header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """``(shape, fortran_order, dtype, offset of the data)`` of a ``.npy`` entry, from its header alone."""
    with zf.open(info) as f:
        shape, fortran, dtype = read_npy_header(f)
        if not hasattr(f, "tell"):
            raise ValueError("unseekable entry")
        return tuple(shape), bool(fortran), dtype, f.tell()


def _npy_data(zf: zipfile.ZipFile, info: zipfile.ZipInfo, spec: tuple, name: str, where: str) -> np.ndarray:
    """Read the data of an entry whose header ``spec`` was checked: exactly its bytes, never more."""
    shape, fortran, dtype, offset = spec
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != offset + nbytes:
        raise ModelFileError(
            f"{where}: entry {name!r} holds {info.file_size} bytes, but its header announces {offset + nbytes}"
        )
    with zf.open(info) as f:
        f.read(offset)
        data = f.read(nbytes)
    if len(data) != nbytes:
        raise ModelFileError(f"{where}: entry {name!r} is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


def _entries(zf: zipfile.ZipFile, where: str, archive_size: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by array name, checked: count, names, flags, compression, sizes and ratios."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ModelFileError(f"{where} has {len(infos)} entries; a model file has at most {MAX_ENTRIES}")
    if sum(info.compress_size for info in infos) > archive_size:
        raise ModelFileError(f"{where} is truncated: its entries claim more bytes than the file holds")
    entries = {}
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if name in entries:
            raise ModelFileError(f"{where} holds the entry {info.filename!r} twice")
        if info.flag_bits & 0x1:
            raise ModelFileError(f"{where}: entry {info.filename!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(
                f"{where}: entry {info.filename!r} uses zip compression method {info.compress_type}; "
                "model files are stored or deflated"
            )
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise ModelFileError(f"{where}: entry {info.filename!r} is stored but its sizes disagree")
        if info.file_size > _RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise ModelFileError(
                f"{where}: entry {info.filename!r} expands from {info.compress_size} to {info.file_size} bytes "
                f"(more than {MAX_RATIO}×): refused as a decompression bomb"
            )
        entries[name] = info
    return entries


def _read_header(zf: zipfile.ZipFile, entries: dict[str, zipfile.ZipInfo], where: str) -> dict[str, Any]:
    """The JSON header entry, bounded in size and depth."""
    if "header" not in entries:
        raise ModelFileError(f"{where} is not a usable scratchnet model file: it has no scratchnet header")
    info = entries["header"]
    spec = _npy_header(zf, info)
    shape, _, dtype, _ = spec
    if dtype.kind == "O" or dtype.hasobject:
        raise ModelFileError(
            f"{where} is not a usable scratchnet model file: it holds object arrays, which are refused "
            "because loading them could run code"
        )
    if shape != () or dtype.kind != "U" or dtype.itemsize > 4 * MAX_HEADER_CHARS:
        raise ModelFileError(
            f"{where} has a corrupt header: expected one text of at most {MAX_HEADER_CHARS} characters, "
            f"got {dtype} of shape {shape}"
        )
    text = str(_npy_data(zf, info, spec, "header", where)[()])
    try:
        header = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{where} has a corrupt header: {str(exc)[:200] or 'nested too deeply'}") from None
    if _json_depth(header) > MAX_HEADER_DEPTH:
        raise ModelFileError(f"{where} has a corrupt header: nested deeper than {MAX_HEADER_DEPTH} levels")
    return header


def _check_version(header: Any, where: str) -> None:
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{where} is not a scratchnet model file (foreign .npz)")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{where} has an invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{where} uses model format version {version}, newer than this scratchnet "
            f"understands ({FORMAT_VERSION}); upgrade scratchnet to read it"
        )


_PER_EPOCH = ("history", "diagnostics")
"""Optional arrays of one row per epoch trained: their cells count against ``MAX_HISTORY_CELLS``."""


def expected_arrays(header: dict[str, Any], where: str) -> dict[str, tuple[tuple[int, ...], set[str] | None]]:
    """``{name: (shape, dtypes)}`` that the header's ``layers``, ``dtype`` and ``history_columns`` call for.

    Checks their kinds and sane bounds (``MAX_LAYERS``, ``MAX_PARAMETERS``); ``history``'s
    first dimension (epochs) is ``-1``: any count up to ``MAX_HISTORY_CELLS`` cells.
    """
    layers, dtype = header.get("layers"), header.get("dtype")
    if (
        not isinstance(layers, list)
        or not 2 <= len(layers) <= MAX_LAYERS
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in layers)
    ):
        raise ModelFileError(
            f"{where} has an invalid header: layers must list 2 to {MAX_LAYERS} widths ≥ 1, got {str(layers)[:100]!r}"
        )
    if dtype not in _FLOATS:
        raise ModelFileError(f"{where} has an invalid header: dtype must be float32 or float64, got {dtype!r}")
    n_parameters = sum(a * b + b for a, b in itertools.pairwise(layers))
    if n_parameters > MAX_PARAMETERS:
        raise ModelFileError(
            f"{where} has an invalid header: layers {layers} mean {n_parameters} parameters, more than the "
            f"{MAX_PARAMETERS} a model file may hold"
        )
    shapes: dict[str, tuple[tuple[int, ...], set[str] | None]] = {}
    for k, (n_in, n_out) in enumerate(itertools.pairwise(layers), start=1):
        shapes[f"W{k}"] = ((n_in, n_out), _FLOATS)
        shapes[f"b{k}"] = ((n_out,), _FLOATS)
    columns = header.get("history_columns")
    n_columns = len(columns) if isinstance(columns, list) and len(columns) <= 64 else None
    shapes["history"] = ((-1, -1 if n_columns is None else n_columns), _FLOATS)
    optimizer = header.get("optimizer_state")  # a checkpoint: the optimiser's arrays, one per parameter array
    if isinstance(optimizer, dict) and isinstance(optimizer.get("names"), list) and len(optimizer["names"]) <= 4:
        params = [shapes[f"W{k}"][0] for k in range(1, len(layers))] + [
            shapes[f"b{k}"][0] for k in range(1, len(layers))
        ]
        for name in optimizer["names"]:
            if not isinstance(name, str) or not name.isidentifier() or len(name) > 32:
                raise ModelFileError(f"{where} has an invalid header: optimiser state {str(name)[:40]!r}")
            for j, shape in enumerate(params):
                shapes[f"optimizer_{name}_{j}"] = (shape, _FLOATS)
    diagnostics = header.get("diagnostics_columns")
    if isinstance(diagnostics, list) and len(diagnostics) <= 4 * MAX_LAYERS + 8:  # per-epoch gradient diagnostics
        shapes["diagnostics"] = ((-1, len(diagnostics)), _FLOATS)
    return shapes


def _unreadable(where: str, exc: BaseException) -> ModelFileError:
    """The one-line error of a model file the zip or ``.npy`` readers fail on."""
    return ModelFileError(
        f"{where} is not a readable scratchnet model file (truncated or not an .npz): "
        f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    )


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of any scratchnet model file (an MLP's, a network of layers', a checkpoint), read alone and
    bounded, without its arrays and without checking its format name: to choose the reader (its ``format``).
    ``ModelFileError`` for a missing, unreadable or header-less file."""
    path = Path(path)
    where = repr(str(path))
    if not path.is_file():
        raise ModelFileError(f"model file {where} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            header = _read_header(zf, _entries(zf, where, path.stat().st_size), where)
    except ModelFileError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(where, exc) from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{where} is not a scratchnet model file (foreign .npz)")
    return header


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and check a model file: ``(header dict, {name: array})``; ``ModelFileError`` if anything is off.

    Defensive, in bounded memory: the archive's entry list (count, names, flags,
    compression, sizes and ratios), the header (size, depth, format, version,
    layers, dtype) and every entry's stored shape and dtype (its ``.npy``
    header) are checked against each other and against the bounds above before
    any array is read; an array is read as exactly the bytes its header
    announces. Nothing in the file is executed (no pickle).
    """
    path = Path(path)
    where = repr(str(path))
    if not path.is_file():
        raise ModelFileError(f"model file {where} does not exist")
    try:
        with zipfile.ZipFile(path) as zf:
            entries = _entries(zf, where, path.stat().st_size)
            header = _read_header(zf, entries, where)
            _check_version(header, where)
            specs = {name: _npy_header(zf, info) for name, info in entries.items() if name != "header"}
            for _, _, dtype, _ in specs.values():
                if dtype.hasobject:
                    raise ModelFileError(
                        f"{where} is not a usable scratchnet model file: it holds object arrays, which are refused "
                        "because loading them could run code"
                    )
            wanted = expected_arrays(header, where)
            unknown = sorted(set(specs) - set(wanted))
            if unknown:
                raise ModelFileError(f"{where} holds unexpected entries {unknown[:5]}")
            arrays = {}
            for name, (shape, dtypes) in wanted.items():
                if name not in specs:
                    if name in _PER_EPOCH:
                        continue
                    raise ModelFileError(f"{where} is missing the array {name!r}")
                stored, _, dtype, _ = specs[name]
                fits = len(stored) == len(shape) and all(w in (-1, s) for w, s in zip(shape, stored, strict=True))
                if name in _PER_EPOCH and fits:
                    fits = int(np.prod(stored, dtype=np.int64)) <= MAX_HISTORY_CELLS
                if not fits or dtype.name not in dtypes:
                    raise ModelFileError(
                        f"{where}: array {name!r} has shape {stored} and dtype {dtype}, "
                        f"expected floats of shape {shape if name != 'history' else '(epochs, columns)'}"
                    )
            for name in specs:
                arrays[name] = _npy_data(zf, entries[name], specs[name], name, where)
    except ModelFileError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(where, exc) from None
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
