"""Checks at the public boundary: every message says what was wrong and what to do."""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .errors import InvalidTypeError, InvalidValueError

FLOAT_DTYPES = {"float64": np.float64, "float32": np.float32}


def check_dtype(dtype):
    """``np.float64``/``np.float32`` or their names → ``np.dtype``; anything else is refused."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in FLOAT_DTYPES:
        raise InvalidValueError(f"dtype must be float64 or float32, got {dtype!r}")
    return dt


def check_int(value, name, *, minimum=1):
    """A whole number ≥ ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
            value = int(value)
        else:
            raise InvalidTypeError(f"{name} must be a whole number, got {value!r}")
    value = int(value)
    if value < minimum:
        raise InvalidValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def check_positive_float(value, name):
    """A finite number > 0, e.g. a learning rate."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise InvalidValueError(f"{name} must be a finite number greater than 0, got {value}")
    return value


def check_rate(value, name, upper=None):
    """A finite number ≥ 0 (and < ``upper``): momentum, weight decay, a dropout rate, β of Adam …"""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (upper is not None and value >= upper):
        bound = f"in [0, {upper:g})" if upper is not None else "≥ 0"
        raise InvalidValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def check_name(name, table, what, aliases=None):
    """A name of ``table`` (any case, ``-`` for ``_``, or one of ``aliases``) → its key; else a one-line error.

    The message lists the accepted names, e.g. ``unknown activation 'rleu'; choose one of identity, relu, …``.
    """
    if not isinstance(name, str):
        example = next(iter(table))
        raise InvalidTypeError(f"{what} must be a name such as {example!r}, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = (aliases or {}).get(key, key)
    if key not in table:
        names = sorted(table) + sorted(aliases or {})
        raise InvalidValueError(f"unknown {what} {name!r}; choose one of {', '.join(names)}")
    return key


def check_layers(layers):
    """``[n⁰, n¹, …, nᴸ]``: at least an input and an output layer, every width ≥ 1."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise InvalidTypeError(f"layers must be a list of layer widths such as [784, 50, 10], got {layers!r}")
    layers = list(layers)
    if len(layers) < 2:
        raise InvalidValueError(
            f"layers needs at least the input width and the number of classes, e.g. [784, 50, 10]; got {layers}"
        )
    return [check_int(n, f"layers[{i}]") for i, n in enumerate(layers)]


def check_features(x, n_features, dtype=np.float64, *, name="X", finite=True):
    """A numeric, finite, non-empty (N, n_features) matrix in ``dtype``; a 1-D ``x`` is one sample.

    ``finite=False`` leaves the finiteness to the caller (``check_finite``, or a pass it makes anyway)."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise InvalidTypeError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind == "c":
        raise InvalidTypeError(f"{name} must hold real numbers, got complex values")
    if arr.dtype.kind not in "biuf":  # bool, int, unsigned, float (not dates, text, objects)
        raise InvalidTypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise InvalidValueError(f"{name} must be 2-D (samples × features) or one 1-D sample, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InvalidValueError(f"{name} is empty: it has 0 samples")
    if arr.shape[1] != n_features:
        raise InvalidValueError(
            f"{name} has {arr.shape[1]} features but the network's input layer expects {n_features}"
        )
    arr = arr.astype(dtype, copy=False)
    if finite:
        check_finite(arr, name)
    return arr


def check_finite(arr, name="X"):
    """Refuse an array holding NaN or ±inf, naming it: ``{name} contains NaN or infinite values; …``."""
    # a NaN or ±inf makes the sum non-finite (one pass, no temporary); only a sum that is not finite (perhaps
    # an overflow of finite values) is looked at element by element, a chunk at a time (no bool copy of X)
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum() if arr.dtype.kind == "f" else 0.0
    if not np.isfinite(total) and not all(
        np.isfinite(arr[lo : lo + 4096]).all() for lo in range(0, arr.shape[0], 4096)
    ):
        raise InvalidValueError(f"{name} contains NaN or infinite values; clean or impute them first")


def check_labels(y, n_classes, n_samples=None, *, name="y"):
    """Integer class labels in ``0..n_classes-1`` as an int64 vector."""
    arr = np.asarray(y)
    if arr.ndim == 0:
        arr = arr[np.newaxis]
    if arr.ndim != 1:
        raise InvalidValueError(f"{name} must be a 1-D vector of class labels, got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InvalidValueError(f"{name} has {arr.shape[0]} labels but X has {n_samples} samples; they must match")
    if arr.size == 0:
        raise InvalidValueError(f"{name} is empty")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidValueError(f"{name} contains NaN or infinite labels; drop or fix those samples")
        if not np.all(np.mod(arr, 1) == 0):
            raise InvalidTypeError(
                f"{name} must hold whole-number class labels 0..{n_classes - 1}, got fractional values"
            )
    elif arr.dtype.kind not in "iu":
        raise InvalidTypeError(
            f"{name} must hold integer class labels 0..{n_classes - 1}, got dtype {arr.dtype}; "
            "convert string labels to integers first (or use scratchnet.NeuralNetClassifier)"
        )
    if arr.min() < 0 or arr.max() >= n_classes:  # before the cast, which could wrap huge values
        raise InvalidValueError(
            f"{name} must lie in 0..{n_classes - 1} (the network has {n_classes} outputs), "
            f"got labels from {arr.min():g} to {arr.max():g}"
        )
    return arr.astype(np.int64)


def check_seed(seed, name="random_seed"):
    """``None`` or a whole number ≥ 0, as NumPy's generators accept."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Real):
        raise InvalidTypeError(f"{name} must be a whole number ≥ 0 or None, got {seed!r}")
    return check_int(seed, name, minimum=0)


def check_onehot(y_onehot, n_samples, n_classes, dtype=np.float64, *, name="y_onehot"):
    """One-hot targets: a finite numeric (n_samples, n_classes) matrix, e.g. from ``int_to_onehot``."""
    arr = np.asarray(y_onehot)
    if arr.dtype.kind not in "biuf":
        raise InvalidTypeError(
            f"{name} must hold real numbers (one-hot rows from int_to_onehot), got dtype {arr.dtype}"
        )
    if arr.ndim == 1 and n_samples == 1:
        arr = arr[np.newaxis, :]
    if arr.shape != (n_samples, n_classes):
        raise InvalidValueError(
            f"{name} must have shape ({n_samples}, {n_classes}) (one row per sample, one column per output), "
            f"got {arr.shape}; build it with int_to_onehot(y, {n_classes})"
        )
    arr = arr.astype(dtype, copy=False)
    if not all(np.isfinite(arr[lo : lo + 4096]).all() for lo in range(0, arr.shape[0], 4096)):  # no bool copy
        raise InvalidValueError(f"{name} contains NaN or infinite values")
    return arr


def check_activations(activations, layers, n_samples):
    """The list returned by ``forward``: L finite matrices of shapes (N, nᵏ)."""
    if isinstance(activations, np.ndarray) or not isinstance(activations, (list, tuple)):
        raise InvalidTypeError(f"activations must be the list returned by forward(x), got {type(activations).__name__}")
    if len(activations) != len(layers) - 1:
        raise InvalidValueError(
            f"activations must hold one matrix per layer ({len(layers) - 1}), got {len(activations)}; pass forward(x)"
        )
    for k, (a, width) in enumerate(zip(activations, layers[1:]), start=1):
        if not isinstance(a, np.ndarray) or a.shape != (n_samples, width):
            shape = getattr(a, "shape", type(a).__name__)
            raise InvalidValueError(
                f"activations[{k - 1}] (layer {k}) must have shape ({n_samples}, {width}), got {shape}; "
                "pass forward(x) for the same x"
            )
    return list(activations)


def check_rng(rng, name="rng"):
    """A ``numpy.random.Generator``."""
    if not isinstance(rng, np.random.Generator):
        raise InvalidTypeError(f"{name} must be a numpy.random.Generator such as np.random.default_rng(0), got {rng!r}")
    return rng


def check_history(history, columns):
    """A per-epoch history (``net.history``, ``train``'s DataFrame) with at least one row and ``columns``."""
    if not isinstance(history, pd.DataFrame):
        try:
            history = pd.DataFrame(history)
        except (TypeError, ValueError) as exc:
            raise InvalidTypeError(f"history must be a table of epochs such as net.history: {exc}") from None
    missing = [c for c in columns if c not in history.columns]
    if missing:
        raise InvalidValueError(
            f"history lacks the column(s) {missing}; pass net.history or the DataFrame train() returns"
        )
    if len(history) == 0:
        raise InvalidValueError("history is empty: train for at least one epoch first")
    return history
