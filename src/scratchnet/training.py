"""Minibatch gradient descent with per-epoch history (article, section 6)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .batching import epoch_rng, minibatches
from .losses import int_to_onehot
from .network import HISTORY_COLUMNS
from .optimizers import SGD
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
):
    """Train ``net`` in place by minibatch SGD; return this call's epochs as a DataFrame.

    The same maths, batches and history as ``train_reference`` (the readable
    loop below), computed by the fused engine (``scratchnet.engine.train_many``
    with one network), which is faster; results agree up to rounding.
    One row per epoch: ``epoch, loss_training, accuracy_training, loss_test,
    accuracy_test, seconds``; hot start as in ``train_reference``. Without a
    test set (``X_test=y_test=None``) the test columns are NaN.
    """
    from .engine import train_many
    from .network import MultilayerNeuralNetClassifier

    if not isinstance(net, MultilayerNeuralNetClassifier):
        raise TypeError(f"net must be a MultilayerNeuralNetClassifier, got {type(net).__name__}")
    epochs = check_int(epochs, "epochs")
    learning_rate = check_positive_float(learning_rate, "learning_rate")
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither (then the test columns of the history are NaN)")
    if X_test is not None:
        X_test = check_features(X_test, net.layers[0], net.dtype, name="X_test")  # named as here, not X_val
        y_test = check_labels(y_test, net.n_classes, X_test.shape[0], name="y_test")

    def report(epoch, records):
        if verbose:
            tqdm.write(format_epoch(records[0])) if progress else print(format_epoch(records[0]), flush=True)

    try:
        (history,) = train_many([net], X_train, y_train, X_test, y_test, epochs=epochs, batch_size=batch_size,
                                learning_rates=learning_rate, seed=seed, on_epoch=report, progress=progress)
    except TrainingDivergedError as exc:
        error = TrainingDivergedError(
            f"training diverged in epoch {exc.epoch}: the loss or the weights became NaN/infinite; the network "
            f"keeps its parameters from before that epoch. Try a smaller learning rate than {learning_rate}."
        )
        error.epoch = exc.epoch
        raise error from None
    return history


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
):
    """Train ``net`` in place by minibatch SGD, step by step in plain NumPy (the reference).

    One row per epoch: ``epoch, loss_training, accuracy_training, loss_test,
    accuracy_test, seconds``. Training figures are averaged over the epoch's
    batches (measured before each update), test figures come from one forward
    pass over ``X_test``; without a test set (``X_test=y_test=None``) they are
    NaN. Calling ``train`` again continues where the last call stopped (hot
    start): epoch numbers go on and ``net.history`` holds them all.
    Epoch ``e`` is shuffled by ``default_rng([seed, e])``, so 10 + 5 epochs equal 15.
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
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test, or neither (then the test columns of the history are NaN)")
    if X_test is not None:
        X_test = check_features(X_test, net.layers[0], net.dtype, name="X_test")
        y_test = check_labels(y_test, net.n_classes, X_test.shape[0], name="y_test")
    if batch_size > X_train.shape[0]:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {X_train.shape[0]} training samples; choose a smaller one"
        )

    optimizer = SGD(learning_rate)
    first = net.epochs_trained
    records = []
    bar = tqdm(range(first, first + epochs), desc="training", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        saved = [p.copy() for p in net.weights + net.biases]
        loss_sum, correct, n_seen, n_batches = 0.0, 0, 0, 0
        for Xb, yb in minibatches(X_train, y_train, batch_size, epoch_rng(seed, epoch)):
            Yb = int_to_onehot(yb, net.n_classes).astype(net.dtype, copy=False)
            activations = net.forward(Xb)
            loss_sum += net.loss_function.value(activations[-1], Yb)
            correct += int(np.count_nonzero(activations[-1].argmax(axis=1) == yb))
            n_seen += yb.shape[0]
            n_batches += 1
            weight_grads, bias_grads = net.backward(Xb, Yb, activations)
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
        if not np.isfinite(record["loss_training"]) or test_diverged or not all(
            np.all(np.isfinite(p)) for p in net.weights + net.biases
        ):
            for p, old in zip(net.weights + net.biases, saved):
                p[...] = old
            raise TrainingDivergedError(
                f"training diverged in epoch {epoch}: the loss or the weights became NaN/infinite; "
                f"the network keeps its parameters from before that epoch. Try a smaller learning rate "
                f"than {learning_rate}."
            )
        net.history_records.append(record)
        records.append(record)
        if verbose:
            tqdm.write(format_epoch(record)) if progress else print(format_epoch(record), flush=True)
        if progress and X_test is not None:
            bar.set_postfix(acc_test=f"{accuracy_test:.3f}")
    bar.close()
    return pd.DataFrame(records, columns=HISTORY_COLUMNS)
