"""Inputs to predict on: 28×28 digit images, ``.npy`` arrays and ``.npz`` data sets.

Everything is read as MNIST pixels and scaled like the training data
(``scratchnet.data.scale_pixels``: 0…255 → [−1, 1]):

- images (PNG or JPEG) must be exactly 28×28; they are turned to greyscale
  (transparent parts count as white) and, since MNIST digits are white on
  black, an image whose border is light (mean above 127.5) is inverted. No
  image is ever resized.
- ``.npy``: one sample ``(784,)`` or ``(28, 28)``, or many ``(N, 784)`` or
  ``(N, 28, 28)`` (for the digits: ``(64,)``, ``(8, 8)``, ``(N, 64)``, ``(N, 8, 8)``), holding the raw
  pixels of the model's data: 0…255 for MNIST, 0…16 for the digits (the model file records which).
- ``.npz``: a data set in one of ``load_mnist``'s layouts (``X`` [+ ``y``] or
  ``x_train``/``x_test`` [+ ``y_train``/``y_test``]); labels, when present,
  are returned too.

With ``scaled=True`` arrays are taken as ready model features and fed
unchanged (any finite numbers; for models not trained on pixels).
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .data import scale_pixels
from .errors import InvalidValueError

IMAGE_SIDE = 28
IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
ARRAY_SUFFIXES = {".npy", ".npz"}


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A 28×28 PNG/JPEG → its 784 raw pixels (0…255, float64), white digit on black."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:
            fmt, size = img.format, img.size
            if fmt not in ("PNG", "JPEG"):
                raise InvalidValueError(f"{str(path)!r} is a {fmt} image; give a PNG or JPEG")
            if size != (IMAGE_SIDE, IMAGE_SIDE):
                raise InvalidValueError(
                    f"{str(path)!r} is {size[0]}×{size[1]} pixels; scratchnet reads 28×28 greyscale digits "
                    "(MNIST style) and does not resize: crop or scale it to 28×28 first"
                )
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, img.convert("RGBA"))
            pixels = np.asarray(img.convert("L"), dtype=np.float64)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidValueError(f"cannot read image {str(path)!r} (corrupt or not an image): {exc}") from None
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    if border.mean() > 127.5:  # a dark digit on a light background: make it MNIST's white on black
        pixels = 255.0 - pixels
    return pixels.reshape(-1)


def _as_rows(arr, n_features, where):
    """``(n,)``, ``(s, s)``, ``(N, n)`` or ``(N, s, s)`` with s² = n (28 × 28 for MNIST, 8 × 8 for the digits)
    → ``(N, n_features)``."""
    side = math.isqrt(n_features)
    square = (side, side) if side * side == n_features else (IMAGE_SIDE, IMAGE_SIDE)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    elif arr.ndim == 2 and arr.shape == square and square[0] * square[1] == n_features:
        arr = arr.reshape(1, -1)
    elif arr.ndim == 3 and arr.shape[1:] == square:
        arr = arr.reshape(arr.shape[0], -1)
    if arr.ndim != 2 or arr.shape[1] != n_features or arr.shape[0] == 0:
        raise InvalidValueError(
            f"{where} holds an array of shape {arr.shape}; the model expects {n_features} features per sample: "
            f"give ({n_features},) or (N, {n_features})"
            + (f" or {square} or (N, {square[0]}, {square[1]})" if square[0] * square[1] == n_features else "")
        )
    return arr


def _check_values(arr, where, scaled, max_value):
    if arr.dtype.kind not in "iuf":
        raise InvalidValueError(f"{where} holds {arr.dtype} values; it must hold real numbers")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidValueError(f"{where} contains NaN or infinite values")
    if scaled:
        return arr
    if max_value is None:
        raise InvalidValueError(
            f"the model does not record how raw inputs are scaled and has {arr.shape[1]} inputs (not MNIST's 784); "
            "pass --scaled with arrays already prepared for the model"
        )
    if arr.min() < 0 or arr.max() > max_value:
        raise InvalidValueError(
            f"{where} holds values from {arr.min():g} to {arr.max():g}, but raw pixels lie in 0..{max_value:g}; "
            "if the array is already scaled for the model, pass --scaled"
        )
    return scale_pixels(arr, max_value)


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise InvalidValueError(f"cannot read {str(path)!r}: {exc}") from None
    except (OSError, EOFError) as exc:
        raise InvalidValueError(f"cannot read {str(path)!r} as a .npy array (corrupt or truncated?): {exc}") from None


def _load_npz(path):
    """``(X parts, y parts or None)`` from a data set archive."""
    if not zipfile.is_zipfile(path):
        raise InvalidValueError(f"{str(path)!r} is not a readable .npz archive (corrupt or truncated?)")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if "X" in files:
                keys = [("X", "y")]
            elif {"x_train", "x_test"} <= files:
                keys = [("x_train", "y_train"), ("x_test", "y_test")]
            else:
                raise InvalidValueError(
                    f"it holds arrays {sorted(files)}; expected X [+ y] or x_train/x_test [+ y_train/y_test]"
                )
            X = [data[kx] for kx, _ in keys]
            y = [data[ky] for _, ky in keys] if all(ky in files for _, ky in keys) else None
    except ValueError as exc:
        raise InvalidValueError(f"cannot use {str(path)!r}: {exc}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InvalidValueError(f"cannot read {str(path)!r} (corrupt or truncated?): {exc}") from None
    return X, y


def read_inputs(
    paths: Sequence[str | os.PathLike], n_features: int, *, scaled: bool = False, max_value: float | None = 255.0
) -> tuple[list[str], np.ndarray, list]:
    """Read every input: ``(names, X, labels)``.

    ``names``: one per row (``file.npy[3]`` for arrays of several rows);
    ``X``: (N, n_features) float64 ready for the model; ``labels``: a list with
    one label or ``None`` per row (labels come only from ``.npz`` data sets).
    ``max_value``: the largest raw pixel value (``None``: unknown, so arrays
    are accepted only with ``scaled=True``).
    """
    if not paths:
        raise InvalidValueError("give at least one input: a 28×28 PNG/JPEG image, a .npy array or an .npz data set")
    names, rows, labels = [], [], []
    for path in map(Path, paths):
        if not path.is_file():
            raise InvalidValueError(f"input {str(path)!r} does not exist or is not a file")
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            if n_features != IMAGE_SIDE**2:
                raise InvalidValueError(
                    f"the model expects {n_features} features, but a 28×28 image gives 784; "
                    "images only work with MNIST models"
                )
            rows.append(scale_pixels(read_image(path), 255.0)[np.newaxis, :])
            names.append(str(path))
            labels.append(None)
            continue
        if suffix == ".npy":
            parts, part_labels = [_load_npy(path)], None
        elif suffix == ".npz":
            parts, part_labels = _load_npz(path)
        else:
            raise InvalidValueError(
                f"{str(path)!r}: unknown kind of input {suffix or '(no suffix)'!r}; "
                "give .png/.jpg/.jpeg images, .npy arrays or .npz data sets"
            )
        X = np.concatenate([_as_rows(np.asarray(p), n_features, repr(str(path))) for p in parts])
        X = _check_values(X, repr(str(path)), scaled, max_value)
        if part_labels is not None:
            y = np.concatenate([np.asarray(p).reshape(-1) for p in part_labels])
            if y.shape[0] != X.shape[0]:
                raise InvalidValueError(f"{str(path)!r} has {X.shape[0]} samples but {y.shape[0]} labels")
            labels.extend(y.tolist())
        else:
            labels.extend([None] * X.shape[0])
        rows.append(X)
        names.extend([str(path)] if X.shape[0] == 1 else [f"{path}[{i}]" for i in range(X.shape[0])])
    return names, np.concatenate(rows), labels
