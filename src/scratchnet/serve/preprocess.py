"""A drawing → a model's input, the way the training digits were made.

MNIST (LeCun et al.): the digit's bounding box is scaled to fit a 20 × 20 box
(aspect ratio kept, anti-aliased, hence grey levels) and placed in a 28 × 28
image so that its centre of mass lies at the centre. scikit-learn's 8 × 8
digits (UCI): the digit is scaled to fit the 32 × 32 frame and each 4 × 4 block
is counted, giving 0…16. Both are done here, on the server, so the page and
the JSON API agree.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from ..errors import InvalidValueError

SIDE = 28
"""The drawing's side: ``/api/predict`` takes 28 × 28 = 784 grey levels, 0…255, white ink on black."""


def _fit(crop, box):
    """``crop`` (float, 0…255) scaled so that its longer side is ``box`` (Lanczos, anti-aliased)."""
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.LANCZOS))
    return np.clip(resized, 0.0, 255.0)


def _bounding_box(image, threshold=0.0):
    rows = np.flatnonzero(image.max(axis=1) > threshold)
    cols = np.flatnonzero(image.max(axis=0) > threshold)
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def mnist_like(pixels):
    """28 × 28 grey levels → the MNIST normalisation: fit in 20 × 20, centre of mass at the centre of 28 × 28."""
    image = np.asarray(pixels, dtype=np.float64).reshape(SIDE, SIDE)
    if not np.any(image > 0):
        return np.zeros((SIDE, SIDE))
    digit = _fit(_bounding_box(image), 20)
    out = np.zeros((SIDE, SIDE))
    h, w = digit.shape
    top, left = (SIDE - h) // 2, (SIDE - w) // 2
    out[top : top + h, left : left + w] = digit
    cy, cx = ndimage.center_of_mass(out)
    out = ndimage.shift(out, ((SIDE - 1) / 2 - cy, (SIDE - 1) / 2 - cx), order=1, mode="constant", cval=0.0)
    return np.clip(out, 0.0, 255.0)


def digits_like(pixels):
    """28 × 28 grey levels → an 8 × 8 image of 0…16 as in scikit-learn's digits (fit in 32 × 32, 4 × 4 blocks)."""
    image = np.asarray(pixels, dtype=np.float64).reshape(SIDE, SIDE)
    if not np.any(image > 0):
        return np.zeros((8, 8))
    digit = _fit(_bounding_box(image), 32)
    frame = np.zeros((32, 32))
    h, w = digit.shape
    top, left = (32 - h) // 2, (32 - w) // 2
    frame[top : top + h, left : left + w] = digit
    return frame.reshape(8, 4, 8, 4).mean(axis=(1, 3)) / 255.0 * 16.0


_PLAIN = {int, float}


def check_pixels(pixels):
    """The ``pixels`` of a request: 784 finite numbers in 0…255 → a float array; else ``InvalidValueError``."""
    if not isinstance(pixels, list):
        raise InvalidValueError(f"pixels must be a list of {SIDE * SIDE} numbers 0..255, got {type(pixels).__name__}")
    if len(pixels) != SIDE * SIDE:
        raise InvalidValueError(f"pixels must hold {SIDE * SIDE} numbers (28 × 28, row-major), got {len(pixels)}")
    if not all(type(v) in _PLAIN or isinstance(v, (np.integer, np.floating)) for v in pixels):  # no bool, str, list
        raise InvalidValueError("pixels must all be numbers 0..255")
    array = np.asarray(pixels, dtype=np.float64)
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 255:
        raise InvalidValueError("pixels must be finite numbers between 0 and 255 (white ink on black)")
    return array


def model_image(pixels, preprocessing, n_inputs, center=True):
    """The image a model sees (in raw pixel units) and its features: ``(image, max_value, x)``.

    ``preprocessing`` is the model header's entry (``{"name": "scale_pixels",
    "dataset": "mnist"|"digits", "max_value": 255|16}``); without one, a model
    with 64 inputs is taken for digits and one with 784 for MNIST. Features are
    ``(image / max_value − 0.5) · 2``, as ``scratchnet.data.scale_pixels``.
    ``center=False`` skips the MNIST normalisation (the pixels are used as given).
    """
    dataset = (preprocessing or {}).get("dataset") or {64: "digits", SIDE * SIDE: "mnist"}.get(n_inputs)
    if dataset == "digits" and n_inputs == 64:
        image = digits_like(pixels) if center else _block_mean(pixels)
        max_value = float((preprocessing or {}).get("max_value", 16.0))
    elif n_inputs == SIDE * SIDE:
        image = mnist_like(pixels) if center else np.asarray(pixels, dtype=np.float64).reshape(SIDE, SIDE)
        max_value = float((preprocessing or {}).get("max_value", 255.0))
    else:
        raise InvalidValueError(f"this page draws 28 × 28 digits; a model with {n_inputs} inputs cannot take them")
    x = (image.reshape(1, -1) / max_value - 0.5) * 2.0
    return image, max_value, x


def _block_mean(pixels):
    """28 × 28 → 8 × 8 by area averaging (0…16), without normalisation."""
    image = np.asarray(pixels, dtype=np.float64).reshape(SIDE, SIDE)
    big = np.asarray(Image.fromarray(image.astype(np.float32)).resize((32, 32), Image.BOX))
    return np.clip(big, 0, 255).reshape(8, 4, 8, 4).mean(axis=(1, 3)) / 255.0 * 16.0
