"""Minibatch gradient descent with per-epoch history (article, section 6).

``train_reference`` is the readable loop, one network, step by step, with every
option beyond the article (optimisers, weight decay, schedules, dropout, early
stopping). ``train`` gives the same results through the fused engine
(``scratchnet.engine.train_many`` with one network), faster; the tests compare them.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .batching import epoch_rng, minibatches
from .losses import int_to_onehot
from .network import HISTORY_COLUMNS
from .optimizers import OPTIMIZERS, SCHEDULES, check_schedule, make_optimizer
from .validation import check_features, check_int, check_labels, check_positive_float


class TrainingDivergedError(ArithmeticError, ValueError):
    """Training produced NaN or infinite values; the network keeps its last finite parameters."""


def format_epoch(record):
    """The article's line: ``epoch 0: loss_training=0.096 | accuracy_training=0.236 | …``."""
    return (
        f"epoch {record['epoch']}: loss_training={record['loss_training']:.3f} | "
        f"accuracy_training={record['accuracy_training']:.3f} | loss_test={record['loss_test']:.3f} | "
        f"accuracy_test={record['accuracy_test']:.3f}"
    )


def evaluate(net, X, y, chunk=10000):
    """``(loss, accuracy)`` of ``net`` on ``X``/``y`` by one forward pass (in chunks of rows)."""
    loss_sum, correct = 0.0, 0
    for start in range(0, X.shape[0], chunk):
        a = net.forward(X[start : start + chunk])[-1]
        yb = y[start : start + chunk]
        loss_sum += net.loss_function.value(a, int_to_onehot(yb, net.n_classes)) * a.shape[0]
        correct += int(np.count_nonzero(a.argmax(axis=1) == yb))
    return loss_sum / X.shape[0], correct / X.shape[0]


def _check_test_set(net, X_test, y_test):
    """Both ``X_test`` and ``y_test`` checked for ``net`` (named as in ``train``), or both ``None``."""
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither (then the test columns of the history are NaN)")
    if X_test is None:
        return None, None
    X_test = check_features(X_test, net.layers[0], net.dtype, name="X_test")
    return X_test, check_labels(y_test, net.n_classes, X_test.shape[0], name="y_test")


def train(
    net,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    *,
    epochs,
    batch_size=100,
    learning_rate=0.1,
    seed=None,
    verbose=True,
    progress=True,
    diagnostics=False,
    **options,
):
    """Train ``net`` in place by minibatch gradient descent; return this call's epochs as a DataFrame.

    The same maths, batches and history as ``train_reference`` (the readable
    loop below), computed by the fused engine (``scratchnet.engine.train_many``
    with one network), which is faster; results agree up to rounding.
    One row per epoch: ``epoch, loss_training, accuracy_training, loss_test,
    accuracy_test, seconds``; hot start as in ``train_reference``. Without a
    test set (``X_test=y_test=None``) the test columns are NaN.

    ``options`` are those of ``train_reference`` beyond the article
    (``optimizer``, ``momentum``, ``weight_decay``, ``schedule``, ``dropout``,
    ``early_stopping``, ``patience``, ``validation_fraction``), all run by the
    engine: early stopping holds out the same stratified validation split as
    ``train_reference`` and watches it after each engine epoch.

    ``diagnostics=True`` appends per-layer gradient norms and saturated shares,
    measured after each epoch on a fixed sample of the training rows, to
    ``net.diagnostics`` (``scratchnet.diagnostics``).
    """
    from .engine import train_many
    from .network import MultilayerNeuralNetClassifier

    if not isinstance(net, MultilayerNeuralNetClassifier):
        raise TypeError(f"net must be a MultilayerNeuralNetClassifier, got {type(net).__name__}")
    unknown = sorted(set(options) - set(REFERENCE_DEFAULTS))
    if unknown:
        raise TypeError(f"train() got unknown option(s) {unknown}; known: {', '.join(REFERENCE_DEFAULTS)}")
    o = {**REFERENCE_DEFAULTS, **options}
    early_stopping, patience, fraction = o.pop("early_stopping"), o.pop("patience"), o.pop("validation_fraction")
    epochs = check_int(epochs, "epochs")
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    X_test, y_test = _check_test_set(net, X_test, y_test)
    patience = check_int(patience, "patience")
    if early_stopping:
        if seed is not None:
            seed = check_int(seed, "seed", minimum=0)
        X_train = check_features(X_train, net.layers[0], net.dtype, name="X_train")
        y_train = check_labels(y_train, net.n_classes, X_train.shape[0], name="y_train")
        _check_fraction(validation_fraction=fraction)
        X_train, X_val, y_train, y_val = _validation_split(X_train, y_train, fraction, seed)
    validation_loss, best = [], (np.inf, None, None, None)  # (validation loss, epoch, parameters, optimiser state)

    if diagnostics:
        from .diagnostics import epoch_callback

        measure = epoch_callback(net, X_train, y_train, seed)

    def on_epoch(epoch, records):
        nonlocal best
        if diagnostics:
            measure(epoch)
        if verbose:
            tqdm.write(format_epoch(records[0])) if progress else print(format_epoch(records[0]), flush=True)
        if not early_stopping:
            return False
        loss_val = evaluate(net, X_val, y_val)[0]
        validation_loss.append(loss_val)
        if loss_val < best[0]:
            best = (loss_val, epoch, [p.copy() for p in net.weights + net.biases], net.optimizer_state)
            return False
        return epoch - best[1] >= patience

    try:
        (history,) = train_many(
            [net],
            X_train,
            y_train,
            X_test,
            y_test,
            epochs=epochs,
            batch_size=batch_size,
            learning_rates=learning_rate,
            seed=seed,
            on_epoch=on_epoch,
            progress=progress,
            options=o,
        )
    except TrainingDivergedError as exc:
        error = TrainingDivergedError(
            f"training diverged in epoch {exc.epoch}: the loss or the weights became NaN/infinite; the network "
            f"keeps its parameters from before that epoch. Try a smaller learning rate than {learning_rate}."
        )
        error.epoch = exc.epoch
        raise error from None
    if early_stopping and best[2] is not None:
        _restore_best(net, history, best, validation_loss, epochs, verbose, progress)
    return history


def _check_fraction(validation_fraction):
    if (
        isinstance(validation_fraction, bool)
        or not isinstance(validation_fraction, (int, float))
        or not (0 < validation_fraction < 1)
    ):
        raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {validation_fraction!r}")


def _restore_best(net, history, best, validation_loss, epochs, verbose, progress):
    """Early stopping's end: the best epoch's weights and optimiser state back into ``net``; ``history.attrs``."""
    loss, epoch, params, state = best
    for p, kept in zip(net.weights + net.biases, params):
        p[...] = kept
    net.optimizer_state = state
    history.attrs.update(best_epoch=epoch, validation_loss=validation_loss)
    if verbose:
        stopped = "stopped early" if len(history) < epochs else "finished"
        message = (
            f"early stopping: {stopped} after epoch {history.epoch.iloc[-1]}; restored the weights of "
            f"epoch {epoch} (validation loss {loss:.4f})"
        )
        tqdm.write(message) if progress else print(message, flush=True)


REFERENCE_DEFAULTS = {
    "optimizer": "sgd",
    "momentum": 0.9,
    "weight_decay": 0.0,
    "schedule": "constant",
    "dropout": 0.0,
    "early_stopping": False,
    "patience": 10,
    "validation_fraction": 0.1,
}
"""The options of ``train_reference`` beyond the article, at their defaults (the article's recipe)."""


def _validation_split(X, y, fraction, seed):
    """A stratified ``fraction`` of the training data held out to watch for early stopping."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed, stratify=y)
    except ValueError as exc:
        raise ValueError(
            f"cannot hold out validation_fraction={fraction} of {len(y)} training samples stratified by class "
            f"({exc}); use more data or a larger fraction, or train without early stopping"
        ) from None


def train_reference(
    net,
    X_train,
    y_train,
    X_test=None,
    y_test=None,
    *,
    epochs,
    batch_size=100,
    learning_rate=0.1,
    seed=None,
    verbose=True,
    progress=True,
    optimizer="sgd",
    momentum=0.9,
    weight_decay=0.0,
    schedule="constant",
    dropout=0.0,
    early_stopping=False,
    patience=10,
    validation_fraction=0.1,
):
    """Train ``net`` in place by minibatch SGD, step by step in plain NumPy (the reference).

    One row per epoch: ``epoch, loss_training, accuracy_training, loss_test,
    accuracy_test, seconds``. Training figures are averaged over the epoch's
    batches (measured before each update), test figures come from one forward
    pass over ``X_test``; without a test set (``X_test=y_test=None``) they are
    NaN. Calling ``train`` again continues where the last call stopped (hot
    start): epoch numbers go on and ``net.history`` holds them all.
    Epoch ``e`` is shuffled by ``default_rng([seed, e])``, so 10 + 5 epochs equal 15
    at a constant rate: the optimiser's state (velocities, Adam's moments and
    step count) is kept on the network (``net.optimizer_state``, in memory and
    by pickle, not in model files) and resumed by the next call with the same
    optimiser (another optimiser starts afresh). A schedule runs over the
    epochs of each call.

    Beyond the article (defaults = the article's recipe):

    * ``optimizer``: ``"sgd"`` (plain), ``"momentum"``, ``"nesterov"`` (with
      ``momentum`` μ) or ``"adam"`` (``learning_rate`` is then Adam's η, e.g. 0.001);
      ``weight_decay`` λ ≥ 0 adds λ·W to the weight gradients (see ``scratchnet.optimizers``).
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
    from .network import MultilayerNeuralNetClassifier

    if not isinstance(net, MultilayerNeuralNetClassifier):
        raise TypeError(f"net must be a MultilayerNeuralNetClassifier, got {type(net).__name__}")
    epochs = check_int(epochs, "epochs")
    batch_size = check_int(batch_size, "batch_size")
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    if seed is not None:
        seed = check_int(seed, "seed", minimum=0)
    X_train = check_features(X_train, net.layers[0], net.dtype, name="X_train")
    y_train = check_labels(y_train, net.n_classes, X_train.shape[0], name="y_train")
    X_test, y_test = _check_test_set(net, X_test, y_test)
    from .network import check_dropout

    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    optimizer = make_optimizer(optimizer, learning_rate, momentum=momentum, weight_decay=weight_decay)
    optimizer.set_state(getattr(net, "optimizer_state", None), net.weights + net.biases)
    schedule = SCHEDULES[check_schedule(schedule)]
    dropout = check_dropout(dropout)
    patience = check_int(patience, "patience")
    X_val = y_val = None
    if early_stopping:
        _check_fraction(validation_fraction)
        X_train, X_val, y_train, y_val = _validation_split(X_train, y_train, validation_fraction, seed)
    if batch_size > X_train.shape[0]:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {X_train.shape[0]} training samples; choose a smaller one"
        )

    first = net.epochs_trained
    records, validation_loss = [], []
    best = (np.inf, None, None, None)  # (validation loss, epoch, parameters, optimiser state)
    bar = tqdm(range(first, first + epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        saved = [p.copy() for p in net.weights + net.biases]
        optimizer.learning_rate = schedule(learning_rate, epoch - first, epochs)  # ηₑ
        drop_rng = None
        if dropout:
            drop_rng = np.random.default_rng(None if seed is None else [seed, epoch, 1])
        loss_sum, correct, n_seen, n_batches = 0.0, 0, 0, 0
        for Xb, yb in minibatches(X_train, y_train, batch_size, epoch_rng(seed, epoch)):
            Yb = int_to_onehot(yb, net.n_classes).astype(net.dtype, copy=False)
            activations, masks = net.forward_train(Xb, dropout, drop_rng)
            loss_sum += net.loss_function.value(activations[-1], Yb)
            correct += int(np.count_nonzero(activations[-1].argmax(axis=1) == yb))
            n_seen += yb.shape[0]
            n_batches += 1
            if masks is None:
                weight_grads, bias_grads = net.backward(Xb, Yb, activations)
            else:
                weight_grads, bias_grads = net.backward(Xb, Yb, activations, masks)
            optimizer.update(net.weights + net.biases, weight_grads + bias_grads)
        loss_test, accuracy_test = evaluate(net, X_test, y_test) if X_test is not None else (np.nan, np.nan)
        record = {
            "epoch": epoch,
            "loss_training": loss_sum / n_batches,
            "accuracy_training": correct / n_seen,
            "loss_test": loss_test,
            "accuracy_test": accuracy_test,
            "seconds": time.perf_counter() - start,
        }
        test_diverged = X_test is not None and not np.isfinite(loss_test)
        if (
            not np.isfinite(record["loss_training"])
            or test_diverged
            or not all(np.all(np.isfinite(p)) for p in net.weights + net.biases)
        ):
            for p, old in zip(net.weights + net.biases, saved):
                p[...] = old
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch}: the loss or the weights became NaN/infinite; "
                f"the network keeps its parameters from before that epoch. Try a smaller learning rate "
                f"than {learning_rate}."
            )
        net.history_records.append(record)
        net.optimizer_state = optimizer.get_state()
        records.append(record)
        if verbose:
            tqdm.write(format_epoch(record)) if progress else print(format_epoch(record), flush=True)
        if progress and X_test is not None:
            bar.set_postfix(acc_test=f"{accuracy_test:.3f}")
        if early_stopping:
            loss_val = evaluate(net, X_val, y_val)[0]
            validation_loss.append(loss_val)
            if loss_val < best[0]:
                best = (loss_val, epoch, [p.copy() for p in net.weights + net.biases], net.optimizer_state)
            elif epoch - best[1] >= patience:
                break
    bar.close()
    history = pd.DataFrame(records, columns=HISTORY_COLUMNS)
    if early_stopping and best[2] is not None:
        _restore_best(net, history, best, validation_loss, epochs, verbose, progress)
    return history
