"""The user's own data: a CSV table, an ``.npz`` with ``X``/``y``, or a folder of class sub-folders of images.

``read_own(path, target)`` reads the raw features and labels (labels may be
strings; the classes are their sorted distinct values, encoded 0…K−1);
``Scaling`` turns raw features into the network's inputs, fitted on the
training part and stored in the model file's header (``preprocessing``), so
that ``predict`` on raw data of the same kind applies the same scaling:

- ``minus-one-one``: the article's [−1, 1] (``(x − min)/(max − min)·2 − 1`` per feature; images: 0…255);
  the default for images;
- ``unit``: [0, 1], as most textbooks;
- ``standard``: per-feature mean 0 and variance 1; the default for tables.

Every problem with the data is one clear ``InvalidValueError``: ragged rows,
non-numeric columns, NaN, a single class, images of mixed sizes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidValueError

SCALES = ("minus-one-one", "unit", "standard")
"""The scalings of ``--scale``."""
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class OwnData:
    """Raw features (float64), labels encoded 0…K−1, the class names and the kind (``table``/``images``)."""

    X: np.ndarray
    y: np.ndarray
    classes: list
    kind: str
    image_shape: tuple[int, ...] | None = None
    """Images: ``(1, H, W)`` (grey, one channel), the sample shape a network of layers sees; tables: None."""

    @property
    def default_scale(self) -> str:
        return "minus-one-one" if self.kind == "images" else "standard"


def _encode(labels: np.ndarray, where: str) -> tuple[np.ndarray, list]:
    """Labels (numbers or strings) → ``(codes 0…K−1, sorted classes)``; refuses a single class."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iub":
        labels = labels.astype(str)
    classes, codes = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise InvalidValueError(f"{where} has one class only ({classes.tolist()}); a classifier needs two or more")
    return codes.astype(np.int64), [c.item() if hasattr(c, "item") else c for c in classes]


def read_table(path: Path, target: str | None = None) -> OwnData:
    """A CSV file: one row per sample, the label in column ``target`` (default: the last); header optional."""
    where = repr(str(path))
    try:
        first = pd.read_csv(path, header=None, nrows=1)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InvalidValueError(f"{where} is not a readable CSV table: {str(exc).strip()}") from None
    # a header: some field of the first row is not a number
    header = any(not _is_number(v) for v in first.iloc[0, :-1]) or (target is not None and not target.isdigit())
    try:
        table = pd.read_csv(path, header=0 if header else None)
    except pd.errors.ParserError as exc:
        raise InvalidValueError(f"{where} has rows of different lengths (ragged): {str(exc).strip()}") from None
    if table.shape[1] < 2:
        raise InvalidValueError(f"{where} needs at least one feature column and a label column")
    if target is None:
        column = table.columns[-1]
    elif target in table.columns:
        column = target
    elif target.isdigit() and int(target) in table.columns:
        column = int(target)
    else:
        raise InvalidValueError(f"{where} has no column {target!r}; its columns: {', '.join(map(str, table.columns))}")
    labels = table.pop(column)
    if labels.isna().any():
        raise InvalidValueError(f"{where}: the label column {column!r} has empty values")
    bad = [str(c) for c in table.columns if table[c].dtype.kind not in "biuf"]
    if bad:
        raise InvalidValueError(f"{where}: the feature column(s) {', '.join(bad[:5])} are not numeric")
    X = table.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(X)):
        rows = np.flatnonzero(~np.isfinite(X).all(axis=1))[:5] + (2 if header else 1)
        raise InvalidValueError(f"{where} has empty, NaN or infinite values (line(s) {rows.tolist()})")
    y, classes = _encode(labels.to_numpy(), where)
    return OwnData(X, y, classes, "table")


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def read_npz(path: Path) -> OwnData:
    """An ``.npz`` with ``X`` (N, features) or (N, h, w) and ``y`` (N,)."""
    where = repr(str(path))
    try:
        with np.load(path, allow_pickle=False) as data:
            if not {"X", "y"} <= set(data.files):
                raise InvalidValueError(f"{where} holds {sorted(data.files)}; own data needs arrays X and y")
            X, y = data["X"], data["y"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, InvalidValueError):
            raise
        raise InvalidValueError(f"cannot read {where} as an .npz with X and y: {exc}") from None
    if X.dtype.kind not in "biuf":
        raise InvalidValueError(f"{where}: X holds {X.dtype} values, not numbers")
    X = X.reshape(X.shape[0], -1).astype(np.float64) if X.ndim > 1 else X.reshape(-1, 1).astype(np.float64)
    if len(y) != len(X):
        raise InvalidValueError(f"{where} has {len(X)} samples but {len(y)} labels")
    if not np.all(np.isfinite(X)):
        raise InvalidValueError(f"{where}: X has NaN or infinite values")
    codes, classes = _encode(y, where)
    return OwnData(X, codes, classes, "table")


def read_image_folder(path: Path) -> OwnData:
    """A folder of class sub-folders of images: the sub-folder's name is the label; images read in grey."""
    from PIL import Image, UnidentifiedImageError

    where = repr(str(path))
    images, labels, size = [], [], None
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        for file in sorted(f for f in sub.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            try:
                with Image.open(file) as image:
                    grey = np.asarray(image.convert("L"), dtype=np.float64)
            except (UnidentifiedImageError, OSError) as exc:
                raise InvalidValueError(f"cannot read the image {str(file)!r}: {exc}") from None
            if size is None:
                size, first = grey.shape, file
            elif grey.shape != size:
                raise InvalidValueError(
                    f"{where} holds images of mixed sizes: {str(first)!r} is {size[1]}×{size[0]}, {str(file)!r} "
                    f"is {grey.shape[1]}×{grey.shape[0]}; give images of one size"
                )
            images.append(grey.reshape(-1))
            labels.append(sub.name)
    if not images:
        raise InvalidValueError(f"{where} holds no class sub-folders of images ({', '.join(IMAGE_SUFFIXES)})")
    y, classes = _encode(np.array(labels), where)
    return OwnData(np.stack(images), y, classes, "images", (1, *size))


def read_own(path: str | os.PathLike, target: str | None = None) -> OwnData:
    """The user's data at ``path``: a CSV file, an ``.npz`` with X/y or a folder of class folders of images."""
    path = Path(path)
    if path.is_dir():
        return read_image_folder(path)
    if not path.is_file():
        raise InvalidValueError(f"data {str(path)!r} does not exist")
    if path.suffix.lower() == ".npz":
        return read_npz(path)
    return read_table(path, target)


@dataclass
class Scaling:
    """How raw features become the network's inputs: ``(x − shift) / span``, then ``· 2 − 1`` for [−1, 1]."""

    kind: str
    shift: np.ndarray
    span: np.ndarray

    @classmethod
    def fit(cls, kind: str, X: np.ndarray, images: bool = False) -> Scaling:
        if kind not in SCALES:
            raise InvalidValueError(f"--scale must be one of {', '.join(SCALES)}, got {kind!r}")
        if kind == "standard":
            shift, span = X.mean(axis=0), X.std(axis=0)
        elif images:  # grey levels 0…255, as MNIST's pixels
            shift, span = np.zeros(X.shape[1]), np.full(X.shape[1], 255.0)
        else:
            shift, span = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        span = np.where(span > 0, span, 1.0)  # a constant feature stays at 0
        return cls(kind, shift, span)

    def apply(self, X: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
        Z = (np.asarray(X, dtype=np.float64) - self.shift) / self.span
        if self.kind == "minus-one-one":
            Z = Z * 2 - 1
        return Z.astype(dtype, copy=False)

    def record(self, data: OwnData, path: str | os.PathLike | None, target: str | None) -> dict[str, Any]:
        """The model header's ``preprocessing`` entry."""
        return {
            "name": "own",
            "kind": data.kind,
            "scale": self.kind,
            "shift": self.shift.tolist(),
            "span": self.span.tolist(),
            "target": target,
            "source": str(path) if path is not None else None,
            **({"image_shape": list(data.image_shape)} if data.image_shape else {}),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Scaling:
        return cls(record["scale"], np.asarray(record["shift"], dtype=np.float64), np.asarray(record["span"]))
