"""Cross-validated grid search (article, section 7), resumable and parallel.

The grid is hidden layers × hidden nodes × learning rate (the article's), and
optionally × the recipe: activation, output/loss head, init and the training
options (optimizer, momentum, weight decay, schedule, dropout). Every configuration
is trained on every fold of a stratified K-fold split of the training part (the
hold-out is never seen). The unit of work is a *group*: configurations of the
same fold trained together by ``engine.train_many`` on one minibatch sequence.
Groups run on local processes (joblib) or on a Dask cluster; the parent
process commits each finished group to the ``Store`` at once.

Results never depend on grouping or on the executor: the initial weights of a
network are seeded by ``init_seed(seed, config, fold)`` and the batches of a
fold by ``batch_seed(seed, fold)``.

A configuration with an ``arch`` (a network of layers, ``tune --arch``) is a group
of its own, trained by ``model.train_layered`` (same folds, same batch seed), its
input shaped as the data set's images (``data.sample_shape``); it is not
checkpointed: an interrupted one starts again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import signal
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .data import sample_shape
from .engine import choose_first_layer, train_many
from .errors import InvalidValueError, ScratchnetError, TrainingDivergedError
from .grid import (  # noqa: F401  (the grid's names, re-exported where the search always had them)
    HALVING_FACTOR,
    Config,
    configs_of,
    data_digest,
    default_min_epochs,
    experiment_fingerprint,
    halving_rungs,
    layer_widths,
    make_grid,
    recipe_fingerprint,
    rung_sizes,
    varied_fields,
)
from .model import LayeredNetwork, train_layered
from .network import MultilayerNeuralNetClassifier
from .progress import progress_bar
from .recipe import DEFAULTS, describe_values
from .report import best_config, complete, config_means, promoted
from .runs import RunSettings, fit, fit_layered, load_run_data, read_training, write_run, write_training
from .store import Claims, Store
from .validation import check_int


def make_folds(y: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified K-fold of the training labels (shuffled with ``seed``): ``[(train_idx, val_idx), …]``."""
    from sklearn.model_selection import StratifiedKFold

    n_folds = check_int(n_folds, "folds", minimum=2)
    counts = np.bincount(np.asarray(y))
    if counts[counts > 0].min() < n_folds:
        raise InvalidValueError(
            f"{n_folds} folds need at least {n_folds} samples of every class; the smallest class has "
            f"{counts[counts > 0].min()}. Use fewer --folds"
        )
    kfold = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(train.astype(np.int64), val.astype(np.int64)) for train, val in kfold.split(np.zeros(len(y)), y)]


def init_seed(seed: int, config: Config, fold: int) -> int:
    """Seed of a network's initial weights: depends on (seed, layers, nodes, fold) only.

    The learning rate and the recipe are left out on purpose: the learning
    rates, optimizers, activations … of a cell start from the same random draws
    (scaled by their ``init``), so they are compared on equal terms.
    """
    words = [int(seed), 1, config.hidden_layers, config.hidden_nodes, int(fold)]
    if config.arch:  # a network of layers: seeded by its spec too (an MLP's seed is as before architectures)
        words.append(zlib.crc32(config.arch.encode()))
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def batch_seed(seed: int, fold: int) -> int:
    """Seed of the minibatch order of a fold: shared by all its configurations."""
    return int(np.random.SeedSequence([int(seed), 2, int(fold)]).generate_state(1)[0])


# ------------------------------------------------------------------- groups
def _cost(config, n_features, n_classes):
    if config.arch:
        return 0
    return sum(
        a * b
        for a, b in zip(
            layer_widths(config, n_features, n_classes)[:-1], layer_widths(config, n_features, n_classes)[1:]
        )
    )


def make_groups(
    pending: Iterable[tuple[Config, int]],
    workers: int = 1,
    group_size: int | None = None,
    n_features: int = 1,
    n_classes: int = 1,
) -> list[tuple[int, list[Config]]]:
    """Split the pending ``(config, fold)`` trainings into jobs ``[(fold, [config, …]), …]``.

    All configurations of a fold form one group, unless ``group_size`` caps it,
    or, by default, when the folds cannot be spread evenly over ``workers``:
    then each fold is cut into ``workers / gcd(folds, workers)`` groups. Cut
    groups get configurations of similar total cost (dealt by size, snake order).
    """
    by_fold, alone = {}, []
    for config, fold in pending:
        if config.arch:  # a network of layers trains alone (model.train_layered), not in the engine
            alone.append((int(fold), [config]))
        else:
            by_fold.setdefault(int(fold), []).append(config)
    if group_size is not None:
        group_size = check_int(group_size, "group_size")
    workers = check_int(workers, "workers")
    groups = []
    for fold in sorted(by_fold):
        configs = sorted(by_fold[fold], key=lambda c: -_cost(c, n_features, n_classes))
        if group_size is None:
            chunks = workers // math.gcd(len(by_fold), workers)
        else:
            chunks = math.ceil(len(configs) / group_size)
        chunks = max(1, min(chunks, len(configs)))
        dealt = [[] for _ in range(chunks)]
        for i, config in enumerate(configs):
            lap, pos = divmod(i, chunks)
            dealt[pos if lap % 2 == 0 else chunks - 1 - pos].append(config)
        groups.extend((fold, sorted(chunk)) for chunk in dealt)
    return groups + sorted(alone)


# ----------------------------------------------------------------- one job
_DATA_CACHE = {}


def _resolve(data):
    """The payload ``{"X", "y", "folds"}``, or the path of its joblib dump (loaded once per process)."""
    if isinstance(data, dict):
        return data
    if data not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[data] = joblib.load(data, mmap_mode="r")
    return _DATA_CACHE[data]


def _epoch_done(progress, n):
    """Tell the parent that ``n`` trainings finished one more epoch.

    ``progress``: None, a callable (same process), ``("dask", topic)`` (a worker
    event) or ``("folder", path, parent_pid)``: a file per process holding its
    running count. A local worker whose parent died (SIGKILL) stops here,
    rather than training on for nobody.
    """
    if progress is None:
        return
    if callable(progress):
        progress(n)
    elif progress[0] == "dask":
        from distributed import get_worker

        get_worker().log_event(progress[1], n)
    else:
        if os.getppid() != progress[2]:
            os._exit(1)
        path = Path(progress[1]) / str(os.getpid())
        _EPOCH_COUNTS[path] = _EPOCH_COUNTS.get(path, 0) + n
        tmp = path.with_suffix(".tmp")
        tmp.write_text(str(_EPOCH_COUNTS[path]))
        os.replace(tmp, path)


_EPOCH_COUNTS = {}


def _reported_epochs(folder):
    """The sum of the running counts the local workers keep in ``folder`` (see ``_epoch_done``).

    A worker writes ``PID.tmp`` and renames it to ``PID``: the ``.tmp`` files are
    skipped, and one that vanishes between listing and reading counts at the next poll.
    """
    total = 0
    for path in Path(folder).glob("[0-9]*"):
        if path.suffix:
            continue
        try:
            total += int(path.read_text() or 0)
        except (FileNotFoundError, ValueError):
            continue
    return total


def _networks(configs: Sequence[Config], fold: int, seed: int, n_features: int, n_classes: int, dtype: Any) -> list:
    """The untrained networks of ``configs`` on fold ``fold``: each of its widths and recipe, seeded by ``init_seed``."""
    return [
        MultilayerNeuralNetClassifier(
            c.widths(n_features, n_classes),
            random_seed=init_seed(seed, c, fold),
            dtype=dtype,
            **c.recipe.network_options(),
        )
        for c in configs
    ]


def _shares(histories: list, wall: float) -> np.ndarray:
    """Each training's share of a group's wall time, in proportion to the epoch times the engine reports."""
    own = np.array([h["seconds"].sum() for h in histories], dtype=float)
    share = own / own.sum() if own.sum() > 0 else np.full(len(own), 1 / len(own))
    return wall * share


def checkpoint_name(config: Config, fold: int) -> str:
    """The file name of a training's checkpoint in the grid's checkpoint folder: fold and a digest of the config."""
    digest = hashlib.sha256(config.key().encode()).hexdigest()[:16]
    return f"fold{int(fold)}-{digest}.npz"


def checkpoint_folder(store: Store) -> Path:
    """Where the trainings in flight of ``store``'s experiment keep their checkpoints: beside the store, one
    subfolder per experiment (so that a store started over with --new never resumes a stale one)."""
    digest = hashlib.sha256(json.dumps(store.fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    return store.path.with_name(store.path.name + ".checkpoints") / digest


def state_bytes(net: MultilayerNeuralNetClassifier, first_layer: str | None = None) -> bytes:
    """A training in progress (network, history, optimiser state, the first layer it trains with) as the bytes
    of a ``runs.write_training`` file."""
    with tempfile.TemporaryDirectory(prefix="scratchnet-state-") as tmp:
        path = write_training(Path(tmp) / "state.npz", net, {"first_layer": first_layer})
        return path.read_bytes()


def state_network(state: bytes) -> tuple[MultilayerNeuralNetClassifier, str | None]:
    """The training in progress of ``state_bytes``, ready to go on, and the first layer it trained with."""
    with tempfile.TemporaryDirectory(prefix="scratchnet-state-") as tmp:
        path = Path(tmp) / "state.npz"
        path.write_bytes(state)
        net, header = read_training(path)
        return net, header.get("first_layer")


def _started_networks(nets: list, starts: Sequence[bytes | None] | None, layers: dict[int, str]) -> list:
    """``nets`` with each that has a saved state in ``starts`` (the rung before, successive halving) replaced by it;
    the first layer each trained with goes into ``layers`` (position → name)."""
    if not starts:
        return nets
    out = []
    for i, (net, state) in enumerate(zip(nets, starts, strict=True)):
        if state is not None:
            saved, layer = state_network(state)
            if saved.layers != net.layers or saved.options != net.options:
                raise ScratchnetError("a saved rung state does not belong to its configuration")
            net = saved
            if layer:
                layers[i] = layer
        out.append(net)
    return out


def previous_checkpoint(path: Path) -> Path:
    """Where the checkpoint before ``path``'s is kept (``write_checkpoint``)."""
    return path.with_name(path.name.removesuffix(".npz") + ".prev.npz")


def write_checkpoint(path: Path, net: MultilayerNeuralNetClassifier, extra: dict) -> None:
    """A training's checkpoint, the one before it kept beside it: a kill while a job writes its trainings'
    checkpoints one by one leaves every training one at the epoch they all share, so the job goes on together
    (trained apart, the stacked products would have other widths, and other last bits on some CPUs)."""
    if path.is_file():
        os.replace(path, previous_checkpoint(path))
    write_training(path, net, extra)


def forget_checkpoint(path: Path) -> None:
    """Remove a committed training's checkpoints."""
    path.unlink(missing_ok=True)
    previous_checkpoint(path).unlink(missing_ok=True)


def _resumed_networks(
    nets: list, configs: Sequence[Config], fold: int, folder: str | None, epochs: int, layers: dict[int, str]
) -> list:
    """``nets`` with each one replaced by its checkpoint in ``folder`` (epochs, optimiser state) at the latest
    epoch beyond its own but not beyond ``epochs`` that every training of the job can go on from (its last
    checkpoint or the one before); the first layer it trained with goes into ``layers``."""
    if not folder:
        return nets
    found: list[dict[int, tuple]] = []  # per training: epoch → (network, header) it can go on from
    for net, config in zip(nets, configs, strict=True):
        path = Path(folder) / checkpoint_name(config, fold)
        options: dict[int, tuple] = {net.epochs_trained: (net, {})}
        for candidate in (path, previous_checkpoint(path)):
            if not candidate.is_file():
                continue
            try:
                saved, header = read_training(candidate)
            except ScratchnetError:  # a damaged checkpoint: not one to go on from
                continue
            same = saved.layers == net.layers and saved.options == net.options
            if same and net.epochs_trained < saved.epochs_trained <= epochs:
                options.setdefault(saved.epochs_trained, (saved, header))
        found.append(options)
    shared = set.intersection(*(set(options) for options in found)) if found else set()
    out = []
    for i, options in enumerate(found):
        epoch = max(shared) if shared else max(options)  # each its own latest if they share none
        net, header = options[epoch]
        if header.get("first_layer"):
            layers[i] = header["first_layer"]
        out.append(net)
    return out


def run_group(
    data: dict | str,
    fold: int,
    configs: Sequence[Config],
    settings: dict[str, Any],
    progress: Any = None,
    commit: Any = None,
    starts: Sequence[bytes | None] | None = None,
) -> list[dict[str, Any]]:
    """Train the ``configs`` of fold ``fold`` together; return one result dict per configuration.

    ``data``: the payload dict (or the path of its dump); ``settings``: ``epochs,
    batch_size, seed, n_classes, blas_threads`` and optionally ``checkpoints`` (a folder) and
    ``checkpoint_every`` (epochs): each training then writes its checkpoint there every that many epochs and
    a rerun goes on from it, to the same numbers as an uninterrupted run. Each network is built with its
    configuration's recipe and trained with its options. ``progress``: where to
    report each finished epoch (see ``_epoch_done``). ``commit``: where each training is committed the moment
    it finishes — a callable taking a list of results (this process), the path of the store (a local worker:
    it opens the store itself), or None (the caller commits what this returns). The trainings of a group share
    every minibatch and finish in the same epoch; one that diverges finishes (and is committed) in the epoch it
    diverged, and trainings resumed from checkpoints of different epochs finish part by part.
    Successive halving: ``settings`` also hold ``rung`` (its index), ``epochs`` (the rung's) and
    ``schedule_epochs`` (the full training's, over which the learning-rate schedule runs); ``starts`` the saved
    state (``state_bytes``) each training goes on from (None: from its initial weights). Each result then also
    holds ``rung``, ``final`` (the rung is the full training) and, unless final or diverged, ``state``.
    Each result holds the configuration's columns (``Config.row``), the fold, the seeds, ``history``
    (per-epoch DataFrame with validation columns), ``diverged_epoch`` (None, or the epoch whose loss or
    weights turned NaN/infinite: the training stopped there, the others went on), ``group_size``,
    ``group_seconds`` (wall time of the group when the training finished) and ``seconds``: this
    training's share of it, in proportion to its epoch times.
    """
    if isinstance(progress, tuple) and progress[0] == "folder":  # a local worker: Ctrl-C is the parent's to handle
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    payload = _resolve(data)
    X, y = payload["X"], payload["y"]
    train_idx, val_idx = payload["folds"][fold]
    seed, epochs = settings["seed"], settings["epochs"]
    if len(configs) == 1 and configs[0].arch:
        return _run_layered(X, y, train_idx, val_idx, fold, configs[0], settings, progress, commit)
    folder, every = settings.get("checkpoints"), int(settings.get("checkpoint_every") or 0)
    start = time.perf_counter()
    nets = _networks(configs, fold, seed, X.shape[1], settings["n_classes"], X.dtype)
    trained_with: dict[int, str] = {}  # position → the first layer a started or resumed training had
    nets = _started_networks(nets, starts, trained_with)
    nets = _resumed_networks(nets, configs, fold, folder if every else None, epochs, trained_with)
    span = int(settings.get("schedule_epochs") or epochs)
    rung = settings.get("rung")
    finished: dict[int, dict[str, Any]] = {}  # position in configs → its result, once committed
    layer_choice: dict[int, dict] = {}  # position in configs → the first layer it trained with, and why

    def finish(idx: list[int], diverged: dict[int, int]) -> None:
        """Make the results of the trainings ``idx`` (just finished) and commit them where ``commit`` says."""
        wall = time.perf_counter() - start
        histories = [nets[i].history for i in idx]
        results = [
            _result(configs[i], fold, seed, history, diverged.get(i), seconds, len(configs), wall, layer_choice.get(i))
            for i, history, seconds in zip(idx, histories, _shares(histories, wall), strict=True)
        ]
        if rung is not None:  # successive halving: the state the next rung goes on from
            for i, r in zip(idx, results, strict=True):
                r.update(rung=int(rung), final=epochs >= span)
                if not r["final"] and diverged.get(i) is None:
                    r["state"] = state_bytes(nets[i], layer_choice[i]["first_layer"])
        _commit(commit, results)
        finished.update(zip(idx, results, strict=True))
        if folder and commit is not None:  # committed: their checkpoints have done their work
            for i in idx:
                forget_checkpoint(Path(folder) / checkpoint_name(configs[i], fold))

    with threadpool_limits(limits=settings["blas_threads"]):
        X_train, y_train = np.asarray(X[train_idx]), np.asarray(y[train_idx])
        X_val, y_val = np.asarray(X[val_idx]), np.asarray(y[val_idx])
        by_start: dict[int, list[int]] = {}
        for i, net in enumerate(nets):  # networks resumed from checkpoints of different epochs train apart
            by_start.setdefault(net.epochs_trained, []).append(i)
        for done, idx in sorted(by_start.items()):
            if done >= epochs:
                finish(idx, {})
                continue
            part = [nets[i] for i in idx]
            # the first layer, decided once for this part of the job (measured when "auto") and recorded in the store;
            # a training that goes on keeps the one it had, so that it ends with an uninterrupted run's last bits
            before = {trained_with.get(i) for i in idx}
            if len(before) == 1 and None not in before:
                given = choose_first_layer(part, [], [], X_train, y_train, X_val, 1, 0, first_layer=before.pop())
                choice = {**given, "reason": "kept from before the training was interrupted or promoted"}
            else:
                choice = choose_first_layer(
                    part, [configs[i].learning_rate for i in idx], [configs[i].recipe.training_options() for i in idx],
                    X_train, y_train, X_val, settings["batch_size"], epochs - done,
                )  # fmt: skip
            for i in idx:
                layer_choice[i] = choice

            def on_epoch(epoch, records, part=part, idx=idx, layer=choice["first_layer"]):
                _epoch_done(progress, len(records))
                dropped = {  # diverged in this epoch: their history ends before it
                    i: epoch
                    for i, net in zip(idx, part)
                    if i not in finished and not (net.history_records and net.history_records[-1]["epoch"] == epoch)
                }
                if dropped:
                    finish(list(dropped), dropped)
                if every and (epoch + 1) % every == 0 and epoch + 1 < epochs:
                    for i, net in zip(idx, part):
                        if i not in finished:
                            write_checkpoint(
                                Path(folder) / checkpoint_name(configs[i], fold), net, {"first_layer": layer}
                            )

            histories = train_many(
                part,
                X_train,
                y_train,
                X_val,
                y_val,
                epochs=epochs - done,
                batch_size=settings["batch_size"],
                learning_rates=[configs[i].learning_rate for i in idx],
                seed=batch_seed(seed, fold),
                on_epoch=on_epoch,
                options=[configs[i].recipe.training_options() for i in idx],
                diverged="drop",
                schedule_span=(0, span),
                first_layer=choice["first_layer"],
            )
            diverged = {i: h.attrs["diverged_epoch"] for i, h in zip(idx, histories) if "diverged_epoch" in h.attrs}
            finish([i for i in idx if i not in finished], diverged)
    return [finished[i] for i in range(len(configs))]


def _layered_network(
    config: Config, input_shape: Sequence[int], seed: int, dtype: Any, n_classes: int
) -> LayeredNetwork:
    """The network of layers of ``config`` with its recipe's head, on samples of ``input_shape`` (the data set's
    images) or, if its first layers take flat rows (``dense(…)``), of the flat rows; one-line errors otherwise."""
    recipe = config.recipe
    shapes = [tuple(input_shape)] + ([(math.prod(input_shape),)] if len(input_shape) > 1 else [])
    try:
        return LayeredNetwork.for_data(config.arch, shapes, n_classes, output=recipe.output, loss=recipe.loss,
                                       dtype=dtype, seed=seed)  # fmt: skip
    except InvalidValueError as exc:
        raise InvalidValueError(f"arch {config.arch!r}: {exc}") from None


def check_layered(configs: Sequence[Config], dataset: str, X_train: np.ndarray, n_classes: int) -> list[int] | None:
    """The sample shape the networks of layers among ``configs`` see (the data set's images, ``data.sample_shape``),
    each architecture built once on it so that a mistake is a one-line error before anything trains; None if none."""
    archs = {c.arch: c for c in configs if c.arch}
    if not archs:
        return None
    shape = list(sample_shape(dataset, X_train.shape[1]))
    for config in archs.values():
        _layered_network(config, shape, 0, X_train.dtype, n_classes)
    return shape


def _layered_options(config: Config) -> dict[str, Any]:
    """``train_layered``'s optimiser options of ``config``'s recipe (dropout is the architecture's)."""
    options = config.recipe.training_options()
    del options["dropout"]
    return options


def _run_layered(X, y, train_idx, val_idx, fold, config, settings, progress, commit) -> list[dict[str, Any]]:
    """``run_group`` for one network of layers: ``train_layered`` on the fold, the same result dict."""
    start = time.perf_counter()
    seed = settings["seed"]
    shape = settings.get("input_shape") or (X.shape[1],)
    net = _layered_network(config, shape, init_seed(seed, config, fold), X.dtype, settings["n_classes"])
    diverged = None
    with threadpool_limits(limits=settings["blas_threads"]):
        try:
            train_layered(
                net, np.asarray(X[train_idx]), np.asarray(y[train_idx]), np.asarray(X[val_idx]),
                np.asarray(y[val_idx]), epochs=settings["epochs"], batch_size=settings["batch_size"],
                learning_rate=config.learning_rate, seed=batch_seed(seed, fold), **_layered_options(config),
                on_epoch=lambda record: _epoch_done(progress, 1),
            )  # fmt: skip
        except TrainingDivergedError as exc:
            diverged = exc.epoch
    wall = time.perf_counter() - start
    result = _result(config, fold, seed, net.history, diverged, wall, 1, wall)
    _commit(commit, [result])
    return [result]


_RENAMED = {"loss_test": "loss_validation", "accuracy_test": "accuracy_validation"}


def _result(
    config: Config,
    fold: int,
    seed: int,
    history: pd.DataFrame,
    diverged_epoch: int | None,
    seconds: float,
    group_size: int,
    group_seconds: float,
    first_layer: dict | None = None,
) -> dict[str, Any]:
    """One finished training as the store's ``add_runs`` takes it (``first_layer``: ``engine.choose_first_layer``'s
    answer, or None for a training resumed complete)."""
    return {
        **config.row(),
        "fold": int(fold),
        "init_seed": init_seed(seed, config, fold),
        "batch_seed": batch_seed(seed, fold),
        "history": history.rename(columns=_RENAMED),  # with the epochs of a checkpoint it went on from
        "diverged_epoch": diverged_epoch,
        "seconds": float(seconds),
        "group_size": int(group_size),
        "group_seconds": float(group_seconds),
        "first_layer": first_layer,
    }


_STORES: dict[str, Store] = {}


def _commit(commit: Any, results: list[dict[str, Any]]) -> None:
    """Commit ``results`` (see ``run_group``'s ``commit``): call it, or add them to the store at that path (opened
    once per worker process), or leave them to the caller."""
    if commit is None or not results:
        return
    if callable(commit):
        commit(results)
        return
    if commit not in _STORES:
        _STORES[commit] = Store.open(commit)
    _STORES[commit].add_runs(results)


# --------------------------------------------------------------- executors
def _n(count, word):
    """``3 trainings``, ``1 training``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _starts_of(starts, fold, configs):
    """The saved states of the ``configs`` of ``fold`` in ``starts`` (``{(Config, fold): bytes}``), or None."""
    return [starts.get((c, fold)) for c in configs] if starts else None


def _run_local(payload, groups, settings, workers, tick, store, starts=None):
    """Run the jobs in this process or in ``workers`` joblib processes; ``settings`` is a callable read as each job
    starts (its BLAS threads follow how many processes share the cores at that moment). Each training is committed
    to ``store`` as it finishes: here by this process, there by the worker."""
    if workers == 1:
        for fold, configs in groups:
            yield run_group(payload, fold, configs, settings(), tick, store.add_runs, _starts_of(starts, fold, configs))
        return
    with tempfile.TemporaryDirectory(prefix="scratchnet-tune-") as tmp:
        path = str(Path(tmp) / "data.joblib")
        joblib.dump(payload, path)  # the workers map this file once each instead of receiving the data per job
        counts = Path(tmp) / "epochs"
        counts.mkdir()
        stop = threading.Event()

        def poll():
            seen = 0
            while not stop.wait(0.5):
                total = _reported_epochs(counts)
                if total > seen:
                    tick(total - seen)
                    seen = total

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            parallel = joblib.Parallel(n_jobs=workers, return_as="generator_unordered")
            yield from parallel(
                joblib.delayed(run_group)(
                    path,
                    fold,
                    configs,
                    settings(),
                    ("folder", str(counts), os.getpid()),
                    str(store.path),
                    _starts_of(starts, fold, configs),
                )
                for fold, configs in groups
            )
        finally:
            stop.set()
            poller.join()


def _run_dask(payload, groups, settings, client, tick, starts=None):
    from distributed import as_completed

    topic = f"scratchnet-tune-{uuid.uuid4().hex}"
    client.subscribe_topic(topic, lambda event: tick(event[1] if isinstance(event, tuple) else event))
    # the data goes to every worker once, under a new key each round: re-scattering the same data under its hashed
    # key while the last round's copy is being released can hang (dask/distributed#8576; seen in halving's rungs)
    [data] = client.scatter([payload], broadcast=True, hash=False)
    groups = iter(groups)  # drawn (and claimed) as workers free up, two jobs per worker thread in flight

    def submit(group):
        return client.submit(
            run_group,
            data,
            group[0],
            group[1],
            settings,
            ("dask", topic),
            starts=_starts_of(starts, group[0], group[1]),
            pure=False,
        )

    window = max(1, 2 * sum(client.nthreads().values()))
    futures = [submit(group) for group in itertools.islice(groups, window)]
    try:
        running = as_completed(futures)
        for future in running:
            yield future.result()
            group = next(groups, None)
            if group is not None:
                futures.append(submit(group))
                running.add(futures[-1])
    finally:
        client.cancel(futures)
        client.unsubscribe_topic(topic)


class _Progress:
    """A bar over trainings that moves with every epoch: ``max(epochs reported, epochs of finished trainings)``."""

    bar: Any
    """The tqdm bar (unit: a training, ``epochs`` ticks each)."""
    epochs: int
    start: int
    """Where the bar stood: the epochs of the trainings the store already held."""
    ticks: int
    """Epochs reported by the running trainings."""
    floor: int
    """Epochs of the finished trainings."""
    lock: threading.Lock

    def __init__(self, bar: Any, epochs: int) -> None:
        self.bar, self.epochs = bar, epochs
        self.start = bar.n
        self.ticks = self.floor = 0
        self.lock = threading.Lock()

    def tick(self, n: int) -> None:
        with self.lock:
            self.ticks += n
            self._show()

    def finished(self, n_trainings: int) -> None:
        with self.lock:
            self.floor += n_trainings * self.epochs
            self._show()

    def _show(self) -> None:
        target = min(self.start + max(self.ticks, self.floor), self.bar.total)
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)


CONNECT_TIMEOUT = 5.0
"""Seconds to reach a Dask scheduler before giving up (``tune --connect-timeout``)."""


def dask_client(scheduler: str | None = None, workers: int | None = None, timeout: float = CONNECT_TIMEOUT) -> Any:
    """A ``distributed.Client`` of the cluster at ``scheduler`` (reached within ``timeout`` seconds), or of a new
    LocalCluster of processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InvalidValueError("--executor dask needs dask.distributed: pip install 'scratchnet[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=f"{float(timeout)}s")
        except (OSError, TimeoutError) as exc:
            raise InvalidValueError(
                f"cannot reach the Dask scheduler at {scheduler} within {float(timeout):g} s: {exc}"
            ) from None
    cluster = LocalCluster(
        n_workers=workers or default_workers(), threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster)


def _workers_and_threads(
    executor: str, workers: int | None, blas_threads: int | None, client: Any, processes: int = 1
) -> tuple[int, int]:
    """``(workers, BLAS threads per job)``: the Dask cluster's threads and one BLAS thread each, or local processes
    with the cores shared out (``processes`` × workers × threads ≤ cores, ``processes`` being the tune processes
    at work on this machine: more BLAS threads than cores spin against each other)."""
    if executor == "dask":
        return sum(client.nthreads().values()), blas_threads or 1
    workers = check_int(workers or default_workers(), "workers")
    return workers, blas_threads or max(1, default_workers() // (workers * max(1, processes)))


def _announce(
    echo: Callable, store: Store, configs: Sequence[Config], n_pending: int, n_total: int, n_folds: int, plan: dict
) -> None:
    """The line ``tune: 12 of 90 trainings to run (… configurations × … folds …) in … groups on …; store …``."""
    recipe = describe_values({k: v for k, v in recipe_fingerprint(configs).items() if v != DEFAULTS[k]})
    workers, threads = plan["workers"], plan["threads"]
    echo(
        f"tune: {n_pending} of {_n(n_total, 'training')} to run ({_n(len(configs), 'configuration')} × "
        f"{n_folds} folds, {_n(plan['epochs'], 'epoch')}, batch {plan['batch_size']}) in "
        f"{_n(plan['groups'], 'group')} on {workers} {plan['executor']} {_n(workers, 'worker')[len(str(workers)) + 1 :]}"
        f" × {_n(threads, 'BLAS thread')}; " + (f"recipe {recipe}; " if recipe else "") + f"store {store.path}"
    )


def _progress_bar(n_total: int, n_done: int, epochs: int, progress: bool, desc: str = "tune") -> Any:
    """The tqdm bar of a grid search, counted in trainings and moved epoch by epoch."""
    return progress_bar(
        total=n_total * epochs,
        initial=n_done * epochs,
        unit="training",
        unit_scale=1 / epochs,
        desc=desc,
        disable=not progress,
        smoothing=0.05,
        bar_format="{l_bar}{bar}| {n:.1f}/{total:.0f} [{elapsed}<{remaining}, {rate_fmt}{postfix}]",
    )


def _close(client: Any) -> None:
    """Close a Dask client this search made, and its LocalCluster."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


CLAIM_POLL_SECONDS = 1.0
"""How often a process whose work is done looks whether the trainings other processes hold are finished."""


def _jobs(
    everything: list[tuple[Config, int]],
    pending: Iterable[tuple[Config, int]],
    workers: int,
    group_size: int | None,
    sizes: tuple[int, int],
) -> list[tuple[int, list[Config]]]:
    """The jobs of the ``pending`` trainings: the groups of the whole grid (``everything``) less what is in the
    store, so that a resumed grid trains each one in the company it had. The stacked products' widths, and with
    them the last bits, stay those of an uninterrupted run: BLAS kernels may sum in another order for other
    widths (OpenBLAS's small-matrix kernels on AVX-512 do)."""
    todo = set(pending)
    groups = make_groups(everything, workers, group_size, *sizes)
    return [(fold, kept) for fold, configs in groups if (kept := [c for c in configs if (c, fold) in todo])]


def _groups_left(
    store: Store,
    claims: Claims,
    everything: list[tuple[Config, int]],
    make: Callable[[list], list],
    rung: int | None = None,
) -> list[tuple[int, list[Config]]]:
    """After a round: the jobs of the unfinished trainings once some are free (others' claims expired), or [] once
    every training is in the store (up to ``rung``, successive halving); waits while other live processes hold all
    that is left."""
    while True:
        done = store.finished(rung)
        left = [(c, f) for c, f in everything if (c, f) not in done]
        if not left:
            return []
        if claims.held_by_others() < len(left):
            return make(left)
        time.sleep(CLAIM_POLL_SECONDS)


def run_tune(
    store: Store,
    X_train: np.ndarray,
    y_train: np.ndarray,
    configs: Sequence[Config],
    *,
    folds: int,
    epochs: int,
    batch_size: int,
    seed: int,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    group_size: int | None = None,
    blas_threads: int | None = None,
    progress: bool = True,
    checkpoint_every: int = 10,
    search: str = "grid",
    min_epochs: int | None = None,
    factor: int = HALVING_FACTOR,
    echo: Callable[[str], object] = print,
) -> dict[str, Any]:
    """Train every (config, fold) that ``store`` does not hold yet; commit each training as it finishes.

    A group's trainings end together, and each is committed the moment its group's result arrives. With
    ``checkpoint_every`` N > 0 (local processes, or a LocalCluster this call makes), a training in flight
    writes its checkpoint every N epochs into ``checkpoint_folder(store)``, and a rerun goes on from it to
    the numbers an uninterrupted run gives. On an interrupt (Ctrl-C) the workers are ended cleanly and
    ``KeyboardInterrupt`` is raised again after the finished trainings are safe; ``tuning.safe_count`` tells
    what survived.

    ``search="halving"``: successive halving over epochs instead of the whole grid. Rung i trains its
    configurations on every fold up to ``halving_rungs(epochs, min_epochs, factor)[i]`` epochs (rung 0: all of
    them from their initial weights); the next rung keeps the best ``rung_sizes`` of them by mean validation
    accuracy over the folds (``report.promoted``: never a diverged one) and goes on from each training's state
    saved in the rung (never from zero, to the numbers of an uninterrupted training). Each rung's trainings are
    committed to the store's ``rungs`` as they finish; a rerun redoes nothing committed and decides the same
    promotions. The last rung (``epochs``) fills ``runs``, which ``report`` and ``refit`` read.

    ``executor``: ``"local"`` (joblib processes, ``workers`` of them, BLAS
    threads per worker so that workers × threads ≤ cores) or ``"dask"`` (the
    cluster of ``client`` or ``scheduler``, else a LocalCluster of ``workers``
    processes; one BLAS thread per task unless ``blas_threads``).
    ``configs`` carry their recipes (``make_grid``); they should be the store's.
    Returns ``{"trained": …, "total": …, "seconds": …, "seconds_all": …}``: ``seconds`` this call's wall time,
    ``seconds_all`` the grid's over every call (kept in the store's meta ``tune_seconds``); with halving also
    ``"epochs"``: the training epochs of the trainings this call found to do (a part resumed from a checkpoint
    counted whole).
    """
    if executor not in ("local", "dask"):
        raise InvalidValueError(f"executor must be 'local' or 'dask', got {executor!r}")
    if search not in ("grid", "halving"):
        raise InvalidValueError(f"search must be 'grid' or 'halving', got {search!r}")
    if search == "halving" and any(c.arch for c in configs):
        raise InvalidValueError("successive halving is for the MLP grid; search architectures with search='grid'")
    split = make_folds(y_train, folds, seed)
    n_folds = len(split)
    if search == "halving":
        rungs = halving_rungs(epochs, min_epochs or default_min_epochs(epochs, factor), factor)
        planned = rung_sizes(len(configs), factor, len(rungs))
    else:
        rungs, planned = [int(epochs)], [len(configs)]
    done = store.finished()
    everything = [(c, f) for f in range(n_folds) for c in configs]
    summary = {"trained": 0, "total": len(everything), "seconds": 0.0, "epochs": 0}
    if search == "halving":
        summary["total"] = planned[-1] * n_folds
    if len(done) >= summary["total"]:
        echo(f"all {summary['total']} trainings are already in {store.path}")
        summary["seconds_all"] = float(store.get_meta("tune_seconds", "0"))
        return summary
    n_classes = int(np.max(y_train)) + 1
    own_client = start = None
    if executor == "dask" and client is None:
        client = own_client = dask_client(scheduler, workers)
    folder = checkpoint_folder(store)
    try:
        workers, threads = _workers_and_threads(executor, workers, blas_threads, client)
        sizes = (X_train.shape[1], n_classes)
        settings = {
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "seed": int(seed),
            "n_classes": n_classes,
            "blas_threads": int(threads),
        }
        shape = check_layered(configs, store.fingerprint.get("dataset", ""), X_train, n_classes)
        if shape is not None:
            settings["input_shape"] = shape
        if checkpoint_every and (executor == "local" or own_client is not None):  # a file system we share
            folder.mkdir(parents=True, exist_ok=True)
            settings.update(checkpoints=str(folder), checkpoint_every=int(checkpoint_every))
        payload = {"X": X_train, "y": y_train, "folds": split}
        if search == "halving":
            total = sum(n * n_folds * (e - b) for e, b, n in zip(rungs, [0, *rungs], planned, strict=False))
            echo(
                f"tune: successive halving (factor {factor}): rungs of {', '.join(map(str, rungs))} epochs keep "
                f"{', '.join(map(str, planned))} configurations, {total:,} training epochs "
                f"({total / (len(configs) * n_folds * epochs):.1%} of the full grid's "
                f"{len(configs) * n_folds * epochs:,})"
            )
        start = time.perf_counter()
        with Claims(store) as claims:
            shared = {"threads": settings["blas_threads"]}
            run = {
                "store": store,
                "claims": claims,
                "payload": payload,
                "executor": executor,
                "client": client,
                "workers": workers,
                "threads": threads,
                "group_size": group_size,
                "sizes": sizes,
                "folder": folder,
                "progress": progress,
                "blas_threads": blas_threads,
                "shared": shared,
                "echo": echo,
                "summary": summary,
                "n_folds": n_folds,
            }
            if search == "grid":
                pending = [(c, f) for c, f in everything if (c, f) not in done]
                _run_round(run, configs, everything, pending, settings, None, "tune", int(epochs))
            survivors = sorted(configs)
            for i, target in enumerate(rungs if search == "halving" else []):
                if i:
                    survivors = promoted(store.rung_runs(), i - 1, planned[i], n_folds)
                claims.rung = i
                everything = [(c, f) for f in range(n_folds) for c in survivors]
                done = store.finished(i)
                pending = [(c, f) for c, f in everything if (c, f) not in done]
                if not pending:
                    continue
                starts = store.rung_states(i - 1, pending) if i else None
                echo(
                    f"rung {i + 1} of {len(rungs)}: {len(survivors)} configurations to {target} epochs"
                    + (f", going on from their {rungs[i - 1]}" if i else "")
                )
                rung_settings = {**settings, "epochs": int(target), "schedule_epochs": int(epochs), "rung": i}
                before = rungs[i - 1] if i else 0
                _run_round(run, survivors, everything, pending, rung_settings, starts, f"rung {i + 1}", target - before)
                summary["epochs"] += len(pending) * (target - before)
        summary["seconds"] = time.perf_counter() - start
    finally:
        if start is not None:  # the grid's wall time over every session, for a report after a rerun
            spent = time.perf_counter() - start
            store.set_meta("tune_seconds", float(store.get_meta("tune_seconds", "0")) + spent)
        if own_client is not None:
            _close(own_client)
    summary["seconds_all"] = float(store.get_meta("tune_seconds", "0"))
    _remove_empty(folder)
    return summary


def _run_round(
    run: dict[str, Any],
    configs: Sequence[Config],
    everything: list[tuple[Config, int]],
    pending: list[tuple[Config, int]],
    settings: dict[str, Any],
    starts: dict[tuple[Config, int], bytes] | None,
    label: str,
    epochs: int,
) -> None:
    """Train the ``pending`` of ``everything`` (a grid, or a rung of successive halving) with the claims, executor
    and progress bar of ``run`` (``run_tune``'s), each job claimed as it is drawn; returns once every training of
    ``everything`` is in the store (others' included). ``epochs``: how many each training runs."""
    store, claims, executor, workers = run["store"], run["claims"], run["executor"], run["workers"]
    group_size, sizes, folder, echo = run["group_size"], run["sizes"], run["folder"], run["echo"]
    groups = _jobs(everything, pending, workers, group_size, sizes)
    plan = {**settings, "executor": executor, "workers": workers, "threads": run["threads"], "groups": len(groups)}
    _announce(echo, store, configs, len(pending), len(everything), run["n_folds"], plan)
    if "checkpoints" in settings:
        resumable = sum((folder / checkpoint_name(c, f)).is_file() for c, f in pending)
        if resumable:
            echo(f"tune: {_n(resumable, 'training')} go on from their checkpoints in {folder}")
    shared = run["shared"]

    def settings_now():
        """The job settings, with the BLAS threads that fit now that ``n`` tune processes use this machine."""
        if executor == "dask" or run["blas_threads"]:
            return settings
        n = claims.on_this_host()
        threads = _workers_and_threads(executor, workers, None, None, n)[1]
        if threads != shared["threads"]:
            shared["threads"] = threads
            who = f"{n} tune processes share" if n > 1 else "this tune process has"
            echo(f"tune: {who} this machine's {_n(default_workers(), 'core')}: {_n(threads, 'BLAS thread')} per worker")
        return {**settings, "blas_threads": threads}

    with _progress_bar(len(everything), len(everything) - len(pending), epochs, run["progress"], label) as bar:
        shown = _Progress(bar, epochs)
        while groups:  # each job is claimed in the store as it is drawn: several tune processes share the grid
            mine = claims.claimed_groups(groups)
            jobs = (
                _run_dask(run["payload"], mine, settings, run["client"], shown.tick, starts)
                if executor == "dask"
                else _run_local(run["payload"], mine, settings_now, workers, shown.tick, store, starts)
            )
            ran = 0
            for results in jobs:
                ran += 1
                store.add_runs(results)  # those the job committed as they finished are kept as they are
                run["summary"]["trained"] += len(results)
                claims.release((Config.from_row(r), r["fold"]) for r in results)
                for r in results:  # committed: its checkpoint has done its work
                    forget_checkpoint(folder / checkpoint_name(Config.from_row(r), r["fold"]))
                shown.finished(len(results))
                finals = [r["history"]["accuracy_validation"].iloc[-1] for r in results if len(r["history"])]
                if finals:
                    bar.set_postfix(fold=results[0]["fold"], best_val=f"{max(finals):.3f}")
            if not ran:  # another process took what was free just before us: look again in a moment
                time.sleep(CLAIM_POLL_SECONDS)
            groups = _groups_left(
                store,
                claims,
                everything,
                lambda left: _jobs(everything, left, workers, group_size, sizes),
                settings.get("rung"),
            )


def _remove_empty(folder: Path) -> None:
    """Remove the checkpoint folder of an experiment (and its parent) once no checkpoint is left in it."""
    for path in (folder, folder.parent):
        try:
            path.rmdir()
        except OSError:  # missing, or not empty
            return


def safe_count(store: Store) -> tuple[int, int]:
    """``(finished trainings in the store, trainings in flight with a checkpoint to go on from)``."""
    folder = checkpoint_folder(store)
    return len(store.finished()), len(list(folder.glob("*.npz"))) if folder.is_dir() else 0


# -------------------------------------------------------------------- refit
def _record_refit(store: Store, config: Config, history: pd.DataFrame, model_path: Path, out: Path, echo) -> dict:
    """The refit's row in the store (its last epoch's numbers), its one line, and ``refit_best``'s result."""
    last = history.iloc[-1]
    record = {
        **config.row(),
        "epochs": len(history),
        **{k: last[k] for k in ("loss_training", "accuracy_training", "loss_test", "accuracy_test")},
        "seconds": float(history.seconds.sum()),
        "model_path": str(model_path),
    }
    store.add_refit(record)
    echo(
        f"hold-out accuracy {last.accuracy_test:.4f} (loss {last.loss_test:.4f}) after {_n(len(history), 'epoch')}, "
        f"{record['seconds']:.1f} s; wrote model.npz, history.csv, loss.png, accuracy.png to {out}"
    )
    return {**record, "history": history, "out": out}


def _refit_layered(store, config, best, settings, data, out, verbose, echo) -> dict[str, Any]:
    """``refit_best`` for a network of layers: ``runs.fit_layered`` on all training samples, scored on the hold-out;
    the run's folder as ``train --arch`` writes it (``runs.write_run``)."""
    fp = store.fingerprint
    X_train, X_test = data[0], data[1]
    echo(
        f"refit: arch={config.arch}, learning rate={config.learning_rate:g} (mean cross validation accuracy "
        f"{best.accuracy_validation:.4f}) on all {X_train.shape[0]} training samples; {_n(fp['epochs'], 'epoch')}, "
        f"batch {fp['batch_size']}; hold-out {X_test.shape[0]} samples"
    )
    shape = sample_shape(fp["dataset"], X_train.shape[1], settings.header.get("preprocessing"))
    net = _layered_network(config, shape, settings.seed, X_train.dtype, int(fp["n_classes"]))
    history = fit_layered(net, settings, data, verbose=verbose)
    out = Path(out) if out else store.path.with_name(store.path.stem + "-refit")
    title = "refit: training and hold-out accuracy"
    model_path = write_run(out, net, history, dataset=fp["dataset"], accuracy_title=title, header=settings.header)
    return _record_refit(store, config, history, model_path, out, echo)


def _refit_data(store: Store, settings: RunSettings) -> list[np.ndarray]:
    """The split of the grid search's data, checked to be the data the store was made with."""
    fp = store.fingerprint
    X_train, X_test, y_train, y_test = load_run_data(settings)
    if data_digest(X_train, y_train) != fp["data_sha256"]:
        raise InvalidValueError(
            f"the {fp['dataset']} data found now differs from the data of store {str(store.path)!r}; "
            "give the file it was made with (--data PATH)"
        )
    return [X_train, X_test, y_train, y_test]


def refit_settings(store: Store, config: Config) -> RunSettings:
    """The ``train`` settings of a refit of ``config``: the grid search's data, seed, epochs and batch size."""
    fp = store.fingerprint
    return RunSettings(
        epochs=int(fp["epochs"]),
        batch_size=int(fp["batch_size"]),
        learning_rate=config.learning_rate,
        hidden=(config.hidden_nodes,) * config.hidden_layers,
        recipe=config.recipe,
        dataset=fp["dataset"],
        seed=int(fp["seed"]),
        test_size=fp["test_size"],
        dtype=fp["dtype"],
        scale=fp.get("scale"),
        target=fp.get("target"),
        arch=config.arch or None,
    )


def refit_best(
    store: Store,
    *,
    data_path: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    verbose: bool = False,
    progress: bool = False,
    echo: Callable[[str], object] = print,
) -> dict[str, Any]:
    """Retrain the best configuration of ``store`` on all training samples and score the hold-out.

    Same data, split, epochs, batch size and seed as the grid search; the network
    is seeded with the store's seed, built with the best configuration's recipe
    and trained with its options, so this equals ``scratchnet train --hidden …``
    with that recipe. Prints the article's per-epoch lines, writes the run
    (``runs.write_run``: model.npz, history.csv, loss.png, accuracy.png) in ``out``
    (default: next to the store, ``<store name>-refit/``), records the result in
    the store and returns it as a dict.
    """
    fp = store.fingerprint
    best = best_config(complete(config_means(store.runs()), fp["folds"]))
    config = Config.from_row(best)
    settings = dataclasses.replace(refit_settings(store, config), data_path=data_path)
    data = _refit_data(store, settings)
    X_train, X_test = data[0], data[1]
    recipe = config.recipe.describe()
    if config.arch:
        return _refit_layered(store, config, best, settings, data, out, verbose, echo)
    echo(
        f"refit: n_hidden_layers={config.hidden_layers}, n_hidden_nodes={config.hidden_nodes}, learning rate="
        f"{config.learning_rate:g} (mean cross validation accuracy {best.accuracy_validation:.4f}) on all "
        f"{X_train.shape[0]} training samples; {_n(fp['epochs'], 'epoch')}, batch {fp['batch_size']}; hold-out "
        f"{X_test.shape[0]} samples" + (f"; {recipe}" if recipe else "")
    )
    net = MultilayerNeuralNetClassifier(
        config.widths(X_train.shape[1], int(fp["n_classes"])),
        random_seed=settings.seed,
        dtype=np.dtype(settings.dtype).type,
        **config.recipe.network_options(),
    )
    history = fit(net, settings, data, verbose=verbose, progress=progress)
    out = Path(out) if out else store.path.with_name(store.path.stem + "-refit")
    title = "refit: training and hold-out accuracy"
    model_path = write_run(out, net, history, dataset=fp["dataset"], accuracy_title=title, header=settings.header)
    return _record_refit(store, config, history, model_path, out, echo)
