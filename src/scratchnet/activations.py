"""Activation functions and their derivatives, as small lookup tables.

Following scikit-learn's ``neural_network._base``, each derivative is written
in terms of the *activated* value ``A = σ(Z)``, which the forward pass keeps, so
backpropagation never needs ``Z`` again (article, section 3):
``σ'(Z) = A ⊙ (1 − A)`` for the sigmoid.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z):
    """The logistic function ``σ(z) = 1 / (1 + e⁻ᶻ)``, for floats and arrays.

    Written with ``e^−|z|`` so that no exponential can overflow: finite input of
    any size (``sigmoid(-1000.0) == 0.0``) gives no warning. Float32 input stays
    float32; a Python or NumPy scalar gives a float.
    """
    z = np.asarray(z)
    if z.dtype.kind not in "biuf":  # bool, int, unsigned, float (not complex, dates, text, objects)
        raise TypeError(f"sigmoid needs real numbers, got dtype {z.dtype}")
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    e = np.exp(-np.abs(z))
    one = z.dtype.type(1)
    out = np.where(z >= 0, one / (one + e), e / (one + e))
    return float(out) if out.ndim == 0 else out


def sigmoid_derivative(a):
    """``σ'(Z)`` from the activated value ``A = σ(Z)``: ``A ⊙ (1 − A)``."""
    return a * (1 - a)


ACTIVATIONS = {"sigmoid": sigmoid}
"""name → the activation function ``A = f(Z)``."""

DERIVATIVES = {"sigmoid": sigmoid_derivative}
"""name → ``f'(Z)`` expressed through ``A = f(Z)``."""
