"""The minibatch generator of the article (section 6)."""

from __future__ import annotations

import numpy as np

from .errors import InvalidTypeError, InvalidValueError
from .validation import check_int, check_rng


def minibatches(X: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator):
    """Yield shuffled ``(X_batch, y_batch)`` pairs of exactly ``batch_size`` rows.

    The ``N mod batch_size`` rows left over by the shuffle are dropped, so a
    different remainder sits out each epoch. ``rng`` is a ``np.random.Generator``.
    """
    batch_size = check_int(batch_size, "batch_size")
    check_rng(rng)
    if not hasattr(X, "shape") or not hasattr(y, "shape"):
        raise InvalidTypeError("X and y must be NumPy arrays")
    if X.shape[0] != y.shape[0]:
        raise InvalidValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}; they must match")
    for idx in batch_indices(X.shape[0], batch_size, rng):
        yield X[idx], y[idx]


def batch_indices(n_samples: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The row indices of each minibatch: ``n_samples // batch_size`` arrays of ``batch_size``."""
    if batch_size < 1:
        raise InvalidValueError(f"batch_size must be at least 1, got {batch_size}")
    order = rng.permutation(n_samples)
    n_batches = n_samples // batch_size
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(n_batches)]


def epoch_rng(seed: int | None, epoch: int) -> np.random.Generator:
    """The generator that shuffles epoch ``epoch``: ``default_rng([seed, epoch])``.

    Seeding per epoch makes a hot start reproducible: 10 epochs then 5 more
    see the same batches as 15 in one go. ``seed=None`` draws fresh entropy.
    """
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng([int(seed), int(epoch)])
