"""The reference network of the article: sigmoid after every layer, MSE loss.

Readable before fast: every line of ``forward`` and ``backward`` is a formula of
sections 1–3 of the article, under its name. The fast multi-network engine lives
apart (``scratchnet.engine``) and is tested against this class.

Beyond the article (its "next steps", docs/beyond.md), each a table lookup next
to the article's choice, which stays the default: the hidden activation
(``activations.ACTIVATIONS``), the output activation (sigmoid or softmax), the
loss (``losses.LOSSES``), the initialisation (``INITS``) and inverted dropout
on the hidden layers during training (``forward_train``).

Notation: L layers (the input is not a layer), ``layers = [n⁰, n¹, …, nᴸ]``;
``weights[k-1]`` is W⁽ᵏ⁾ with shape (nᵏ⁻¹, nᵏ), ``biases[k-1]`` is b⁽ᵏ⁾ with
shape (nᵏ,), for k = 1…L.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from . import modelio
from .activations import ACTIVATIONS, OUTPUTS
from .errors import InvalidValueError
from .inits import INITS
from .losses import LOSSES, check_pair, int_to_onehot
from .recipe import DEFAULTS, Recipe, check_dropout
from .validation import (
    check_activations,
    check_dtype,
    check_features,
    check_int,
    check_labels,
    check_layers,
    check_onehot,
    check_positive_float,
    check_rng,
    check_seed,
)

HISTORY_COLUMNS = ["epoch", "loss_training", "accuracy_training", "loss_test", "accuracy_test", "seconds"]


def draw_dropout_mask_(
    out: np.ndarray, rng: np.random.Generator, rate: float, scratch: np.ndarray | None = None
) -> np.ndarray:
    """``out ← [U < 1 − p] / (1 − p)`` in place, U uniform from ``rng``: an inverted-dropout mask of rate p.

    Kept nodes are scaled by 1/(1 − p), so the next layer sees the same expected
    input as without dropout and evaluation needs no rescaling. U is drawn as
    float64 (the same stream for any dtype of ``out``), into ``scratch`` when given
    (a float64 array of ``out``'s shape, reused between draws) instead of a new array.
    """
    keep = 1.0 - rate
    if scratch is not None and scratch.shape == out.shape and scratch.dtype == np.float64:
        u = rng.random(out=scratch)
    else:
        u = rng.random(out.shape)
    np.less(u, keep, out=out, casting="unsafe")
    out /= out.dtype.type(keep)
    return out


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
    activation : a name of ``activations.ACTIVATIONS``, default the article's sigmoid
        σ of the hidden layers (sigmoid, tanh, relu, leaky_relu, elu, identity).
    output : a name of ``activations.OUTPUTS``, default the article's sigmoid
        Activation of the output layer (sigmoid or softmax).
    loss : a name of ``losses.LOSSES``, default the article's mse
        With a sigmoid output: mse or binary_cross_entropy; with softmax: mse or
        cross_entropy (``losses.PAIRS``). ``-`` for ``_`` and ``ce``/``bce`` are accepted.
    init : a name of ``inits.INITS`` (or ``xavier`` for glorot), default the article's normal
        ``W⁽ᵏ⁾ ~ N(0, s²)`` with s = 0.1 (the article), √(2/(nᵏ⁻¹+nᵏ)) or √(2/nᵏ⁻¹).

    The names are checked and canonicalised by ``recipe.Recipe``; the defaults
    are ``recipe.DEFAULTS``.
    """

    def __init__(
        self,
        layers: list[int],
        random_seed: int | None = None,
        dtype=np.float64,
        *,
        activation: str = DEFAULTS["activation"],
        output: str = DEFAULTS["output"],
        loss: str = DEFAULTS["loss"],
        init: str = DEFAULTS["init"],
    ) -> None:
        self.layers = check_layers(layers)
        self.random_seed = check_seed(random_seed)
        self.dtype = check_dtype(dtype)
        recipe = Recipe(activation=activation, output=output, loss=loss, init=init)
        self.activation, self.output, self.init = recipe.activation, recipe.output, recipe.init
        self.loss_function = LOSSES[recipe.loss]
        self._start = check_pair(self.output, recipe.loss)
        rng = np.random.default_rng(random_seed)
        self.weights = [
            rng.normal(0.0, INITS[self.init](n_in, n_out), size=(n_in, n_out)).astype(self.dtype)
            for n_in, n_out in zip(self.layers[:-1], self.layers[1:])
        ]
        self.biases = [np.zeros(n_out, dtype=self.dtype) for n_out in self.layers[1:]]
        self.history_records: list[dict] = []
        # The optimiser's state between training calls (velocities, Adam's moments; see
        # ``optimizers``): kept in memory and by pickle, not in model files.
        self.optimizer_state: dict | None = None

    # ------------------------------------------------------------------ sizes
    @property
    def n_layers(self) -> int:
        """L, the number of layers with weights (the input is not a layer)."""
        return len(self.layers) - 1

    @property
    def n_classes(self) -> int:
        return self.layers[-1]

    @property
    def n_parameters(self) -> int:
        """``Σₖ nᵏ·(nᵏ⁻¹ + 1)``: 39,760 for [784, 50, 10]."""
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases))

    @property
    def epochs_trained(self) -> int:
        return len(self.history_records)

    @property
    def history(self) -> pd.DataFrame:
        """Every epoch trained so far (all calls of ``train``), one row each."""
        return pd.DataFrame(self.history_records, columns=HISTORY_COLUMNS)

    @property
    def options(self) -> dict[str, str]:
        """The choices beyond the article: ``{"activation", "output", "loss", "init"}``."""
        return {
            "activation": self.activation,
            "output": self.output,
            "loss": self.loss_function.name,
            "init": self.init,
        }

    @property
    def recipe(self) -> Recipe:
        """The network's part of the recipe (activation, output, loss, init; training fields at their defaults)."""
        return Recipe(**self.options)

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self.recipe.changes().items())
        return (
            f"MultilayerNeuralNetClassifier(layers={self.layers}, random_seed={self.random_seed}, "
            f"dtype=np.{self.dtype.name}{extra})"
        )

    # ----------------------------------------------------------------- passes
    def _as_batch(self, x):
        return check_features(x, self.layers[0], self.dtype, name="x")

    def forward(self, x: ArrayLike) -> list[np.ndarray]:
        """The activated values of every layer: a list of L matrices (N, nᵏ).

        ``x`` is (N, n⁰), or a 1-D sample treated as the row vector (1, n⁰).
        The last matrix, A⁽ᴸ⁾, is the prediction. No dropout: this is the
        network as evaluated.
        """
        return self._forward(self._as_batch(x), None)

    def forward_train(
        self, x: ArrayLike, dropout: float, rng: np.random.Generator | None
    ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        """Forward pass with inverted dropout on the hidden layers: ``(activations, masks)``.

        Each hidden node is kept with probability 1 − p (``dropout`` = p) and
        the kept ones are scaled by 1/(1 − p), so the next layer sees
        ``A⁽ᵏ⁾ ⊙ M⁽ᵏ⁾`` with ``M⁽ᵏ⁾ ∈ {0, 1/(1−p)}`` and the same expected input
        as without dropout (evaluation needs no rescaling). ``activations``
        are the undropped A⁽ᵏ⁾; ``masks`` (one per hidden layer, drawn from the
        generator ``rng``) go to ``backward``. p = 0 gives ``masks=None``.
        """
        x = self._as_batch(x)
        dropout = check_dropout(dropout)
        if dropout == 0:
            return self._forward(x, None), None
        check_rng(rng)
        masks = [draw_dropout_mask_(np.empty((x.shape[0], n), self.dtype), rng, dropout) for n in self.layers[1:-1]]
        return self._forward(x, masks), masks

    def _forward(self, a, masks):
        sigma = ACTIVATIONS[self.activation]
        sigma_out = OUTPUTS[self.output]
        activations = []
        for k, (W, b) in enumerate(zip(self.weights, self.biases)):
            if k > 0 and masks is not None:
                a = a * masks[k - 1]  # dropout: layer k+1 sees A⁽ᵏ⁾ ⊙ M⁽ᵏ⁾
            z = a @ W + b  # Z⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾ · W⁽ᵏ⁾ + b⁽ᵏ⁾
            a = (sigma if k < self.n_layers - 1 else sigma_out).forward_(z)  # A⁽ᵏ⁾ = σ(Z⁽ᵏ⁾), in place of Z
            activations.append(a)
        return activations

    def _check_masks(self, masks, n_samples):
        if masks is None:
            return None
        if not isinstance(masks, (list, tuple)) or len(masks) != self.n_layers - 1:
            raise InvalidValueError(
                f"masks must be the list of {self.n_layers - 1} hidden-layer masks from forward_train"
            )
        for k, (m, n) in enumerate(zip(masks, self.layers[1:-1]), start=1):
            if not isinstance(m, np.ndarray) or m.shape != (n_samples, n):
                raise InvalidValueError(
                    f"masks[{k - 1}] (layer {k}) must have shape ({n_samples}, {n}); pass forward_train's"
                )
        return list(masks)

    def backward(
        self,
        x: ArrayLike,
        y_onehot: ArrayLike,
        activations: list[np.ndarray],
        masks: list[np.ndarray] | None = None,
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of the loss by backpropagation (article, section 3).

        ``x`` (N, n⁰), ``y_onehot`` (N, nᴸ), ``activations`` from ``forward(x)``
        (or ``forward_train``, then with its ``masks``).
        Returns ``(weight_grads, bias_grads)``: two lists in layer order, shaped
        like ``weights`` and ``biases``.
        """
        x = self._as_batch(x)
        y_onehot = check_onehot(y_onehot, x.shape[0], self.n_classes, self.dtype)
        activations = check_activations(activations, self.layers, x.shape[0])
        masks = self._check_masks(masks, x.shape[0])
        sigma = ACTIVATIONS[self.activation]
        weight_grads = [None] * self.n_layers
        bias_grads = [None] * self.n_layers
        A_L = activations[-1]
        if self._start == "fused":
            dZ = self.loss_function.delta_z(A_L, y_onehot)  # ∂L/∂Z⁽ᴸ⁾ = (A⁽ᴸ⁾ − Y)/N (CE) or /(N·nᴸ) (BCE)
        else:
            dA = self.loss_function.delta(A_L, y_onehot)  # ∂L/∂A⁽ᴸ⁾ = 2/(N·nᴸ)·(A⁽ᴸ⁾ − Y) (MSE)
            # ∂L/∂Z⁽ᴸ⁾ = ∂L/∂A⁽ᴸ⁾ ⊙ A⁽ᴸ⁾ ⊙ (1 − A⁽ᴸ⁾) (sigmoid)
            dZ = OUTPUTS[self.output].backward_(dA, A_L, np.empty_like(dA))
        for k in reversed(range(self.n_layers)):
            if k < self.n_layers - 1:
                # ∂L/∂Z⁽ᵏ⁾ = ∂L/∂A⁽ᵏ⁾ ⊙ σ'(Z⁽ᵏ⁾), sigmoid: A⁽ᵏ⁾ ⊙ (1 − A⁽ᵏ⁾)
                dZ = sigma.backward_(dA, activations[k], np.empty_like(dA))
            a_prev = activations[k - 1] if k > 0 else x  # A⁽⁰⁾ = X
            if k > 0 and masks is not None:
                a_prev = a_prev * masks[k - 1]  # what layer k saw: A⁽ᵏ⁻¹⁾ ⊙ M⁽ᵏ⁻¹⁾
            weight_grads[k] = a_prev.T @ dZ  # ∂L/∂W⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾ᵀ · ∂L/∂Z⁽ᵏ⁾
            bias_grads[k] = dZ.sum(axis=0)  # ∂L/∂b⁽ᵏ⁾ = Σ over rows of ∂L/∂Z⁽ᵏ⁾
            if k > 0:
                dA = dZ @ self.weights[k].T  # ∂L/∂A⁽ᵏ⁻¹⁾ = ∂L/∂Z⁽ᵏ⁾ · W⁽ᵏ⁾ᵀ
                if masks is not None:
                    dA = dA * masks[k - 1]  # through the dropout: ⊙ M⁽ᵏ⁻¹⁾
        return weight_grads, bias_grads

    def backward_numerical(
        self,
        x: ArrayLike,
        y_onehot: ArrayLike,
        layer: int,
        eps: float = 1e-5,
        masks: list[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``∂L/∂W⁽ᵏ⁾`` and ``∂L/∂b⁽ᵏ⁾`` of layer ``layer`` (1-based, L = output) by central differences.

        ``(L(θ + ε) − L(θ − ε)) / 2ε`` for every parameter: two forward passes
        each. For checking ``backward`` only, never for training. Returns
        ``(weight_grad, bias_grad)`` shaped like that layer's parameters.
        Deterministic: no dropout is drawn; given ``masks`` (from
        ``forward_train``) are applied as fixed, to check backward through them.
        """
        layer = check_int(layer, "layer")
        if layer > self.n_layers:
            raise InvalidValueError(f"layer must be between 1 and {self.n_layers} (the output layer), got {layer}")
        eps = check_positive_float(eps, "eps")
        x = self._as_batch(x)
        y_onehot = check_onehot(y_onehot, x.shape[0], self.n_classes, self.dtype)
        masks = self._check_masks(masks, x.shape[0])
        grads = []
        for param in (self.weights[layer - 1], self.biases[layer - 1]):
            grad = np.empty(param.shape, dtype=np.float64)
            for idx in np.ndindex(param.shape):
                original = param[idx]
                param[idx] = original + eps
                loss_plus = self.loss_function.value(self._forward(x, masks)[-1], y_onehot)
                param[idx] = original - eps
                loss_minus = self.loss_function.value(self._forward(x, masks)[-1], y_onehot)
                param[idx] = original
                grad[idx] = (loss_plus - loss_minus) / (2 * eps)
            grads.append(grad)
        return grads[0], grads[1]

    # ------------------------------------------------------------- evaluation
    def predict_proba(self, x: ArrayLike) -> np.ndarray:
        """The output activations A⁽ᴸ⁾ (N, nᴸ): one-vs-all scores in [0, 1] (sigmoid) or a distribution (softmax)."""
        return self.forward(x)[-1]

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Predicted classes (N,) int64: the argmax of A⁽ᴸ⁾."""
        return np.argmax(self.predict_proba(x), axis=1).astype(np.int64)

    def loss(self, x: ArrayLike, y: ArrayLike) -> float:
        """The loss of the network on ``x`` against integer labels ``y``."""
        a = self.predict_proba(x)
        y = check_labels(y, self.n_classes, a.shape[0])
        return self.loss_function.value(a, int_to_onehot(y, self.n_classes))

    def accuracy(self, x: ArrayLike, y: ArrayLike) -> float:
        """The fraction of ``x`` classified as ``y`` (integer labels)."""
        pred = self.predict(x)
        y = check_labels(y, self.n_classes, pred.shape[0])
        return float(np.mean(pred == y))

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the network to ``path`` (.npz, no pickle; see ``scratchnet.modelio``)."""
        return modelio.save_network(self, path)

    @classmethod
    def load(cls, path):
        """Read a network written by ``save``; a broken or foreign file raises ``ModelFileError`` (a ``ValueError``)."""
        return modelio.load_network(path, cls)
