"""Data: MNIST from any of its usual forms, scikit-learn's digits, the stratified split.

Pixels are scaled as in the article: ``(X / 255 − 0.5) · 2`` ∈ [−1, 1].
"""

from __future__ import annotations

import gzip
import numbers
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .batching import minibatches  # noqa: F401  (part of the data API, as in the article)
from .errors import DataNotFoundError, InvalidTypeError, InvalidValueError
from .owndata import Scaling, read_own
from .validation import check_int, check_seed

IDX_FILES = {
    "x_train": "train-images*idx3*",
    "y_train": "train-labels*idx1*",
    "x_test": "t10k-images*idx3*",
    "y_test": "t10k-labels*idx1*",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def scale_pixels(X: np.ndarray, max_value: float = 255.0, dtype: type = np.float64) -> np.ndarray:
    """Pixels ``0…max_value`` → ``(X / max_value − 0.5) · 2`` in [−1, 1], as ``dtype``."""
    X = np.array(X, dtype=dtype)  # the one copy; the arithmetic then runs in place (the same numbers)
    X /= dtype(max_value)
    X -= dtype(0.5)
    X *= dtype(2)
    return X


def cache_dir() -> Path:
    """Where downloaded data is kept: ``$SCRATCHNET_CACHE``, else ``$XDG_CACHE_HOME/scratchnet``, else ``~/.cache/scratchnet``."""
    if os.environ.get("SCRATCHNET_CACHE"):
        return Path(os.environ["SCRATCHNET_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scratchnet"


# ---------------------------------------------------------------- raw readers
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of its stored shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise InvalidValueError(f"cannot read IDX file {str(path)!r}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InvalidValueError(f"{str(path)!r} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise InvalidValueError(f"{str(path)!r} is truncated (incomplete IDX header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header_len != expected:
        raise InvalidValueError(
            f"{str(path)!r} is truncated or padded: header promises {expected} bytes of data, "
            f"found {len(raw) - header_len}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)


def _find_idx(folder, pattern):
    matches = sorted(p for p in Path(folder).glob(pattern) if p.is_file())
    if not matches:
        raise InvalidValueError(
            f"folder {str(folder)!r} has no file matching {pattern!r}; it must hold the four MNIST IDX files "
            "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
            "gzipped or not)"
        )
    return matches[0]


def _raw_from_folder(folder):
    parts = {key: read_idx(_find_idx(folder, pattern)) for key, pattern in IDX_FILES.items()}
    return _concat_parts(parts, folder)


def _concat_parts(parts, where):
    X = np.concatenate([parts["x_train"], parts["x_test"]])
    y = np.concatenate([parts["y_train"], parts["y_test"]])
    return X, y, where


def _raw_from_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if {"x_train", "y_train", "x_test", "y_test"} <= files:
                return _concat_parts({k: data[k] for k in IDX_FILES}, path)
            if {"X", "y"} <= files:
                return data["X"], data["y"], path
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidValueError(f"cannot read {str(path)!r} as an .npz file: {exc}") from None
    except ValueError as exc:
        raise InvalidValueError(f"cannot read {str(path)!r}: {exc}") from None
    raise InvalidValueError(
        f"{str(path)!r} holds arrays {sorted(files)}; expected x_train/y_train/x_test/y_test or X/y"
    )


def _raw_from_source(source):
    path = Path(source).expanduser()
    if path.is_dir():
        return _raw_from_folder(path)
    if path.is_file():
        return _raw_from_npz(path)
    raise InvalidValueError(f"MNIST source {str(path)!r} does not exist (give an .npz file or a folder of IDX files)")


def _check_images(X, y, where):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 3:
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise InvalidValueError(f"{where!s}: images {X.shape} and labels {y.shape} do not fit together")
    if X.dtype.kind not in "iuf" or not np.all(np.isfinite(X)) or X.min() < 0 or X.max() > 255:
        raise InvalidValueError(f"{where!s}: pixel values must be numbers in 0..255")
    if y.dtype.kind in "US":
        try:
            y = y.astype(np.int64)
        except ValueError:
            raise InvalidValueError(
                f"{where!s}: labels must be digits like '0'…'9', got {np.unique(y)[:5].tolist()}"
            ) from None
    if y.dtype.kind not in "iuf":
        raise InvalidValueError(f"{where!s}: labels must be whole numbers, got dtype {y.dtype}")
    if y.dtype.kind == "f" and not (np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0)):
        raise InvalidValueError(f"{where!s}: labels must be whole numbers")
    if y.min() < 0:
        raise InvalidValueError(f"{where!s}: labels must be ≥ 0, got {y.min()}")
    return X, y.astype(np.int64)


def _fetch_openml():
    from sklearn.datasets import fetch_openml

    with warnings.catch_warnings():  # a failed download's retry warnings: our one-line error says it all
        warnings.simplefilter("ignore")
        X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True, parser="liac-arff")
    return X.astype(np.uint8), y.astype(np.int64)


def load_mnist(source: str | os.PathLike | None = None, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """The 70,000 MNIST digits: ``X`` (70000, 784) scaled to [−1, 1] and ``y`` (70000,) int64.

    ``dtype=None``: the raw pixels 0…255 as they were read (uint8), unscaled.

    Looks, in this order, at: ``source`` (an ``.npz`` with x_train/y_train/x_test/y_test
    or X/y, or a folder of the four IDX files, gzipped or not); the file named by
    ``$SCRATCHNET_MNIST``; the user cache (``cache_dir()/mnist.npz``); OpenML's
    ``mnist_784`` through scikit-learn, saved into the cache for next time.
    """
    if source is not None:
        X, y, where = _raw_from_source(source)
    elif os.environ.get("SCRATCHNET_MNIST"):
        X, y, where = _raw_from_source(os.environ["SCRATCHNET_MNIST"])
    elif (cache_dir() / "mnist.npz").is_file():
        X, y, where = _raw_from_npz(cache_dir() / "mnist.npz")
    else:
        try:
            X, y = _fetch_openml()
        except Exception as exc:
            raise DataNotFoundError(
                "MNIST is not available: no source given, $SCRATCHNET_MNIST is not set, "
                f"nothing in the cache ({cache_dir() / 'mnist.npz'}), and fetching mnist_784 from OpenML "
                f"failed ({type(exc).__name__}: {exc}). Provide it one of three ways: pass the path of an "
                ".npz or IDX folder (--data PATH), set SCRATCHNET_MNIST to such a path, or run once with "
                "internet access so it is downloaded into the cache."
            ) from None
        cache = cache_dir()
        cache.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache / "mnist.npz", X=X, y=y)
        where = "OpenML mnist_784"
    X, y = _check_images(X, y, where)
    return (X, y) if dtype is None else (scale_pixels(X, 255.0, dtype), y)


def load_digits(dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8×8 digits (1,797 samples, 64 features), scaled to [−1, 1] like MNIST."""
    from sklearn.datasets import load_digits as sk_load_digits

    digits = sk_load_digits()
    return scale_pixels(digits.data, 16.0, dtype), digits.target.astype(np.int64)


def load_dataset(
    name: str, source: str | os.PathLike | None = None, dtype: type = np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """``"mnist"`` or ``"digits"`` → ``(X, y)``."""
    if name == "mnist":
        return load_mnist(source, dtype=dtype)
    if name == "digits":
        if source is not None:
            raise InvalidValueError("--data is only for MNIST; the digits data set is bundled with scikit-learn")
        return load_digits(dtype=dtype)
    raise InvalidValueError(f"unknown dataset {name!r}; choose 'mnist' or 'digits'")


def preprocessing(name: str) -> dict[str, Any]:
    """How raw inputs of data set ``name`` become features, for model file headers."""
    max_value = {"mnist": 255.0, "digits": 16.0}[name]
    return {"name": "scale_pixels", "dataset": name, "max_value": max_value}


IMAGE_SHAPES = {"mnist": (1, 28, 28), "digits": (1, 8, 8)}
"""The sample shape ``(C, H, W)`` of the images of each data set (their rows are these images, flattened)."""


def sample_shape(name: str, n_features: int, record: dict[str, Any] | None = None) -> tuple[int, ...]:
    """The shape of one sample for a network of layers: the data set's image shape (``IMAGE_SHAPES``), the
    user's images' ``(1, H, W)`` (from their preprocessing ``record``), else ``(n_features,)`` (a table)."""
    if name in IMAGE_SHAPES:
        return IMAGE_SHAPES[name]
    shape = (record or {}).get("image_shape")
    fits = isinstance(shape, list) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)
    if fits and shape[0] * shape[1] * shape[2] == n_features:
        return tuple(shape)
    return (n_features,)


def default_test_size(name: str) -> float | int:
    """The article's hold-out: 10,000 samples for MNIST; 20 % for the small digits set and the user's own data."""
    return 10000 if name == "mnist" else 0.2


def load_own_split(
    data_path: str | os.PathLike,
    test_size: float | int | None,
    seed: int,
    dtype: str | type,
    scale: str | None = None,
    target: str | None = None,
) -> tuple[list[np.ndarray], dict[str, Any], list]:
    """The user's own data (``owndata.read_own``) split stratified and scaled as ``scale`` says (fitted on the
    training part): ``([X_train, X_test, y_train, y_test], preprocessing record, classes)``."""
    own = read_own(data_path, target)
    idx_train, idx_test, y_train, y_test = split(
        np.arange(len(own.y)), own.y, default_test_size("own") if test_size is None else test_size, seed
    )
    scaling = Scaling.fit(scale or own.default_scale, own.X[idx_train], images=own.kind == "images")
    dtype = np.dtype(dtype).type
    parts = [scaling.apply(own.X[idx_train], dtype), scaling.apply(own.X[idx_test], dtype), y_train, y_test]
    return parts, scaling.record(own, data_path, target), own.classes


def split(X: np.ndarray, y: np.ndarray, test_size: float | int = 10000, seed: int = 123) -> list[np.ndarray]:
    """Stratified split into ``X_train, X_test, y_train, y_test`` (article: 10,000 hold-out, seed 123).

    ``test_size``: a count of samples or a fraction in (0, 1).
    """
    from sklearn.model_selection import train_test_split

    if not hasattr(X, "__len__") or not hasattr(y, "__len__"):
        raise InvalidTypeError("X and y must be arrays (samples first)")
    n = len(y)
    if len(X) != n:
        raise InvalidValueError(f"X has {len(X)} samples but y has {n} labels; they must match")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise InvalidTypeError(f"test_size must be a count of samples or a fraction in (0, 1), got {test_size!r}")
    if isinstance(test_size, numbers.Integral) or test_size >= 1:
        test_size = check_int(test_size, "test_size")
        if not test_size < n:
            raise InvalidValueError(f"test_size must be between 1 and {n - 1} samples, got {test_size}")
    elif not test_size > 0:
        raise InvalidValueError(f"test_size as a fraction must lie strictly between 0 and 1, got {test_size}")
    seed = check_seed(seed, "seed")
    try:
        return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    except ValueError as exc:
        raise InvalidValueError(
            f"cannot split {n} samples stratified by class with test_size={test_size}: {exc} "
            "Use more samples per class or another test_size."
        ) from None


def load_split(
    dataset: str, data_path: str | os.PathLike | None, test_size: float | int | None, seed: int, dtype: str | type
) -> list[np.ndarray]:
    """Load a data set and split off its stratified hold-out: ``X_train, X_test, y_train, y_test``.

    ``test_size`` None is the data set's default (``default_test_size``). ``"own"``: the user's data at
    ``data_path`` with its default scaling (``load_own_split`` takes the options).
    """
    if dataset == "own":
        return load_own_split(data_path, test_size, seed, dtype)[0]
    dtype = np.dtype(dtype).type
    if dataset != "mnist":
        X, y = load_dataset(dataset, data_path, dtype=dtype)
        return split(X, y, default_test_size(dataset) if test_size is None else test_size, seed)
    # MNIST: split the raw bytes, then scale each part, so that no float copy of all 70,000 images is ever
    # held beside its two parts (the same numbers: the scaling is per pixel)
    raw, y = load_mnist(data_path, dtype=None)
    idx_train, idx_test, y_train, y_test = split(
        np.arange(len(y)), y, default_test_size(dataset) if test_size is None else test_size, seed
    )
    X_train = scale_pixels(raw[idx_train], 255.0, dtype)
    X_test = scale_pixels(raw[idx_test], 255.0, dtype)
    return [X_train, X_test, y_train, y_test]
