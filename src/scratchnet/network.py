"""The reference network of the article: sigmoid after every layer, MSE loss.

Readable before fast: every line of ``forward`` and ``backward`` is a formula of
sections 1–3 of the article, under its name. The fast multi-network engine lives
apart (``scratchnet.engine``) and is tested against this class.

Notation: L layers (the input is not a layer), ``layers = [n⁰, n¹, …, nᴸ]``;
``weights[k-1]`` is W⁽ᵏ⁾ with shape (nᵏ⁻¹, nᵏ), ``biases[k-1]`` is b⁽ᵏ⁾ with
shape (nᵏ,), for k = 1…L.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .activations import ACTIVATIONS, DERIVATIVES
from .losses import LOSSES, int_to_onehot
from .validation import (
    check_activations,
    check_dtype,
    check_features,
    check_int,
    check_labels,
    check_layers,
    check_onehot,
    check_positive_float,
    check_seed,
)

HISTORY_COLUMNS = ["epoch", "loss_training", "accuracy_training", "loss_test", "accuracy_test", "seconds"]


class MultilayerNeuralNetClassifier:
    """A fully connected feed-forward classifier of any depth and width.

    Parameters
    ----------
    layers : list of int
        ``[n⁰, n¹, …, nᴸ]``: input width, hidden widths, number of classes.
    random_seed : int or None
        Seeds the weight initialisation (``W ~ N(0, 0.1²)``, biases zero).
    dtype : np.float64 or np.float32
        Precision of parameters and computation.
    """

    def __init__(self, layers, random_seed=None, dtype=np.float64):
        self.layers = check_layers(layers)
        self.random_seed = check_seed(random_seed)
        self.dtype = check_dtype(dtype)
        self.activation = "sigmoid"
        self.loss_function = LOSSES["mse"]()
        rng = np.random.default_rng(random_seed)
        self.weights = [
            rng.normal(0.0, 0.1, size=(n_in, n_out)).astype(self.dtype)
            for n_in, n_out in zip(self.layers[:-1], self.layers[1:])
        ]
        self.biases = [np.zeros(n_out, dtype=self.dtype) for n_out in self.layers[1:]]
        self.history_records = []

    # ------------------------------------------------------------------ sizes
    @property
    def n_layers(self):
        """L, the number of layers with weights (the input is not a layer)."""
        return len(self.layers) - 1

    @property
    def n_classes(self):
        return self.layers[-1]

    @property
    def n_parameters(self):
        """``Σₖ nᵏ·(nᵏ⁻¹ + 1)``: 39,760 for [784, 50, 10]."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    @property
    def epochs_trained(self):
        return len(self.history_records)

    @property
    def history(self):
        """Every epoch trained so far (all calls of ``train``), one row each."""
        return pd.DataFrame(self.history_records, columns=HISTORY_COLUMNS)

    def __repr__(self):
        return (
            f"MultilayerNeuralNetClassifier(layers={self.layers}, random_seed={self.random_seed}, "
            f"dtype=np.{self.dtype.name})"
        )

    # ----------------------------------------------------------------- passes
    def _as_batch(self, x):
        return check_features(x, self.layers[0], self.dtype, name="x")

    def forward(self, x):
        """The activated values of every layer: a list of L matrices (N, nᵏ).

        ``x`` is (N, n⁰), or a 1-D sample treated as the row vector (1, n⁰).
        The last matrix, A⁽ᴸ⁾, is the prediction.
        """
        a = self._as_batch(x)
        sigma = ACTIVATIONS[self.activation]
        activations = []
        for W, b in zip(self.weights, self.biases):
            z = a @ W + b  # Z⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾ · W⁽ᵏ⁾ + b⁽ᵏ⁾
            a = sigma(z)  # A⁽ᵏ⁾ = σ(Z⁽ᵏ⁾)
            activations.append(a)
        return activations

    def backward(self, x, y_onehot, activations):
        """Gradients of the loss by backpropagation (article, section 3).

        ``x`` (N, n⁰), ``y_onehot`` (N, nᴸ), ``activations`` from ``forward(x)``.
        Returns ``(weight_grads, bias_grads)``: two lists in layer order, shaped
        like ``weights`` and ``biases``.
        """
        x = self._as_batch(x)
        y_onehot = check_onehot(y_onehot, x.shape[0], self.n_classes, self.dtype)
        activations = check_activations(activations, self.layers, x.shape[0])
        sigma_prime = DERIVATIVES[self.activation]
        weight_grads = [None] * self.n_layers
        bias_grads = [None] * self.n_layers
        dA = self.loss_function.delta(activations[-1], y_onehot)  # ∂L/∂A⁽ᴸ⁾ = 2/(N·nᴸ)·(A⁽ᴸ⁾ − Y)
        for k in reversed(range(self.n_layers)):
            dZ = dA * sigma_prime(activations[k])  # ∂L/∂Z⁽ᵏ⁾ = ∂L/∂A⁽ᵏ⁾ ⊙ A⁽ᵏ⁾ ⊙ (1 − A⁽ᵏ⁾)
            a_prev = activations[k - 1] if k > 0 else x  # A⁽⁰⁾ = X
            weight_grads[k] = a_prev.T @ dZ  # ∂L/∂W⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾ᵀ · ∂L/∂Z⁽ᵏ⁾
            bias_grads[k] = dZ.sum(axis=0)  # ∂L/∂b⁽ᵏ⁾ = Σ over rows of ∂L/∂Z⁽ᵏ⁾
            if k > 0:
                dA = dZ @ self.weights[k].T  # ∂L/∂A⁽ᵏ⁻¹⁾ = ∂L/∂Z⁽ᵏ⁾ · W⁽ᵏ⁾ᵀ
        return weight_grads, bias_grads

    def backward_numerical(self, x, y_onehot, layer, eps=1e-5):
        """``∂L/∂W⁽ᵏ⁾`` and ``∂L/∂b⁽ᵏ⁾`` of layer ``layer`` (1-based, L = output) by central differences.

        ``(L(θ + ε) − L(θ − ε)) / 2ε`` for every parameter: two forward passes
        each. For checking ``backward`` only, never for training. Returns
        ``(weight_grad, bias_grad)`` shaped like that layer's parameters.
        """
        layer = check_int(layer, "layer")
        if layer > self.n_layers:
            raise ValueError(f"layer must be between 1 and {self.n_layers} (the output layer), got {layer}")
        eps = check_positive_float(eps, "eps")
        x = self._as_batch(x)
        y_onehot = check_onehot(y_onehot, x.shape[0], self.n_classes, self.dtype)
        grads = []
        for param in (self.weights[layer - 1], self.biases[layer - 1]):
            grad = np.empty(param.shape, dtype=np.float64)
            for idx in np.ndindex(param.shape):
                original = param[idx]
                param[idx] = original + eps
                loss_plus = self.loss_function.value(self.forward(x)[-1], y_onehot)
                param[idx] = original - eps
                loss_minus = self.loss_function.value(self.forward(x)[-1], y_onehot)
                param[idx] = original
                grad[idx] = (loss_plus - loss_minus) / (2 * eps)
            grads.append(grad)
        return grads[0], grads[1]

    # ------------------------------------------------------------- evaluation
    def predict_proba(self, x):
        """The output activations A⁽ᴸ⁾ (N, nᴸ): one-vs-all scores in [0, 1]."""
        return self.forward(x)[-1]

    def predict(self, x):
        """Predicted classes (N,) int64: the argmax of A⁽ᴸ⁾."""
        return np.argmax(self.predict_proba(x), axis=1).astype(np.int64)

    def loss(self, x, y):
        """The loss of the network on ``x`` against integer labels ``y``."""
        a = self.predict_proba(x)
        y = check_labels(y, self.n_classes, a.shape[0])
        return self.loss_function.value(a, int_to_onehot(y, self.n_classes))

    def accuracy(self, x, y):
        """The fraction of ``x`` classified as ``y`` (integer labels)."""
        pred = self.predict(x)
        y = check_labels(y, self.n_classes, pred.shape[0])
        return float(np.mean(pred == y))

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the network to ``path`` (.npz, no pickle; see ``scratchnet.modelio``)."""
        from .modelio import save_network

        return save_network(self, path)

    @classmethod
    def load(cls, path):
        """Read a network written by ``save``; a broken or foreign file raises ``ValueError``."""
        from .modelio import load_network

        return load_network(path)
