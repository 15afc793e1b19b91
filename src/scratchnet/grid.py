"""The grid of a grid search: its points (``Config``), how a grid is made, and its fingerprint.

A ``Config`` is one point: an architecture (``hidden_layers`` hidden layers of
``hidden_nodes`` nodes, or ``arch``, a network of layers in the language of
``scratchnet.archspec``), a learning rate and a ``Recipe``. ``make_grid`` makes
every combination of lists of values; ``experiment_fingerprint`` says what
makes two grid searches the same experiment (the store keeps it);
``configs_of`` gives a fingerprint's grid back. The store, the search and the
report all read their columns from here and from ``recipe``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from .archspec import format_arch, parse_arch
from .data import default_test_size
from .errors import InvalidTypeError, InvalidValueError
from .recipe import ARTICLE, DEFAULTS, FIELD_TYPES, Recipe, uses_momentum
from .validation import check_int

ARCHITECTURE_FIELDS = ("hidden_layers", "hidden_nodes", "learning_rate")
"""The article's three dimensions of the grid."""

COLUMNS = (*ARCHITECTURE_FIELDS, *Recipe.FIELDS, "arch")
"""Every dimension of a configuration, as the store's columns and the report's labels: the article's three, the
recipe's fields, then ``arch`` (``""`` for the article's MLP of ``hidden_layers`` × ``hidden_nodes``)."""

COLUMN_TYPES: dict[str, type] = {
    "hidden_layers": int,
    "hidden_nodes": int,
    "learning_rate": float,
    **FIELD_TYPES,
    "arch": str,
}
"""The Python type of every column of ``COLUMNS``."""


class Config(NamedTuple):
    """One point of the grid: ``hidden_layers`` hidden layers of ``hidden_nodes`` nodes, a learning rate, a recipe.

    With ``arch`` (a spec line of ``scratchnet.archspec``) the network is that one, trained by
    ``model.train_layered`` one at a time; ``hidden_layers`` and ``hidden_nodes`` are then 0 and the
    recipe's ``activation``, ``init`` and ``dropout`` its defaults (the architecture writes them).
    Configurations sort by ``COLUMNS`` (the architecture, the learning rate, then the recipe field by field).
    """

    hidden_layers: int
    hidden_nodes: int
    learning_rate: float
    recipe: Recipe = ARTICLE
    arch: str = ""

    @classmethod
    def of(
        cls,
        hidden_layers: int,
        hidden_nodes: int,
        learning_rate: float,
        recipe: Recipe | Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Config:
        """A configuration whose recipe is ``recipe`` (the article's if None) with ``fields`` changed."""
        recipe = Recipe.of(dict(recipe) if isinstance(recipe, Mapping) else recipe, **fields)
        return cls(int(hidden_layers), int(hidden_nodes), float(learning_rate), recipe)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Config:
        """The configuration of a row with every column of ``COLUMNS`` (a store row, a pandas Series, a dict)."""
        values = {k: COLUMN_TYPES[k](row[k]) for k in COLUMNS if k != "arch"}
        arch = row.get("arch") if hasattr(row, "get") else row["arch"]
        return cls(
            values["hidden_layers"],
            values["hidden_nodes"],
            values["learning_rate"],
            Recipe(**{k: values[k] for k in Recipe.FIELDS}),
            arch if isinstance(arch, str) else "",  # a store from before architectures: NULL/NaN → the MLP
        )

    def row(self) -> dict[str, Any]:
        """Every column of ``COLUMNS`` with its value: how the store and the report hold a configuration."""
        return {
            "hidden_layers": self.hidden_layers,
            "hidden_nodes": self.hidden_nodes,
            "learning_rate": self.learning_rate,
            **self.recipe.as_dict(),
            "arch": self.arch,
        }

    def key(self) -> str:
        """The configuration as text (JSON of its row; an MLP's without its empty ``arch``, as before architectures):
        the claim key and the checkpoint name's digest."""
        return json.dumps({k: v for k, v in self.row().items() if k != "arch" or v}, sort_keys=True)

    def widths(self, n_features: int, n_classes: int) -> list[int]:
        """``[n⁰, n¹, …, nᴸ]``: equal-width hidden layers between the inputs and the classes."""
        return [n_features, *[self.hidden_nodes] * self.hidden_layers, n_classes]

    def _key(self) -> tuple:
        return tuple(self.row().values())

    def __lt__(self, other: tuple) -> bool:
        return self._key() < other._key() if isinstance(other, Config) else NotImplemented

    def __le__(self, other: tuple) -> bool:
        return self._key() <= other._key() if isinstance(other, Config) else NotImplemented

    def __gt__(self, other: tuple) -> bool:
        return self._key() > other._key() if isinstance(other, Config) else NotImplemented

    def __ge__(self, other: tuple) -> bool:
        return self._key() >= other._key() if isinstance(other, Config) else NotImplemented


def layer_widths(config: Config, n_features: int, n_classes: int) -> list[int]:
    """``[n⁰, n¹, …, nᴸ]`` of a configuration: equal-width hidden layers."""
    return config.widths(n_features, n_classes)


# ---------------------------------------------------------------- making a grid
def _listed(values: Any, name: str) -> list:
    """A dimension's values as a list (a single value is a list of one); an empty one is refused."""
    values = list(values) if isinstance(values, list | tuple) else [values]
    if not values:
        raise InvalidValueError(f"the grid is empty: give at least one {name}")
    return values


def check_head(head: str | Sequence[str]) -> tuple[str, str]:
    """An output/loss pair, ``("softmax", "ce")`` or ``"softmax/ce"`` → canonical ``(output, loss)``; pairs checked."""
    if isinstance(head, str):
        parts = head.split("/")
        if len(parts) != 2:
            raise InvalidValueError(f"a head is OUTPUT/LOSS such as 'softmax/cross-entropy', got {head!r}")
        head = parts
    try:
        output, loss = head
    except (TypeError, ValueError):
        raise InvalidTypeError(f"a head is an (output, loss) pair or 'OUTPUT/LOSS', got {head!r}") from None
    recipe = Recipe(output=output, loss=loss)
    return recipe.output, recipe.loss


def _recipes(dimensions: dict[str, list], heads: list[tuple[str, str]]) -> set[Recipe]:
    """Every recipe of the lists of values of ``dimensions`` (field → values) and of the output/loss ``heads``.

    A recipe sets momentum to its default where the optimizer has none, so duplicates fall together.
    """
    names = list(dimensions)
    recipes = set()
    for values in itertools.product(*dimensions.values()):
        fields = dict(zip(names, values, strict=True))
        for output, loss in heads:
            recipes.add(Recipe(**fields, output=output, loss=loss))
    return recipes


def check_archs(archs: Iterable[str]) -> list[str]:
    """Architectures for a grid, each parsed (a mistake is a one-line error) and written canonically
    (``archspec.format_arch``: a named one becomes its spec line); duplicates removed, sorted."""
    return sorted({format_arch(parse_arch(a)) for a in archs})


def _arch_configs(archs: list[str], rates: list[float], recipes: set[Recipe]) -> set[Config]:
    """The grid points of networks of layers: each architecture × rate × recipe, the recipe's activation, init and
    dropout at their defaults (the architecture writes them), so recipes differing only there fall together."""
    kept = {r.replace(activation=DEFAULTS["activation"], init=DEFAULTS["init"], dropout=DEFAULTS["dropout"])
            for r in recipes}  # fmt: skip
    return {Config(0, 0, rate, recipe, arch) for arch in archs for rate in rates for recipe in kept}


def make_grid(
    hidden_layers: Iterable[int],
    hidden_nodes: Iterable[int],
    learning_rates: Iterable[float],
    *,
    activations: list[str] | None = None,
    heads: list[str | tuple[str, str]] | None = None,
    inits: list[str] | None = None,
    optimizers: list[str] | None = None,
    momentums: list[float] | None = None,
    weight_decays: list[float] | None = None,
    schedules: list[str] | None = None,
    dropouts: list[float] | None = None,
    archs: list[str] | None = None,
) -> list[Config]:
    """Every combination, sorted as configurations sort (duplicates removed).

    ``archs``: networks of layers (specs of ``scratchnet.archspec``), each × learning rates × recipes, beside
    the MLPs of ``hidden_layers`` × ``hidden_nodes`` (which may then be empty).

    The first three are the article's grid. Each keyword is a list of values
    of one more dimension (None: the article's one value): ``activations``
    (hidden), ``heads`` (output/loss pairs, ``"softmax/cross-entropy"`` or
    tuples), ``inits``, ``optimizers``, ``momentums`` (only for the optimizers
    that use it: with the others momentum stays at its default and does not
    multiply the grid), ``weight_decays``, ``schedules``, ``dropouts``.
    """
    layers = sorted({check_int(n, "hidden_layers") for n in hidden_layers})
    nodes = sorted({check_int(n, "hidden_nodes") for n in hidden_nodes})
    rates = sorted({float(r) for r in learning_rates})
    archs = check_archs(archs or [])
    if archs and not (layers and nodes):
        layers = nodes = []
    elif not (layers and nodes and rates):
        raise InvalidValueError("the grid is empty: give at least one number of layers, of nodes and one learning rate")
    if any(not np.isfinite(r) or r <= 0 for r in rates):
        raise InvalidValueError(f"learning rates must be finite numbers > 0, got {rates}")
    given = {
        "activation": (activations, "activation"),
        "init": (inits, "init"),
        "optimizer": (optimizers, "optimizer"),
        "momentum": (momentums, "momentum"),
        "weight_decay": (weight_decays, "weight decay"),
        "schedule": (schedules, "schedule"),
        "dropout": (dropouts, "dropout rate"),
    }
    dimensions = {
        field: _listed([DEFAULTS[field]] if values is None else values, name) for field, (values, name) in given.items()
    }
    for field, values in dimensions.items():  # each value checked alone first: the message names it
        for value in values:
            Recipe(**{field: value})
    head_list = [
        check_head(h) for h in _listed([(ARTICLE.output, ARTICLE.loss)] if heads is None else heads, "output/loss head")
    ]
    recipes = _recipes(dimensions, sorted(set(head_list)))
    if not rates:
        raise InvalidValueError("the grid is empty: give at least one learning rate")
    grid = {
        Config(n_layers, n_nodes, rate, recipe)
        for n_layers in layers
        for n_nodes in nodes
        for rate in rates
        for recipe in recipes
    }
    return sorted(grid | _arch_configs(archs, rates, recipes))


# ----------------------------------------------------------------- fingerprint
def _compact(values: Iterable) -> Any:
    """One value as itself, several as a sorted list (how the fingerprint records a dimension)."""
    values = sorted(set(values))
    return values[0] if len(values) == 1 else values


def recipe_fingerprint(configs: Iterable[Config]) -> dict[str, Any]:
    """The recipe dimensions of a grid as the fingerprint records them.

    Each of ``Recipe.FIELDS`` maps to its one value (a store of one recipe, as
    before the recipe could vary) or the sorted list of its values; ``output``
    and ``loss`` are then lists aligned pair by pair (the grid's heads).
    ``momentum`` lists the values of the optimizers that use it (the others hold the default).
    """
    recipes = [c.recipe for c in configs]
    fp = {k: _compact(getattr(r, k) for r in recipes) for k in Recipe.FIELDS if k not in ("output", "loss")}
    fp["momentum"] = _compact([r.momentum for r in recipes if uses_momentum(r)] or [DEFAULTS["momentum"]])
    heads = sorted({(r.output, r.loss) for r in recipes})
    fp["output"], fp["loss"] = (
        (heads[0][0], heads[0][1]) if len(heads) == 1 else ([o for o, _ in heads], [l for _, l in heads])
    )
    return {k: fp[k] for k in Recipe.FIELDS}


def data_digest(X: np.ndarray, y: np.ndarray) -> str:
    """SHA-256 of the training data (values, dtype and shape): identifies the data of a store."""
    h = hashlib.sha256()
    for arr in (np.ascontiguousarray(X), np.ascontiguousarray(y)):
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def experiment_fingerprint(
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    dataset: str,
    test_size: float | int | None,
    dtype: str | type,
    seed: int,
    configs: Sequence[Config],
    folds: int,
    epochs: int,
    batch_size: int,
) -> dict[str, Any]:
    """What makes two grid searches the same experiment (stored in the store's meta table).

    ``configs``: the grid (``make_grid``). A store made before a recipe key was
    recorded holds the article's value (``store.FINGERPRINT_DEFAULTS``).
    """
    archs = sorted({c.arch for c in configs if c.arch})
    mlps = [c for c in configs if not c.arch]
    return {
        # the recipes as given: the MLPs' (an architecture's recipe has activation, init and dropout reset)
        **recipe_fingerprint(mlps or configs),
        **({"archs": archs} if archs else {}),  # only then: the fingerprints of MLP grids stay as they were
        "dataset": dataset,
        "data_sha256": data_digest(X_train, y_train),
        "n_train": int(X_train.shape[0]),
        "n_features": int(X_train.shape[1]),
        "n_classes": int(np.max(y_train)) + 1,
        "test_size": default_test_size(dataset) if test_size is None else test_size,
        "dtype": np.dtype(dtype).name,
        "seed": int(seed),
        "hidden_layers": sorted({c.hidden_layers for c in mlps}),
        "hidden_nodes": sorted({c.hidden_nodes for c in mlps}),
        "learning_rates": sorted({c.learning_rate for c in configs}),
        "folds": int(folds),
        "epochs": int(epochs),
        "batch_size": int(batch_size),
    }


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, list) else [value]


def configs_of(fingerprint: Mapping[str, Any]) -> list[Config]:
    """The grid of a store's fingerprint (recipe keys it lacks are the article's)."""
    fp = {**DEFAULTS, **fingerprint}
    return make_grid(
        fp["hidden_layers"],
        fp["hidden_nodes"],
        fp["learning_rates"],
        activations=_as_list(fp["activation"]),
        heads=list(zip(_as_list(fp["output"]), _as_list(fp["loss"]), strict=True)),
        inits=_as_list(fp["init"]),
        optimizers=_as_list(fp["optimizer"]),
        momentums=_as_list(fp["momentum"]),
        weight_decays=_as_list(fp["weight_decay"]),
        schedules=_as_list(fp["schedule"]),
        dropouts=_as_list(fp["dropout"]),
        archs=fp.get("archs"),
    )


def varied_fields(fingerprint: Mapping[str, Any]) -> list[str]:
    """The recipe fields a store's grid varies (more than one value), in ``Recipe.FIELDS`` order."""
    return [k for k in Recipe.FIELDS if isinstance(fingerprint.get(k), list) and len(set(fingerprint[k])) > 1]


HALVING_FACTOR = 3
"""``tune --search halving``'s default factor: each rung keeps the best third and trains it three times as long."""


def default_min_epochs(epochs: int, factor: int = HALVING_FACTOR) -> int:
    """The first rung's epochs when none are given: ``epochs`` divided by ``factor`` three times (at least 1), so
    four rungs: 250 → 9 (rungs 9, 27, 81, 250 with factor 3)."""
    return max(1, int(epochs) // int(factor) ** 3)


def halving_rungs(epochs: int, min_epochs: int, factor: int) -> list[int]:
    """The epochs of each rung of successive halving: ``min_epochs × factorⁱ`` below ``epochs``, then ``epochs``.

    ``halving_rungs(250, 10, 3) == [10, 30, 90, 250]``.
    """
    epochs = check_int(epochs, "epochs")
    min_epochs = check_int(min_epochs, "min_epochs")
    factor = check_int(factor, "factor", minimum=2)
    rungs, e = [], min_epochs
    while e < epochs:
        rungs.append(e)
        e *= factor
    return [*rungs, epochs]


def rung_sizes(n_configs: int, factor: int, n_rungs: int) -> list[int]:
    """How many configurations each rung trains: all of them, then ``ceil(n / factor)`` of the rung before.

    ``rung_sizes(45, 3, 4) == [45, 15, 5, 2]``.
    """
    sizes = [int(n_configs)]
    for _ in range(n_rungs - 1):
        sizes.append(max(1, -(-sizes[-1] // int(factor))))
    return sizes


def halving_plan(fingerprint: Mapping[str, Any]) -> list[tuple[int, int]] | None:
    """``[(epochs, configurations), …]`` per rung of a successive-halving store's fingerprint; None for a grid."""
    if fingerprint.get("search", "grid") != "halving":
        return None
    rungs = halving_rungs(fingerprint["epochs"], fingerprint["min_epochs"], fingerprint["factor"])
    return list(zip(rungs, rung_sizes(len(configs_of(fingerprint)), fingerprint["factor"], len(rungs)), strict=True))
