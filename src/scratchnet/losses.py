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
from numpy.typing import ArrayLike

from .errors import InvalidTypeError, InvalidValueError
from .validation import check_int, check_name


def int_to_onehot(y: ArrayLike, num_labels: int) -> np.ndarray:
    """Integer classes ``y`` (N,) → the one-hot matrix (N, num_labels), float64."""
    num_labels = check_int(num_labels, "num_labels")
    y = np.asarray(y)
    if y.ndim != 1:
        raise InvalidValueError(f"int_to_onehot expects a 1-D array of class labels, got shape {y.shape}")
    if y.size and y.dtype.kind not in "iu":
        if y.dtype.kind != "f":
            raise InvalidTypeError(f"class labels must be integers, got dtype {y.dtype}")
        if not np.all(np.isfinite(y)):
            raise InvalidValueError("class labels contain NaN or infinite values")
        if not np.all(np.mod(y, 1) == 0):
            raise InvalidTypeError(f"class labels must be whole numbers, got fractional values of dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= num_labels):
        raise InvalidValueError(f"class labels must lie in 0..{num_labels - 1}, got values from {y.min()} to {y.max()}")
    onehot = np.zeros((y.shape[0], num_labels))
    onehot[np.arange(y.shape[0]), y.astype(np.intp)] = 1.0
    return onehot


class Loss:
    """A loss of the output activations ``A⁽ᴸ⁾`` against one-hot targets ``Y``: its value and its deltas.

    Written once for arrays of any leading shape: ``A`` is (N, nᴸ) for one
    network or (G, N, nᴸ) for G networks stacked by ``scratchnet.engine``.
    ``sums(A, D, y, scratch)`` is the loss summed over the N rows, one float64 per
    network, from ``D = A − Y`` and the integer labels ``y``; the loss is that
    sum divided by ``N · divisor(nᴸ)``. Backpropagation starts from
    ``factor(nᴸ)/N · (A − Y)``: that is ∂L/∂A⁽ᴸ⁾ for MSE, ∂L/∂Z⁽ᴸ⁾ for the
    cross-entropies with their matching output (``PAIRS``).
    """

    name = ""
    uses_difference = False
    """Does ``sums`` read ``D = A − Y`` alone (else only ``A`` and ``y``)? The engine then sums it from D only."""

    def factor(self, n_out):
        raise NotImplementedError

    def divisor(self, n_out):
        raise NotImplementedError

    def sums(self, A, D, y, scratch):
        raise NotImplementedError

    def value(self, a, y):
        """The loss of one network, a float. ``a``, ``y`` (one-hot): (N, nᴸ)."""
        a = np.asarray(a)
        y = np.asarray(y, dtype=a.dtype)
        total = self.sums(a[np.newaxis], (a - y)[np.newaxis], y.argmax(axis=-1), np.empty_like(a)[np.newaxis])
        return float(total[0] / (a.shape[0] * self.divisor(a.shape[-1])))

    def delta_z(self, a, y):
        """``∂L/∂Z⁽ᴸ⁾ = factor/N · (A⁽ᴸ⁾ − Y)`` with the output this loss is made for (``PAIRS``: "fused")."""
        return (a - y) * (self.factor(a.shape[-1]) / a.shape[-2])


class MeanSquaredError(Loss):
    """``L = 1/(N·nᴸ) · Σⱼ Σᵢ (Y[j,i] − A⁽ᴸ⁾[j,i])²`` (article, section 2)."""

    name = "mse"
    uses_difference = True

    def factor(self, n_out):
        return 2.0 / n_out

    def divisor(self, n_out):
        return n_out

    def sums(self, A, D, y, scratch):
        """``Σ (A − Y)²`` per network."""
        return np.einsum("...ij,...ij->...", D, D, dtype=np.float64)

    def delta(self, a, y):
        """``∂L/∂A⁽ᴸ⁾ = 2/(N·nᴸ) · (A⁽ᴸ⁾ − Y)``, shape (N, nᴸ)."""
        return (a - y) * (self.factor(a.shape[-1]) / a.shape[-2])


def clip_(a):
    """``A`` kept inside (0, 1) in place by the smallest step of its dtype, so that ``log`` never sees 0."""
    info = np.finfo(a.dtype) if a.dtype.kind == "f" else np.finfo(np.float64)
    return np.clip(a, info.tiny, 1 - info.epsneg, out=a)


def _true_class(A, y):
    """``A[…, j, y[j]]`` for every row j (a copy), clipped."""
    rows = np.arange(A.shape[-2])
    return clip_(A[..., rows, y])


class CrossEntropy(Loss):
    """``L = −1/N · Σⱼ Σᵢ Y[j,i] · log A⁽ᴸ⁾[j,i]``: the categorical cross-entropy, for softmax outputs.

    Averaged over the N samples (not the classes): with one-hot ``Y`` it is the
    mean of ``−log`` of the probability given to the true class.
    """

    name = "cross_entropy"

    def factor(self, n_out):
        return 1.0

    def divisor(self, n_out):
        return 1

    def sums(self, A, D, y, scratch):
        """``−Σⱼ log A[j, yⱼ]`` per network."""
        return -np.log(_true_class(A, y)).sum(axis=-1, dtype=np.float64)

    def delta(self, a, y):
        """``∂L/∂A⁽ᴸ⁾ = −1/N · Y ⊘ A⁽ᴸ⁾``."""
        return -y / (a.shape[-2] * clip_(np.array(a, dtype=float)))


class BinaryCrossEntropy(Loss):
    """``L = −1/(N·nᴸ) · Σⱼ Σᵢ [Y log A⁽ᴸ⁾ + (1 − Y) log(1 − A⁽ᴸ⁾)]``, for sigmoid outputs.

    Every output is its own yes/no question (one-vs-all, as in the article);
    averaged over samples AND classes, like the article's MSE, so the two are
    on the same scale per output.
    """

    name = "binary_cross_entropy"

    def factor(self, n_out):
        return 1.0 / n_out

    def divisor(self, n_out):
        return n_out

    def sums(self, A, D, y, scratch):
        """``−Σ [Y log A + (1 − Y) log(1 − A)]`` per network (``scratch`` like A, may be A itself)."""
        true = _true_class(A, y)
        np.copyto(scratch, A)
        clip_(scratch)
        np.subtract(1, scratch, out=scratch)  # 1 − A for the other classes …
        scratch[..., np.arange(A.shape[-2]), y] = true  # … A for the true one
        np.log(scratch, out=scratch)
        return -scratch.sum(axis=(-2, -1), dtype=np.float64)

    def delta(self, a, y):
        """``∂L/∂A⁽ᴸ⁾ = 1/(N·nᴸ) · (A⁽ᴸ⁾ − Y) ⊘ (A⁽ᴸ⁾ ⊙ (1 − A⁽ᴸ⁾))``."""
        a = clip_(np.array(a, dtype=float))
        return (a - y) / (a.size * a * (1 - a))


LOSSES = {"mse": MeanSquaredError(), "cross_entropy": CrossEntropy(), "binary_cross_entropy": BinaryCrossEntropy()}
"""name → the loss (an object with its value and deltas)."""

PAIRS = {
    ("sigmoid", "mse"): "chain",  # the article: ∂L/∂A⁽ᴸ⁾ ⊙ A⁽ᴸ⁾ ⊙ (1 − A⁽ᴸ⁾)
    ("softmax", "mse"): "chain",  # ∂L/∂A⁽ᴸ⁾ through the softmax Jacobian
    ("softmax", "cross_entropy"): "fused",  # (A⁽ᴸ⁾ − Y)/N
    ("sigmoid", "binary_cross_entropy"): "fused",  # (A⁽ᴸ⁾ − Y)/(N·nᴸ)
}
"""(output, loss) → how backward starts: ``"chain"`` (delta, then the output derivative) or ``"fused"`` (delta_z)."""

ALIASES = {"ce": "cross_entropy", "bce": "binary_cross_entropy"}


def check_loss(name: str) -> str:
    """A loss name (``cross-entropy``, ``ce``, ``bce`` … accepted) → its key in ``LOSSES``."""
    return check_name(name, LOSSES, "loss", ALIASES)


def check_pair(output: str, loss: str) -> str:
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
    raise InvalidValueError(
        f"output {output!r} with loss {loss!r} is refused: {why}; with a {output} output use {fits}"
    )
