"""The minibatch generator of the article (section 6)."""

from __future__ import annotations

import functools

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


def _gather_rows(X, idx, out):  # pragma: no cover - compiled
    """``out[i, :d] = X[idx[i]]`` for every i, where d is X's width (``out`` may be wider); are they all finite?"""
    d = X.shape[1]
    finite = True
    for i in range(idx.shape[0]):
        r = idx[i]
        for j in range(d):
            v = X[r, j]
            out[i, j] = v
            finite &= v - v == 0  # NaN for a NaN or ±inf; a flag, not a sum: it vectorises without fast-math
    return finite


@functools.cache
def _compiled_gather():
    from numba import njit

    return njit(cache=True, boundscheck=False, nogil=True)(_gather_rows)


def gather_rows(X: np.ndarray, idx: np.ndarray, out: np.ndarray) -> bool:
    """The rows ``idx`` of ``X`` (N, d) into the first d columns of ``out`` (n, ≥ d), in one pass; returns whether
    every value copied is finite (nearly free in the same pass: the copy waits on memory).

    NumPy gathers into a strided ``out`` (such as the X of the engine's ``[X | 1]``) through a
    temporary and a second copy; this loop, compiled by Numba on first use (cached on disk),
    writes each row once. All of ``X``, ``idx`` and ``out`` C-contiguous; ``idx`` in range (not checked).
    """
    return bool(_compiled_gather()(X, idx, out))
