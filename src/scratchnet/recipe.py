"""The recipe: everything about how a network is built and trained besides its widths and learning rate.

``Recipe()`` is the article's (sigmoid hidden layers, sigmoid output, MSE, N(0,
0.1²) weights, plain SGD at a constant rate, no weight decay, no dropout); this
module is the one place where those defaults live. A recipe canonicalises the
names it is given (``xavier`` → ``glorot``, ``cross-entropy`` →
``cross_entropy``, ``Leaky-ReLU`` → ``leaky_relu``), refuses what cannot work
(an unknown name, a softmax output with binary cross-entropy, a dropout rate
of 1) with the one-line message the command line shows, and describes itself
in one line.

The names come from the tables of the maths below (``activations.ACTIVATIONS``,
``activations.OUTPUTS``, ``losses.LOSSES``, ``inits.INITS``,
``optimizers.OPTIMIZERS``, ``optimizers.SCHEDULES``): a new entry there is a
new choice everywhere — the command line, the estimator's parameters, the
grid, the store and the report — with no other edit.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from . import activations, inits, losses, optimizers
from .errors import InvalidTypeError, InvalidValueError
from .validation import check_name, check_rate

NETWORK_FIELDS = ("activation", "output", "loss", "init")
"""How the network is built: its layers' functions, its loss, its initial weights."""
TRAINING_FIELDS = ("optimizer", "momentum", "weight_decay", "schedule", "dropout")
"""How it is trained, besides the learning rate, batch size and epochs."""


def _table(field: str) -> tuple[dict, dict, str]:
    """``(table, aliases, what)`` of a field named after a table of the maths."""
    return {
        "activation": (activations.ACTIVATIONS, {}, "activation"),
        "output": (activations.OUTPUTS, {}, "output activation"),
        "loss": (losses.LOSSES, losses.ALIASES, "loss"),
        "init": (inits.INITS, inits.ALIASES, "init"),
        "optimizer": (optimizers.OPTIMIZERS, {}, "optimizer"),
        "schedule": (optimizers.SCHEDULES, {}, "schedule"),
    }[field]


def check_dropout(rate: Any, name: str = "dropout") -> float:
    """A dropout rate p with 0 ≤ p < 1 (the fraction of hidden nodes switched off)."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise InvalidTypeError(f"{name} must be a number in [0, 1), got {rate!r}")
    rate = float(rate)
    if not 0 <= rate < 1:
        raise InvalidValueError(f"{name} must lie in [0, 1) (the fraction of hidden nodes dropped), got {rate}")
    return rate


NAMED_FIELDS = ("activation", "output", "loss", "init", "optimizer", "schedule")
"""The fields that name an entry of a table; the others are numbers."""


@dataclass(frozen=True)
class Recipe:
    """How a network is built and trained, the article's by default; names canonical, pairs checked.

    ``momentum`` (μ) matters only to the optimisers that use it
    (``optimizers.OPTIMIZERS[name].uses_momentum``); with the others it is kept at
    its default, so two recipes that train alike compare equal.
    """

    activation: str = "sigmoid"
    output: str = "sigmoid"
    loss: str = "mse"
    init: str = "normal"
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    dropout: float = 0.0

    FIELDS: ClassVar[tuple[str, ...]] = NETWORK_FIELDS + TRAINING_FIELDS

    def __post_init__(self) -> None:
        for name in NAMED_FIELDS:
            table, aliases, what = _table(name)
            object.__setattr__(self, name, check_name(getattr(self, name), table, what, aliases))
        losses.check_pair(self.output, self.loss)
        momentum = check_rate(self.momentum, "momentum", upper=1)
        if not optimizers.OPTIMIZERS[self.optimizer].uses_momentum:
            momentum = DEFAULTS["momentum"]
        object.__setattr__(self, "momentum", momentum)
        object.__setattr__(self, "weight_decay", check_rate(self.weight_decay, "weight_decay"))
        object.__setattr__(self, "dropout", check_dropout(self.dropout))

    # ------------------------------------------------------------ building
    @classmethod
    def of(cls, recipe: Recipe | dict | None = None, **changes: Any) -> Recipe:
        """A recipe from a ``Recipe``, a dict of some fields or ``None`` (the article's), with ``changes``.

        ``None`` values in ``changes`` mean "keep"; an unknown field is a ``TypeError`` naming it.
        """
        if recipe is None:
            base: dict = {}
        elif isinstance(recipe, Recipe):
            base = recipe.as_dict()
        elif isinstance(recipe, dict):
            base = dict(recipe)
        else:
            raise InvalidTypeError(f"recipe must be a Recipe or a dict of its fields, got {recipe!r}")
        base.update({k: v for k, v in changes.items() if v is not None})
        unknown = sorted(set(base) - set(cls.FIELDS))
        if unknown:
            raise InvalidTypeError(f"unknown recipe field(s) {unknown}; known: {', '.join(cls.FIELDS)}")
        return cls(**base)

    def replace(self, **changes: Any) -> Recipe:
        """A copy with some fields changed (and checked)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------- reading
    def as_dict(self) -> dict[str, Any]:
        """Every field, in ``FIELDS`` order."""
        return {name: getattr(self, name) for name in self.FIELDS}

    def network_options(self) -> dict[str, str]:
        """``{"activation", "output", "loss", "init"}``: what ``MultilayerNeuralNetClassifier`` takes."""
        return {name: getattr(self, name) for name in NETWORK_FIELDS}

    def training_options(self) -> dict[str, Any]:
        """``{"optimizer", "momentum", "weight_decay", "schedule", "dropout"}``: what ``train`` takes."""
        return {name: getattr(self, name) for name in TRAINING_FIELDS}

    def changes(self) -> dict[str, Any]:
        """The fields that differ from the article's recipe."""
        return {k: v for k, v in self.as_dict().items() if v != DEFAULTS[k]}

    @property
    def is_article(self) -> bool:
        """Is this the article's recipe?"""
        return not self.changes()

    def describe(self) -> str:
        """One line of what differs from the article: ``activation relu, optimizer adam, dropout 0.2`` ('' if nothing)."""
        return describe_values(self.changes())


DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Recipe)}
"""The article's recipe, field by field: the only place its defaults are written."""

ARTICLE = Recipe()
"""The article's recipe."""

FIELD_TYPES: dict[str, type] = {name: type(value) for name, value in DEFAULTS.items()}
"""``str`` for a named field, ``float`` for a number: the store's column types."""


def show(value: Any) -> str:
    """A field's value as text: numbers as ``%g`` (``0.3``, ``1e-04``), names as they are, lists bracketed."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def describe_values(values: dict[str, Any]) -> str:
    """``activation relu, weight_decay 0.0001``: fields and values in one line (``FIELDS`` order first)."""
    order = [k for k in Recipe.FIELDS if k in values] + [k for k in values if k not in Recipe.FIELDS]
    return ", ".join(f"{k} {show(values[k])}" for k in order)


def choices(field: str, spelled: str = "both") -> list[str]:
    """The names a named field accepts: canonical names and aliases, plus ``-`` spellings (``leaky-relu``).

    ``spelled="canonical"`` gives only the canonical names (what a recipe holds).
    """
    table, aliases, _ = _table(field)
    names = list(table)
    if spelled == "canonical":
        return names
    extra = [n.replace("_", "-") for n in names if "_" in n] + list(aliases)
    return names + [n for n in extra if n not in names]


def uses_momentum(recipe: Recipe) -> bool:
    """Does the recipe's optimiser use ``momentum``? (With the others it stays at its default.)"""
    return optimizers.OPTIMIZERS[recipe.optimizer].uses_momentum
