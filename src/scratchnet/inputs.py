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

In bounded memory: ``plan_inputs`` checks every input first (``.npy``
headers, shapes, dtypes, then every value, chunk by chunk), so a bad input is
an error before any prediction is printed; ``iter_batches`` then reads the
arrays again in batches of ``BATCH_ROWS`` rows (plain reads, no memory map and
no whole-array load: a 10 M-row array costs a batch). Images are checked for
their size from their header before any pixel is decoded (a decompression bomb
is a one-line error); 16-bit greyscale is scaled to 0…255, palette and
transparent images are converted through RGBA.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from tokenize import TokenError
from typing import IO, Any

import numpy as np

from .data import scale_pixels
from .errors import InvalidValueError
from .modelio import read_npy_header

IMAGE_SIDE = 28
IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
ARRAY_SUFFIXES = {".npy", ".npz"}
BATCH_ROWS = 8192
"""Rows read and predicted at a time."""
_NPY_HEADER_BYTES = 4096


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A 28×28 PNG/JPEG → its 784 raw pixels (0…255, float64), white digit on black."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img_file = Image.open(path)  # reads the header only: nothing is decoded yet
        with img_file as img:
            fmt, size = img.format, img.size
            if fmt not in ("PNG", "JPEG"):
                raise InvalidValueError(f"{str(path)!r} is a {fmt} image; give a PNG or JPEG")
            if size != (IMAGE_SIDE, IMAGE_SIDE):
                raise InvalidValueError(
                    f"{str(path)!r} is {size[0]}×{size[1]} pixels; scratchnet reads 28×28 greyscale digits "
                    "(MNIST style) and does not resize: crop or scale it to 28×28 first"
                )
            pixels = _grey_pixels(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidValueError(
            f"{str(path)!r} is refused as a decompression bomb ({exc}); scratchnet reads 28×28 digits"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, InvalidValueError):
            raise
        raise InvalidValueError(f"cannot read image {str(path)!r} (corrupt or not an image): {exc}") from None
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    if border.mean() > 127.5:  # a dark digit on a light background: make it MNIST's white on black
        pixels = 255.0 - pixels
    return pixels.reshape(-1)


def _grey_pixels(img: Any) -> np.ndarray:
    """An opened image as greyscale 0…255 floats: 16-bit and 32-bit greyscale scaled (not clipped), palette and
    transparent images composited on white."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":
        raw = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or raw.max(initial=0) > 255 else 255.0
        return np.clip(raw, 0, top) * (255.0 / top)
    if img.mode == "F":
        return np.clip(np.asarray(img, dtype=np.float64), 0, 255)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img.convert("RGBA"))
    return np.asarray(img.convert("L"), dtype=np.float64)


def read_inputs(
    paths: Sequence[str | os.PathLike], n_features: int, *, scaled: bool = False, max_value: float | None = 255.0
) -> tuple[list[str], np.ndarray, list]:
    """Read every input: ``(names, X, labels)`` (all in memory; ``plan_inputs``/``iter_batches`` stream).

    ``names``: one per row (``file.npy[3]`` for arrays of several rows);
    ``X``: (N, n_features) float64 ready for the model; ``labels``: a list with
    one label or ``None`` per row (labels come only from ``.npz`` data sets).
    ``max_value``: the largest raw pixel value (``None``: unknown, so arrays
    are accepted only with ``scaled=True``).
    """
    sources = plan_inputs(paths, n_features, scaled=scaled, max_value=max_value)
    names, rows, labels = [], [], []
    for batch_names, X, batch_labels in iter_batches(sources, scaled=scaled, max_value=max_value):
        names.extend(batch_names)
        rows.append(X)
        labels.extend(batch_labels)
    return names, np.concatenate(rows), labels


# ------------------------------------------------------------------ streaming
@dataclass
class _ArrayPart:
    """One stored array (a ``.npy`` file or an ``.npz`` entry) read row by row: its header, never all of it."""

    opener: Callable[[], IO[bytes]]
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int
    where: str
    stored: tuple[int, ...] | None = None
    """The shape in the file, when ``shape`` is its (rows, features) view."""

    @property
    def n_rows(self) -> int:
        return self.shape[0] if self.shape else 1

    @property
    def row_size(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) if self.shape else 1

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        """``(n, row_size)`` arrays of consecutive rows, ``rows`` at a time."""
        stored = self.stored or self.shape
        if self.fortran and len(stored) > 1:  # rows are not contiguous: read the whole array (rare)
            nbytes = int(np.prod(stored, dtype=np.int64)) * self.dtype.itemsize
            with self.opener() as f:
                f.read(self.offset)
                data = f.read(nbytes)
            if len(data) != nbytes:
                raise InvalidValueError(f"{self.where} is truncated: it holds fewer values than its header says")
            arr = np.frombuffer(data, dtype=self.dtype).reshape(stored, order="F").reshape(self.n_rows, self.row_size)
            for start in range(0, self.n_rows, rows):
                yield arr[start : start + rows]
            return
        row_bytes = self.row_size * self.dtype.itemsize
        with self.opener() as f:
            f.read(self.offset)
            for start in range(0, self.n_rows, rows):
                n = min(rows, self.n_rows - start)
                data = f.read(n * row_bytes)
                if len(data) != n * row_bytes:
                    raise InvalidValueError(f"{self.where} is truncated: it holds fewer rows than its header says")
                yield np.frombuffer(data, dtype=self.dtype).reshape(n, self.row_size)


def _npy_part(opener: Callable[[], IO[bytes]], where: str) -> _ArrayPart:
    """The header of a ``.npy`` stream: shape, dtype, order and where the data starts; objects refused."""
    try:
        with opener() as f:
            shape, fortran, dtype = read_npy_header(f, _NPY_HEADER_BYTES)
            offset = f.tell()
    except (OSError, EOFError, ValueError, KeyError, SyntaxError, TokenError, RecursionError, MemoryError,
            zipfile.BadZipFile) as exc:  # fmt: skip
        text = " ".join(str(exc).split())[:200]
        raise InvalidValueError(f"cannot read {where} as a .npy array (corrupt or truncated?): {text}") from None
    if dtype.hasobject:
        raise InvalidValueError(
            f"cannot read {where}: Object arrays cannot be loaded when allow_pickle=False (they could run code)"
        )
    return _ArrayPart(opener, tuple(shape), dtype, bool(fortran), offset, where)


def _rows_of(part: _ArrayPart, n_features: int, sample_shape: tuple[int, ...] | None = None) -> int:
    """The number of samples of an array of ``part.shape`` for a model of ``n_features`` inputs: ``(n,)``,
    ``(s, s)``, ``(N, n)`` or ``(N, s, s)`` with s² = n (28 × 28 for MNIST, 8 × 8 for the digits), or one or N
    samples of the model's ``sample_shape`` (a network of layers: ``(C, H, W)``)."""
    side = math.isqrt(n_features)
    square = (side, side) if side * side == n_features else None
    shape = part.shape
    if sample_shape is not None and len(sample_shape) > 1 and shape[-len(sample_shape) :] == tuple(sample_shape):
        extra = shape[: -len(sample_shape)]
        rows, width = (1 if not extra else extra[0] if len(extra) == 1 else -1), n_features
    elif len(shape) == 1:
        rows, width = 1, shape[0]
    elif len(shape) == 2 and square is not None and shape == square:
        rows, width = 1, n_features
    elif len(shape) == 3 and square is not None and shape[1:] == square:
        rows, width = shape[0], n_features
    elif len(shape) == 2:
        rows, width = shape
    else:
        rows, width = -1, -1
    if width != n_features or rows <= 0:
        raise InvalidValueError(
            f"{part.where} holds an array of shape {shape}; the model expects {n_features} features per sample: "
            f"give ({n_features},) or (N, {n_features})"
            + (f" or {square} or (N, {side}, {side})" if square is not None else "")
            + (f" or (N, {', '.join(map(str, sample_shape))})" if sample_shape and len(sample_shape) > 1 else "")
        )
    if part.dtype.kind not in "iufb":
        raise InvalidValueError(f"{part.where} holds {part.dtype} values; it must hold real numbers")
    return rows


@dataclass
class InputSource:
    """One input file, checked: its samples are read again, batch by batch, by ``iter_batches``."""

    path: Path
    kind: str
    """``image``, ``npy`` or ``npz``."""
    n_rows: int
    parts: list[tuple[_ArrayPart, _ArrayPart | None]] = field(default_factory=list)
    """``(X, y or None)`` per part (``x_train``/``x_test`` …), each X as (rows, features)."""
    label_width: int = 0

    @property
    def labelled(self) -> bool:
        return any(y is not None for _, y in self.parts)

    def names(self, start: int, stop: int) -> list[str]:
        if self.n_rows == 1 and self.kind != "npz":
            return [str(self.path)]
        return [f"{self.path}[{i}]" for i in range(start, stop)]

    @property
    def name_width(self) -> int:
        return (
            len(str(self.path)) if self.n_rows == 1 and self.kind != "npz" else len(f"{self.path}[{self.n_rows - 1}]")
        )


def _file_opener(path: Path) -> Callable[[], IO[bytes]]:
    return lambda: open(path, "rb")


def _entry_opener(path: Path, name: str) -> Callable[[], IO[bytes]]:
    class _Entry:
        def __enter__(self):
            self.zf = zipfile.ZipFile(path)
            self.f = self.zf.open(name)
            return self.f

        def __exit__(self, *exc):
            self.f.close()
            self.zf.close()

    return _Entry


def _npz_parts(path: Path) -> list[tuple[_ArrayPart, _ArrayPart | None]]:
    """The ``(X, y)`` entries of a data set archive (``X`` [+ ``y``] or ``x_train``/``x_test`` [+ …])."""
    where = repr(str(path))
    try:
        with zipfile.ZipFile(path) as zf:
            members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
            for info in zf.infolist():
                if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise InvalidValueError(f"{where}: entry {info.filename!r} is encrypted or compressed unusually")
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        if isinstance(exc, InvalidValueError):
            raise
        raise InvalidValueError(f"{where} is not a readable .npz archive (corrupt or truncated?): {exc}") from None
    if "X" in members:
        keys = [("X", "y")]
    elif {"x_train", "x_test"} <= set(members):
        keys = [("x_train", "y_train"), ("x_test", "y_test")]
    else:
        raise InvalidValueError(
            f"cannot use {where}: it holds arrays {sorted(members)}; expected X [+ y] or x_train/x_test "
            "[+ y_train/y_test]"
        )
    with_labels = all(ky in members for _, ky in keys)
    return [
        (
            _npy_part(_entry_opener(path, members[kx]), f"{where} ({kx})"),
            _npy_part(_entry_opener(path, members[ky]), f"{where} ({ky})") if with_labels else None,
        )
        for kx, ky in keys
    ]


def _check_chunks(part: _ArrayPart, where: str, scaled: bool, max_value: float | None) -> None:
    """Every value of ``part`` finite and, for raw pixels, within 0…max_value: one pass, batch by batch."""
    low, high = np.inf, -np.inf
    for chunk in part.chunks(BATCH_ROWS):
        if chunk.dtype.kind == "f" and not np.all(np.isfinite(chunk)):
            raise InvalidValueError(f"{where} contains NaN or infinite values")
        if chunk.size:
            low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    if scaled:
        return
    if max_value is None:
        raise InvalidValueError(
            f"the model does not record how raw inputs are scaled and has {part.row_size} inputs (not MNIST's 784); "
            "pass --scaled with arrays already prepared for the model"
        )
    if low < 0 or high > max_value:
        raise InvalidValueError(
            f"{where} holds values from {low:g} to {high:g}, but raw pixels lie in 0..{max_value:g}; "
            "if the array is already scaled for the model, pass --scaled"
        )


def _label_width(part: _ArrayPart) -> int:
    """The widest label of ``part`` as text (for the table's column)."""
    width = 0
    for chunk in part.chunks(BATCH_ROWS * 8):
        if not chunk.size:
            continue
        values = (chunk.min(), chunk.max()) if chunk.dtype.kind in "iu" else chunk.reshape(-1).tolist()
        width = max(width, *(len(str(v)) for v in values))
    return width


def plan_inputs(
    paths: Sequence[str | os.PathLike],
    n_features: int,
    *,
    scaled: bool = False,
    max_value: float | None = 255.0,
    sample_shape: tuple[int, ...] | None = None,
) -> list[InputSource]:
    """Check every input (kind, header, shape, dtype, every value) in bounded memory: the sources to stream.

    ``sample_shape``: a network of layers' sample shape ``(C, H, W)``, so that arrays of ``(N, C, H, W)`` are
    accepted too (every batch comes out flat, ``(N, n_features)``, and the network reshapes it).

    Raises the same ``InvalidValueError`` as ``read_inputs`` for a bad input, before anything is predicted.
    """
    if not paths:
        raise InvalidValueError("give at least one input: a 28×28 PNG/JPEG image, a .npy array or an .npz data set")
    sources = []
    for path in map(Path, paths):
        if not path.is_file():
            raise InvalidValueError(f"input {str(path)!r} does not exist or is not a file")
        suffix, where = path.suffix.lower(), repr(str(path))
        if suffix in IMAGE_SUFFIXES:
            if n_features != IMAGE_SIDE**2:
                raise InvalidValueError(
                    f"the model expects {n_features} features, but a 28×28 image gives 784; "
                    "images only work with MNIST models"
                )
            read_image(path)
            sources.append(InputSource(path, "image", 1))
            continue
        if suffix == ".npy":
            pairs = [(_npy_part(_file_opener(path), where), None)]
        elif suffix == ".npz":
            pairs = _npz_parts(path)
        else:
            raise InvalidValueError(
                f"{where}: unknown kind of input {suffix or '(no suffix)'!r}; "
                "give .png/.jpg/.jpeg images, .npy arrays or .npz data sets"
            )
        parts, n_rows, n_labels, width = [], 0, 0, 0
        for X, y in pairs:
            rows = _rows_of(X, n_features, sample_shape)
            X = _ArrayPart(X.opener, (rows, n_features), X.dtype, X.fortran, X.offset, X.where, X.shape)
            _check_chunks(X, where, scaled, max_value)
            if y is not None:
                count = int(np.prod(y.shape, dtype=np.int64))
                y = _ArrayPart(y.opener, (count,), y.dtype, y.fortran, y.offset, y.where, y.shape)
                if count != rows:
                    raise InvalidValueError(f"{str(path)!r} has {rows} samples but {count} labels")
                n_labels += count
                width = max(width, _label_width(y))
            n_rows += rows
            parts.append((X, y))
        sources.append(InputSource(path, suffix[1:], n_rows, parts, width))
    return sources


def iter_batches(
    sources: Sequence[InputSource], *, scaled: bool = False, max_value: float | None = 255.0, rows: int = BATCH_ROWS
) -> Iterator[tuple[list[str], np.ndarray, list]]:
    """``(names, X, labels)`` batches of at most ``rows`` samples, in input order: X float64 ready for the model."""
    images: list[InputSource] = []

    def flush():
        X = np.stack([scale_pixels(read_image(s.path), 255.0) for s in images])
        batch = ([str(s.path) for s in images], X, [None] * len(images))
        images.clear()
        return batch

    for source in sources:
        if source.kind == "image":
            images.append(source)
            if len(images) >= rows:
                yield flush()
            continue
        if images:
            yield flush()
        start = 0
        for X_part, y_part in source.parts:
            y_chunks = y_part.chunks(rows) if y_part is not None else None
            for chunk in X_part.chunks(rows):
                X = chunk.astype(np.float64)
                if not scaled:
                    X = scale_pixels(X, max_value)
                labels = next(y_chunks).reshape(-1).tolist() if y_chunks is not None else [None] * len(X)
                yield source.names(start, start + len(X)), X, labels
                start += len(X)
    if images:
        yield flush()
