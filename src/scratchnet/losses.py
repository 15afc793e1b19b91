"""Losses as small objects with a value and a delta (after Nielsen's ``network2``).

``value(A, Y)`` is the loss of the output activations ``A⁽ᴸ⁾`` against one-hot
targets ``Y``; ``delta(A, Y)`` is ``∂L/∂A⁽ᴸ⁾``, where backpropagation starts.
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
        raise ValueError(
            f"class labels must lie in 0..{num_labels - 1}, got values from {y.min()} to {y.max()}"
        )
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


LOSSES = {"mse": MeanSquaredError}
"""name → loss class."""
