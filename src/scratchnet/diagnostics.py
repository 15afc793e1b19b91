"""Per-layer gradient diagnostics: why do deep sigmoid networks learn slowly?

Once per epoch (``train(..., diagnostics=True)``, ``scratchnet train
--diagnostics``) the network's own ``forward`` and ``backward`` run on a fixed
sample of the training rows (1,000 by default, drawn once per ``train`` call)
and give, for every layer k = 1…L:

* ``grad_norm_k``: the Frobenius norm ‖∂L/∂W⁽ᵏ⁾‖ of the loss gradient of the
  sample (the mean loss, as in a minibatch step). In a deep sigmoid network
  these shrink layer by layer towards the input: σ'(z) ≤ 1/4 multiplies each
  step of backpropagation (vanishing gradients).
* ``saturated_k`` (hidden layers only): for sigmoid, the share of the sample's
  units with A⁽ᵏ⁾ < 0.01 or > 0.99 (σ' < 0.0099); for tanh, |A⁽ᵏ⁾| > 0.99. NaN
  for activations that do not saturate (ReLU, leaky ReLU, identity).

The records live on the network (``net.diagnostics``: one dict per epoch), in
the model file (array ``diagnostics`` with the header entry
``diagnostics_columns``) and in ``gradients.png``; the history DataFrame keeps
its fixed ``HISTORY_COLUMNS``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InvalidValueError
from .losses import int_to_onehot
from .validation import check_features, check_labels

SAMPLE_ROWS = 1000
"""Training rows the diagnostics are measured on, drawn once per ``train`` call."""

SATURATION = {"sigmoid": (0.01, 0.99), "tanh": (-0.99, 0.99)}
"""Hidden activation → the (low, high) bounds outside which a unit counts as saturated."""


def columns(n_layers):
    """The record keys for a network of ``n_layers`` layers: epoch, grad_norm_1…L, saturated_1…L−1."""
    return (
        ["epoch"] + [f"grad_norm_{k}" for k in range(1, n_layers + 1)] + [f"saturated_{k}" for k in range(1, n_layers)]
    )


def sample(net, X, y, n=SAMPLE_ROWS, seed=None):
    """A fixed sample of at most ``n`` rows of ``X``/``y`` (checked for ``net``), drawn by ``default_rng(seed)``."""
    X = check_features(X, net.layers[0], net.dtype, name="X_train")
    y = check_labels(y, net.n_classes, X.shape[0], name="y_train")
    if X.shape[0] <= n:
        return X, y
    rows = np.sort(np.random.default_rng(seed).choice(X.shape[0], size=n, replace=False))
    return X[rows], y[rows]


def saturated_share(activation, a):
    """The share of entries of the hidden activations ``a`` that are saturated; NaN if ``activation`` cannot saturate."""
    if activation not in SATURATION:
        return float("nan")
    low, high = SATURATION[activation]
    return float(np.count_nonzero((a < low) | (a > high)) / a.size)


def measure(net, X, y, epoch=None):
    """One diagnostics record of ``net`` on ``X``/``y`` (integer labels): see the module's docstring."""
    activations = net.forward(X)
    Y = int_to_onehot(y, net.n_classes).astype(net.dtype, copy=False)
    weight_grads, _ = net.backward(X, Y, activations)
    record = {"epoch": -1 if epoch is None else int(epoch)}
    for k, g in enumerate(weight_grads, start=1):
        record[f"grad_norm_{k}"] = float(np.linalg.norm(g.astype(np.float64)))
    for k, a in enumerate(activations[:-1], start=1):
        record[f"saturated_{k}"] = saturated_share(net.activation, a)
    return record


def epoch_callback(net, X, y, seed=None, n=SAMPLE_ROWS):
    """``record(epoch)``: measures ``net`` on a fixed sample and appends the record to ``net.diagnostics``."""
    Xs, ys = sample(net, X, y, n, seed)
    if not isinstance(getattr(net, "diagnostics", None), list):
        net.diagnostics = []

    def record(epoch):
        net.diagnostics.append(measure(net, Xs, ys, epoch))

    return record


# ------------------------------------------------------------------ model files
def to_array(records, n_layers):
    """``(columns, array)`` of ``records`` for a model file; ``None`` if there are none."""
    if not records:
        return None
    cols = columns(n_layers)
    return cols, np.array([[float(r.get(c, np.nan)) for c in cols] for r in records], dtype=np.float64)


def from_array(array, cols, n_layers, path="<model>"):
    """The records stored by ``to_array``; an inconsistent entry is an ``InvalidValueError``."""
    if cols != columns(n_layers) or array.ndim != 2 or array.shape[1] != len(cols) or array.dtype.kind != "f":
        raise InvalidValueError(f"{str(path)!r} has a malformed diagnostics array of shape {array.shape}")
    return [{c: (int(v) if c == "epoch" else float(v)) for c, v in zip(cols, row)} for row in array]


def save_extra(net, arrays, header):
    """Add ``net.diagnostics`` (if any) to the ``arrays`` and ``header`` of a model file being written."""
    stored = to_array(getattr(net, "diagnostics", None), net.n_layers)
    if stored is not None:
        header["diagnostics_columns"], arrays["diagnostics"] = stored


def load_extra(net, header, arrays, path="<model>"):
    """Set ``net.diagnostics`` from a model file's arrays (an empty list if it has none)."""
    net.diagnostics = []
    if "diagnostics" in arrays:
        net.diagnostics = from_array(arrays["diagnostics"], header.get("diagnostics_columns"), net.n_layers, path)


# ------------------------------------------------------------------ figure
def _layer(key):
    return int(key.rsplit("_", 1)[1])


def plot_gradients(records, path, title="per-layer gradient norms"):
    """``gradients.png``: ‖∂L/∂W⁽ᵏ⁾‖ per layer over the epochs (log scale) and the saturated shares."""
    from matplotlib.figure import Figure

    if not records:
        raise InvalidValueError("no diagnostics to plot: train with diagnostics=True (--diagnostics)")
    epochs = [r["epoch"] for r in records]
    norms = sorted((k for k in records[0] if k.startswith("grad_norm_")), key=_layer)
    sats = sorted((k for k in records[0] if k.startswith("saturated_")), key=_layer)
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    for k in norms:
        ax1.plot(epochs, [r[k] for r in records], label=f"layer {k.rsplit('_', 1)[1]}")
    ax1.set_yscale("log")
    ax1.set(xlabel="epoch", ylabel="‖∂L/∂W⁽ᵏ⁾‖", title=title)
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize="small")
    shown = [k for k in sats if not all(np.isnan(r[k]) for r in records)]
    for k in shown:
        ax2.plot(epochs, [r[k] for r in records], label=f"hidden layer {k.rsplit('_', 1)[1]}")
    ax2.set(xlabel="epoch", ylabel="share of saturated units", title="saturated sigmoid/tanh units", ylim=(0, 1))
    ax2.grid(True, alpha=0.3)
    if shown:
        ax2.legend(fontsize="small")
    else:
        ax2.text(0.5, 0.5, "no saturating hidden activation", ha="center", va="center", transform=ax2.transAxes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
