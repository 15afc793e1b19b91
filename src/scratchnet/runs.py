"""One training run, from settings to a folder: ``scratchnet train``, the refit of a grid search and ``reproduce``.

``RunSettings`` holds what a run needs (data, widths, epochs, batch size,
learning rate, recipe, early stopping); ``train_run`` loads the data, builds
the network (or resumes a saved one), trains it with the article's per-epoch
lines and writes the finished run with ``write_run``: ``model.npz``,
``history.csv``, ``loss.png``, ``accuracy.png`` and, when given the data,
``digits.png``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .data import load_own_split, load_split, preprocessing, sample_shape
from .diagnostics import plot_gradients
from .errors import InvalidValueError, ModelFileError
from .model import FORMAT_NAME as LAYERED_FORMAT
from .model import LayeredNetwork, load_layered, read_layered, save_layered, train_layered
from .modelio import (
    network_arrays,
    network_from_file,
    network_header,
    read_header,
    read_model_file,
    save_network,
    write_model_file,
)
from .network import MultilayerNeuralNetClassifier
from .plots import plot_accuracy, plot_digits, plot_loss
from .progress import progress_bar
from .recipe import ARTICLE, NETWORK_FIELDS, Recipe
from .training import EARLY_STOPPING, EarlyStopping, evaluate, format_epoch, train, validation_split

RUN_FILES = ("model.npz", "history.csv", "loss.png", "accuracy.png", "digits.png", "checkpoint.npz")
"""What a finished ``scratchnet train`` run holds (the checkpoint unless ``checkpoint_every`` is 0)."""
CHECKPOINT = "checkpoint.npz"
"""The checkpoint of a run in its folder: a model file with the optimiser state and the run's settings."""
RESUMED_SETTINGS = (
    "epochs", "batch_size", "learning_rate", "hidden", "recipe", "dataset", "seed", "test_size", "dtype",
    "early_stopping", "patience", "scale", "target", "arch", "augment",
)  # fmt: skip
"""What must match between a checkpoint and the command that resumes it."""


@dataclass(frozen=True)
class RunSettings:
    """Everything one ``scratchnet train`` run needs besides where to write it."""

    epochs: int
    batch_size: int
    learning_rate: float
    hidden: tuple[int, ...] = (50,)
    recipe: Recipe = ARTICLE
    dataset: str = "digits"
    data_path: str | os.PathLike | None = None
    seed: int = 123
    test_size: float | int | None = None
    dtype: str = "float64"
    early_stopping: bool = EARLY_STOPPING["early_stopping"]
    patience: int = EARLY_STOPPING["patience"]
    scale: str | None = None
    """The user's own data (``dataset="own"``): ``minus-one-one``, ``unit`` or ``standard`` (None: its default)."""
    target: str | None = None
    """The label column of a CSV file (None: the last)."""
    arch: str | None = None
    """A network of layers (``scratchnet.archspec``'s spec line) instead of the MLP of ``hidden``; None: the MLP."""
    augment: bool = False
    """Random shifts and small rotations of the training images each epoch, seeded (``model.augment_images``)."""
    given: frozenset[str] = field(default=frozenset(), compare=False)
    header: dict = field(default_factory=dict, compare=False)
    """The model file's ``preprocessing`` and ``classes`` of the user's own data (filled by ``load_run_data``)."""
    """The recipe fields the user gave explicitly: a resumed network refuses to change those."""

    def as_record(self) -> dict:
        """The settings a checkpoint keeps (``RESUMED_SETTINGS``), as JSON values."""
        record = {name: getattr(self, name) for name in RESUMED_SETTINGS}
        record.update(hidden=list(self.hidden), recipe=self.recipe.as_dict())
        return record

    def describe(self) -> str:
        """What differs from the article besides widths, epochs, batch and rate, in one line ('' if nothing)."""
        parts = [self.recipe.describe()] if not self.recipe.is_article else []
        if self.early_stopping:
            parts.append(f"early stopping (patience {self.patience})")
        if self.augment:
            parts.append("augmented images")
        return ", ".join(parts)


Network = MultilayerNeuralNetClassifier | LayeredNetwork
"""What a run trains: the article's MLP, or a network of layers (``settings.arch``)."""


def epochs_trained(net: Network) -> int:
    """The epochs ``net`` has trained (its history's length)."""
    return len(net.history_records)


@dataclass
class RunResult:
    """A finished run: the network, this call's history, the hold-out accuracy and the folder written."""

    net: Network
    history: pd.DataFrame
    accuracy: float
    out: Path


def _resumed(path: str | os.PathLike, settings: RunSettings, layers: list[int]) -> MultilayerNeuralNetClassifier:
    """The saved network at ``path``, checked to fit the data and the explicitly given recipe."""
    net = MultilayerNeuralNetClassifier.load(path)
    if net.layers[0] != layers[0] or net.layers[-1] != layers[-1]:
        raise InvalidValueError(
            f"{path} has layers {net.layers}, which do not fit {settings.dataset} ({layers[0]} inputs, "
            f"{layers[-1]} classes)"
        )
    if "hidden" in settings.given and list(settings.hidden) != net.layers[1:-1]:
        raise InvalidValueError(
            f"{path} has hidden layers {net.layers[1:-1]}; --hidden {','.join(map(str, settings.hidden))} cannot "
            "change them when resuming (drop --hidden, or train a new network without --resume)"
        )
    for name in NETWORK_FIELDS:
        wanted = getattr(settings.recipe, name)
        if name in settings.given and wanted != net.options[name]:
            raise InvalidValueError(
                f"{path} has {name} {net.options[name]}; --{name} {wanted} cannot change it when resuming"
            )
    return net


# ------------------------------------------------------------- checkpoints
def write_training(path: str | os.PathLike, net: MultilayerNeuralNetClassifier, extra: dict | None = None) -> Path:
    """Write a training in progress to ``path`` atomically: the network and its history (a model file), its
    optimiser state (``optimizer_<name>_<j>`` arrays) and the header entries ``extra``.

    The random state needs no saving: epoch e's batches come from ``epoch_rng(seed, e)`` and its dropout masks
    from ``[seed, e, 1]``, so the epochs trained (the history) say where to go on.
    """
    optimizer, state_arrays = pack_optimizer(net.optimizer_state)
    arrays = {**network_arrays(net), **state_arrays}
    header = network_header(net, {**(extra or {}), "optimizer_state": optimizer})
    return write_model_file(path, header, arrays)


def pack_optimizer(state: dict | None) -> tuple[dict | None, dict[str, np.ndarray]]:
    """An optimiser's state (``Optimizer.get_state``) as a header entry and arrays ``optimizer_<name>_<j>``."""
    if state is None:
        return None, {}
    names = [k for k in state if k not in ("key", "t")]
    arrays = {f"optimizer_{name}_{j}": array for name in names for j, array in enumerate(state[name])}
    return {"key": list(state["key"]), "names": names, "t": state.get("t")}, arrays


def unpack_optimizer(record: dict | None, arrays, n_params: int, path: str | os.PathLike) -> dict | None:
    """The optimiser's state of ``pack_optimizer``'s header entry and arrays (``n_params`` per state name)."""
    if not record:
        return None
    try:
        state: dict = {"key": tuple(record["key"])}
        for name in record["names"]:
            state[name] = [arrays[f"optimizer_{name}_{j}"] for j in range(n_params)]
        if record.get("t") is not None:
            state["t"] = int(record["t"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{str(path)!r} has a damaged optimiser state ({exc})") from None
    return state


def read_training(path: str | os.PathLike) -> tuple[MultilayerNeuralNetClassifier, dict]:
    """``(network with its optimiser state, header)`` of a file written by ``write_training``."""
    header, arrays = read_model_file(path)
    net = network_from_file(header, arrays, path, MultilayerNeuralNetClassifier)
    state = unpack_optimizer(header.get("optimizer_state"), arrays, 2 * net.n_layers, path)
    if state is not None:
        net.optimizer_state = state
    return net, header


def read_layered_training(path: str | os.PathLike) -> tuple[LayeredNetwork, dict]:
    """``(network of layers with its optimiser state, header)`` of a checkpoint of ``save_checkpoint``."""
    net, header = read_layered(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files if name.startswith("optimizer_")}
    net.optimizer_state = unpack_optimizer(header.get("optimizer_state"), arrays, len(net.param_list()), path)
    return net, header


def save_checkpoint(out: str | os.PathLike, net: Network, settings: RunSettings) -> Path:
    """Write ``out/checkpoint.npz`` atomically (``write_training``, or ``save_layered`` with the optimiser state for
    a network of layers) with the run's settings."""
    extra = {
        **(settings.header or {"preprocessing": preprocessing(settings.dataset)}),
        "checkpoint": {"settings": settings.as_record(), "epochs_done": epochs_trained(net)},
    }
    if isinstance(net, LayeredNetwork):
        optimizer, arrays = pack_optimizer(net.optimizer_state)
        return save_layered(net, Path(out) / CHECKPOINT, {**extra, "optimizer_state": optimizer}, arrays)
    return write_training(Path(out) / CHECKPOINT, net, extra)


def load_checkpoint(folder: str | os.PathLike, settings: RunSettings) -> Network:
    """The network of ``folder/checkpoint.npz`` with its optimiser state, checked to belong to ``settings``' run."""
    path = Path(folder) / CHECKPOINT
    if not path.is_file():
        raise InvalidValueError(f"{folder} holds no {CHECKPOINT}; give a run's folder or a model file to --resume")
    layered = read_header(path).get("format") == LAYERED_FORMAT
    net, header = read_layered_training(path) if layered else read_training(path)
    record = header.get("checkpoint")
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise ModelFileError(f"{str(path)!r} is a model file but not a checkpoint of `scratchnet train --out`")
    ours = settings.as_record()
    theirs = {**ours, **record["settings"]}
    diff = [k for k in RESUMED_SETTINGS if theirs.get(k) != ours.get(k)]
    if diff:
        was = ", ".join(f"{k}={theirs[k]}" for k in diff)
        now = ", ".join(f"{k}={ours[k]}" for k in diff)
        raise InvalidValueError(
            f"the checkpoint in {folder} belongs to another run: it was made with {was}; this command asks for "
            f"{now}. Resume with the same options"
        )
    if settings.early_stopping:
        raise InvalidValueError("a run with --early-stopping cannot be resumed from a checkpoint; start it over")
    return net


def load_run_data(settings: RunSettings) -> list[np.ndarray]:
    """The run's split: a data set's (``data.load_split``), or the user's own data scaled as the settings say,
    whose scaling and class names then go into ``settings.header`` (the model file's entries)."""
    if settings.dataset != "own":
        return load_split(settings.dataset, settings.data_path, settings.test_size, settings.seed, settings.dtype)
    parts, record, classes = load_own_split(
        settings.data_path, settings.test_size, settings.seed, settings.dtype, settings.scale, settings.target
    )
    kind = "str" if any(isinstance(c, str) for c in classes) else "int"
    settings.header.clear()
    settings.header.update(preprocessing=record, classes={"kind": kind, "values": classes})
    return parts


def _settings_of_model(path: str | os.PathLike, settings: RunSettings) -> RunSettings:
    """The settings of a hot start from the model file ``path``: a network of layers' file gives its
    architecture when the command gives none; an MLP's file refuses ``--arch``."""
    header = read_header(path)
    if header.get("format") == LAYERED_FORMAT and settings.arch is None:
        return replace(settings, arch=header.get("arch"), hidden=())
    if header.get("format") != LAYERED_FORMAT and settings.arch is not None:
        raise InvalidValueError(f"{path} holds an MLP (--hidden), not a network of layers; drop --arch to train it on")
    return settings


def build_network(
    settings: RunSettings, n_features: int, n_classes: int, resume: str | os.PathLike | None = None
) -> MultilayerNeuralNetClassifier:
    """A new network of the settings' widths and recipe, seeded with their seed, or the resumed one."""
    layers = [n_features, *settings.hidden, n_classes]
    if resume:
        return _resumed(resume, settings, layers)
    return MultilayerNeuralNetClassifier(
        layers, random_seed=settings.seed, dtype=np.dtype(settings.dtype).type, **settings.recipe.network_options()
    )


def build_layered(
    settings: RunSettings,
    input_shape: tuple[int, ...],
    n_classes: int,
    resume: str | os.PathLike | None = None,
) -> LayeredNetwork:
    """A new network of layers of ``settings.arch`` on samples of ``input_shape`` (the recipe's output and loss,
    seeded with the settings' seed), or the saved one at ``resume``, checked to fit the data and the given flags."""
    if resume:
        net = load_layered(resume)
        if net.input_shape != tuple(input_shape) or net.n_classes != n_classes:
            raise InvalidValueError(
                f"{resume} takes samples of shape {net.input_shape} into {net.n_classes} classes, which does not fit "
                f"{settings.dataset} ({tuple(input_shape)}, {n_classes} classes)"
            )
        if "arch" in settings.given and settings.arch != net.arch:
            raise InvalidValueError(
                f"{resume} has the architecture {net.arch!r}; --arch cannot change it when resuming (drop --arch)"
            )
        for name, have in (("output", net.output), ("loss", net.loss_function.name)):
            if name in settings.given and getattr(settings.recipe, name) != have:
                raise InvalidValueError(
                    f"{resume} has {name} {have}; --{name} {getattr(settings.recipe, name)} cannot change it when "
                    "resuming"
                )
        return net
    net = LayeredNetwork(
        settings.arch,
        input_shape,
        output=settings.recipe.output,
        loss=settings.recipe.loss,
        dtype=settings.dtype,
        seed=settings.seed,
    )
    if net.n_classes != n_classes:
        raise InvalidValueError(
            f"the architecture ends in {net.n_classes} class scores, {settings.dataset} has {n_classes} classes: "
            f"end it with dense({n_classes})"
        )
    return net


class _LayeredEarlyStopping(EarlyStopping):
    """``training.EarlyStopping`` for a network of layers: parameters and batchnorm statistics kept."""

    def arrays(self) -> list[np.ndarray]:
        return [a for _, a in self.net.named_params() + self.net.named_buffers()]

    def loss(self) -> float:
        return self.net.evaluate(self.X_val, self.y_val)[0]


def fit_layered(
    net: LayeredNetwork,
    settings: RunSettings,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    verbose: bool = False,
    progress: bool = False,
    epochs: int | None = None,
    on_epoch: Callable[[int, dict], object] | None = None,
    schedule_span: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """``fit`` for a network of layers (``model.train_layered``): the recipe's optimiser, schedule and rates,
    augmentation, early stopping on a stratified 10 % of the training data, a bar over the minibatches."""
    X_train, X_test, y_train, y_test = data
    epochs = settings.epochs if epochs is None else epochs
    watch = None
    if settings.early_stopping:
        X_train, X_val, y_train, y_val = validation_split(
            X_train, y_train, EARLY_STOPPING["validation_fraction"], settings.seed
        )
        watch = _LayeredEarlyStopping(net, X_val, y_val, settings.patience)
    per_epoch = max(X_train.shape[0] // settings.batch_size, 1)  # a bar over the batches, counted in epochs
    bar = progress_bar(total=epochs * per_epoch, unit_scale=1 / per_epoch, desc="training", unit="epoch",
                       leave=False, disable=not progress)  # fmt: skip
    say = bar.write if hasattr(bar, "write") else print  # a tqdm bar on a terminal keeps its line

    def each_epoch(record: dict) -> bool:
        if X_test is not None:
            bar.set_postfix(acc_test=f"{record['accuracy_test']:.3f}")
        if verbose:
            say(format_epoch(record) + f" | seconds={record['seconds']:.1f}")
        stop = watch.watch(record["epoch"]) if watch is not None else False
        if on_epoch is not None:
            on_epoch(record["epoch"], record)
        return stop

    options = settings.recipe.training_options()
    try:
        history = train_layered(
            net, X_train, y_train, X_test, y_test, epochs=epochs, batch_size=settings.batch_size,
            learning_rate=settings.learning_rate, seed=settings.seed, optimizer=options["optimizer"],
            momentum=options["momentum"], weight_decay=options["weight_decay"], schedule=options["schedule"],
            augment=settings.augment, on_epoch=each_epoch, schedule_span=schedule_span, on_batch=bar.update,
        )  # fmt: skip
    finally:
        bar.close()
    if watch is not None:
        watch.restore(history, epochs, verbose, progress)
    return history


def fit(
    net: MultilayerNeuralNetClassifier,
    settings: RunSettings,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    *,
    verbose: bool = False,
    progress: bool = False,
    epochs: int | None = None,
    on_epoch: Callable[[int, dict], object] | None = None,
    schedule_span: tuple[int, int] | None = None,
    diagnostics: bool = False,
) -> pd.DataFrame:
    """Train ``net`` on ``data`` = ``(X_train, X_test, y_train, y_test)`` as the settings say; this call's history.

    ``epochs``: fewer than the settings' (the rest of a resumed run); ``on_epoch``, ``schedule_span``: as
    ``training.train``'s; ``diagnostics``: record per-layer gradient norms per epoch (``scratchnet.diagnostics``)."""
    X_train, X_test, y_train, y_test = data
    return train(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=settings.epochs if epochs is None else epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        seed=settings.seed,
        verbose=verbose,
        progress=progress,
        on_epoch=on_epoch,
        schedule_span=schedule_span,
        early_stopping=settings.early_stopping,
        patience=settings.patience,
        diagnostics=diagnostics,
        **settings.recipe.training_options(),
    )


def hold_out_accuracy(net: Network, history: pd.DataFrame, X_test: np.ndarray, y_test: np.ndarray) -> float:
    """The accuracy of the trained ``net`` on the hold-out: the last epoch's, or the kept epoch's after early stopping."""
    if "best_epoch" in history.attrs:  # early stopping restored an earlier epoch's weights
        if isinstance(net, LayeredNetwork):
            return float(net.evaluate(X_test, y_test)[1])
        return float(evaluate(net, X_test, y_test)[1])
    return float(history.iloc[-1].accuracy_test)


def write_run(
    out: str | os.PathLike,
    net: Network,
    history: pd.DataFrame,
    *,
    dataset: str,
    accuracy_title: str = "accuracy",
    digits: tuple[np.ndarray, np.ndarray, int] | None = None,
    header: dict | None = None,
) -> Path:
    """Write a finished run into the folder ``out``: model.npz, history.csv, loss.png, accuracy.png (and digits.png).

    ``history`` is what the files and figures show; ``digits``: ``(X, y, seed)``
    of the images for digits.png (none: no digits.png); ``header``: the model file's entries ``preprocessing``
    and ``classes`` (default: the data set's pixel scaling). Returns the model's path.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    header = header or {"preprocessing": preprocessing(dataset)}
    if isinstance(net, LayeredNetwork):
        model_path = save_layered(net, out / "model.npz", extra_header=header)
    else:
        model_path = save_network(net, out / "model.npz", extra_header=header)
    history.to_csv(out / "history.csv", index=False)
    plot_loss(history, out / "loss.png")
    plot_accuracy(history, out / "accuracy.png", title=accuracy_title)
    if digits is not None:
        X, y, seed = digits
        plot_digits(X, y, out / "digits.png", seed=seed)
    return model_path


def train_run(
    settings: RunSettings,
    out: str | os.PathLike,
    *,
    resume: str | os.PathLike | None = None,
    preset: str | None = None,
    verbose: bool = False,
    progress: bool = False,
    checkpoint_every: int | None = 1,
    echo: Callable[[str], object] = print,
    diagnostics: bool = False,
) -> RunResult:
    """``scratchnet train``: load the data, build (or resume) the network, train it, write the run into ``out``.

    Prints the run's header line, the article's per-epoch lines (``verbose``) and
    the hold-out accuracy; ``preset`` only names the preset in the header line.
    ``checkpoint_every``: write ``out/checkpoint.npz`` every that many epochs, at the end and on an interrupt
    (None or 0: never). ``resume``: a saved model file (a hot start for ``settings.epochs`` more epochs) or a
    run's folder holding a checkpoint: the run goes on from it and ends as the uninterrupted run would.
    """
    if resume is not None and Path(resume).is_file():
        settings = _settings_of_model(resume, settings)
    X_train, X_test, y_train, y_test = load_run_data(settings)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    layered = settings.arch is not None
    shape = sample_shape(settings.dataset, X_train.shape[1], settings.header.get("preprocessing"))
    from_checkpoint = resume is not None and Path(resume).is_dir()
    if from_checkpoint:
        net = load_checkpoint(resume, settings)
        n_inputs = math.prod(net.input_shape) if layered else net.layers[0]
        if n_inputs != X_train.shape[1]:
            raise InvalidValueError(f"the checkpoint in {resume} has {n_inputs} inputs, the data {X_train.shape[1]}")
        echo(f"resuming the checkpoint in {resume}: {epochs_trained(net)} of {settings.epochs} epochs done")
    elif layered:
        net = build_layered(settings, shape, n_classes, resume)
        if resume:
            echo(f"resuming {resume}: {net.arch}, {epochs_trained(net)} epochs trained")
    else:
        net = build_network(settings, X_train.shape[1], n_classes, resume)
        if resume:
            echo(f"resuming {resume}: layers {net.layers}, {net.epochs_trained} epochs trained")
    beyond = settings.describe()
    if layered:
        what = f"{net.arch} on {net.input_shape} ({net.n_params()} parameters, {net.dtype.name})"
    else:
        what = f"layers {net.layers} ({net.n_parameters} parameters, {net.dtype.name})"
    echo(
        f"{settings.dataset}: {X_train.shape[0]} training / {X_test.shape[0]} hold-out samples; {what}; "
        f"{settings.epochs} epochs, batch {settings.batch_size}, learning rate {settings.learning_rate:g}"
        + (f"; {beyond}" if beyond else "")
        + (f" [preset {preset}]" if preset else "")
    )
    every = int(checkpoint_every or 0)
    epochs, span = settings.epochs, None
    if from_checkpoint:
        epochs, span = settings.epochs - epochs_trained(net), (0, settings.epochs)

    def checkpoint(epoch: int, record: dict) -> None:
        if every and (epoch + 1) % every == 0:
            save_checkpoint(out, net, settings)

    data = (X_train, X_test, y_train, y_test)
    history = net.history.iloc[-1:]  # a checkpoint of a finished run: nothing left to train
    try:
        if epochs > 0 and layered:
            history = fit_layered(net, settings, data, verbose=verbose, progress=progress, epochs=epochs,
                on_epoch=checkpoint, schedule_span=span)  # fmt: skip
        elif epochs > 0:
            history = fit(net, settings, data, verbose=verbose, progress=progress, epochs=epochs,
                on_epoch=checkpoint, schedule_span=span, diagnostics=diagnostics)  # fmt: skip
    except KeyboardInterrupt:
        if every:  # the network holds its last finished epoch
            save_checkpoint(out, net, settings)
            echo(
                f"interrupted: {epochs_trained(net)} of {settings.epochs} epochs are safe in "
                f"{Path(out) / CHECKPOINT}; add --resume {out} to the same command to go on"
            )
        raise
    if every:
        save_checkpoint(out, net, settings)
    digits = ((X_train, X_test), np.concatenate([y_train, y_test]), settings.seed)  # no copy of the images
    if settings.dataset == "own":
        digits = None
    header = settings.header or {"preprocessing": preprocessing(settings.dataset)}
    if layered:  # the seed of the run's split, as an MLP's file has it (``random_seed``)
        header = {**header, "random_seed": settings.seed}
    write_run(out, net, net.history, dataset=settings.dataset, digits=digits, header=header)
    if diagnostics:  # gradients.png: the per-layer gradient norms and saturated shares per epoch
        plot_gradients(net.diagnostics, Path(out) / "gradients.png")
    accuracy = hold_out_accuracy(net, history, X_test, y_test)
    echo(
        f"hold-out accuracy {accuracy:.4f} after {epochs_trained(net)} epochs "
        f"({history.seconds.median():.3f} s/epoch median, {history.seconds.sum():.1f} s in all); wrote "
        f"{', '.join(f for f in RUN_FILES + ('gradients.png',) if (Path(out) / f).is_file())} to {out}"
    )
    return RunResult(net, history, accuracy, Path(out))
