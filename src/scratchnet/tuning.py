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
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import threading
import time
import uuid
from collections import namedtuple
from pathlib import Path

import numpy as np

from .validation import check_int

RECIPE_FIELDS = ["activation", "output", "loss", "init", "optimizer", "momentum", "weight_decay", "schedule", "dropout"]
"""The dimensions of a configuration beyond the article's three: the network recipe and the training options."""

ARTICLE_NETWORK = {"activation": "sigmoid", "output": "sigmoid", "loss": "mse", "init": "normal"}
"""The article's network recipe: what a grid search trains unless told otherwise."""

ARTICLE_OPTIONS = {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 0.0, "schedule": "constant", "dropout": 0.0}
"""The article's training options (plain SGD at a constant rate; ``training.REFERENCE_DEFAULTS``)."""

ARTICLE_RECIPE = {**ARTICLE_NETWORK, **ARTICLE_OPTIONS}

Config = namedtuple(
    "Config",
    ["hidden_layers", "hidden_nodes", "learning_rate", *RECIPE_FIELDS],
    defaults=[ARTICLE_RECIPE[k] for k in RECIPE_FIELDS],
)
Config.__doc__ = (
    "One point of the grid: ``hidden_layers`` hidden layers of ``hidden_nodes`` nodes, a learning rate, and the "
    "recipe (``RECIPE_FIELDS``, default the article's: sigmoid/sigmoid/mse/normal, plain SGD)."
)

ARTICLE_GRID = {"hidden_layers": [1, 2, 3], "hidden_nodes": [10, 20, 30, 40, 50], "learning_rates": [0.1, 0.2, 0.3]}

MOMENTUM_OPTIMIZERS = ("momentum", "nesterov")
"""The optimizers that use ``momentum``; for the others it is recorded as the default and does not multiply the grid."""


def _unique(values, check, name):
    values = [check(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
    if not values:
        raise ValueError(f"the grid is empty: give at least one {name}")
    return sorted(set(values))


def check_head(head):
    """An output/loss pair, ``("softmax", "ce")`` or ``"softmax/ce"`` → canonical ``(output, loss)``; pairs checked."""
    from .activations import OUTPUTS, check_activation
    from .losses import check_loss, check_pair

    if isinstance(head, str):
        parts = head.split("/")
        if len(parts) != 2:
            raise ValueError(f"a head is OUTPUT/LOSS such as 'softmax/cross-entropy', got {head!r}")
        head = parts
    try:
        output, loss = head
    except (TypeError, ValueError):
        raise TypeError(f"a head is an (output, loss) pair or 'OUTPUT/LOSS', got {head!r}") from None
    output, loss = check_activation(output, OUTPUTS, "output activation"), check_loss(loss)
    check_pair(output, loss)
    return output, loss


def _rate(name, upper=None):
    """A checker of one grid value: a finite number ≥ 0 (and < ``upper``), as the optimisers check it."""
    from .validation import check_rate as _check_rate

    return lambda value: _check_rate(value, name, upper)


def make_grid(
    hidden_layers,
    hidden_nodes,
    learning_rates,
    *,
    activations=None,
    heads=None,
    inits=None,
    optimizers=None,
    momentums=None,
    weight_decays=None,
    schedules=None,
    dropouts=None,
):
    """Every combination, ordered as ``Config``'s fields (duplicates removed).

    The first three are the article's grid. Each keyword is a list of values
    of one more dimension (None: the article's one value): ``activations``
    (hidden), ``heads`` (output/loss pairs, ``"softmax/cross-entropy"`` or
    tuples), ``inits``, ``optimizers``, ``momentums`` (only for momentum and
    nesterov: with the other optimizers momentum stays 0.9 and does not
    multiply the grid), ``weight_decays``, ``schedules``, ``dropouts``.
    """
    from .activations import check_activation
    from .inits import check_init
    from .optimizers import OPTIMIZERS, check_schedule
    from .recipe import check_dropout

    def check_optimizer(name):
        if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
        return name.lower()

    def default(values, key):
        return [ARTICLE_RECIPE[key]] if values is None else values

    layers = sorted({check_int(n, "hidden_layers") for n in hidden_layers})
    nodes = sorted({check_int(n, "hidden_nodes") for n in hidden_nodes})
    rates = sorted({float(r) for r in learning_rates})
    if not (layers and nodes and rates):
        raise ValueError("the grid is empty: give at least one number of layers, of nodes and one learning rate")
    if any(not np.isfinite(r) or r <= 0 for r in rates):
        raise ValueError(f"learning rates must be finite numbers > 0, got {rates}")
    acts = _unique(default(activations, "activation"), check_activation, "activation")
    head_list = _unique([("sigmoid", "mse")] if heads is None else heads, check_head, "output/loss head")
    init_list = _unique(default(inits, "init"), check_init, "init")
    opts = _unique(default(optimizers, "optimizer"), check_optimizer, "optimizer")
    moms = _unique(default(momentums, "momentum"), _rate("momentum", 1), "momentum")
    decays = _unique(default(weight_decays, "weight_decay"), _rate("weight_decay"), "weight decay")
    scheds = _unique(default(schedules, "schedule"), check_schedule, "schedule")
    drops = _unique(default(dropouts, "dropout"), check_dropout, "dropout rate")
    grid = {
        Config(l, n, r, a, o, lo, i, opt, m if opt in MOMENTUM_OPTIMIZERS else ARTICLE_OPTIONS["momentum"], wd, s, d)
        for l in layers
        for n in nodes
        for r in rates
        for a in acts
        for o, lo in head_list
        for i in init_list
        for opt in opts
        for m in moms
        for wd in decays
        for s in scheds
        for d in drops
    }
    return sorted(grid)


def with_network(configs, network):
    """``configs`` with the network recipe ``network`` (``check_network``) set on every one; None: unchanged."""
    if network is None:
        return list(configs)
    recipe = check_network(network)
    return [Config(*c)._replace(**recipe) for c in configs]


def options_of(config):
    """The training options of a configuration (keys of ``ARTICLE_OPTIONS``), for ``train``/``train_many``."""
    return {k: getattr(config, k) for k in ARTICLE_OPTIONS}


def network_recipe(config):
    """The network recipe of a configuration: ``{"activation", "output", "loss", "init"}``."""
    return {k: getattr(config, k) for k in ARTICLE_NETWORK}


def layer_widths(config, n_features, n_classes):
    """``[n⁰, n¹, …, nᴸ]`` of a configuration: equal-width hidden layers."""
    return [n_features, *[config.hidden_nodes] * config.hidden_layers, n_classes]


def make_folds(y, n_folds, seed):
    """Stratified K-fold of the training labels (shuffled with ``seed``): ``[(train_idx, val_idx), …]``."""
    from sklearn.model_selection import StratifiedKFold

    n_folds = check_int(n_folds, "folds", minimum=2)
    counts = np.bincount(np.asarray(y))
    if counts[counts > 0].min() < n_folds:
        raise ValueError(
            f"{n_folds} folds need at least {n_folds} samples of every class; the smallest class has "
            f"{counts[counts > 0].min()}. Use fewer --folds"
        )
    kfold = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(train.astype(np.int64), val.astype(np.int64)) for train, val in kfold.split(np.zeros(len(y)), y)]


def init_seed(seed, config, fold):
    """Seed of a network's initial weights: depends on (seed, layers, nodes, fold) only.

    The learning rate and the recipe are left out on purpose: the learning
    rates, optimizers, activations … of a cell start from the same random draws
    (scaled by their ``init``), so they are compared on equal terms.
    """
    return int(
        np.random.SeedSequence([int(seed), 1, config.hidden_layers, config.hidden_nodes, int(fold)]).generate_state(1)[
            0
        ]
    )


def batch_seed(seed, fold):
    """Seed of the minibatch order of a fold: shared by all its configurations."""
    return int(np.random.SeedSequence([int(seed), 2, int(fold)]).generate_state(1)[0])


def data_digest(X, y):
    """SHA-256 of the training data (values, dtype and shape): identifies the data of a store."""
    h = hashlib.sha256()
    for arr in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def check_network(network=None):
    """The network recipe of a grid search, names made canonical: ``{"activation", "output", "loss", "init"}``.

    ``network``: None (the article's) or a dict of some of these keys (e.g.
    ``{"activation": "leaky-relu", "loss": "ce"}``); the output/loss pair is checked.
    """
    from .activations import OUTPUTS, check_activation
    from .inits import check_init
    from .losses import check_loss, check_pair

    network = dict(network or {})
    unknown = sorted(set(network) - set(ARTICLE_NETWORK))
    if unknown:
        raise ValueError(f"unknown network option(s) {unknown}; known: {', '.join(ARTICLE_NETWORK)}")
    recipe = {**ARTICLE_NETWORK, **{k: v for k, v in network.items() if v is not None}}
    recipe = {
        "activation": check_activation(recipe["activation"]),
        "output": check_activation(recipe["output"], OUTPUTS, "output activation"),
        "loss": check_loss(recipe["loss"]),
        "init": check_init(recipe["init"]),
    }
    check_pair(recipe["output"], recipe["loss"])
    return recipe


def _compact(values):
    """One value as itself, several as a sorted list (how the fingerprint records a dimension)."""
    values = sorted(set(values))
    return values[0] if len(values) == 1 else values


def recipe_fingerprint(configs):
    """The recipe dimensions of a grid as the fingerprint records them.

    Each of ``RECIPE_FIELDS`` maps to its one value (a store of one recipe, as
    before the recipe could vary) or the sorted list of its values; ``output``
    and ``loss`` are then lists aligned pair by pair (the grid's heads).
    """
    configs = [Config(*c) for c in configs]
    fp = {k: _compact(getattr(c, k) for c in configs) for k in RECIPE_FIELDS if k not in ("output", "loss")}
    # momentum: the values of the optimizers that use it (the others record the default, see make_grid)
    fp["momentum"] = _compact(
        [c.momentum for c in configs if c.optimizer in MOMENTUM_OPTIMIZERS] or [ARTICLE_OPTIONS["momentum"]]
    )
    heads = sorted({(c.output, c.loss) for c in configs})
    fp["output"], fp["loss"] = (
        (heads[0][0], heads[0][1]) if len(heads) == 1 else ([o for o, _ in heads], [l for _, l in heads])
    )
    return {k: fp[k] for k in RECIPE_FIELDS}


def experiment_fingerprint(
    X_train, y_train, *, dataset, test_size, dtype, seed, configs, folds, epochs, batch_size, network=None
):
    """What makes two grid searches the same experiment (stored in the store's meta table).

    ``configs``: the grid (``make_grid``); ``network``: a network recipe set on
    every configuration (``check_network``; None: the configurations' own). A
    store made before a recipe key was recorded holds the article's value
    (``store.FINGERPRINT_DEFAULTS``).
    """
    from .data import default_test_size

    configs = with_network(configs, network)
    return {
        **recipe_fingerprint(configs),
        "dataset": dataset,
        "data_sha256": data_digest(X_train, y_train),
        "n_train": int(X_train.shape[0]),
        "n_features": int(X_train.shape[1]),
        "n_classes": int(np.max(y_train)) + 1,
        "test_size": default_test_size(dataset) if test_size is None else test_size,
        "dtype": np.dtype(dtype).name,
        "seed": int(seed),
        "hidden_layers": sorted({c.hidden_layers for c in configs}),
        "hidden_nodes": sorted({c.hidden_nodes for c in configs}),
        "learning_rates": sorted({c.learning_rate for c in configs}),
        "folds": int(folds),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
    }


def _listed(value):
    return list(value) if isinstance(value, list) else [value]


def configs_of(fingerprint):
    """The grid of a store's fingerprint (recipe keys it lacks are the article's)."""
    fp = {**ARTICLE_RECIPE, **fingerprint}
    heads = list(zip(_listed(fp["output"]), _listed(fp["loss"])))
    return make_grid(
        fp["hidden_layers"],
        fp["hidden_nodes"],
        fp["learning_rates"],
        activations=_listed(fp["activation"]),
        heads=heads,
        inits=_listed(fp["init"]),
        optimizers=_listed(fp["optimizer"]),
        momentums=_listed(fp["momentum"]),
        weight_decays=_listed(fp["weight_decay"]),
        schedules=_listed(fp["schedule"]),
        dropouts=_listed(fp["dropout"]),
    )


def varied_fields(fingerprint):
    """The recipe fields a store's grid varies (more than one value), in ``RECIPE_FIELDS`` order."""
    return [k for k in RECIPE_FIELDS if isinstance(fingerprint.get(k), list) and len(set(fingerprint[k])) > 1]


def config_of_row(row):
    """The ``Config`` of a row of ``report.config_means`` (a Series or dict with every field)."""
    types = {
        "hidden_layers": int,
        "hidden_nodes": int,
        "learning_rate": float,
        "momentum": float,
        "weight_decay": float,
        "dropout": float,
    }
    return Config(**{k: types.get(k, str)(row[k]) for k in Config._fields})


def describe_recipe(recipe):
    """``activation relu, optimizer [sgd, adam]``: the fields of a recipe (fingerprint form) that are not the article's."""

    def show(v):
        return (
            "[" + ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) + "]"
            if isinstance(v, list)
            else (f"{v:g}" if isinstance(v, float) else str(v))
        )

    return ", ".join(f"{k} {show(v)}" for k, v in recipe.items() if k in ARTICLE_RECIPE and v != ARTICLE_RECIPE[k])


# ------------------------------------------------------------------- groups
def _cost(config, n_features, n_classes):
    return sum(
        a * b
        for a, b in zip(
            layer_widths(config, n_features, n_classes)[:-1], layer_widths(config, n_features, n_classes)[1:]
        )
    )


def make_groups(pending, workers=1, group_size=None, n_features=1, n_classes=1):
    """Split the pending ``(config, fold)`` trainings into jobs ``[(fold, [config, …]), …]``.

    All configurations of a fold form one group, unless ``group_size`` caps it,
    or, by default, when the folds cannot be spread evenly over ``workers``:
    then each fold is cut into ``workers / gcd(folds, workers)`` groups. Cut
    groups get configurations of similar total cost (dealt by size, snake order).
    """
    by_fold = {}
    for config, fold in pending:
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
    return groups


# ----------------------------------------------------------------- one job
_DATA_CACHE = {}


def _resolve(data):
    """The payload ``{"X", "y", "folds"}``, or the path of its joblib dump (loaded once per process)."""
    if isinstance(data, dict):
        return data
    if data not in _DATA_CACHE:
        import joblib

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


def run_group(data, fold, configs, settings, progress=None):
    """Train the ``configs`` of fold ``fold`` together; return one result dict per configuration.

    ``data``: the payload dict (or the path of its dump); ``settings``: ``epochs,
    batch_size, seed, n_classes, blas_threads`` and optionally ``network`` (a network recipe
    set on every configuration, see ``check_network``; default: each configuration's own). Each
    network is built with its configuration's recipe and trained with its options
    (``options_of``: passed to ``train_many`` only when one differs from plain SGD). ``progress``: where to report
    each finished epoch (see ``_epoch_done``). Each result holds the config, the
    fold, the seeds, ``history`` (per-epoch DataFrame with validation columns),
    ``group_size``, ``group_seconds`` (wall time of the whole group) and
    ``seconds``: this training's share of it, in proportion to its epoch times.
    """
    from threadpoolctl import threadpool_limits

    from .engine import train_many
    from .network import MultilayerNeuralNetClassifier

    payload = _resolve(data)
    X, y = payload["X"], payload["y"]
    train_idx, val_idx = payload["folds"][fold]
    configs = with_network(configs, settings.get("network"))
    seed = settings["seed"]
    start = time.perf_counter()
    with threadpool_limits(limits=settings["blas_threads"]):
        X_train, y_train = np.asarray(X[train_idx]), np.asarray(y[train_idx])
        X_val, y_val = np.asarray(X[val_idx]), np.asarray(y[val_idx])
        nets = [
            MultilayerNeuralNetClassifier(
                layer_widths(c, X.shape[1], settings["n_classes"]),
                random_seed=init_seed(seed, c, fold),
                dtype=X.dtype,
                **network_recipe(c),
            )
            for c in configs
        ]
        options = [options_of(c) for c in configs]
        extra = {} if all(o == ARTICLE_OPTIONS for o in options) else {"options": options}
        histories = train_many(
            nets,
            X_train,
            y_train,
            X_val,
            y_val,
            epochs=settings["epochs"],
            batch_size=settings["batch_size"],
            learning_rates=[c.learning_rate for c in configs],
            seed=batch_seed(seed, fold),
            on_epoch=lambda epoch, records: _epoch_done(progress, len(records)),
            **extra,
        )
    wall = time.perf_counter() - start
    # a training's seconds: its share of the group's wall time, in proportion to the epoch times the engine reports
    own = np.array([h["seconds"].sum() for h in histories], dtype=float)
    share = own / own.sum() if own.sum() > 0 else np.full(len(own), 1 / len(own))
    results = []
    for config, history, part in zip(configs, histories, share):
        history = history.rename(columns={"loss_test": "loss_validation", "accuracy_test": "accuracy_validation"})
        results.append(
            {
                **config._asdict(),
                "fold": int(fold),
                "init_seed": init_seed(seed, config, fold),
                "batch_seed": batch_seed(seed, fold),
                "history": history,
                "seconds": float(wall * part),
                "group_size": len(configs),
                "group_seconds": float(wall),
            }
        )
    return results


# --------------------------------------------------------------- executors
def _n(count, word):
    """``3 trainings``, ``1 training``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def default_workers():
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run_local(payload, groups, settings, workers, tick):
    from joblib import Parallel, delayed

    if workers == 1:
        for fold, configs in groups:
            yield run_group(payload, fold, configs, settings, tick)
        return
    import joblib

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
            parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
            yield from parallel(
                delayed(run_group)(path, fold, configs, settings, ("folder", str(counts), os.getpid()))
                for fold, configs in groups
            )
        finally:
            stop.set()
            poller.join()


def _run_dask(payload, groups, settings, client, tick):
    from distributed import as_completed

    topic = f"scratchnet-tune-{uuid.uuid4().hex}"
    client.subscribe_topic(topic, lambda event: tick(event[1] if isinstance(event, tuple) else event))
    [data] = client.scatter([payload], broadcast=True)  # the data goes to every worker once
    futures = [
        client.submit(run_group, data, fold, configs, settings, ("dask", topic), pure=False) for fold, configs in groups
    ]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.cancel(futures)
        client.unsubscribe_topic(topic)


class _Progress:
    """A bar over trainings that moves with every epoch: ``max(epochs reported, epochs of finished trainings)``."""

    def __init__(self, bar, epochs):
        self.bar, self.epochs = bar, epochs
        self.start = bar.n
        self.ticks = self.floor = 0
        self.lock = threading.Lock()

    def tick(self, n):
        with self.lock:
            self.ticks += n
            self._show()

    def finished(self, n_trainings):
        with self.lock:
            self.floor += n_trainings * self.epochs
            self._show()

    def _show(self):
        target = min(self.start + max(self.ticks, self.floor), self.bar.total)
        if target > self.bar.n:
            self.bar.update(target - self.bar.n)


def dask_client(scheduler=None, workers=None):
    """A ``distributed.Client`` of the cluster at ``scheduler``, or of a new LocalCluster of processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--executor dask needs dask.distributed: pip install 'scratchnet[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s")
        except OSError as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    cluster = LocalCluster(
        n_workers=workers or default_workers(), threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster)


def run_tune(
    store,
    X_train,
    y_train,
    configs,
    *,
    folds,
    epochs,
    batch_size,
    seed,
    executor="local",
    workers=None,
    scheduler=None,
    client=None,
    group_size=None,
    blas_threads=None,
    progress=True,
    echo=print,
    network=None,
):
    """Train every (config, fold) that ``store`` does not hold yet; commit each group as it finishes.

    ``executor``: ``"local"`` (joblib processes, ``workers`` of them, BLAS
    threads per worker so that workers × threads ≤ cores) or ``"dask"`` (the
    cluster of ``client`` or ``scheduler``, else a LocalCluster of ``workers``
    processes; one BLAS thread per task unless ``blas_threads``).
    ``configs`` carry their recipes (``make_grid``); ``network``, if given, sets
    one network recipe on all of them (``check_network``); they should be the store's.
    Returns ``{"trained": …, "total": …, "seconds": …}``.
    """
    from tqdm.auto import tqdm

    if executor not in ("local", "dask"):
        raise ValueError(f"executor must be 'local' or 'dask', got {executor!r}")
    configs = with_network(configs, network)
    split = make_folds(y_train, folds, seed)
    done = store.finished()
    everything = [(c, f) for f in range(len(split)) for c in configs]
    pending = [(c, f) for c, f in everything if (c, f) not in done]
    summary = {"trained": 0, "total": len(everything), "seconds": 0.0}
    if not pending:
        echo(f"all {len(everything)} trainings are already in {store.path}")
        return summary
    n_classes = int(np.max(y_train)) + 1
    own_client = None
    if executor == "dask" and client is None:
        client = own_client = dask_client(scheduler, workers)
    try:
        if executor == "dask":
            workers = sum(client.nthreads().values())
            threads = blas_threads or 1
        else:
            workers = check_int(workers or default_workers(), "workers")
            threads = blas_threads or max(1, default_workers() // workers)
        groups = make_groups(pending, workers, group_size, X_train.shape[1], n_classes)
        settings = {
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "seed": int(seed),
            "n_classes": n_classes,
            "blas_threads": int(threads),
        }
        recipe = recipe_fingerprint(configs)
        payload = {"X": X_train, "y": y_train, "folds": split}
        echo(
            f"tune: {len(pending)} of {_n(len(everything), 'training')} to run ({_n(len(configs), 'configuration')} × "
            f"{len(split)} folds, {_n(epochs, 'epoch')}, batch {batch_size}) in {_n(len(groups), 'group')} on "
            f"{workers} {executor} {_n(workers, 'worker')[len(str(workers)) + 1 :]} × {_n(threads, 'BLAS thread')}; "
            + ("" if recipe == ARTICLE_RECIPE else "recipe " + describe_recipe(recipe) + "; ")
            + f"store {store.path}"
        )
        start = time.perf_counter()
        with tqdm(
            total=len(everything) * epochs,
            initial=(len(everything) - len(pending)) * epochs,
            unit="training",
            unit_scale=1 / epochs,
            desc="tune",
            disable=not progress,
            smoothing=0.05,
            bar_format="{l_bar}{bar}| {n:.1f}/{total:.0f} [{elapsed}<{remaining}, {rate_fmt}{postfix}]",
        ) as bar:
            shown = _Progress(bar, epochs)
            jobs = (
                _run_dask(payload, groups, settings, client, shown.tick)
                if executor == "dask"
                else _run_local(payload, groups, settings, workers, shown.tick)
            )
            for results in jobs:
                summary["trained"] += store.add_runs(results)
                shown.finished(len(results))
                best = max(results, key=lambda r: r["history"]["accuracy_validation"].iloc[-1])
                bar.set_postfix(
                    fold=results[0]["fold"], best_val=f"{best['history']['accuracy_validation'].iloc[-1]:.3f}"
                )
        summary["seconds"] = time.perf_counter() - start
    finally:
        if own_client is not None:
            cluster = own_client.cluster
            own_client.close()
            if cluster is not None:
                cluster.close()
    return summary


# -------------------------------------------------------------------- refit
def refit_best(store, *, data_path=None, out=None, verbose=True, progress=True, echo=print):
    """Retrain the best configuration of ``store`` on all training samples and score the hold-out.

    Same data, split, epochs, batch size and seed as the grid search; the network
    is seeded with the store's seed, built with the best configuration's recipe
    (activation, output, loss, init) and trained with its options (optimizer,
    momentum, weight decay, schedule, dropout), so this equals ``scratchnet
    train --hidden …`` with those options. Prints the article's per-epoch lines, saves ``model.npz``,
    ``history.csv``, ``loss.png`` and ``accuracy.png`` in ``out`` (default: next
    to the store, ``<store name>-refit/``), records the result in the store and
    returns it as a dict.
    """
    from .cli import load_split
    from .network import MultilayerNeuralNetClassifier
    from .plots import plot_accuracy, plot_loss
    from .report import best_config, complete, config_means
    from .training import train

    fp = store.fingerprint
    best = best_config(complete(config_means(store.runs()), fp["folds"]))
    config = config_of_row(best)
    X_train, X_test, y_train, y_test = load_split(fp["dataset"], data_path, fp["test_size"], fp["seed"], fp["dtype"])
    if data_digest(X_train, y_train) != fp["data_sha256"]:
        raise ValueError(
            f"the {fp['dataset']} data found now differs from the data of store {str(store.path)!r}; "
            "give the file it was made with (--data PATH)"
        )
    n_classes = int(fp["n_classes"])
    net = MultilayerNeuralNetClassifier(
        layer_widths(config, X_train.shape[1], n_classes),
        random_seed=fp["seed"],
        dtype=np.dtype(fp["dtype"]).type,
        **network_recipe(config),
    )
    recipe = describe_recipe(
        {
            k: getattr(config, k)
            for k in RECIPE_FIELDS
            if not (k == "momentum" and config.optimizer not in MOMENTUM_OPTIMIZERS)
        }
    )
    echo(
        f"refit: n_hidden_layers={config.hidden_layers}, n_hidden_nodes={config.hidden_nodes}, learning rate="
        f"{config.learning_rate:g} (mean cross validation accuracy {best.accuracy_validation:.6f}) on all "
        f"{X_train.shape[0]} training samples; {_n(fp['epochs'], 'epoch')}, batch {fp['batch_size']}; hold-out "
        f"{X_test.shape[0]} samples" + (f"; {recipe}" if recipe else "")
    )
    history = train(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=fp["epochs"],
        batch_size=fp["batch_size"],
        learning_rate=config.learning_rate,
        seed=fp["seed"],
        verbose=verbose,
        progress=progress,
        **options_of(config),
    )
    out = Path(out) if out else store.path.with_name(store.path.stem + "-refit")
    out.mkdir(parents=True, exist_ok=True)
    from .data import preprocessing
    from .modelio import save_network

    model_path = save_network(net, out / "model.npz", extra_header={"preprocessing": preprocessing(fp["dataset"])})
    history.to_csv(out / "history.csv", index=False)
    plot_loss(history, out / "loss.png")
    plot_accuracy(history, out / "accuracy.png", title="refit: training and hold-out accuracy")
    last = history.iloc[-1]
    record = {
        **config._asdict(),
        "epochs": len(history),
        "loss_training": last.loss_training,
        "accuracy_training": last.accuracy_training,
        "loss_test": last.loss_test,
        "accuracy_test": last.accuracy_test,
        "seconds": float(history.seconds.sum()),
        "model_path": str(model_path),
    }
    store.add_refit(record)
    echo(
        f"hold-out accuracy {last.accuracy_test:.4f} (loss {last.loss_test:.4f}) after {_n(len(history), 'epoch')}, "
        f"{record['seconds']:.1f} s; wrote model.npz, history.csv, loss.png, accuracy.png to {out}"
    )
    return {**record, "history": history, "out": out}
