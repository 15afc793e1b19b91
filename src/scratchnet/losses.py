"""Losses as small objects with a value and a delta (after Nielsen's ``network2``).

``value(A, Y)`` is the loss of the output activations ``A⁽ᴸ⁾`` against one-hot
targets ``Y``; ``delta(A, Y)`` is ``∂L/∂A⁽ᴸ⁾``, where backpropagation starts.

A loss made for one output activation (cross-entropy for the softmax, binary
cross-entropy for the sigmoid) also has ``delta_z(A, Y) = ∂L/∂Z⁽ᴸ⁾``: the
product of ``∂L/∂A⁽ᴸ⁾`` and the output derivative simplifies to ``A⁽ᴸ⁾ − Y``
(scaled), which is exact, cheap and stable where ``A`` saturates. ``PAIRS``
lists the output/loss pairs a network accepts and whether backward uses
``delta_z`` (fused) or ``delta`` followed by the output's derivative.
"""

from __future__ import annotations

import numpy as np


def int_to_onehot(y, num_labels):
    """Integer classes ``y`` (N,) → the one-hot matrix (N, num_labels), float64."""
    from .validation import check_int

    num_labels = check_int(num_labels, "num_labels")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"int_to_onehot expects a 1-D array of class labels, got shape {y.shape}")
    if y.size and y.dtype.kind not in "iu":
        if y.dtype.kind != "f":
            raise TypeError(f"class labels must be integers, got dtype {y.dtype}")
        if not np.all(np.isfinite(y)):
            raise ValueError("class labels contain NaN or infinite values")
        if not np.all(np.mod(y, 1) == 0):
            raise TypeError(f"class labels must be whole numbers, got fractional values of dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_labels):
        raise ValueError(f"class labels must lie in 0..{num_labels - 1}, got values from {y.min()} to {y.max()}")
    onehot = np.zeros((y.shape[0], num_labels))
    onehot[np.arange(y.shape[0]), y.astype(np.intp)] = 1.0
    return onehot


class MeanSquaredError:
    """``L = 1/(N·nᴸ) · Σⱼ Σᵢ (Y[j,i] − A⁽ᴸ⁾[j,i])²`` (article, section 2)."""

    name = "mse"

    @staticmethod
    def value(a, y):
        """The loss, a float. ``a``, ``y``: (N, nᴸ)."""
        return float(np.mean((y - a) ** 2))

    @staticmethod
    def delta(a, y):
        """``∂L/∂A⁽ᴸ⁾ = 2/(N·nᴸ) · (A⁽ᴸ⁾ − Y)``, shape (N, nᴸ)."""
        return 2.0 / a.size * (a - y)


def _clip(a):
    """``A`` kept inside (0, 1) by the smallest step of its dtype, so that ``log`` never sees 0."""
    info = np.finfo(a.dtype) if a.dtype.kind == "f" else np.finfo(np.float64)
    return np.clip(a, info.tiny, 1 - info.epsneg)


class CrossEntropy:
    """``L = −1/N · Σⱼ Σᵢ Y[j,i] · log A⁽ᴸ⁾[j,i]``: the categorical cross-entropy, for softmax outputs.

    Averaged over the N samples (not the classes): with one-hot ``Y`` it is the
    mean of ``−log`` of the probability given to the true class.
    """

    name = "cross_entropy"

    @staticmethod
    def value(a, y):
        return float(-np.sum(y * np.log(_clip(a))) / a.shape[0])

    @staticmethod
    def delta(a, y):
        """``∂L/∂A⁽ᴸ⁾ = −1/N · Y ⊘ A⁽ᴸ⁾``."""
        return -y / (a.shape[0] * _clip(a))

    @staticmethod
    def delta_z(a, y):
        """``∂L/∂Z⁽ᴸ⁾ = 1/N · (A⁽ᴸ⁾ − Y)`` for a softmax output (rows of Y sum to 1)."""
        return (a - y) / a.shape[0]


class BinaryCrossEntropy:
    """``L = −1/(N·nᴸ) · Σⱼ Σᵢ [Y log A⁽ᴸ⁾ + (1 − Y) log(1 − A⁽ᴸ⁾)]``, for sigmoid outputs.

    Every output is its own yes/no question (one-vs-all, as in the article);
    averaged over samples AND classes, like the article's MSE, so the two are
    on the same scale per output.
    """

    name = "binary_cross_entropy"

    @staticmethod
    def value(a, y):
        a = _clip(a)
        return float(-np.mean(y * np.log(a) + (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(a, y):
        """``∂L/∂A⁽ᴸ⁾ = 1/(N·nᴸ) · (A⁽ᴸ⁾ − Y) ⊘ (A⁽ᴸ⁾ ⊙ (1 − A⁽ᴸ⁾))``."""
        a = _clip(a)
        return (a - y) / (a.size * a * (1 - a))

    @staticmethod
    def delta_z(a, y):
        """``∂L/∂Z⁽ᴸ⁾ = 1/(N·nᴸ) · (A⁽ᴸ⁾ − Y)`` for a sigmoid output: σ' cancels the denominator."""
        return (a - y) / a.size


LOSSES = {"mse": MeanSquaredError, "cross_entropy": CrossEntropy, "binary_cross_entropy": BinaryCrossEntropy}
"""name → loss class."""

PAIRS = {
    ("sigmoid", "mse"): "chain",  # the article: ∂L/∂A⁽ᴸ⁾ ⊙ A⁽ᴸ⁾ ⊙ (1 − A⁽ᴸ⁾)
    ("softmax", "mse"): "chain",  # ∂L/∂A⁽ᴸ⁾ through the softmax Jacobian
    ("softmax", "cross_entropy"): "fused",  # (A⁽ᴸ⁾ − Y)/N
    ("sigmoid", "binary_cross_entropy"): "fused",  # (A⁽ᴸ⁾ − Y)/(N·nᴸ)
}
"""(output, loss) → how backward starts: ``"chain"`` (delta, then the output derivative) or ``"fused"`` (delta_z)."""

ALIASES = {"ce": "cross_entropy", "bce": "binary_cross_entropy"}


def check_loss(name):
    """A loss name (``cross-entropy``, ``ce``, ``bce`` … accepted) → its key in ``LOSSES``."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a name such as 'mse', got {name!r}")
    key = name.replace("-", "_").lower()
    key = ALIASES.get(key, key)
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(sorted(LOSSES))}")
    return key


def check_pair(output, loss):
    """Refuse an output/loss pair without a correct gradient here, saying which loss to take instead."""
    if (output, loss) in PAIRS:
        return PAIRS[(output, loss)]
    fits = {"sigmoid": "mse or binary_cross_entropy", "softmax": "mse or cross_entropy"}[output]
    why = {
        ("sigmoid", "cross_entropy"): "categorical cross-entropy needs outputs that sum to 1 (a softmax output)",
        (
            "softmax",
            "binary_cross_entropy",
        ): "binary cross-entropy treats each output as independent (a sigmoid output)",
    }.get((output, loss), "this pair is not supported")
    raise ValueError(f"output {output!r} with loss {loss!r} is refused: {why}; with a {output} output use {fits}")
