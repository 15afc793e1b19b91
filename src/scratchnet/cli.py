"""The ``scratchnet`` command line (click).

Every failure the user can cause prints one line ``error: …`` and exits non-zero,
without a traceback.
"""

from __future__ import annotations

import csv
import gc
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
from click.core import ParameterSource

from . import recipe
from .archspec import format_arch, parse_arch
from .data import load_own_split, load_split
from .errors import InvalidValueError, ScratchnetError
from .estimator import decode_classes, normalise_scores, read_estimator
from .gradcheck import check_gradients, format_report, kink_distance, random_problem
from .grid import HALVING_FACTOR, Config, default_min_epochs, experiment_fingerprint, make_grid
from .inputs import iter_batches, plan_inputs
from .losses import int_to_onehot
from .model import FORMAT_NAME as LAYERED_FORMAT
from .model import LayeredNetwork, gradcheck_lines, load_layered
from .modelio import read_header
from .network import MultilayerNeuralNetClassifier
from .owndata import SCALES, Scaling, read_own
from .presets import PRESETS
from .recipe import Recipe
from .report import format_markdown, plot_curves, plot_heatmap, runs_table, shown_columns, summarize
from .reproduce import reproduce
from .runs import RunSettings, train_run
from .serve.command import serve_command
from .store import Store, export_runs
from .training import EARLY_STOPPING
from .tuning import CONNECT_TIMEOUT, check_layered, dask_client, refit_best, run_tune, safe_count
from .version import __version__

MAX_SEED = 2**32 - 1
"""The largest ``--seed`` (NumPy's legacy seeds and scikit-learn's ``random_state`` stop there too)."""

DATASET_DEFAULTS = {
    # the article's final recipe on MNIST; a quick, reliable recipe on the small digits set
    "mnist": {"epochs": 250, "batch_size": 200, "learning_rate": 0.3},
    "digits": {"epochs": 60, "batch_size": 20, "learning_rate": 1.0},
    "own": {"epochs": 60, "batch_size": 20, "learning_rate": 1.0},
}

TUNE_DEFAULTS = {
    # the article's grid on MNIST; on the 1,797 small digits its batch of 200 and rates 0.1–0.3 leave every
    # cell near chance, so digits gets the batch and rates that train well there (as ``train`` does)
    "mnist": {"epochs": 250, "batch_size": 200, "learning_rates": [0.1, 0.2, 0.3]},
    "digits": {"epochs": 60, "batch_size": 20, "learning_rates": [0.5, 1.0, 2.0]},
    "own": {"epochs": 60, "batch_size": 20, "learning_rates": [0.5, 1.0, 2.0]},
}


class IntList(click.ParamType):
    """``50,40,30,10`` → ``[50, 40, 30, 10]``."""

    name = "N[,N…]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
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
    (their ranges are then checked by ``grid.make_grid``)."""

    name = "X[,X…]"

    positive: bool
    """Refuse numbers ≤ 0 here (learning rates); else any numbers."""
    example: str

    def __init__(self, positive: bool = True, example: str = "0.1,0.2,0.3") -> None:
        self.positive, self.example = positive, example

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
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

    choices: list[str]

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = list(choices)
        self.name = f"{{{'|'.join(self.choices)}}}[,…]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
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

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
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
def cli() -> None:
    """scratchnet: a multilayer neural network from scratch in NumPy."""


def _choice(field: str) -> click.Choice:
    """The accepted spellings of a named recipe field (``recipe.choices``): canonical names, ``-`` spellings, aliases."""
    return click.Choice(recipe.choices(field))


RECIPE_HELP = {
    "activation": "Activation of the hidden layers.",
    "output": "Activation of the output layer.",
    "loss": "mse or binary-cross-entropy with a sigmoid output; mse or cross-entropy with softmax.",
    "init": "Initial weights N(0, s²): s = 0.1 (normal), √(2/(n_in+n_out)) (glorot), √(2/n_in) (he).",
    "optimizer": "sgd is the article's plain SGD; η = --learning-rate (the adaptive ones, such as adam, want about 0.001).",
    "momentum": "μ of momentum and nesterov.",
    "weight_decay": "L2 penalty λ on the weights (not the biases).",
    "schedule": "Learning rate per epoch.",
    "dropout": "Inverted dropout rate on the hidden layers while training.",
}
"""The help of each recipe flag; the choices and defaults come from ``recipe``."""

_NUMBER_TYPES = {
    "momentum": click.FloatRange(min=0, max=1, max_open=True),
    "weight_decay": click.FloatRange(min=0),
    "dropout": click.FloatRange(min=0, max=1, max_open=True),
}


def _recipe_option(field: str) -> Callable:
    """``--<field>`` of one recipe field: its choices (named fields) or range, the article's default."""
    return click.option(
        f"--{field.replace('_', '-')}",
        field,
        type=_choice(field) if field in recipe.NAMED_FIELDS else _NUMBER_TYPES[field],
        default=recipe.DEFAULTS[field],
        show_default=True,
        help=RECIPE_HELP[field],
    )


def _add_options(f: Callable, options: list[Callable]) -> Callable:
    for option in reversed(options):
        f = option(f)
    return f


def network_options(f: Callable) -> Callable:
    """``--activation/--output/--loss/--init``, shared by gradcheck and train (the article's defaults)."""
    return _add_options(f, [_recipe_option(field) for field in recipe.NETWORK_FIELDS])


def training_options(f: Callable) -> Callable:
    """``--optimizer/--momentum/--weight-decay/--schedule/--dropout`` of train (the article's defaults)."""
    return _add_options(f, [_recipe_option(field) for field in recipe.TRAINING_FIELDS])


def recipe_of(flags: dict[str, Any]) -> Recipe:
    """The recipe of the command line: the recipe fields among ``flags`` (the others are the article's)."""
    return Recipe.of(None, **{k: flags[k] for k in Recipe.FIELDS if k in flags})


@cli.command()
@click.option("--layers", type=IntList(), default="50,40,30,10", show_default=True, help="Layer widths n⁰,…,nᴸ.")
@click.option("--samples", type=click.IntRange(min=1), default=5, show_default=True, help="Random samples to check on.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@network_options
@click.option(
    "--arch",
    default=None,
    help="Check a network of layers instead (a spec, a named architecture or a JSON file; see docs/cnn.md): the "
    "article's lines per layer and parameter array. Not with --layers, --activation, --init.",
)
@click.option(
    "--input-shape",
    type=IntList(),
    default="1,8,8",
    show_default=True,
    help="With --arch: the shape of a sample, C,H,W (images) or n (flat).",
)
def gradcheck(layers: list[int], samples: int, seed: int, arch: str | None, input_shape: list[int],
              **flags: Any) -> None:  # fmt: skip
    """Compare backpropagation with central differences on an untrained network."""
    if arch is not None:
        _gradcheck_layered(arch, input_shape, samples, seed, flags)
        return
    if "input_shape" in _explicit(["input_shape"]):
        raise click.UsageError("--input-shape is for --arch; an MLP's inputs are its first --layers width")
    if len(layers) < 2:
        raise click.BadParameter("give at least two widths: inputs and classes", param_hint="'--layers'")
    net = MultilayerNeuralNetClassifier(layers, random_seed=seed, **recipe_of(flags).network_options())
    x, y = random_problem(net, samples, seed)
    results = check_gradients(net, x, y)
    for line in format_report(results):
        click.echo(line)
    if not all(r.ok for r in results):
        if kink_distance(net, x) < 1e-3:
            click.echo(
                f"note: a hidden pre-activation lies within {kink_distance(net, x):.1e} of the {net.activation} "
                "kink at 0, where central differences average two slopes; try another --seed"
            )
        sys.exit(1)


def _gradcheck_layered(arch: str, input_shape: list[int], samples: int, seed: int, flags: dict[str, Any]) -> None:
    """``gradcheck --arch``: backpropagation of a network of layers (float64, seeded) against central differences
    on ``samples`` random samples in [−1, 1] of ``input_shape``, printed as ``model.gradcheck_lines``."""
    mlp = [f"--{name}" for name in ("layers", "activation", "init") if name in _explicit([name])]
    if mlp:
        raise click.UsageError(f"{', '.join(mlp)} shape the MLP; with --arch write the network in the architecture")
    if len(input_shape) not in (1, 3):
        raise click.BadParameter(f"{input_shape}: give C,H,W or n", param_hint="'--input-shape'")
    recipe_ = recipe_of(flags)
    model = LayeredNetwork(
        arch, tuple(input_shape), output=recipe_.output, loss=recipe_.loss, dtype=np.float64, seed=seed
    )
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(samples, *input_shape))
    Y = int_to_onehot(rng.integers(0, model.n_classes, size=samples), model.n_classes)
    lines = gradcheck_lines(model, X, Y, seed=seed)
    for line in lines:
        click.echo(line)
    if "Gradients look in order!" not in lines:
        sys.exit(1)


def data_options(f: Callable) -> Callable:
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
        type=click.IntRange(min=0, max=MAX_SEED),
        default=123,
        show_default=True,
        help="Seeds the split, the initial weights and the batch order.",
    )(f)
    f = click.option(
        "--scale",
        type=click.Choice(list(SCALES)),
        default=None,
        help="Own data: minus-one-one (the article's [-1, 1]), unit ([0, 1]) or standard (mean 0, variance 1) "
        "[default: minus-one-one for images, standard for tables]; stored in the model file.",
    )(f)
    f = click.option("--target", default=None, help="Own CSV data: the label column [default: the last].")(f)
    f = click.option(
        "--data",
        "data_path",
        type=click.Path(exists=True),
        default=None,
        help="Your own data: a CSV file, an .npz with X and y, or a folder of class sub-folders of images. "
        "With --dataset mnist: MNIST as an .npz file or a folder of IDX files (else $SCRATCHNET_MNIST, the "
        "cache, OpenML).",
    )(f)
    f = click.option(
        "--dataset",
        type=click.Choice(["mnist", "digits", "own"]),
        default=None,
        help="[default: own with --data, else digits]",
    )(f)
    return f


def dataset_of(dataset: str | None, data_path: str | None) -> str:
    """``--dataset``, or ``own`` when only ``--data`` is given, else the bundled ``digits``."""
    if dataset == "own" and not data_path:
        raise click.BadParameter("--dataset own needs --data PATH", param_hint="'--dataset'")
    return dataset or ("own" if data_path else "digits")


SIZE_FLAGS = ("hidden", "epochs", "batch_size", "learning_rate", "dtype")
"""The flags of ``train`` a preset sets besides the recipe."""


def _explicit(names: tuple[str, ...] | list[str]) -> set[str]:
    """The flags among ``names`` the user gave on the command line (not left at their defaults)."""
    ctx = click.get_current_context()
    return {name for name in names if ctx.get_parameter_source(name) != ParameterSource.DEFAULT}


def _with_preset(flags: dict[str, Any], preset: str | None) -> tuple[dict[str, Any], set[str]]:
    """``flags`` with the preset's values where the user gave none, and the set of flags the user gave."""
    names = [*SIZE_FLAGS, *Recipe.FIELDS]
    explicit = _explicit(names)
    if preset:
        flags = {**flags, **{k: v for k, v in PRESETS[preset].options().items() if k not in explicit}}
    return flags, explicit


def check_out(out: str | os.PathLike | None, flag: str = "--out") -> None:
    """Fail before any training if the folder ``out`` cannot be made or written (unwritable, a file, a too-long
    name): make it and write a probe file in it."""
    if out is None:
        return
    try:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".scratchnet-probe-"):
            pass
    except OSError as exc:
        raise click.BadParameter(f"{str(out)!r} cannot be written: {exc.strerror or exc}", param_hint=flag) from None


MLP_ONLY = ("hidden", "activation", "init", "dropout", "diagnostics")
"""The flags of ``train`` that shape the MLP; a network of layers (``--arch``) has them in its architecture."""


def arch_of(spec: str) -> str:
    """``--arch``: a spec line, a named architecture or a JSON file, as its canonical spec line."""
    return format_arch(parse_arch(spec, where="--arch"))


def _check_arch_flags(arch: str | None, explicit: set[str]) -> None:
    """Refuse the MLP's flags next to ``--arch`` (its layers say what they would)."""
    given = [name for name in MLP_ONLY if name in explicit]
    if arch is not None and given:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
        raise click.UsageError(
            f"{flags} shape{'s' if len(given) == 1 else ''} the MLP; with --arch write it in the architecture "
            "(e.g. dense(64) relu dropout(0.2))"
        )


def train_settings(flags: dict[str, Any], preset: str | None = None) -> RunSettings:
    """The run of ``scratchnet train``'s flags: a preset under the explicit flags, the data set's defaults under both."""
    flags, explicit = _with_preset(flags, preset)
    arch = flags.get("arch")
    if arch is None and preset and PRESETS[preset].arch is not None:
        arch = PRESETS[preset].arch
    _check_arch_flags(arch, explicit)
    flags["dataset"] = dataset_of(flags["dataset"], flags["data_path"])
    sizes = {k: flags[k] or DATASET_DEFAULTS[flags["dataset"]][k] for k in ("epochs", "batch_size", "learning_rate")}
    if arch is not None:  # the MLP's fields stay at their defaults: the layers hold them
        flags = {k: v for k, v in flags.items() if k not in MLP_ONLY}
    return RunSettings(
        **sizes,
        hidden=tuple(flags["hidden"]) if arch is None else (),
        arch=None if arch is None else arch_of(arch),
        augment=bool(flags.get("augment", False)),
        recipe=recipe_of(flags),
        dataset=flags["dataset"],
        data_path=flags["data_path"],
        seed=flags["seed"],
        test_size=flags["test_size"],
        dtype=flags["dtype"],
        early_stopping=flags["early_stopping"],
        patience=flags["patience"],
        scale=flags["scale"],
        target=flags["target"],
        given=frozenset(explicit | ({"arch"} if flags.get("arch") is not None else set())),
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
    type=click.Path(exists=True),
    default=None,
    help="A run's folder: go on from its checkpoint to the end the uninterrupted run reaches (same options); "
    "or a saved model.npz: train it --epochs more (hot start).",
)
@click.option("--out", type=click.Path(file_okay=False), default="runs/train", show_default=True)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Write OUT/checkpoint.npz (model, optimiser state, history) every N epochs, at the end and on Ctrl-C; "
    "0: never.",
)
@click.option("--quiet", is_flag=True, help="No per-epoch lines.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="The progress bar.")
@network_options
@training_options
@click.option(
    "--early-stopping/--no-early-stopping",
    default=EARLY_STOPPING["early_stopping"],
    show_default=True,
    help="Hold out 10 % of the training data; stop when its loss stalls for --patience epochs; keep the best.",
)
@click.option("--patience", type=click.IntRange(min=1), default=EARLY_STOPPING["patience"], show_default=True)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default=None,
    help="A named recipe (article: 50 sigmoid nodes, MSE, SGD 0.3, batch 200, 250 epochs; best: our MNIST "
    "recipe, see docs/beyond.md; cnn: the cnn architecture, softmax, Adam 0.001, batch 128, 10 epochs, float32, "
    "see docs/cnn.md); explicit flags override it.",
)
@click.option("--diagnostics", is_flag=True, help="Per-epoch per-layer gradient norms and saturation; gradients.png.")
@click.option(
    "--arch",
    default=None,
    help='A network of layers instead of the MLP: a spec such as "conv(32, 3, padding=1) relu maxpool(2) flatten '
    'dense(10)", a named one (lenet5, cnn, …) or a JSON file; see docs/cnn.md. Not with --hidden, --activation, '
    "--init, --dropout, --diagnostics.",
)
@click.option(
    "--augment/--no-augment",
    default=False,
    show_default=True,
    help="With --arch on images: random shifts (≤ 2 px) and rotations (≤ 10°) of the training images, seeded.",
)
def train_command(
    resume: str | None,
    out: str,
    checkpoint_every: int,
    quiet: bool,
    progress: bool,
    preset: str | None,
    diagnostics: bool = False,
    **flags: Any,
) -> None:
    """Train a network, print the article's per-epoch lines, save model, history and figures.

    A checkpoint in OUT survives a crash or Ctrl-C: the same command with --resume OUT goes on from it.
    """
    check_out(out)
    if diagnostics:
        _check_arch_flags(flags["arch"] or (PRESETS[preset].arch if preset else None), {"diagnostics"})
    if flags["augment"] and not (flags["arch"] or (preset and PRESETS[preset].arch)):
        raise click.UsageError("--augment needs a network of layers on images (--arch or --preset cnn)")
    try:
        train_run(
            train_settings(flags, preset),
            out,
            resume=resume,
            preset=preset,
            verbose=not quiet,
            progress=progress,
            checkpoint_every=checkpoint_every,
            echo=click.echo,
            diagnostics=diagnostics,
        )
    except KeyboardInterrupt:  # train_run said what is safe; no second line, no traceback
        sys.exit(130)


# ------------------------------------------------------------- grid search: tune, report, refit, reproduce
GRID_HELP = {
    "activation": "Hidden layer activations.",
    "init": "Initial weights: normal (s = 0.1), glorot/xavier, he.",
    "optimizer": "Plain SGD (the article), momentum, nesterov, adam.",
    "momentum": "μ ∈ [0, 1) of the momentum and nesterov optimizers (the others ignore it).",
    "weight_decay": "L2 penalties λ ≥ 0 on the weights.",
    "schedule": "Learning rate schedules.",
    "dropout": "Inverted dropout rates p ∈ [0, 1) on the hidden layers.",
}
"""The help of each list of ``tune`` (every recipe field but the output/loss head); choices and defaults from
``recipe``; the ranges of the numbers are checked by ``grid.make_grid``."""


def _grid_option(field: str) -> Callable:
    """``--<field>s`` (or ``--<field>``): a comma-separated list of values of one recipe field, the article's default."""
    flag = field.replace("_", "-")
    if field in recipe.NAMED_FIELDS:
        kind = NameList(recipe.choices(field))
    else:
        kind = FloatList(positive=False, example="0,0.5")
    return click.option(
        f"--{flag}s",
        f"--{flag}",
        f"{field}s",
        type=kind,
        default=recipe.show(recipe.DEFAULTS[field]),
        show_default=True,
        help=GRID_HELP[field],
    )


def heads_of(output: str | None, loss: str | None, heads: list[str] | None) -> list[str | tuple[str, str]]:
    """The output/loss pairs of ``tune``: ``--heads``, or the one pair of ``--output``/``--loss`` (article's default)."""
    if heads and (output or loss):
        raise click.BadParameter(
            "give the output/loss pairs either as --heads or as --output and --loss, not both", param_hint="'--heads'"
        )
    return heads or [(output or recipe.DEFAULTS["output"], loss or recipe.DEFAULTS["loss"])]


def _pairs(output: str, loss: str) -> bool:
    """Does the output/loss pair train (``losses.PAIRS``)? ``tune --heads`` offers only those."""
    try:
        Recipe.of(None, output=output, loss=loss)
    except ScratchnetError:
        return False
    return True


def grid_options(f: Callable) -> Callable:
    """The recipe dimensions of ``tune``: each a comma-separated list (the singular spelling works too)."""
    heads = [f"{o}/{loss}" for o in recipe.choices("output") for loss in recipe.choices("loss") if _pairs(o, loss)]
    options = [
        _grid_option("activation"),
        click.option(
            "--heads",
            type=NameList(heads),
            default=None,
            help="Output/loss pairs, e.g. sigmoid/mse,softmax/cross-entropy [default: sigmoid/mse].",
        ),
        click.option(
            "--output",
            type=_choice("output"),
            default=None,
            help=f"With --loss: one output/loss pair [default: {recipe.DEFAULTS['output']}].",
        ),
        click.option(
            "--loss",
            type=_choice("loss"),
            default=None,
            help=f"With --output: one output/loss pair [default: {recipe.DEFAULTS['loss']}].",
        ),
        *[_grid_option(field) for field in Recipe.FIELDS if field not in ("activation", "output", "loss")],
    ]
    return _add_options(f, options)


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
@click.option(
    "--learning-rates", type=FloatList(), default=None, help="[default: 0.1,0.2,0.3 for mnist, 0.5,1,2 for digits]"
)
@click.option(
    "--folds", type=click.IntRange(min=2), default=6, show_default=True, help="Stratified K-fold on the training part."
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="[default: 250 for mnist, 60 for digits]")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="[default: 200 for mnist, 20 for digits]")
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
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=CONNECT_TIMEOUT,
    show_default=True,
    help="Seconds to reach the Dask --scheduler before giving up (no store is made then).",
)
@click.option(
    "--checkpoint-every",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Each training in flight checkpoints every N epochs beside the store (local workers); a rerun goes on "
    "from it. 0: never.",
)
@click.option(
    "--search",
    type=click.Choice(["grid", "halving"]),
    default="grid",
    show_default=True,
    help="grid: every configuration for all --epochs. halving: successive halving over epochs — every configuration "
    "for --min-epochs, then the best 1/--factor goes on (hot start) for --factor times as many, up to --epochs.",
)
@click.option(
    "--min-epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Halving: the epochs of the first rung [default: --epochs ÷ factor³, e.g. 9 of 250].",
)
@click.option(
    "--factor",
    type=click.IntRange(min=2),
    default=HALVING_FACTOR,
    show_default=True,
    help="Halving: each rung keeps the best 1/K of the configurations and trains K times as many epochs.",
)
@click.option(
    "--arch",
    "archs",
    multiple=True,
    help="A network of layers to cross-validate (a spec, a named architecture or a .json path; repeat for "
    "several): each × the learning rates and heads/optimisers, trained one at a time. Without --hidden-layers/"
    "--hidden-nodes only these are searched.",
)
@click.option("--refit", "do_refit", is_flag=True, help="Then retrain the best configuration and score the hold-out.")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder of the refit [default: next to the store]."
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@grid_options
def tune_command(
    dataset: str | None,
    data_path: str | None,
    scale: str | None,
    target: str | None,
    seed: int,
    test_size: float | int | None,
    dtype: str,
    folds: int,
    epochs: int | None,
    batch_size: int | None,
    store_path: str,
    new: bool,
    do_refit: bool,
    out: str | None,
    progress: bool,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    group_size: int | None,
    blas_threads: int | None,
    connect_timeout: float,
    checkpoint_every: int,
    search: str,
    min_epochs: int | None,
    factor: int,
    **grid: Any,
) -> None:
    """Cross-validated grid search (article, section 7), saved training by training in an SQLite store.

    The grid is every combination of hidden layers × nodes × learning rates and
    of the recipe lists (--activations, --heads, --inits, --optimizers,
    --momentums, --weight-decays, --schedules, --dropouts; default: the
    article's one recipe). The recipe is part of the store's experiment;
    report shows a table per combination, refit uses the best one's recipe.
    --search halving trains the grid by successive halving (rungs of epochs, the
    best 1/--factor of each rung going on from where it stopped); report shows the
    rungs, refit takes the winner of the last one.
    """
    if scheduler and executor != "dask":
        raise click.BadParameter("a scheduler address needs --executor dask", param_hint="'--scheduler'")
    if grid["archs"] and search == "halving":
        raise click.BadParameter("successive halving is for the MLP grid; search --arch with --search grid",
                                 param_hint="'--arch'")  # fmt: skip
    if grid["archs"]:  # networks of layers alone, unless the MLP grid is asked for too
        source = click.get_current_context().get_parameter_source
        for name in ("hidden_layers", "hidden_nodes"):
            if source(name) is click.core.ParameterSource.DEFAULT:
                grid[name] = []
    dataset = dataset_of(dataset, data_path)
    epochs, batch_size, grid["learning_rates"] = _tune_sizes(dataset, epochs, batch_size, grid["learning_rates"])
    if dataset == "own":
        (X_train, _, y_train, _), _, _ = load_own_split(data_path, test_size, seed, dtype, scale, target)
    else:
        X_train, _, y_train, _ = load_split(dataset, data_path, test_size, seed, dtype)
    _check_batch_fits_a_fold(batch_size, X_train.shape[0], folds)
    configs = grid_of(grid)
    check_layered(configs, dataset, X_train, int(np.max(y_train)) + 1)  # before a store is made for them
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
    if dataset == "own":  # how the own data is read and scaled belongs to the experiment
        fingerprint.update(scale=scale, target=target)
    if search == "halving":  # the rungs belong to the experiment; a grid's fingerprint stays as it was
        min_epochs = min_epochs or default_min_epochs(epochs, factor)
        fingerprint.update(search=search, min_epochs=min_epochs, factor=factor)
    elif min_epochs is not None:
        raise click.BadParameter("--min-epochs needs --search halving", param_hint="'--min-epochs'")
    execution = {
        "executor": executor,
        "workers": workers,
        "scheduler": scheduler,
        "group_size": group_size,
        "blas_threads": blas_threads,
        "checkpoint_every": checkpoint_every,
        "search": search,
        "min_epochs": min_epochs,
        "factor": factor,
    }
    if do_refit:
        check_out(out)
    client = None
    if executor == "dask" and scheduler:  # reach the cluster before a store is made
        client = execution["client"] = dask_client(scheduler, workers, timeout=connect_timeout)
    try:
        with Store.create_or_open(store_path, fingerprint, new=new) as store:
            if data_path:
                store.set_meta("data_path", data_path)
            summary = _tune_into(store, X_train, y_train, configs, folds, epochs, batch_size, seed, execution, progress)
            halving = f" ({summary['epochs']:,} training epochs)" if search == "halving" else ""
            click.echo(
                f"{summary['trained']} trainings run in {summary['seconds']:.1f} s{halving}; "
                f"{len(store.finished())} of {summary['total']} in {store_path}. See the table: scratchnet report "
                f"{store_path}"
            )
            if do_refit:
                refit_best(store, data_path=data_path, out=out, verbose=True, progress=progress, echo=click.echo)
    finally:
        if client is not None:
            client.close()


def _tune_sizes(
    dataset: str, epochs: int | None, batch_size: int | None, rates: list[float] | None
) -> tuple[int, int, list[float]]:
    """``tune``'s epochs, batch size and learning rates: the flags given, the data set's grid (``TUNE_DEFAULTS``) for
    the others; says which defaults it took."""
    defaults = TUNE_DEFAULTS[dataset]
    taken = {
        "epochs": epochs or defaults["epochs"],
        "batch_size": batch_size or defaults["batch_size"],
        "learning_rates": rates or defaults["learning_rates"],
    }
    filled = [k for k, v in (("epochs", epochs), ("batch_size", batch_size), ("learning_rates", rates)) if not v]
    if filled:
        click.echo(f"the {dataset} grid's defaults: {recipe.describe_values({k: taken[k] for k in filled})}")
    return taken["epochs"], taken["batch_size"], taken["learning_rates"]


def _check_batch_fits_a_fold(batch_size: int, n_train: int, folds: int) -> None:
    fold_train = n_train - -(-n_train // folds)
    if batch_size > fold_train:
        raise click.BadParameter(
            f"{batch_size} is larger than the {fold_train} training samples of a fold", param_hint="'--batch-size'"
        )


def grid_of(flags: dict[str, Any]) -> list[Config]:
    """The configurations of ``tune``'s grid flags: layers × nodes × rates × every recipe list."""
    return make_grid(
        flags["hidden_layers"],
        flags["hidden_nodes"],
        flags["learning_rates"],
        activations=list(flags["activations"]),
        heads=heads_of(flags["output"], flags["loss"], flags["heads"]),
        inits=list(flags["inits"]),
        optimizers=list(flags["optimizers"]),
        momentums=list(flags["momentums"]),
        weight_decays=list(flags["weight_decays"]),
        schedules=list(flags["schedules"]),
        dropouts=list(flags["dropouts"]),
        archs=list(flags.get("archs") or []),
    )


def _tune_into(
    store: Store,
    X_train: np.ndarray,
    y_train: np.ndarray,
    configs: list[Config],
    folds: int,
    epochs: int,
    batch_size: int,
    seed: int,
    execution: dict[str, Any],
    progress: bool,
) -> dict[str, Any]:
    """``run_tune`` into ``store``; an interrupt says truthfully what is safe and how to resume, and exits 130."""
    try:
        return run_tune(
            store,
            X_train,
            y_train,
            configs,
            folds=folds,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            progress=progress,
            echo=click.echo,
            **execution,
        )
    except KeyboardInterrupt:
        pass
    # out of the handler: the interrupted frames (the worker pool's queues and locks) are freed, so that the
    # process ends with no "leaked semaphore" warning
    gc.collect()
    finished, in_flight = safe_count(store)
    partial = ""
    if in_flight:
        partial = f" and {in_flight} unfinished " + ("one has" if in_flight == 1 else "ones have")
        partial += " a checkpoint to go on from"
    click.echo(
        f"interrupted: {finished} finished training{'' if finished == 1 else 's'} "
        f"{'is' if finished == 1 else 'are'} safe in {store.path}{partial}; "
        "run the same command again to resume",
        err=True,
    )
    sys.exit(130)


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
def report_command(store_path: str, fmt: str, show_runs: bool, figures: str | None, no_figures: bool) -> None:
    """The table of a grid search: mean CV accuracy per hidden layers × nodes, the optimal parameters."""
    with Store.open(store_path, readonly=True) as store:
        summary = summarize(store)
        varied = summary["varied"]
        if show_runs:
            click.echo(runs_table(summary["runs"], fmt, varied), nl=False)
            return
        if fmt == "csv":  # every configuration; "folds" says how many finished, "complete" whether all did
            means = summary["means"]
            means = means.assign(complete=means["folds"] == summary["fingerprint"]["folds"])
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
def refit_command(store_path: str, data_path: str | None, out: str | None, quiet: bool, progress: bool) -> None:
    """Retrain the best configuration of STORE on all training samples; report the hold-out accuracy."""
    check_out(out)
    with Store.open(store_path) as store:
        if data_path is None:
            data_path = store.get_meta("data_path")
        refit_best(store, data_path=data_path, out=out, verbose=not quiet, progress=progress, echo=click.echo)


@cli.group("store")
def store_group() -> None:
    """Look after a results store."""


@store_group.command("export")
@click.argument("store_path", metavar="STORE", type=click.Path(dir_okay=False))
@click.argument("out", metavar="OUT.csv", type=click.Path(dir_okay=False))
def store_export_command(store_path: str, out: str) -> None:
    """Write every readable training of STORE (one row of the runs table each) to OUT.csv, even from a damaged store.

    Rows are read one by one, so damaged pages lose only their own rows.
    """
    written, unreadable = export_runs(store_path, out)
    click.echo(f"wrote {written} trainings to {out}" + (f"; {unreadable} rows could not be read" if unreadable else ""))


@cli.command("reproduce")
@click.option(
    "--quick", is_flag=True, help="The bundled digits data and a small grid: every step, in 5–60 s on 2 cores."
)
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
def reproduce_command(
    quick: bool,
    out: str,
    data_path: str | None,
    epochs: int | None,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    progress: bool,
) -> None:
    """The whole article: gradient check, data, training runs, grid search, table, refit → OUT/REPORT.md."""
    if scheduler and executor != "dask":
        raise click.BadParameter("a scheduler address needs --executor dask", param_hint="'--scheduler'")
    if quick and data_path:
        raise click.BadParameter("--quick uses the bundled digits data; drop --data", param_hint="'--data'")
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
@click.argument("inputs", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--data",
    "data_path",
    type=click.Path(exists=True),
    default=None,
    help="Raw data of the kind the model was trained on with `train --data` (CSV, .npz with X [and y], a "
    "folder of class folders of images): scaled as the model file records; labels, if present, give an accuracy.",
)
@click.option("--target", default=None, help="The label column of a CSV --data [default: the model's].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print JSON Lines: one object per input (accuracy on stderr).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the predictions to FILE instead: .csv (the table's columns) or .npy (the scores, N × classes).",
)
@click.option(
    "--scaled",
    is_flag=True,
    help="The .npy/.npz inputs are already model features: feed them unchanged (default: raw pixels as the model's "
    "data holds them, 0..255 for MNIST, 0..16 for the digits).",
)
def predict_command(
    model: str,
    inputs: tuple[str, ...],
    data_path: str | None,
    target: str | None,
    as_json: bool,
    as_jsonl: bool,
    output: str | None,
    scaled: bool,
) -> None:
    """Classify 28×28 PNG/JPEG digits, .npy arrays or an .npz data set with a saved model.

    MODEL is a file written by `scratchnet train` (an MLP or, with --arch, a
    network of layers, whose arrays may also come as (N, C, H, W)) or NeuralNetClassifier.save.
    Images must be exactly 28×28 (never resized); a dark digit on a light
    background is inverted to MNIST's white on black. Arrays hold raw pixels
    as the model's data does (0..255 for MNIST, 0..16 for the digits; shapes
    (N, 784) or (N, 28, 28), (N, 64) or (N, 8, 8)) unless --scaled. Prints the predicted class and every class's score
    (the output layer: one-vs-all sigmoid scores in [0, 1], or softmax probabilities).
    Inputs are checked first, then read and predicted in batches and the
    output streamed, so any number of rows runs in bounded memory.
    """
    if sum([as_json, as_jsonl, output is not None]) > 1:
        raise click.BadParameter("choose one of --json, --jsonl and --output", param_hint="--output")
    if output is not None and Path(output).suffix.lower() not in (".csv", ".npy"):
        raise click.BadParameter(f"{output!r}: write predictions to a .csv or .npy file", param_hint="--output")
    saved = _SavedModel(model)
    header = saved.header
    prep = header.get("preprocessing") if isinstance(header.get("preprocessing"), dict) else {}
    if data_path and prep.get("name") == "own":  # the user's own data: read whole, as in training
        names, X_own, labels_own = _own_inputs(data_path, prep, target, saved.n_features)
        sources: list[Any] = [_OwnSource(names, labels_own)]
        batches: Any = [(names, X_own, labels_own)]
    else:
        if data_path:
            inputs = (*inputs, data_path)
        if not inputs:
            raise click.UsageError("Missing argument 'INPUTS...' (or --data PATH).")
        max_value = _max_value(header, saved.n_features)
        sources = plan_inputs(
            inputs, saved.n_features, scaled=scaled, max_value=max_value, sample_shape=saved.sample_shape
        )
        batches = iter_batches(sources, scaled=scaled, max_value=max_value)
    classes = [_plain(c) for c in saved.classes]
    n_rows = sum(source.n_rows for source in sources)
    if output is not None:
        sink = _PredictionFile(output, classes, sources, n_rows)
    elif as_json:
        sink = _PredictionJson(model, classes)
    elif as_jsonl:
        sink = _PredictionJsonl(classes)
    else:
        sink = _PredictionTable(classes, sources)
    correct = labelled = 0
    with sink:
        for names, X, labels in batches:
            scores = saved.predict_proba(X)
            predicted = saved.classes[scores.argmax(axis=1)]
            for label, p in zip(labels, predicted, strict=True):
                if label is not None:
                    labelled += 1
                    correct += str(label) == str(p)
            sink.write(names, labels, scores, predicted)
        accuracy = correct / labelled if labelled else None
        sink.finish(accuracy)
    if accuracy is not None and not as_json:
        click.echo(f"accuracy {accuracy:.4f} on {labelled} labelled inputs", err=as_jsonl)
    if output is not None:
        click.echo(f"wrote {n_rows} predictions to {output}", err=True)


class _PredictionTable:
    """``predict``'s table, streamed: input, label (if any input has one), predicted class and every class's score."""

    def __init__(self, classes: list, sources: list) -> None:
        self.with_labels = any(source.labelled for source in sources)
        self.columns = [
            "input",
            *(["label"] if self.with_labels else []),
            "predicted",
            *(f"score {c}" for c in classes),
        ]
        name_width = max(source.name_width for source in sources)
        label_width = max(source.label_width for source in sources)
        self.widths = [
            max(5, name_width),
            *([max(5, label_width)] if self.with_labels else []),
            max(9, *(len(str(c)) for c in classes)),
            *(max(5, len(f"score {c}")) for c in classes),
        ]

    def __enter__(self) -> _PredictionTable:
        click.echo(self._line(self.columns))
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _line(self, cells: list) -> str:
        return " ".join(str(cell).rjust(width) for cell, width in zip(cells, self.widths, strict=True))

    def write(self, names: list[str], labels: list, scores: np.ndarray, predicted: np.ndarray) -> None:
        n_text = len(self.widths) - scores.shape[1]
        row = " ".join([*(f"%{w}s" for w in self.widths[:n_text]), *(f"%{w}.3f" for w in self.widths[n_text:])])
        texts = [names, *([["" if x is None else x for x in labels]] if self.with_labels else []), predicted.tolist()]
        click.echo("\n".join(row % (*cells, *values) for *cells, values in zip(*texts, scores.tolist(), strict=True)))

    def finish(self, accuracy: float | None) -> None:
        pass


class _PredictionJson:
    """``predict --json``: one JSON document (model, classes, predictions, accuracy), written prediction by
    prediction."""

    def __init__(self, model: str, classes: list) -> None:
        self.model, self.classes, self.first = model, classes, True

    def __enter__(self) -> _PredictionJson:
        head = json.dumps({"model": str(self.model), "classes": self.classes}, default=_plain)[:-1]
        click.echo(head + ', "predictions": [', nl=False)
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def write(self, names: list[str], labels: list, scores: np.ndarray, predicted: np.ndarray) -> None:
        items = _prediction_items(self.classes, names, labels, scores)
        text = ",\n".join(items)
        click.echo(("\n" if self.first else ",\n") + text, nl=False)
        self.first = False

    def finish(self, accuracy: float | None) -> None:
        click.echo(f'\n], "accuracy": {json.dumps(accuracy)}}}')


class _PredictionJsonl(_PredictionJson):
    """``predict --jsonl``: one JSON object per input and line."""

    def __init__(self, classes: list) -> None:
        super().__init__("", classes)

    def __enter__(self) -> _PredictionJsonl:
        return self

    def write(self, names: list[str], labels: list, scores: np.ndarray, predicted: np.ndarray) -> None:
        click.echo("\n".join(_prediction_items(self.classes, names, labels, scores)))

    def finish(self, accuracy: float | None) -> None:
        pass


class _PredictionFile:
    """``predict --output FILE``: a CSV of the table's columns, or an .npy of the scores (N × classes)."""

    def __init__(self, path: str, classes: list, sources: list, n_rows: int) -> None:
        self.path, self.classes, self.n_rows = Path(path), classes, n_rows
        self.with_labels = any(source.labelled for source in sources)
        self.done = 0

    def __enter__(self) -> _PredictionFile:
        self.npy = self.path.suffix.lower() == ".npy"
        self.file = open(self.path, "wb" if self.npy else "w", newline=None if self.npy else "")
        if self.npy:  # the header, then each batch's bytes appended: no memory map, so no page stays resident
            header = {"descr": "<f8", "fortran_order": False, "shape": (self.n_rows, len(self.classes))}
            np.lib.format.write_array_header_1_0(self.file, header)
        else:
            self.csv = csv.writer(self.file)
            self.csv.writerow(
                ["input", *(["label"] if self.with_labels else []), "predicted", *(f"score {c}" for c in self.classes)]
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def write(self, names: list[str], labels: list, scores: np.ndarray, predicted: np.ndarray) -> None:
        if self.npy:
            self.file.write(np.ascontiguousarray(scores, dtype="<f8").tobytes())
        else:
            texts = [names, *([["" if x is None else x for x in labels]] if self.with_labels else [])]
            self.csv.writerows(
                [*cells, p, *values]
                for *cells, p, values in zip(*texts, predicted.tolist(), scores.tolist(), strict=True)
            )
        self.done += len(scores)

    def finish(self, accuracy: float | None) -> None:
        pass


def _prediction_items(classes: list, names: list[str], labels: list, scores: np.ndarray) -> list[str]:
    """Each input's prediction as a JSON object: input, predicted class, label, scores and probabilities."""
    proba = normalise_scores(scores)
    return [
        json.dumps(
            {
                "input": name,
                "predicted": classes[int(k)],
                "label": label,
                "scores": [float(v) for v in row],
                "probabilities": [float(v) for v in prow],
            },
            default=lambda o: o.item() if hasattr(o, "item") else str(o),
        )
        for name, k, label, row, prow in zip(names, scores.argmax(axis=1), labels, scores, proba, strict=True)
    ]


class _OwnSource:
    """The user's own data to predict on, read whole: what the output sinks ask of an input source."""

    def __init__(self, names: list[str], labels: list) -> None:
        self.n_rows = len(names)
        self.labelled = any(label is not None for label in labels)
        self.name_width = max((len(n) for n in names), default=5)
        self.label_width = max((len(str(label)) for label in labels), default=5)


def _own_inputs(path: str, prep: dict, target: str | None, n_features: int) -> tuple[list[str], np.ndarray, list]:
    """Own data for ``predict --data``: read as in training, scaled as the model file records; its labels."""
    own = read_own(path, target if target is not None else prep.get("target"))
    if own.X.shape[1] != n_features:
        raise InvalidValueError(f"{path} has {own.X.shape[1]} features; the model expects {n_features}")
    X = Scaling.from_record(prep).apply(own.X)
    labels = [own.classes[k] for k in own.y]
    return [f"{path}[{i}]" for i in range(len(X))], X, labels


def _max_value(header: dict[str, Any], n_features: int) -> float | None:
    """The raw pixel maximum of the model's preprocessing record; without one a 784-input model is taken as MNIST
    (255) and any other needs --scaled arrays (None)."""
    prep = header.get("preprocessing")
    if isinstance(prep, dict) and isinstance(prep.get("max_value"), int | float) and prep["max_value"] > 0:
        return float(prep["max_value"])
    return 255.0 if n_features == 784 else None


class _SavedModel:
    """What ``predict`` asks of a model file, whichever network it holds: the header tells (``read_header``) —
    an MLP's file (``scratchnet train``, ``NeuralNetClassifier.save``) or a network of layers' (``train --arch``)."""

    header: dict[str, Any]
    n_features: int
    sample_shape: tuple[int, ...] | None
    """A network of layers' sample shape (its inputs may come as (N, C, H, W)); None for an MLP."""
    classes: np.ndarray

    def __init__(self, path: str) -> None:
        header = read_header(path)
        if header.get("format") == LAYERED_FORMAT:
            self.net = load_layered(path)
            self.header, self.sample_shape = header, self.net.input_shape
            self.n_features = math.prod(self.net.input_shape)
            self.classes = decode_classes(header.get("classes"), self.net.n_classes, path)
        else:
            est, self.header = read_estimator(path)
            self.net, self.sample_shape = est.network_, None
            self.n_features, self.classes = est.n_features_in_, est.classes_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The output layer's scores of the rows of ``X`` (N, n_features), as float64."""
        return self.net.predict_proba(X.astype(self.net.dtype, copy=False)).astype(np.float64)


def _plain(value: Any) -> Any:
    """A NumPy scalar as its Python value."""
    return value.item() if hasattr(value, "item") else value


cli.add_command(serve_command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every failure the user can cause into one line on stderr.

    Those are scratchnet's own errors (``errors.ScratchnetError``), click's usage
    errors, file-system errors (``OSError``: a missing or unwritable path) and an
    interrupt; any other exception is a bug and keeps its traceback.
    """
    try:
        rv = cli.main(args=argv, prog_name="scratchnet", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `scratchnet`: its help, not an error
        click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
        sys.exit(0)
    except click.exceptions.Abort:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (ScratchnetError, OSError) as exc:  # a bad input or a missing/unwritable path; a bug keeps its traceback
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
