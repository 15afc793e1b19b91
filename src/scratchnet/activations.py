"""Activation functions and their derivatives: one in-place table (as scikit-learn's ``neural_network._base``).

Every entry of ``ACTIVATIONS`` (hidden layers) and ``OUTPUTS`` (the output
layer) is an ``Activation`` with two in-place kernels, the only place its
formula is written:

* ``forward_(Z)``: ``Z ← f(Z)`` in place, returning it as ``A``;
* ``backward_(dA, A, out)``: ``out ← ∂L/∂Z`` from ``∂L/∂A`` and the activated
  value ``A`` (the forward pass keeps A, so backpropagation never needs Z again;
  article, section 3: ``σ'(Z) = A ⊙ (1 − A)`` for the sigmoid).

Both work on arrays of any shape — one network's (N, nᵏ) in
``network.MultilayerNeuralNetClassifier``, many networks' stacked (G, N, nᵏ) in
``scratchnet.engine`` — so the readable network and the fused engine compute
with the same code. The softmax couples the outputs of a row (the last axis):
its backward is a Jacobian-vector product over that axis.

A new activation is one ``Activation(...)`` added to ``ACTIVATIONS`` (its
derivative expressed through ``A``); the network, the engine, the command line,
the estimator and the grid search take it from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .errors import InvalidTypeError
from .validation import check_name

LEAKY_SLOPE = 0.01
"""α of the leaky ReLU: ``f(z) = z`` for z > 0, ``α·z`` otherwise."""
ELU_ALPHA = 1.0
"""α of the ELU: ``f(z) = z`` for z > 0, ``α·(eᶻ − 1)`` otherwise."""


# ------------------------------------------------------------------ kernels
def sigmoid_negated_(a):
    """``a ← σ(−a) = 1 / (1 + eᵃ)`` in place.

    For a > log(max float), eᵃ overflows to +inf (silenced) and 1/(1 + inf) is 0,
    where the true value lies below the smallest normal number: finite and
    warning-free for any finite input.
    """
    with np.errstate(over="ignore"):
        np.exp(a, out=a)
    np.add(a, 1, out=a)
    np.reciprocal(a, out=a)
    return a


def sigmoid_(z):
    """``z ← σ(z) = 1 / (1 + e⁻ᶻ)`` in place (the article's logistic function)."""
    return sigmoid_negated_(np.negative(z, out=z))


def sigmoid_backward_(dA, A, out):
    """``out ← ∂L/∂A ⊙ A ⊙ (1 − A)`` (``out`` distinct from both)."""
    np.subtract(1, A, out=out)
    out *= A
    out *= dA
    return out


def tanh_(z):
    """``z ← tanh(z) = (eᶻ − e⁻ᶻ) / (eᶻ + e⁻ᶻ)`` in place, values in (−1, 1)."""
    return np.tanh(z, out=z)


def tanh_backward_(dA, A, out):
    """``out ← ∂L/∂A ⊙ (1 − A²)``."""
    np.multiply(A, A, out=out)
    np.subtract(1, out, out=out)
    out *= dA
    return out


def relu_(z):
    """``z ← max(z, 0)`` in place."""
    return np.maximum(z, 0, out=z)


def relu_backward_(dA, A, out):
    """``out ← ∂L/∂A ⊙ [A > 0]`` (0 at the kink Z = 0)."""
    return np.multiply(dA, A > 0, out=out)


def leaky_relu_(z):
    """``z ← α·z`` where z ≤ 0 (z elsewhere), in place (α = ``LEAKY_SLOPE``)."""
    return np.multiply(z, LEAKY_SLOPE, out=z, where=z <= 0)


def leaky_relu_backward_(dA, A, out):
    """``out ← ∂L/∂A ⊙ (1 where A > 0, else α)`` (A > 0 exactly when Z > 0)."""
    np.copyto(out, dA)
    return np.multiply(out, LEAKY_SLOPE, out=out, where=A <= 0)


def elu_(z):
    """``z ← α·(eᶻ − 1)`` where z < 0 (z elsewhere), in place (α = ``ELU_ALPHA``; Clevert et al. 2016)."""
    negative = z < 0
    np.expm1(z, out=z, where=negative)
    return np.multiply(z, ELU_ALPHA, out=z, where=negative)


def elu_backward_(dA, A, out):
    """``out ← ∂L/∂A ⊙ (1 where A > 0, else A + α)``: for z ≤ 0, f'(z) = α·eᶻ = A + α."""
    np.add(A, ELU_ALPHA, out=out)
    np.copyto(out, 1, where=A > 0)
    out *= dA
    return out


def identity_(z):
    """``f(z) = z``: nothing to do."""
    return z


def identity_backward_(dA, A, out):
    """``out ← ∂L/∂A``."""
    np.copyto(out, dA)
    return out


def softmax_(z):
    """Row-wise softmax over the last axis, in place: ``A[…, i] = e^{Z[…, i]} / Σₗ e^{Z[…, l]}``.

    The row maximum is subtracted first (the result does not change), so no
    exponential overflows: every row sums to 1 for any finite input.
    """
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def softmax_backward_(dA, A, out):
    """``out ← A ⊙ (∂L/∂A − Σᵢ ∂L/∂Aᵢ · Aᵢ)`` over the last axis: the softmax Jacobian times ∂L/∂A.

    From ``∂Aᵢ/∂Zₗ = Aᵢ (δᵢₗ − Aₗ)``; never forms the (nᴸ × nᴸ) Jacobian. ``out`` may be ``dA`` itself.
    """
    if out is not dA:
        np.copyto(out, dA)
    out -= np.einsum("...ij,...ij->...i", out, A)[..., None]
    out *= A
    return out


# ------------------------------------------------------------------ the table
@dataclass(frozen=True)
class Activation:
    """A layer's function f in place, its backward pass, and (optionally) f(−·) in place.

    Calling it, ``f(z)``, returns a new float array (the input is left alone).
    ``derivative(A)`` is f'(Z) expressed through ``A = f(Z)``.
    """

    name: str
    forward_: Callable[[np.ndarray], np.ndarray]
    backward_: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    negated_: Callable[[np.ndarray], np.ndarray] | None = None
    """``a ← f(−a)`` in place, where that is cheaper than negating first (the engine keeps −Z for these)."""

    def __call__(self, z):
        return self.forward_(_float_copy(z, self.name))

    def forward_negated_(self, a):
        """``a ← f(−a)`` in place."""
        if self.negated_ is not None:
            return self.negated_(a)
        return self.forward_(np.negative(a, out=a))

    def derivative(self, a):
        """``f'(Z)`` from the activated value ``A = f(Z)`` (element-wise functions only)."""
        a = np.asarray(a)
        return self.backward_(np.ones_like(a), a, np.empty_like(a))


def _float_copy(z, name):
    z = np.asarray(z)
    if z.dtype.kind not in "biuf":  # bool, int, unsigned, float (not complex, dates, text, objects)
        raise InvalidTypeError(f"{name} needs real numbers, got dtype {z.dtype}")
    return np.array(z, dtype=z.dtype if z.dtype.kind == "f" else np.float64)


SIGMOID = Activation("sigmoid", sigmoid_, sigmoid_backward_, sigmoid_negated_)

ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": SIGMOID,
    "tanh": Activation("tanh", tanh_, tanh_backward_),
    "relu": Activation("relu", relu_, relu_backward_),
    "leaky_relu": Activation("leaky_relu", leaky_relu_, leaky_relu_backward_),
    "elu": Activation("elu", elu_, elu_backward_),
    "identity": Activation("identity", identity_, identity_backward_),
}
"""name → the hidden-layer activation (the article's is the sigmoid)."""

OUTPUTS: dict[str, Activation] = {
    "sigmoid": SIGMOID,
    "softmax": Activation("softmax", softmax_, softmax_backward_),
}
"""name → the output activation ``A⁽ᴸ⁾ = f(Z⁽ᴸ⁾)``: one-vs-all scores (the article's) or a distribution."""


# ------------------------------------------------------------ public functions
def sigmoid(z: ArrayLike) -> float | np.ndarray:
    """The logistic function ``σ(z) = 1 / (1 + e⁻ᶻ)``, for floats and arrays.

    Finite input of any size gives no warning (``sigmoid(-1000.0) == 0.0``).
    Float32 input stays float32; a Python or NumPy scalar gives a float.
    """
    out = SIGMOID(z)
    return float(out) if out.ndim == 0 else out


def softmax(z: ArrayLike) -> np.ndarray:
    """``softmax(Z)[j,i] = e^{Z[j,i]} / Σₗ e^{Z[j,l]}`` row by row, (N, nᴸ) → (N, nᴸ)."""
    return OUTPUTS["softmax"](z)


def check_activation(name: str, table: dict[str, Activation] = ACTIVATIONS, what: str = "activation") -> str:
    """A known activation name (any case, ``-`` for ``_``, e.g. ``leaky-relu``) → its key; else a one-line error."""
    return check_name(name, table, what)
