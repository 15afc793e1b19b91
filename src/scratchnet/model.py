"""A network built from layers (``scratchnet.layers``), its training loop and its model files.

``LayeredNetwork(arch, input_shape)`` stacks the layers of an architecture (a spec
of ``scratchnet.archspec``, a named architecture, or a list of layer objects) on
inputs of shape ``(C, H, W)`` or ``(n,)``; the last layer's width is the number of
classes. The head is the article's: an output activation (softmax or sigmoid,
``scratchnet.activations.OUTPUTS``) and a loss of ``scratchnet.losses`` (a pair of
``losses.PAIRS``), so backward starts exactly as in the MLP: ``A⁽ᴸ⁾ − Y`` scaled
(fused pairs) or ``∂L/∂A⁽ᴸ⁾`` through the output's derivative (chained pairs).

``train_layered`` is the minibatch loop of ``scratchnet.training`` for it: the same
per-epoch shuffles (``batching.epoch_rng``), dropout masks from
``default_rng([seed, epoch, 1])``, the optimisers and schedules of
``scratchnet.optimizers``, the same history columns, hot start.

Model files: ``save_layered`` / ``load_layered``, an ``.npz`` read without pickle,
its layout in ``docs/model-format.md``.
"""

from __future__ import annotations

import json
import math
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import modelio
from .activations import OUTPUTS
from .archspec import format_arch, parse_arch
from .batching import batch_indices, epoch_rng
from .errors import InvalidTypeError, InvalidValueError, ModelFileError, TrainingDivergedError
from .layers import BatchNorm, Dropout, Layer, build_layers
from .losses import LOSSES, check_loss, check_pair, int_to_onehot
from .network import HISTORY_COLUMNS, MultilayerNeuralNetClassifier
from .optimizers import SCHEDULES, check_schedule, make_optimizer
from .recipe import DEFAULTS, Recipe
from .training import format_epoch
from .validation import check_dtype, check_int, check_layers, check_positive_float
from .version import __version__

FORMAT_NAME = "scratchnet-layered-model"
FORMAT_VERSION = 1


def mlp_arch(layers, *, activation=DEFAULTS["activation"], init=DEFAULTS["init"], dropout=DEFAULTS["dropout"]):
    """The article's network ``[n⁰, n¹, …, nᴸ]`` as a spec line: ``dense(nᵏ, init=…) activation
    [dropout(p)]`` per hidden layer, then ``dense(nᴸ, init=…)`` (the output activation is the head's).

    With the same seed, dtype and recipe, ``LayeredNetwork`` on this spec draws the weights
    of ``MultilayerNeuralNetClassifier(layers)`` (one normal draw per W⁽ᵏ⁾ in layer order,
    zero biases) and, trained by ``train_layered``, its dropout masks (``draw_dropout_mask_``
    per hidden layer in layer order from ``default_rng([seed, e, 1])``) and batches.
    """
    layers = check_layers(layers)
    recipe = Recipe(activation=activation, init=init, dropout=dropout)
    tokens = []
    for n in layers[1:-1]:
        tokens += [f"dense({n}, init={recipe.init!r})", recipe.activation]
        if recipe.dropout:
            tokens.append(f"dropout({recipe.dropout!r})")
    tokens.append(f"dense({layers[-1]}, init={recipe.init!r})")
    return " ".join(tokens)


def walk(layers):
    """Every layer, residual bodies and shortcuts included (depth first)."""
    for layer in layers:
        yield layer
        yield from walk(layer.sublayers())


class LayeredNetwork:
    """A classifier made of layers: ``A⁽ᴸ⁾ = output(layers(X))``, trained by backpropagation.

    ``arch``: a spec line, a named architecture or a JSON path (``scratchnet.archspec``),
    or a list of ``scratchnet.layers`` objects; ``input_shape``: ``(C, H, W)`` for
    images, ``(n,)`` for flat features; ``output``: ``"softmax"`` (default, with the
    cross-entropy) or ``"sigmoid"`` (with the MSE, the article's); ``loss``: any loss
    forming a pair with the output (``losses.PAIRS``); ``dtype``: float64 or float32;
    ``seed``: the initial weights' seed.
    """

    def __init__(self, arch, input_shape, *, output="softmax", loss=None, dtype=np.float64, seed=None):
        self.layers = parse_arch(arch) if isinstance(arch, str) else list(arch)
        if not self.layers or not all(isinstance(layer, Layer) for layer in self.layers):
            raise InvalidTypeError("arch must be a spec string or a non-empty list of scratchnet.layers objects")
        if isinstance(input_shape, (int, np.integer)):
            input_shape = (int(input_shape),)
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) not in (1, 3):
            raise InvalidValueError(f"input_shape must be (C, H, W) or (n,), got {input_shape!r}")
        self.input_shape = tuple(check_int(d, "input_shape") for d in input_shape)
        if output not in OUTPUTS:
            raise InvalidValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
        self.output = output
        loss = check_loss(loss if loss is not None else ("cross_entropy" if output == "softmax" else "mse"))
        try:
            self.backward_mode = check_pair(output, loss)
        except ValueError as exc:
            raise InvalidValueError(str(exc)) from None
        self.loss_function = LOSSES[loss]
        self.dtype = np.dtype(check_dtype(dtype))
        self.seed = seed
        out = build_layers(self.layers, self.input_shape, self.dtype, np.random.default_rng(seed))
        if len(out) != 1:
            raise InvalidValueError(
                f"the last layer must give one score per class (n,), it gives shape {out}; end with flatten dense(n_classes)"
            )
        self.n_classes = out[0]
        if self.n_classes < 2:
            raise InvalidValueError(f"the last layer must give at least 2 class scores, it gives {self.n_classes}")
        self.layers[0].needs_input_grad = False
        self.history_records = []
        self.optimizer_state = None

    @classmethod
    def from_mlp(
        cls,
        layers,
        random_seed=None,
        dtype=np.float64,
        *,
        activation=DEFAULTS["activation"],
        output=DEFAULTS["output"],
        loss=DEFAULTS["loss"],
        init=DEFAULTS["init"],
        dropout=DEFAULTS["dropout"],
    ):
        """The article's network as layers: the arguments of ``MultilayerNeuralNetClassifier``
        (plus the recipe's ``dropout``), the same initial weights; ``train_layered`` then gives
        the numbers of ``training.train``/``train_reference`` with that recipe (tested to 1e-12)."""
        recipe = Recipe(activation=activation, output=output, loss=loss, init=init, dropout=dropout)
        arch = mlp_arch(layers, activation=recipe.activation, init=recipe.init, dropout=recipe.dropout)
        return cls(arch, (layers[0],), output=recipe.output, loss=recipe.loss, dtype=dtype, seed=random_seed)

    @classmethod
    def for_data(cls, arch, shapes, n_classes, *, data="the data", hint="", **kwargs):
        """The network of ``arch`` on the first of the sample ``shapes`` it fits — the images (C, H, W), then their
        flat rows (C·H·W,) for an architecture that starts with ``dense`` — ending in ``n_classes`` scores.
        ``kwargs``: the constructor's. A one-line ``InvalidValueError`` otherwise: the first shape's (with
        ``hint`` appended), or the class count's (naming ``data``). The estimator's and ``tune --arch``'s rule."""
        first = None
        for shape in shapes:
            try:
                net = cls(arch, shape, **kwargs)
            except InvalidValueError as exc:
                first = first or exc
                continue
            if net.n_classes != n_classes:
                raise InvalidValueError(
                    f"the architecture ends with {net.n_classes} class scores but {data} has {n_classes} classes; "
                    f"end it with dense({n_classes})"
                )
            return net
        raise InvalidValueError(f"{first}{hint}") if hint else first

    @classmethod
    def from_network(cls, net, dropout=DEFAULTS["dropout"]):
        """A layered copy of a ``MultilayerNeuralNetClassifier`` (its weights copied, its history kept)."""
        if not isinstance(net, MultilayerNeuralNetClassifier):
            raise InvalidTypeError(f"net must be a MultilayerNeuralNetClassifier, got {type(net).__name__}")
        model = cls.from_mlp(net.layers, 0, net.dtype, **net.options, dropout=dropout)
        dense = [layer for layer in model.layers if layer.kind == "dense"]
        for layer, W, b in zip(dense, net.weights, net.biases):
            layer.params["W"][...] = W
            layer.params["b"][...] = b
        model.seed = net.random_seed
        model.history_records = [dict(r) for r in net.history_records]
        return model

    # ------------------------------------------------------------ structure
    @property
    def arch(self):
        """The architecture as a spec line."""
        return format_arch(self.layers)

    def named_params(self):
        """``[(name, array)]`` of every trained parameter, in a fixed order: ``layers.{i}.{name}``."""
        return [item for i, layer in enumerate(self.layers) for item in layer.named_params(f"layers.{i}.")]

    def named_buffers(self):
        return [item for i, layer in enumerate(self.layers) for item in layer.named_buffers(f"layers.{i}.")]

    def param_list(self):
        return [p for _, p in self.named_params()]

    def n_params(self):
        return int(sum(p.size for p in self.param_list()))

    def set_rng(self, rng):
        """Give every dropout layer ``rng`` (a Generator) for its masks."""
        for layer in walk(self.layers):
            if isinstance(layer, Dropout):
                layer.rng = rng

    def _stats(self, update):
        for layer in walk(self.layers):
            if isinstance(layer, BatchNorm):
                layer.update_stats = update

    def summary(self):
        """One line per layer: position, spec, output shape, parameter count."""
        lines = [f"input {self.input_shape}"]
        for i, layer in enumerate(self.layers):
            n = sum(p.size for _, p in layer.named_params())
            lines.append(f"{i:>3} {layer.spec():<40} -> {layer.out_shape!s:<16} {n:>9,d} parameters")
        lines.append(f"total {self.n_params():,d} parameters, output {self.output}, loss {self.loss_function.name}")
        return "\n".join(lines)

    # ---------------------------------------------------------------- maths
    def _input(self, X, name="X"):
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise InvalidTypeError(f"{name} must hold numbers, got dtype {X.dtype}")
        if X.ndim >= 1 and X.shape[1:] != self.input_shape:
            if X.ndim == 2 and X.shape[1] == math.prod(self.input_shape):
                X = X.reshape((X.shape[0], *self.input_shape))  # flat rows of images (MNIST's 784 → (1, 28, 28))
            else:
                raise InvalidValueError(
                    f"{name} has samples of shape {X.shape[1:]}, the network expects {self.input_shape} "
                    f"(or {math.prod(self.input_shape)} flat features)"
                )
        return X.astype(self.dtype, copy=False)

    def logits(self, X, training=False):
        """``Z⁽ᴸ⁾``: the last layer's output, (N, n_classes)."""
        a = self._input(X)
        for layer in self.layers:
            a = layer.forward(a, training)
        return a

    def forward(self, X, training=False):
        """``A⁽ᴸ⁾ = output(Z⁽ᴸ⁾)``, kept for ``backward``."""
        self.a_out = OUTPUTS[self.output](self.logits(X, training))
        return self.a_out

    def backward(self, Y_onehot):
        """Backpropagate from the last ``forward``; the gradients in ``named_params`` order (a list)."""
        a = self.a_out
        Y = np.asarray(Y_onehot, dtype=a.dtype)
        if self.backward_mode == "fused":
            g = self.loss_function.delta_z(a, Y)
        else:
            g = OUTPUTS[self.output].backward_(self.loss_function.delta(a, Y), a, np.empty_like(a))
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return [g for i, layer in enumerate(self.layers) for _, g in layer.named_grads(f"layers.{i}.")]

    def loss(self, X, Y_onehot, training=False):
        return self.loss_function.value(self.forward(X, training), np.asarray(Y_onehot, dtype=self.dtype))

    def gradients(self, X, Y_onehot, training=True, seed=0):
        """``(loss, {name: ∂L/∂θ})`` by backpropagation, with dropout masks from ``default_rng(seed)``
        and batchnorm's running statistics left alone (so ``backward_numerical`` sees the same function)."""
        self._stats(False)
        try:
            self.set_rng(np.random.default_rng(seed))
            loss = self.loss(X, Y_onehot, training)
            grads = self.backward(Y_onehot)
        finally:
            self._stats(True)
        return loss, {name: g for (name, _), g in zip(self.named_params(), grads)}

    def backward_numerical(self, X, Y_onehot, eps=1e-6, training=True, seed=0, names=None):
        """``{name: ∂L/∂θ}`` by central differences ``(L(θ+ε) − L(θ−ε)) / 2ε``, element by element,
        for every parameter of every layer (or those in ``names``). Slow: for checks on small nets."""
        self._stats(False)
        out = {}
        try:
            for name, p in self.named_params():
                if names is not None and name not in names:
                    continue
                g = np.zeros(p.shape, dtype=np.float64)
                flat, gflat = p.reshape(-1), g.reshape(-1)
                for k in range(flat.size):
                    old = flat[k]
                    flat[k] = old + eps
                    self.set_rng(np.random.default_rng(seed))
                    plus = self.loss(X, Y_onehot, training)
                    flat[k] = old - eps
                    self.set_rng(np.random.default_rng(seed))
                    minus = self.loss(X, Y_onehot, training)
                    flat[k] = old
                    gflat[k] = (plus - minus) / (2 * eps)
                out[name] = g
        finally:
            self._stats(True)
        return out

    def predict_proba(self, X, chunk=2000):
        X = self._input(X)
        return np.concatenate(
            [OUTPUTS[self.output](self.logits(X[s : s + chunk])) for s in range(0, X.shape[0], chunk)]
        )

    def predict(self, X):
        return self.predict_proba(X).argmax(axis=1)

    def accuracy(self, X, y):
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def evaluate(self, X, y, chunk=2000):
        """``(loss, accuracy)`` at inference (no dropout, running statistics)."""
        X = self._input(X)
        loss_sum, correct = 0.0, 0
        for s in range(0, X.shape[0], chunk):
            a = OUTPUTS[self.output](self.logits(X[s : s + chunk]))
            yb = y[s : s + chunk]
            loss_sum += self.loss_function.value(a, int_to_onehot(yb, self.n_classes).astype(a.dtype)) * a.shape[0]
            correct += int(np.count_nonzero(a.argmax(axis=1) == yb))
        return loss_sum / X.shape[0], correct / X.shape[0]

    @property
    def history(self):
        return pd.DataFrame(self.history_records, columns=HISTORY_COLUMNS)


def gradcheck_lines(model, X, Y_onehot, rtol=1e-5, atol=1e-8, eps=1e-6, seed=0):
    """Backpropagation against ``backward_numerical``, the article's lines per parameter array
    (``layer 3 conv(64, 3, padding=1): 18432 out of 18432 W gradients are numerically equal``),
    then ``Gradients look in order!`` or the worst mismatch of each array that fails.
    For ``scratchnet gradcheck --arch``; float64 and small problems."""
    _, analytic = model.gradients(X, Y_onehot, seed=seed)
    numeric = model.backward_numerical(X, Y_onehot, eps=eps, seed=seed)
    specs = {f"layers.{i}.": layer.spec() for i, layer in enumerate(model.layers)}
    lines, bad = [], []
    for name, ana in analytic.items():
        num = numeric[name]
        equal = np.isclose(ana, num, rtol=rtol, atol=atol)
        i, rest = name.split(".", 2)[1], name.split(".", 2)[2]
        lines.append(
            f"layer {i} {specs[f'layers.{i}.']}: {int(equal.sum())} out of {equal.size} {rest} gradients "
            "are numerically equal"
        )
        if not equal.all():
            k = int(np.argmax(np.abs(ana - num)))
            idx = tuple(int(j) for j in np.unravel_index(k, ana.shape))
            bad.append(f"  {name}{list(idx)}: analytic={ana[idx]:.6e} numerical={num[idx]:.6e}")
    lines.append("Gradients look in order!" if not bad else "Gradients do NOT match. Worst mismatch per array:")
    return lines + bad


# ------------------------------------------------------------- augmentation
def augment_images(X, rng, shift=2, rotate=10.0):
    """Each image of ``X`` (N, C, H, W) moved by a random shift of up to ``shift`` pixels in
    each direction and turned by a random angle in [−``rotate``°, ``rotate``°] about its
    centre (bilinear interpolation; uncovered pixels take the batch's minimum, the
    background). ``rng`` decides everything, so a seed gives the same images."""
    N, C, H, W = X.shape
    angle = np.deg2rad(rng.uniform(-rotate, rotate, N)) if rotate else np.zeros(N)
    ty, tx = rng.integers(-shift, shift + 1, size=(2, N)) if shift else np.zeros((2, N))
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    yy, xx = np.mgrid[0:H, 0:W]
    cy, cx = (H - 1) / 2, (W - 1) / 2
    dy = yy[None] - cy - ty[:, None, None]
    dx = xx[None] - cx - tx[:, None, None]
    sy = cos * dy - sin * dx + cy  # where each output pixel reads the input (inverse map)
    sx = sin * dy + cos * dx + cx
    y0, x0 = np.floor(sy), np.floor(sx)
    wy, wx = (sy - y0).astype(X.dtype), (sx - x0).astype(X.dtype)
    fill = X.min()
    Xp = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=fill)
    y0 = np.clip(y0.astype(np.intp), -1, H) + 1
    x0 = np.clip(x0.astype(np.intp), -1, W) + 1
    y1, x1 = np.minimum(y0 + 1, H + 1), np.minimum(x0 + 1, W + 1)
    n = np.arange(N)[:, None, None]
    out = np.empty_like(X)
    for c in range(C):
        P = Xp[:, c]
        out[:, c] = (
            P[n, y0, x0] * (1 - wy) * (1 - wx)
            + P[n, y0, x1] * (1 - wy) * wx
            + P[n, y1, x0] * wy * (1 - wx)
            + P[n, y1, x1] * wy * wx
        )
    return out


def _check_augment(augment):
    if augment in (None, False):
        return None
    if augment is True:
        return {"shift": 2, "rotate": 10.0}
    if isinstance(augment, dict) and set(augment) <= {"shift", "rotate"}:
        return {"shift": 2, "rotate": 10.0, **augment}
    raise InvalidValueError(f"augment must be True, False or a dict with shift and/or rotate, got {augment!r}")


# ----------------------------------------------------------------- training
def train_layered(
    model,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    *,
    epochs,
    batch_size=100,
    learning_rate=0.001,
    seed=None,
    optimizer="adam",
    momentum=0.9,
    weight_decay=0.0,
    schedule="constant",
    augment=None,
    verbose=False,
    on_epoch=None,
    schedule_span=None,
    on_batch=None,
):
    """Train ``model`` in place by minibatch gradient descent; this call's epochs as a DataFrame.

    One row per epoch: ``epoch, loss_training, accuracy_training, loss_test,
    accuracy_test, seconds`` (training figures averaged over the epoch's batches,
    measured in training mode before each update; test figures by one pass at
    inference; NaN without a test set). Epoch ``e`` is shuffled by
    ``batching.epoch_rng(seed, e)``, its dropout masks come from
    ``default_rng([seed, e, 1])`` and its augmentation from ``default_rng([seed, e, 2])``;
    epoch numbers and the optimiser's state carry on across calls (hot start).
    ``augment``: ``True`` (shifts ≤ 2 px, rotations ≤ 10°) or ``{"shift": s, "rotate": deg}``;
    off by default. ``on_epoch(record)`` may return True to stop. ``schedule_span``: ``(first epoch, epochs)``
    the schedule runs over (default: this call's), so that a resumed run keeps the uninterrupted run's rates.
    ``on_batch()`` is called after each minibatch step (a progress bar).
    """
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    schedule = check_schedule(schedule)
    augment = _check_augment(augment)
    if augment and len(model.input_shape) != 3:
        raise InvalidValueError("augment needs image inputs (C, H, W)")
    X_train = model._input(X_train, "X_train")
    y_train = np.asarray(y_train)
    if y_train.shape != (X_train.shape[0],):
        raise InvalidValueError(
            f"y_train must have one label per sample ({X_train.shape[0]}), got shape {y_train.shape}"
        )
    if (X_test is None) != (y_test is None):
        raise InvalidValueError("give both X_test and y_test, or neither")
    if X_test is not None:
        X_test, y_test = model._input(X_test, "X_test"), np.asarray(y_test)
    if batch_size > X_train.shape[0]:
        raise InvalidValueError(f"batch_size {batch_size} exceeds the {X_train.shape[0]} training samples")
    Y_train = int_to_onehot(y_train, model.n_classes).astype(model.dtype)
    opt = make_optimizer(optimizer, learning_rate, momentum=momentum, weight_decay=weight_decay)
    params = model.param_list()
    opt.set_state(model.optimizer_state, params)
    first = len(model.history_records)
    span_first, span_epochs = (first, epochs) if schedule_span is None else map(int, schedule_span)
    records = []
    for e in range(epochs):
        epoch = first + e
        start = time.perf_counter()
        opt.learning_rate = SCHEDULES[schedule](learning_rate, epoch - span_first, span_epochs)
        batches = batch_indices(X_train.shape[0], batch_size, epoch_rng(seed, epoch))
        model.set_rng(np.random.default_rng(None if seed is None else [int(seed), epoch, 1]))
        aug_rng = np.random.default_rng(None if seed is None else [int(seed), epoch, 2])
        before = [p.copy() for p in params]
        loss_sum, correct = 0.0, 0
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below, as one error
            for idx in batches:
                xb, Yb = X_train[idx], Y_train[idx]
                if augment:
                    xb = augment_images(xb, aug_rng, **augment)
                a = model.forward(xb, training=True)
                loss_sum += model.loss_function.value(a, Yb)
                correct += int(np.count_nonzero(a.argmax(axis=1) == y_train[idx]))
                opt.update(params, model.backward(Yb))
                if on_batch is not None:
                    on_batch()
        if not (math.isfinite(loss_sum) and all(np.all(np.isfinite(p)) for p in params)):
            for p, kept in zip(params, before):
                p[...] = kept
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch}: the loss or the weights became NaN/infinite; the network "
                f"keeps its parameters from before that epoch. Try a smaller learning rate than {learning_rate}.",
                epoch=epoch,
            )
        loss_test, acc_test = model.evaluate(X_test, y_test) if X_test is not None else (math.nan, math.nan)
        record = {
            "epoch": epoch,
            "loss_training": loss_sum / len(batches),
            "accuracy_training": correct / (len(batches) * batch_size),
            "loss_test": loss_test,
            "accuracy_test": acc_test,
            "seconds": time.perf_counter() - start,
        }
        records.append(record)
        model.history_records.append(record)
        model.optimizer_state = opt.get_state()
        if verbose:
            print(format_epoch(record) + f" | seconds={record['seconds']:.1f}", flush=True)
        if on_epoch is not None and on_epoch(record):
            break
    return pd.DataFrame(records, columns=HISTORY_COLUMNS)


# -------------------------------------------------------------- model files
def save_layered(model, path, extra_header=None, extra_arrays=None):
    """Write ``model`` to ``path`` (``.npz`` appended if missing): a JSON ``header``, every parameter
    and buffer under its name (``layers.{i}.{name}``, see ``docs/model-format.md``) and ``history``;
    ``extra_arrays``: more named arrays (a checkpoint's optimiser state)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    named = model.named_params() + model.named_buffers()
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "scratchnet_version": __version__,
        "arch": model.arch,
        "input_shape": list(model.input_shape),
        "n_classes": model.n_classes,
        "dtype": model.dtype.name,
        "output": model.output,
        "loss": model.loss_function.name,
        "parameters": {name: list(a.shape) for name, a in model.named_params()},
        "buffers": {name: list(a.shape) for name, a in model.named_buffers()},
        "history_columns": HISTORY_COLUMNS,
        **(extra_header or {}),
    }
    arrays = {"header": np.array(json.dumps(header))}
    arrays.update(dict(named))
    arrays.update(extra_arrays or {})
    arrays["history"] = np.array(
        [[rec[c] for c in HISTORY_COLUMNS] for rec in model.history_records], dtype=np.float64
    ).reshape(-1, len(HISTORY_COLUMNS))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return path


def is_layered_file(path):
    """Does ``path`` hold a model of ``save_layered`` (its header's format, read with ``modelio``'s bounds)?"""
    try:
        return modelio.read_header(path).get("format") == FORMAT_NAME
    except ModelFileError:
        return False


def load_layered(path):
    """A ``LayeredNetwork`` from a file of ``save_layered``; ``ModelFileError`` if anything is off."""
    return read_layered(path)[0]


def read_layered(path):
    """``(LayeredNetwork, header)`` of a file of ``save_layered`` (the header with any extra entries of
    its writer, e.g. the estimator's); ``ModelFileError`` if anything is off."""
    path = Path(path)
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        header = json.loads(str(arrays.pop("header")[()]))
    except FileNotFoundError:
        raise ModelFileError(f"model file {where!r} does not exist") from None
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{where!r} is not a readable layered model file: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{where!r} is not a scratchnet layered model file")
    if not isinstance(header.get("format_version"), int) or header["format_version"] > FORMAT_VERSION:
        raise ModelFileError(f"{where!r} uses format version {header.get('format_version')!r}; upgrade scratchnet")
    try:
        model = LayeredNetwork(
            header["arch"],
            tuple(header["input_shape"]),
            output=header["output"],
            loss=header["loss"],
            dtype=header["dtype"],
            seed=0,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{where!r} has an unusable header: {exc}") from None
    for name, target in model.named_params() + model.named_buffers():
        if name not in arrays:
            raise ModelFileError(f"{where!r} lacks the array {name!r}")
        a = arrays[name]
        if a.shape != target.shape or a.dtype.kind != "f":
            raise ModelFileError(
                f"{where!r}: array {name!r} has shape {a.shape}, the architecture needs {target.shape}"
            )
        target[...] = a
    hist = arrays.get("history")
    if hist is not None and hist.ndim == 2 and hist.shape[1] == len(HISTORY_COLUMNS):
        model.history_records = [
            {c: (int(v) if c == "epoch" else float(v)) for c, v in zip(HISTORY_COLUMNS, row)} for row in hist
        ]
    return model, header
