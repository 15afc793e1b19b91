"""Minibatch gradient descent with per-epoch history (article, section 6).

``train_reference`` is the readable loop: one network, step by step, with
every option beyond the article (optimisers, weight decay, schedules, dropout,
early stopping). ``train`` gives the same results through the fused engine
(``scratchnet.engine.train_many`` with one network), faster; the tests compare
them. Both take the recipe's training options (``recipe.TRAINING_FIELDS``) and
early stopping (``EARLY_STOPPING``), use the same optimiser kernels
(``scratchnet.optimizers``), the same batches (``batching.epoch_rng``) and the
same ``EarlyStopping`` watch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .batching import epoch_rng, minibatches
from .diagnostics import epoch_callback
from .engine import train_many
from .errors import InvalidTypeError, InvalidValueError, TrainingDivergedError
from .losses import int_to_onehot
from .network import HISTORY_COLUMNS, MultilayerNeuralNetClassifier
from .optimizers import SCHEDULES, make_optimizer
from .progress import progress_bar
from .recipe import TRAINING_FIELDS, Recipe
from .validation import check_features, check_finite, check_int, check_labels, check_positive_float, check_seed

__all__ = [
    "EARLY_STOPPING",
    "EarlyStopping",
    "TrainingDivergedError",
    "evaluate",
    "format_epoch",
    "train",
    "train_reference",
    "validation_split",
]

EARLY_STOPPING = {"early_stopping": False, "patience": 10, "validation_fraction": 0.1}
"""Early stopping's options at their defaults (off, as in the article)."""


def format_epoch(record: dict) -> str:
    """The article's line: ``epoch 0: loss_training=0.096 | accuracy_training=0.236 | …``."""
    return (
        f"epoch {record['epoch']}: loss_training={record['loss_training']:.3f} | "
        f"accuracy_training={record['accuracy_training']:.3f} | loss_test={record['loss_test']:.3f} | "
        f"accuracy_test={record['accuracy_test']:.3f}"
    )


def evaluate(
    net: MultilayerNeuralNetClassifier, X: np.ndarray, y: np.ndarray, chunk: int = 10000
) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``net`` on ``X``/``y`` by one forward pass (in chunks of rows)."""
    loss_sum, correct = 0.0, 0
    for start in range(0, X.shape[0], chunk):
        a = net.forward(X[start : start + chunk])[-1]
        yb = y[start : start + chunk]
        loss_sum += net.loss_function.value(a, int_to_onehot(yb, net.n_classes)) * a.shape[0]
        correct += int(np.count_nonzero(a.argmax(axis=1) == yb))
    return loss_sum / X.shape[0], correct / X.shape[0]


def validation_split(X, y, fraction: float, seed: int | None):
    """A stratified ``fraction`` of ``X, y`` held out: ``X_train, X_val, y_train, y_val``.

    Early stopping watches it here and in ``train_reference``; the estimator's
    ``validation_fraction`` uses it too.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction < 1:
        raise InvalidValueError(f"validation_fraction must lie strictly between 0 and 1, got {fraction!r}")
    from sklearn.model_selection import train_test_split  # heavy: only when a split is asked for

    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed, stratify=y)
    except ValueError as exc:
        raise InvalidValueError(
            f"cannot hold out validation_fraction={fraction} of {len(y)} training samples stratified by class "
            f"({exc}); use more data or a larger fraction, or train without early stopping"
        ) from None


# ---------------------------------------------------------------- the shared steps
def _check_net(net) -> None:
    if not isinstance(net, MultilayerNeuralNetClassifier):
        raise InvalidTypeError(f"net must be a MultilayerNeuralNetClassifier, got {type(net).__name__}")


def _check_test_set(net, X_test, y_test):
    """Both ``X_test`` and ``y_test`` checked for ``net`` (named as in ``train``), or both ``None``."""
    if (X_test is None) != (y_test is None):
        raise InvalidValueError(
            "give both X_test and y_test, or neither (then the test columns of the history are NaN)"
        )
    if X_test is None:
        return None, None
    X_test = check_features(X_test, net.layers[0], net.dtype, name="X_test")
    return X_test, check_labels(y_test, net.n_classes, X_test.shape[0], name="y_test")


def _split_options(options: dict[str, Any]) -> tuple[Recipe, dict[str, Any]]:
    """``train``'s keyword options → (the recipe's training fields, checked; early stopping's options)."""
    known = (*TRAINING_FIELDS, *EARLY_STOPPING)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InvalidTypeError(f"train() got unknown option(s) {unknown}; known: {', '.join(known)}")
    recipe = Recipe.of(**{k: v for k, v in options.items() if k in TRAINING_FIELDS})
    stopping = {**EARLY_STOPPING, **{k: v for k, v in options.items() if k in EARLY_STOPPING}}
    stopping["patience"] = check_int(stopping["patience"], "patience")
    return recipe, stopping


def _say(message: str, progress: bool) -> None:
    tqdm.write(message) if progress else print(message, flush=True)


class EarlyStopping:
    """Watches the loss on a held-out split after each epoch; keeps the best epoch's parameters and state.

    ``watch(epoch)`` returns True when ``patience`` epochs have passed without a
    better validation loss; ``restore(history)`` puts the best epoch's weights
    and optimiser state back into the network and records ``best_epoch`` and
    ``validation_loss`` in ``history.attrs``.
    """

    def __init__(self, net, X_val, y_val, patience: int) -> None:
        self.net, self.X_val, self.y_val, self.patience = net, X_val, y_val, patience
        self.validation_loss: list[float] = []
        self.best_loss = np.inf
        self.best_epoch: int | None = None
        self.best_parameters: list[np.ndarray] | None = None
        self.best_state: dict | None = None

    def arrays(self) -> list[np.ndarray]:
        """The network's state that the best epoch keeps (a network of layers adds batchnorm's statistics)."""
        return self.net.weights + self.net.biases

    def loss(self) -> float:
        """The loss on the held-out split now."""
        return evaluate(self.net, self.X_val, self.y_val)[0]

    def watch(self, epoch: int) -> bool:
        loss = self.loss()
        self.validation_loss.append(loss)
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            self.best_parameters = [p.copy() for p in self.arrays()]
            self.best_state = self.net.optimizer_state
            return False
        return epoch - self.best_epoch >= self.patience

    def restore(self, history: pd.DataFrame, epochs: int, verbose: bool, progress: bool) -> None:
        if self.best_parameters is None:
            return
        for p, kept in zip(self.arrays(), self.best_parameters):
            p[...] = kept
        self.net.optimizer_state = self.best_state
        history.attrs.update(best_epoch=self.best_epoch, validation_loss=self.validation_loss)
        if verbose:
            stopped = "stopped early" if len(history) < epochs else "finished"
            _say(
                f"early stopping: {stopped} after epoch {history.epoch.iloc[-1]}; restored the weights of epoch "
                f"{self.best_epoch} (validation loss {self.best_loss:.4f})",
                progress,
            )


def _prepare(net, X_train, y_train, X_test, y_test, epochs, batch_size, learning_rate, seed, options, defer=False):
    """Every check both loops make, and early stopping's split: the arguments ready to train.

    ``defer``: leave the finiteness of the rows trained on to the engine (``engine.train_many``'s ``_checked``),
    which checks them as its first epoch gathers them; early stopping's held-out rows are checked here."""
    _check_net(net)
    recipe, stopping = _split_options(options)
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    seed = check_seed(seed, "seed")
    X_train = check_features(X_train, net.layers[0], net.dtype, name="X_train", finite=not defer)
    y_train = check_labels(y_train, net.n_classes, X_train.shape[0], name="y_train")
    X_test, y_test = _check_test_set(net, X_test, y_test)
    watch = None
    if stopping["early_stopping"]:
        X_train, X_val, y_train, y_val = validation_split(X_train, y_train, stopping["validation_fraction"], seed)
        if defer:
            check_finite(X_val, "X_train")
        watch = EarlyStopping(net, X_val, y_val, stopping["patience"])
    if batch_size > X_train.shape[0]:
        raise InvalidValueError(
            f"batch_size {batch_size} is larger than the {X_train.shape[0]} training samples; choose a smaller one"
        )
    return X_train, y_train, X_test, y_test, epochs, batch_size, learning_rate, seed, recipe, watch


def _diverged(epoch: int, learning_rate: float) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"training diverged in epoch {epoch}: the loss or the weights became NaN/infinite; the network keeps its "
        f"parameters from before that epoch. Try a smaller learning rate than {learning_rate}.",
        epoch=epoch,
    )


# ---------------------------------------------------------------- the fused loop
def train(
    net: MultilayerNeuralNetClassifier,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    *,
    epochs: int,
    batch_size: int = 100,
    learning_rate: float = 0.1,
    seed: int | None = None,
    verbose: bool = False,
    progress: bool = False,
    diagnostics: bool = False,
    on_epoch: Callable[[int, dict], object] | None = None,
    schedule_span: tuple[int, int] | None = None,
    first_layer: str = "auto",
    **options: Any,
) -> pd.DataFrame:
    """Train ``net`` in place by minibatch gradient descent; return this call's epochs as a DataFrame.

    The same maths, batches and history as ``train_reference`` (the readable
    loop below), computed by the fused engine (``scratchnet.engine.train_many``
    with one network), which is faster; results agree up to rounding. One row
    per epoch: ``epoch, loss_training, accuracy_training, loss_test,
    accuracy_test, seconds``; hot start as in ``train_reference``. Without a
    test set (``X_test=y_test=None``) the test columns are NaN.

    ``options``: the recipe's training fields (``optimizer``, ``momentum``,
    ``weight_decay``, ``schedule``, ``dropout``; ``scratchnet.recipe``) and
    early stopping (``early_stopping``, ``patience``, ``validation_fraction``),
    as for ``train_reference``. Quiet unless asked: ``verbose`` prints the article's line per epoch, ``progress``
    shows a bar. ``on_epoch(epoch, record)`` is called after each epoch (the network already updated: a
    checkpoint can be written there); ``schedule_span`` as for ``engine.train_many`` (a resumed run).

    ``first_layer``: the engine's (``engine.train_many``): ``"auto"`` the dense first layer for one network
    (the sparse one for a grid of sparse inputs), ``"measure"`` the faster of the two as timed on this call; ``history.attrs["first_layer"]`` says which ran and
    ``history.attrs["first_layer_choice"]`` why (timings in seconds).

    ``diagnostics=True`` appends per-layer gradient norms and saturated shares,
    measured after each epoch on a fixed sample of the training rows, to
    ``net.diagnostics`` (``scratchnet.diagnostics``).
    """
    X_train, y_train, X_test, y_test, epochs, batch_size, learning_rate, seed, recipe, watch = _prepare(
        net, X_train, y_train, X_test, y_test, epochs, batch_size, learning_rate, seed, options, defer=True
    )
    if diagnostics:
        measure = epoch_callback(net, X_train, y_train, seed)

    def each_epoch(epoch, records):
        if diagnostics:
            measure(epoch)
        if verbose:
            _say(format_epoch(records[0]), progress)
        stop = watch.watch(epoch) if watch is not None else False
        if on_epoch is not None:
            on_epoch(epoch, records[0])
        return stop

    try:
        (history,) = train_many(
            [net], X_train, y_train, X_test, y_test, epochs=epochs, batch_size=batch_size,
            learning_rates=learning_rate, seed=seed, on_epoch=each_epoch, progress=progress,
            options=recipe.training_options(), schedule_span=schedule_span, first_layer=first_layer, _checked=True,
        )  # fmt: skip
    except TrainingDivergedError as exc:
        raise _diverged(exc.epoch, learning_rate) from None
    if watch is not None:
        watch.restore(history, epochs, verbose, progress)
    return history


# ---------------------------------------------------------------- the readable loop
def train_reference(
    net: MultilayerNeuralNetClassifier,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    *,
    epochs: int,
    batch_size: int = 100,
    learning_rate: float = 0.1,
    seed: int | None = None,
    verbose: bool = False,
    progress: bool = False,
    **options: Any,
) -> pd.DataFrame:
    """Train ``net`` in place by minibatch SGD, step by step in plain NumPy (the reference).

    One row per epoch: ``epoch, loss_training, accuracy_training, loss_test,
    accuracy_test, seconds``. Training figures are averaged over the epoch's
    batches (measured before each update), test figures come from one forward
    pass over ``X_test``; without a test set (``X_test=y_test=None``) they are
    NaN. Calling it again continues where the last call stopped (hot start):
    epoch numbers go on and ``net.history`` holds them all. Epoch ``e`` is
    shuffled by ``default_rng([seed, e])``, so 10 + 5 epochs equal 15 at a
    constant rate: the optimiser's state (velocities, moments, step count) is
    kept on the network (``net.optimizer_state``, in memory and by pickle, not
    in model files) and resumed by the next call with the same optimiser
    (another optimiser starts afresh). A schedule runs over the epochs of each call.

    Beyond the article (``options``; defaults = the article's recipe):

    * ``optimizer`` (``scratchnet.optimizers.OPTIMIZERS``: ``"sgd"``, ``"momentum"``,
      ``"nesterov"`` with ``momentum`` μ, ``"adam"``, ``"rmsprop"``; ``learning_rate``
      is then its η, e.g. 0.001); ``weight_decay`` λ ≥ 0 adds λ·W to the weight gradients.
    * ``schedule``: ``"constant"``, ``"step"`` or ``"cosine"``: the learning rate of
      each epoch of this call (``scratchnet.optimizers.SCHEDULES``).
    * ``dropout`` p ∈ [0, 1): inverted dropout on the hidden layers while
      training (masks drawn from ``default_rng([seed, e, 1])``); the training
      figures of the history are measured with dropout, the test ones without.
    * ``early_stopping``: hold out a stratified ``validation_fraction`` of the
      training data, stop when its loss has not improved for ``patience``
      epochs and restore the weights (and optimiser state) of the best epoch.
      The history keeps every epoch trained; its ``attrs`` hold ``best_epoch``
      and ``validation_loss``.
    """
    X_train, y_train, X_test, y_test, epochs, batch_size, learning_rate, seed, recipe, watch = _prepare(
        net, X_train, y_train, X_test, y_test, epochs, batch_size, learning_rate, seed, options
    )
    optimizer = make_optimizer(recipe.optimizer, learning_rate, momentum=recipe.momentum,
                               weight_decay=recipe.weight_decay)  # fmt: skip
    optimizer.set_state(net.optimizer_state, net.weights + net.biases)
    schedule = SCHEDULES[recipe.schedule]
    first = net.epochs_trained
    records = []
    bar = progress_bar(range(first, first + epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        optimizer.learning_rate = schedule(learning_rate, epoch - first, epochs)  # ηₑ
        record = _reference_epoch(net, optimizer, X_train, y_train, X_test, y_test, epoch, batch_size, seed,
                                  recipe.dropout, learning_rate)  # fmt: skip
        net.history_records.append(record)
        net.optimizer_state = optimizer.get_state()
        records.append(record)
        if verbose:
            _say(format_epoch(record), progress)
        if progress and X_test is not None:
            bar.set_postfix(acc_test=f"{record['accuracy_test']:.3f}")
        if watch is not None and watch.watch(epoch):
            break
    bar.close()
    history = pd.DataFrame(records, columns=HISTORY_COLUMNS)
    if watch is not None:
        watch.restore(history, epochs, verbose, progress)
    return history


def _reference_epoch(net, optimizer, X_train, y_train, X_test, y_test, epoch, batch_size, seed, dropout,
                     learning_rate):  # fmt: skip
    """One epoch of ``train_reference``: every minibatch step, then the test pass; its history record.

    If the loss or the parameters turn non-finite, the network gets its
    parameters from before the epoch back and ``TrainingDivergedError`` is raised.
    """
    start = time.perf_counter()
    saved = [p.copy() for p in net.weights + net.biases]
    drop_rng = np.random.default_rng(None if seed is None else [seed, epoch, 1]) if dropout else None
    loss_sum, correct, n_seen, n_batches = 0.0, 0, 0, 0
    for Xb, yb in minibatches(X_train, y_train, batch_size, epoch_rng(seed, epoch)):
        Yb = int_to_onehot(yb, net.n_classes).astype(net.dtype, copy=False)
        activations, masks = net.forward_train(Xb, dropout, drop_rng)
        loss_sum += net.loss_function.value(activations[-1], Yb)
        correct += int(np.count_nonzero(activations[-1].argmax(axis=1) == yb))
        n_seen += yb.shape[0]
        n_batches += 1
        weight_grads, bias_grads = net.backward(Xb, Yb, activations, masks)
        optimizer.update(net.weights + net.biases, weight_grads + bias_grads, overwrite_grads=True)
    loss_test, accuracy_test = evaluate(net, X_test, y_test) if X_test is not None else (np.nan, np.nan)
    record = {
        "epoch": epoch,
        "loss_training": loss_sum / n_batches,
        "accuracy_training": correct / n_seen,
        "loss_test": loss_test,
        "accuracy_test": accuracy_test,
        "seconds": time.perf_counter() - start,
    }
    finite = np.isfinite(record["loss_training"]) and (X_test is None or np.isfinite(loss_test))
    if not finite or not all(np.all(np.isfinite(p)) for p in net.weights + net.biases):
        for p, old in zip(net.weights + net.biases, saved):
            p[...] = old
        raise _diverged(epoch, learning_rate)
    return record
