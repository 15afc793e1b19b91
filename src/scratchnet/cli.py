"""The ``scratchnet`` command line (click).

Every failure the user can cause prints one line ``error: …`` and exits non-zero,
without a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from . import __version__

DATASET_DEFAULTS = {
    # the article's final recipe on MNIST; a quick, reliable recipe on the small digits set
    "mnist": {"epochs": 250, "batch_size": 200, "learning_rate": 0.3},
    "digits": {"epochs": 60, "batch_size": 20, "learning_rate": 1.0},
}


class IntList(click.ParamType):
    """``50,40,30,10`` → ``[50, 40, 30, 10]``."""

    name = "N[,N…]"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            items = [int(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of whole numbers (e.g. 50,40,30,10)", param, ctx)
        if not items or any(v < 1 for v in items):
            self.fail(f"{value!r} must list one or more widths ≥ 1", param, ctx)
        return items


class FloatList(click.ParamType):
    """``0.1,0.2,0.3`` → ``[0.1, 0.2, 0.3]``: finite numbers > 0, or with ``positive=False`` any numbers
    (their ranges are then checked by ``tuning.make_grid``)."""

    name = "X[,X…]"

    def __init__(self, positive=True, example="0.1,0.2,0.3"):
        self.positive, self.example = positive, example

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            items = [float(v) for v in str(value).split(",") if v.strip()]
        except ValueError:
            self.fail(f"{value!r} is not a comma-separated list of numbers (e.g. {self.example})", param, ctx)
        if self.positive and (not items or any(not np.isfinite(v) or v <= 0 for v in items)):
            self.fail(f"{value!r} must list one or more finite numbers > 0", param, ctx)
        if not items:
            self.fail(f"{value!r} must list one or more numbers", param, ctx)
        return items


class NameList(click.ParamType):
    """``sigmoid,relu`` → ``["sigmoid", "relu"]``, each one of ``choices``."""

    def __init__(self, choices):
        self.choices = list(choices)
        self.name = f"{{{'|'.join(self.choices)}}}[,…]"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        items = [v.strip() for v in str(value).split(",") if v.strip()]
        bad = [v for v in items if v.lower() not in self.choices]
        if not items or bad:
            self.fail(f"{value!r}: choose one or more of {', '.join(self.choices)}, separated by commas", param, ctx)
        return [v.lower() for v in items]


class TestSize(click.ParamType):
    """A count of samples (``10000``) or a fraction (``0.2``)."""

    name = "COUNT|FRACTION"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a count (10000) nor a fraction (0.2)", param, ctx)
        if number <= 0:
            self.fail(f"{value!r} must be positive", param, ctx)
        if number < 1:
            return number
        if not number.is_integer():
            self.fail(f"{value!r}: a count of samples must be a whole number", param, ctx)
        return int(number)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scratchnet")
def cli():
    """scratchnet: a multilayer neural network from scratch in NumPy."""


HIDDEN_ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky-relu", "identity"]
OUTPUT_ACTIVATIONS = ["sigmoid", "softmax"]
LOSS_NAMES = ["mse", "cross-entropy", "binary-cross-entropy"]
INIT_NAMES = ["normal", "glorot", "xavier", "he"]


def network_options(f):
    """``--activation/--output/--loss/--init``, shared by gradcheck and train (article defaults)."""
    f = click.option(
        "--init",
        type=click.Choice(INIT_NAMES),
        default="normal",
        show_default=True,
        help="Initial weights N(0, s²): s = 0.1 (normal), √(2/(n_in+n_out)) (glorot), √(2/n_in) (he).",
    )(f)
    f = click.option(
        "--loss",
        type=click.Choice(LOSS_NAMES),
        default="mse",
        show_default=True,
        help="mse or binary-cross-entropy with a sigmoid output; mse or cross-entropy with softmax.",
    )(f)
    f = click.option(
        "--output",
        type=click.Choice(OUTPUT_ACTIVATIONS),
        default="sigmoid",
        show_default=True,
        help="Activation of the output layer.",
    )(f)
    f = click.option(
        "--activation",
        type=click.Choice(HIDDEN_ACTIVATIONS),
        default="sigmoid",
        show_default=True,
        help="Activation of the hidden layers.",
    )(f)
    return f


@cli.command()
@click.option("--layers", type=IntList(), default="50,40,30,10", show_default=True, help="Layer widths n⁰,…,nᴸ.")
@click.option("--samples", type=click.IntRange(min=1), default=5, show_default=True, help="Random samples to check on.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@network_options
def gradcheck(layers, samples, seed, activation, output, loss, init):
    """Compare backpropagation with central differences on an untrained network."""
    from .gradcheck import check_gradients, format_report, kink_distance, random_problem
    from .network import MultilayerNeuralNetClassifier

    if len(layers) < 2:
        raise click.BadParameter("give at least two widths: inputs and classes", param_hint="--layers")
    net = MultilayerNeuralNetClassifier(
        layers, random_seed=seed, activation=activation, output=output, loss=loss, init=init
    )
    x, y = random_problem(net, samples, seed)
    results = check_gradients(net, x, y)
    for line in format_report(results):
        click.echo(line)
    if not all(r.ok for r in results):
        if kink_distance(net, x) < 1e-3:
            click.echo(
                f"note: a hidden pre-activation lies within {kink_distance(net, x):.1e} of the {activation} "
                "kink at 0, where central differences average two slopes; try another --seed"
            )
        sys.exit(1)


def data_options(f):
    """``--dataset/--data/--seed/--test-size/--dtype``, shared by train and tune."""
    f = click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True)(f)
    f = click.option(
        "--test-size",
        type=TestSize(),
        default=None,
        help="Hold-out size, a count or a fraction [default: 10000 for mnist, 0.2 for digits].",
    )(f)
    f = click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=123,
        show_default=True,
        help="Seeds the split, the initial weights and the batch order.",
    )(f)
    f = click.option(
        "--data",
        "data_path",
        type=click.Path(),
        default=None,
        help="MNIST as an .npz file or a folder of IDX files (else $SCRATCHNET_MNIST, the cache, OpenML).",
    )(f)
    f = click.option("--dataset", type=click.Choice(["mnist", "digits"]), default="digits", show_default=True)(f)
    return f


def load_split(dataset, data_path, test_size, seed, dtype):
    """Load a data set and split off its stratified hold-out: ``X_train, X_test, y_train, y_test``."""
    from .data import default_test_size, load_dataset, split

    X, y = load_dataset(dataset, data_path, dtype=np.dtype(dtype).type)
    return split(X, y, default_test_size(dataset) if test_size is None else test_size, seed)


TRAIN_OPTIONS = (
    "hidden",
    "epochs",
    "batch_size",
    "learning_rate",
    "dtype",
    "activation",
    "output",
    "loss",
    "init",
    "optimizer",
    "momentum",
    "weight_decay",
    "schedule",
    "dropout",
    "early_stopping",
    "patience",
)


@cli.command("train")
@data_options
@click.option(
    "--hidden", type=IntList(), default="50", show_default=True, help="Hidden layer widths, e.g. 50 or 50,50."
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="[default: 250 for mnist, 60 for digits]")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: 200 for mnist, 20 for digits]")
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="[default: 0.3 for mnist, 1.0 for digits]",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Continue training a saved model.npz (hot start).",
)
@click.option("--out", type=click.Path(file_okay=False), default="runs/train", show_default=True)
@click.option("--quiet", is_flag=True, help="No per-epoch lines.")
@network_options
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "momentum", "nesterov", "adam"]),
    default="sgd",
    show_default=True,
    help="Plain SGD (the article), (Nesterov) momentum or Adam (η = --learning-rate).",
)
@click.option(
    "--momentum",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.9,
    show_default=True,
    help="μ of momentum and nesterov.",
)
@click.option(
    "--weight-decay",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="L2 penalty λ on the weights (not the biases).",
)
@click.option(
    "--schedule",
    type=click.Choice(["constant", "step", "cosine"]),
    default="constant",
    show_default=True,
    help="Learning rate per epoch.",
)
@click.option(
    "--dropout",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.0,
    show_default=True,
    help="Inverted dropout rate on the hidden layers while training.",
)
@click.option(
    "--early-stopping/--no-early-stopping",
    default=False,
    show_default=True,
    help="Hold out 10 %% of the training data; stop when its loss stalls for --patience epochs; keep the best.",
)
@click.option("--patience", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--preset",
    type=click.Choice(["article", "best"]),
    default=None,
    help="A named recipe (article: 50 sigmoid nodes, MSE, SGD 0.3, batch 200, 250 epochs; best: our MNIST "
    "recipe, see docs/beyond.md); explicit flags override it.",
)
@click.option("--diagnostics", is_flag=True, help="Per-epoch per-layer gradient norms and saturation; gradients.png.")
def train_command(
    dataset,
    data_path,
    seed,
    test_size,
    dtype,
    hidden,
    epochs,
    batch_size,
    learning_rate,
    resume,
    out,
    quiet,
    activation="sigmoid",
    output="sigmoid",
    loss="mse",
    init="normal",
    optimizer="sgd",
    momentum=0.9,
    weight_decay=0.0,
    schedule="constant",
    dropout=0.0,
    early_stopping=False,
    patience=10,
    preset=None,
    diagnostics=False,
):
    """Train a network, print the article's per-epoch lines, save model, history and figures."""
    from click.core import ParameterSource

    from .network import MultilayerNeuralNetClassifier
    from .plots import plot_accuracy, plot_digits, plot_loss
    from .presets import PRESETS
    from .training import train

    values = locals()
    given = {name: values[name] for name in TRAIN_OPTIONS}
    ctx = click.get_current_context(silent=True)  # None when called as a function (scratchnet.reproduce)
    explicit = {name for name in given if ctx is None or ctx.get_parameter_source(name) != ParameterSource.DEFAULT}
    if preset:
        given.update({name: value for name, value in PRESETS[preset].items() if name not in explicit})
    defaults = DATASET_DEFAULTS[dataset]
    for name in ("epochs", "batch_size", "learning_rate"):
        given[name] = given[name] or defaults[name]
    (
        hidden,
        epochs,
        batch_size,
        learning_rate,
        dtype,
        activation,
        output,
        loss,
        init,
        optimizer,
        momentum,
        weight_decay,
        schedule,
        dropout,
        early_stopping,
        patience,
    ) = (given[name] for name in TRAIN_OPTIONS)
    X_train, X_test, y_train, y_test = load_split(dataset, data_path, test_size, seed, dtype)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    layers = [X_train.shape[1], *hidden, n_classes]
    if resume:
        net = MultilayerNeuralNetClassifier.load(resume)
        if net.layers[0] != layers[0] or net.layers[-1] != n_classes:
            raise ValueError(
                f"{resume} has layers {net.layers}, which do not fit {dataset} ({layers[0]} inputs, {n_classes} classes)"
            )
        click.echo(f"resuming {resume}: layers {net.layers}, {net.epochs_trained} epochs trained")
        for name in ("activation", "output", "loss", "init"):
            wanted = str(given[name]).replace("-", "_").replace("xavier", "glorot")
            if name in explicit and wanted != net.options[name]:
                raise ValueError(
                    f"{resume} has {name} {net.options[name]}; --{name} {given[name]} cannot change it when resuming"
                )
    else:
        net = MultilayerNeuralNetClassifier(
            layers,
            random_seed=seed,
            dtype=np.dtype(dtype).type,
            activation=activation,
            output=output,
            loss=loss,
            init=init,
        )
    recipe = {
        "optimizer": optimizer,
        "momentum": momentum,
        "weight_decay": weight_decay,
        "schedule": schedule,
        "dropout": dropout,
        "early_stopping": early_stopping,
        "patience": patience,
    }
    beyond = ", ".join(
        [
            f"{k} {v}"
            for k, v in net.options.items()
            if v != {"activation": "sigmoid", "output": "sigmoid", "loss": "mse", "init": "normal"}[k]
        ]
        + [f"{k} {v}" for k, v in (("optimizer", optimizer), ("schedule", schedule)) if v not in ("sgd", "constant")]
        + [f"{k} {v}" for k, v in (("momentum", momentum),) if optimizer in ("momentum", "nesterov")]
        + [f"{k} {v}" for k, v in (("weight decay", weight_decay), ("dropout", dropout)) if v]
        + ([f"early stopping (patience {patience})"] if early_stopping else [])
    )
    click.echo(
        f"{dataset}: {X_train.shape[0]} training / {X_test.shape[0]} hold-out samples; layers {net.layers} "
        f"({net.n_parameters} parameters, {net.dtype.name}); {epochs} epochs, batch {batch_size}, learning rate "
        f"{learning_rate}" + (f"; {beyond}" if beyond else "") + (f" [preset {preset}]" if preset else "")
    )
    history = train(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        verbose=not quiet,
        progress=True,
        diagnostics=diagnostics,
        **recipe,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from .data import preprocessing
    from .modelio import save_network

    save_network(net, out / "model.npz", extra_header={"preprocessing": preprocessing(dataset)})
    full = net.history
    full.to_csv(out / "history.csv", index=False)
    plot_loss(full, out / "loss.png")
    plot_accuracy(full, out / "accuracy.png")
    plot_digits(np.concatenate([X_train, X_test]), np.concatenate([y_train, y_test]), out / "digits.png", seed=seed)
    if diagnostics:
        from .diagnostics import plot_gradients

        plot_gradients(net.diagnostics, out / "gradients.png")
    last = history.iloc[-1]
    accuracy = last.accuracy_test
    if "best_epoch" in history.attrs:  # early stopping restored an earlier epoch's weights
        from .training import evaluate

        accuracy = evaluate(net, X_test, y_test)[1]
    click.echo(
        f"hold-out accuracy {accuracy:.4f} after {net.epochs_trained} epochs "
        f"({history.seconds.median():.3f} s/epoch median, {history.seconds.sum():.1f} s in all); wrote model.npz, "
        f"history.csv, loss.png, accuracy.png, digits.png to {out}"
    )


# ------------------------------------------------------------- grid search: tune, report, refit, reproduce
OPTIMIZER_NAMES = ["sgd", "momentum", "nesterov", "adam"]
SCHEDULE_NAMES = ["constant", "step", "cosine"]


def grid_options(f):
    """The recipe dimensions of ``tune``: each a comma-separated list (the singular spelling works too)."""
    f = click.option(
        "--dropouts",
        "--dropout",
        "dropouts",
        type=FloatList(positive=False, example="0,0.5"),
        default="0",
        show_default=True,
        help="Inverted dropout rates p ∈ [0, 1) on the hidden layers.",
    )(f)
    f = click.option(
        "--schedules",
        "--schedule",
        "schedules",
        type=NameList(SCHEDULE_NAMES),
        default="constant",
        show_default=True,
        help="Learning rate schedules.",
    )(f)
    f = click.option(
        "--weight-decays",
        "--weight-decay",
        "weight_decays",
        type=FloatList(positive=False, example="0,0.5"),
        default="0",
        show_default=True,
        help="L2 penalties λ ≥ 0 on the weights.",
    )(f)
    f = click.option(
        "--momentums",
        "--momentum",
        "momentums",
        type=FloatList(positive=False, example="0,0.5"),
        default="0.9",
        show_default=True,
        help="μ ∈ [0, 1) of the momentum and nesterov optimizers (the others ignore it).",
    )(f)
    f = click.option(
        "--optimizers",
        "--optimizer",
        "optimizers",
        type=NameList(OPTIMIZER_NAMES),
        default="sgd",
        show_default=True,
        help="Plain SGD (the article), momentum, nesterov, adam.",
    )(f)
    f = click.option(
        "--inits",
        "--init",
        "inits",
        type=NameList(INIT_NAMES),
        default="normal",
        show_default=True,
        help="Initial weights: normal (s = 0.1), glorot/xavier, he.",
    )(f)
    f = click.option(
        "--loss",
        type=click.Choice(LOSS_NAMES),
        default=None,
        help="With --output: one output/loss pair [default: mse].",
    )(f)
    f = click.option(
        "--output",
        type=click.Choice(OUTPUT_ACTIVATIONS),
        default=None,
        help="With --loss: one output/loss pair [default: sigmoid].",
    )(f)
    f = click.option(
        "--heads",
        type=NameList([f"{o}/{l}" for o in OUTPUT_ACTIVATIONS for l in LOSS_NAMES]),
        default=None,
        help="Output/loss pairs, e.g. sigmoid/mse,softmax/cross-entropy [default: sigmoid/mse].",
    )(f)
    f = click.option(
        "--activations",
        "--activation",
        "activations",
        type=NameList(HIDDEN_ACTIVATIONS),
        default="sigmoid",
        show_default=True,
        help="Hidden layer activations.",
    )(f)
    return f


def _open_store(path):
    from .store import Store

    return Store.open(path)


@cli.command("tune")
@data_options
@click.option("--hidden-layers", type=IntList(), default="1,2,3", show_default=True, help="Numbers of hidden layers.")
@click.option(
    "--hidden-nodes",
    type=IntList(),
    default="10,20,30,40,50",
    show_default=True,
    help="Nodes per hidden layer (all hidden layers alike).",
)
@click.option("--learning-rates", type=FloatList(), default="0.1,0.2,0.3", show_default=True)
@click.option(
    "--folds", type=click.IntRange(min=2), default=6, show_default=True, help="Stratified K-fold on the training part."
)
@click.option("--epochs", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=200, show_default=True)
@click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False),
    default="runs/tune.sqlite",
    show_default=True,
    help="SQLite results store; running the same command again resumes it.",
)
@click.option("--new", is_flag=True, help="Delete the store (if it is a scratchnet store) and start over.")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT [default: a LocalCluster].")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (local, or the LocalCluster) [default: the cores].",
)
@click.option(
    "--group-size",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many configurations of a fold per job [default: a whole fold, cut only to balance the workers].",
)
@click.option(
    "--blas-threads",
    type=click.IntRange(min=1),
    default=None,
    help="BLAS threads per job [default: cores ÷ workers locally, 1 on Dask].",
)
@click.option("--refit", "do_refit", is_flag=True, help="Then retrain the best configuration and score the hold-out.")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder of the refit [default: next to the store]."
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@grid_options
def tune_command(
    dataset,
    data_path,
    seed,
    test_size,
    dtype,
    hidden_layers,
    hidden_nodes,
    learning_rates,
    folds,
    epochs,
    batch_size,
    store_path,
    new,
    executor,
    scheduler,
    workers,
    group_size,
    blas_threads,
    do_refit,
    out,
    progress,
    activations=("sigmoid",),
    heads=None,
    output=None,
    loss=None,
    inits=("normal",),
    optimizers=("sgd",),
    momentums=(0.9,),
    weight_decays=(0.0,),
    schedules=("constant",),
    dropouts=(0.0,),
):
    """Cross-validated grid search (article, section 7), saved training by training in an SQLite store.

    The grid is every combination of hidden layers × nodes × learning rates and
    of the recipe lists (--activations, --heads, --inits, --optimizers,
    --momentums, --weight-decays, --schedules, --dropouts; default: the
    article's one recipe). The recipe is part of the store's experiment;
    report shows a table per combination, refit uses the best one's recipe.
    """
    from .store import Store
    from .tuning import experiment_fingerprint, make_grid, refit_best, run_tune

    if scheduler and executor != "dask":
        raise click.BadParameter("a scheduler address needs --executor dask", param_hint="--scheduler")
    X_train, _, y_train, _ = load_split(dataset, data_path, test_size, seed, dtype)
    fold_train = X_train.shape[0] - -(-X_train.shape[0] // folds)
    if batch_size > fold_train:
        raise click.BadParameter(
            f"{batch_size} is larger than the {fold_train} training samples of a fold", param_hint="--batch-size"
        )
    if heads and (output or loss):
        raise click.BadParameter(
            "give the output/loss pairs either as --heads or as --output and --loss, not both", param_hint="--heads"
        )
    configs = make_grid(
        hidden_layers,
        hidden_nodes,
        learning_rates,
        activations=list(activations),
        heads=heads or [(output or "sigmoid", loss or "mse")],
        inits=list(inits),
        optimizers=list(optimizers),
        momentums=list(momentums),
        weight_decays=list(weight_decays),
        schedules=list(schedules),
        dropouts=list(dropouts),
    )
    fingerprint = experiment_fingerprint(
        X_train,
        y_train,
        dataset=dataset,
        test_size=test_size,
        dtype=dtype,
        seed=seed,
        configs=configs,
        folds=folds,
        epochs=epochs,
        batch_size=batch_size,
    )
    with Store.create_or_open(store_path, fingerprint, new=new) as store:
        if data_path:
            store.set_meta("data_path", data_path)
        try:
            summary = run_tune(
                store,
                X_train,
                y_train,
                configs,
                folds=folds,
                epochs=epochs,
                batch_size=batch_size,
                seed=seed,
                executor=executor,
                workers=workers,
                scheduler=scheduler,
                group_size=group_size,
                blas_threads=blas_threads,
                progress=progress,
                echo=click.echo,
            )
        except KeyboardInterrupt:
            click.echo(
                f"interrupted: {len(store.finished())} trainings are safe in {store_path}; "
                "run the same command again to resume",
                err=True,
            )
            raise
        done = len(store.finished())
        click.echo(
            f"{summary['trained']} trainings run in {summary['seconds']:.1f} s; {done} of {summary['total']} "
            f"in {store_path}. See the table: scratchnet report {store_path}"
        )
        if do_refit:
            refit_best(store, data_path=data_path, out=out, progress=progress, echo=click.echo)


@cli.command("report")
@click.argument("store_path", metavar="STORE", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["markdown", "csv"]), default="markdown", show_default=True)
@click.option("--runs", "show_runs", is_flag=True, help="One row per finished training instead of the table.")
@click.option(
    "--figures",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder of heatmap.png and curves.png [default: next to the store, named after it].",
)
@click.option("--no-figures", is_flag=True, help="Only the text.")
def report_command(store_path, fmt, show_runs, figures, no_figures):
    """The table of a grid search: mean CV accuracy per hidden layers × nodes, the optimal parameters."""
    from .report import format_markdown, plot_curves, plot_heatmap, runs_table, shown_columns, summarize

    with _open_store(store_path) as store:
        summary = summarize(store)
        varied = summary["varied"]
        if show_runs:
            click.echo(runs_table(summary["runs"], fmt, varied), nl=False)
            return
        if fmt == "csv":
            means = summary["means"]
            click.echo(means[shown_columns(means, varied)].to_csv(index=False), nl=False)
        else:
            click.echo(format_markdown(summary, store_path), nl=False)
        if not no_figures and not summary["complete"].empty:
            stem = Path(store_path).stem
            folder = Path(figures) if figures else Path(store_path).parent
            prefix = "" if figures else f"{stem}-"
            heat = plot_heatmap(summary["complete"], folder / f"{prefix}heatmap.png", fields=varied)
            curves = plot_curves(store.epochs(), folder / f"{prefix}curves.png", fields=varied)
            click.echo(f"figures: {heat}, {curves}", err=True)


@cli.command("refit")
@click.argument("store_path", metavar="STORE", type=click.Path(dir_okay=False))
@click.option(
    "--data",
    "data_path",
    type=click.Path(),
    default=None,
    help="The MNIST file of the grid search, if it is not found as it was then.",
)
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="[default: next to the store, <name>-refit/]"
)
@click.option("--quiet", is_flag=True, help="No per-epoch lines.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def refit_command(store_path, data_path, out, quiet, progress):
    """Retrain the best configuration of STORE on all training samples; report the hold-out accuracy."""
    from .tuning import refit_best

    with _open_store(store_path) as store:
        if data_path is None:
            data_path = store.get_meta("data_path")
        refit_best(store, data_path=data_path, out=out, verbose=not quiet, progress=progress, echo=click.echo)


@cli.command("reproduce")
@click.option("--quick", is_flag=True, help="The bundled digits data and a small grid: every step in about a minute.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="runs/reproduce",
    show_default=True,
    help="Folder of REPORT.md, figures, models and the resumable store tune.sqlite.",
)
@click.option("--data", "data_path", type=click.Path(), default=None, help="MNIST as for `train` (not with --quick).")
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Epochs of the grid search and refit [default: 250, the article's; 20 with --quick].",
)
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True)
@click.option("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="[default: the cores]")
@click.option("--progress/--no-progress", default=True, show_default=True)
def reproduce_command(quick, out, data_path, epochs, executor, scheduler, workers, progress):
    """The whole article: gradient check, data, training runs, grid search, table, refit → OUT/REPORT.md."""
    from .reproduce import reproduce

    if scheduler and executor != "dask":
        raise click.BadParameter("a scheduler address needs --executor dask", param_hint="--scheduler")
    if quick and data_path:
        raise click.BadParameter("--quick uses the bundled digits data; drop --data", param_hint="--data")
    reproduce(
        out,
        quick=quick,
        data_path=data_path,
        epochs=epochs,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
        echo=click.echo,
    )


@cli.command("predict")
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--scaled",
    is_flag=True,
    help="The .npy/.npz inputs are already model features: feed them unchanged (default: raw pixels 0..255).",
)
def predict_command(model, inputs, as_json, scaled):
    """Classify 28×28 PNG/JPEG digits, .npy arrays or an .npz data set with a saved model.

    MODEL is a file written by `scratchnet train` or NeuralNetClassifier.save.
    Images must be exactly 28×28 (never resized); a dark digit on a light
    background is inverted to MNIST's white on black. Arrays hold raw pixels
    0..255 unless --scaled. Prints the predicted class and every class's score
    (the output layer: one-vs-all sigmoid scores in [0, 1], or softmax probabilities).
    """
    import json

    import pandas as pd

    from .estimator import normalise_scores
    from .inputs import read_inputs
    from .modelio import estimator_from_file, read_model_file

    header, arrays = read_model_file(model)
    est = estimator_from_file(header, arrays, model)
    prep = header.get("preprocessing")
    if isinstance(prep, dict) and isinstance(prep.get("max_value"), (int, float)) and prep["max_value"] > 0:
        max_value = float(prep["max_value"])
    else:  # no record: a 784-input model is taken as MNIST, any other needs --scaled arrays
        max_value = 255.0 if est.n_features_in_ == 784 else None
    names, X, labels = read_inputs(inputs, est.n_features_in_, scaled=scaled, max_value=max_value)
    scores = est.network_.predict_proba(X.astype(est.network_.dtype, copy=False)).astype(np.float64)
    predicted = est.classes_[scores.argmax(axis=1)]
    classes = [c.item() if hasattr(c, "item") else c for c in est.classes_]
    labelled = [i for i, label in enumerate(labels) if label is not None]
    accuracy = None
    if labelled:
        accuracy = float(np.mean([str(labels[i]) == str(predicted[i]) for i in labelled]))
    if as_json:
        proba = normalise_scores(scores)
        out = {
            "model": str(model),
            "classes": classes,
            "predictions": [
                {
                    "input": name,
                    "predicted": classes[int(k)],
                    "label": label,
                    "scores": [float(v) for v in row],
                    "probabilities": [float(v) for v in prow],
                }
                for name, k, label, row, prow in zip(names, scores.argmax(axis=1), labels, scores, proba)
            ],
            "accuracy": accuracy,
        }
        click.echo(json.dumps(out, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
        return
    table = pd.DataFrame({"input": names, "predicted": predicted})
    if labelled:
        table.insert(1, "label", ["" if label is None else label for label in labels])
    for j, c in enumerate(classes):
        table[f"score {c}"] = scores[:, j]
    with pd.option_context("display.max_rows", None, "display.width", 10_000):
        click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if accuracy is not None:
        click.echo(f"accuracy {accuracy:.4f} on {len(labelled)} labelled inputs")


from .serve.command import serve_command  # noqa: E402  (the serve command lives in its package)

cli.add_command(serve_command)


def main(argv=None):
    """Entry point: run the CLI, turning every expected failure into one line on stderr."""
    try:
        rv = cli.main(args=argv, prog_name="scratchnet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (ValueError, TypeError, OSError, ArithmeticError, MemoryError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
