"""PNG figures: learning curves and digit grids (matplotlib, no display needed)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidValueError
from .validation import check_history


def new_figure(**kwargs: Any) -> Any:
    """A ``matplotlib.figure.Figure`` (no pyplot, no display); matplotlib is imported on the first figure."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Write a matplotlib figure to ``path`` (folders made as needed); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def plot_loss(history: pd.DataFrame, path: str | os.PathLike, title: str = "training loss") -> Path:
    """Training loss and its epoch-to-epoch relative rate of change, both on log scales."""
    history = check_history(history, ["epoch", "loss_training"])
    epochs = history["epoch"].to_numpy()
    loss = history["loss_training"].to_numpy()
    fig = new_figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, loss, color="tab:blue")
    ax1.set_yscale("log")
    ax1.set(xlabel="epoch", ylabel="loss_training (MSE)", title=title)
    ax1.grid(True, which="both", alpha=0.3)
    if len(loss) > 1:
        rate = np.abs(np.diff(loss)) / loss[:-1]
        rate[rate == 0] = np.nan
        ax2.plot(epochs[1:], rate, color="tab:orange")
        ax2.set_yscale("log")
    ax2.set(xlabel="epoch", ylabel="|Δ loss| / loss", title="rate of change of the training loss")
    ax2.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


def plot_accuracy(history: pd.DataFrame, path: str | os.PathLike, title: str = "accuracy") -> Path:
    """Training and test accuracy per epoch."""
    history = check_history(history, ["epoch", "accuracy_training", "accuracy_test"])
    fig = new_figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(history["epoch"], history["accuracy_training"], label="training")
    ax.plot(history["epoch"], history["accuracy_test"], label="test")
    ax.set(xlabel="epoch", ylabel="accuracy", title=title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


class _Rows:
    """Rows of several arrays as if concatenated: ``shape``, ``ndim`` and ``rows[i]``."""

    def __init__(self, parts: list[np.ndarray], starts: np.ndarray) -> None:
        self.parts, self.starts = parts, starts
        self.shape = (int(starts[-1]), *parts[0].shape[1:])
        self.ndim = parts[0].ndim

    def __getitem__(self, i: int) -> np.ndarray:
        k = int(np.searchsorted(self.starts, i, side="right")) - 1
        return self.parts[k][i - self.starts[k]]


def plot_digits(X: np.ndarray, y: np.ndarray, path: str | os.PathLike, per_class: int = 10, seed: int = 0) -> Path:
    """A grid of ``per_class`` random images of each class (one row per class), drawn as one mosaic.

    ``X`` may be a tuple of arrays (e.g. the training and hold-out parts), read as their concatenation
    without making it."""
    parts = [np.asarray(part) for part in X] if isinstance(X, tuple) else [np.asarray(X)]
    starts = np.cumsum([0] + [len(part) for part in parts])
    X = _Rows(parts, starts) if len(parts) > 1 else parts[0]
    y = np.asarray(y)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise InvalidValueError(
            f"plot_digits needs images X (N, pixels) and labels y (N,), got {X.shape} and {y.shape}"
        )
    side = round(np.sqrt(X.shape[1]))
    if side * side != X.shape[1]:
        raise InvalidValueError(f"cannot draw images of {X.shape[1]} pixels: not a square")
    classes = np.unique(y)
    rng = np.random.default_rng(seed)
    cell = side + 2  # one blank pixel around each image
    mosaic = np.full((len(classes) * cell, per_class * cell), -1.0)
    for row, cls in enumerate(classes):
        members = np.flatnonzero(y == cls)
        picks = rng.choice(members, size=min(per_class, members.size), replace=False)
        for col, pick in enumerate(picks):
            r, c = row * cell + 1, col * cell + 1
            mosaic[r : r + side, c : c + side] = X[pick].reshape(side, side)
    fig = new_figure(figsize=(per_class * 0.6 + 0.6, len(classes) * 0.6))
    ax = fig.subplots()
    ax.imshow(mosaic, cmap="Greys", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks(np.arange(len(classes)) * cell + cell / 2 - 0.5, [str(c) for c in classes])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"{per_class} random images of each class")
    return save_figure(fig, path)
