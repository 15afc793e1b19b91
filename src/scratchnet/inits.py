"""Initial weights: ``W⁽ᵏ⁾ ~ N(0, s²)`` with s from the layer's widths; biases start at zero."""

from __future__ import annotations

import numpy as np

from .validation import check_name

INITS = {
    "normal": lambda n_in, n_out: 0.1,  # the article's N(0, 0.1²), whatever the widths
    "glorot": lambda n_in, n_out: np.sqrt(2.0 / (n_in + n_out)),  # Glorot & Bengio 2010: Var = 2/(nᵏ⁻¹ + nᵏ)
    "he": lambda n_in, n_out: np.sqrt(2.0 / n_in),  # He et al. 2015, for ReLU: Var = 2/nᵏ⁻¹
}
"""name → ``(nᵏ⁻¹, nᵏ) ↦ s``, the standard deviation W⁽ᵏ⁾ is drawn with."""

ALIASES = {"xavier": "glorot"}
"""Other names accepted for an entry of ``INITS``."""


def check_init(name: str) -> str:
    """An initialisation name (``xavier`` is ``glorot``) → its key in ``INITS``."""
    return check_name(name, INITS, "init", ALIASES)
