"""Activation functions and their derivatives, as small lookup tables.

Following scikit-learn's ``neural_network._base``, each derivative is written
in terms of the *activated* value ``A = σ(Z)``, which the forward pass keeps, so
backpropagation never needs ``Z`` again (article, section 3):
``σ'(Z) = A ⊙ (1 − A)`` for the sigmoid.

Hidden layers may use any function of ``ACTIVATIONS`` (the article's sigmoid is
the default). The output layer uses one of ``OUTPUTS``: the sigmoid (one-vs-all
scores, the article's) or the softmax (a distribution over the classes, the
article's "exercise"). The softmax couples the outputs of a row, so instead of an
element-wise derivative it has a Jacobian-vector product, ``OUTPUT_BACKWARD``.
"""

from __future__ import annotations

import numpy as np

LEAKY_SLOPE = 0.01
"""α of the leaky ReLU: ``f(z) = z`` for z > 0, ``α·z`` otherwise."""


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


def tanh(z):
    """``tanh(z) = (eᶻ − e⁻ᶻ) / (eᶻ + e⁻ᶻ)``, values in (−1, 1)."""
    return np.tanh(z)


def tanh_derivative(a):
    """``tanh'(Z) = 1 − A²``."""
    return 1 - a * a


def relu(z):
    """``max(0, z)``."""
    return np.maximum(z, 0)


def relu_derivative(a):
    """``relu'(Z) = 1 where A > 0, else 0`` (0 at the kink Z = 0)."""
    return (a > 0).astype(a.dtype)


def leaky_relu(z):
    """``z`` for z > 0, ``α·z`` otherwise (α = ``LEAKY_SLOPE``)."""
    return np.where(z > 0, z, z * LEAKY_SLOPE)


def leaky_relu_derivative(a):
    """``1 where A > 0, else α`` (A > 0 exactly when Z > 0)."""
    return np.where(a > 0, 1, LEAKY_SLOPE).astype(a.dtype)


def identity(z):
    """``f(z) = z`` (a linear layer)."""
    return z


def identity_derivative(a):
    """``f'(Z) = 1``."""
    return np.ones_like(a)


def softmax(z):
    """``softmax(Z)[j,i] = e^{Z[j,i]} / Σₗ e^{Z[j,l]}`` row by row, (N, nᴸ) → (N, nᴸ).

    The row maximum is subtracted first (the result does not change), so no
    exponential overflows: every row sums to 1 for any finite input.
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid_backward(dA, a):
    """``∂L/∂Z = ∂L/∂A ⊙ A ⊙ (1 − A)`` (element-wise, the article's formula)."""
    return dA * sigmoid_derivative(a)


def softmax_backward(dA, a):
    """``∂L/∂Z = A ⊙ (∂L/∂A − Σᵢ ∂L/∂Aᵢ · Aᵢ)`` row by row: the softmax Jacobian times ∂L/∂A.

    From ``∂Aᵢ/∂Zₗ = Aᵢ (δᵢₗ − Aₗ)``; never forms the (nᴸ × nᴸ) Jacobian.
    """
    return a * (dA - np.sum(dA * a, axis=1, keepdims=True))


ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "leaky_relu": leaky_relu, "identity": identity}
"""name → the hidden-layer activation function ``A = f(Z)``."""

DERIVATIVES = {
    "sigmoid": sigmoid_derivative,
    "tanh": tanh_derivative,
    "relu": relu_derivative,
    "leaky_relu": leaky_relu_derivative,
    "identity": identity_derivative,
}
"""name → ``f'(Z)`` expressed through ``A = f(Z)``."""

OUTPUTS = {"sigmoid": sigmoid, "softmax": softmax}
"""name → the output activation ``A⁽ᴸ⁾ = f(Z⁽ᴸ⁾)``."""

OUTPUT_BACKWARD = {"sigmoid": sigmoid_backward, "softmax": softmax_backward}
"""name → ``(∂L/∂A⁽ᴸ⁾, A⁽ᴸ⁾) ↦ ∂L/∂Z⁽ᴸ⁾``."""


def check_activation(name, table=ACTIVATIONS, what="activation"):
    """A known activation name (``-`` accepted for ``_``, e.g. ``leaky-relu``); else a ``ValueError`` listing them."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a name such as {sorted(table)[0]!r}, got {name!r}")
    key = name.replace("-", "_").lower()
    if key not in table:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(sorted(table))}")
    return key
