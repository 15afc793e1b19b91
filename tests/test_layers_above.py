"""The experiments and interfaces read the Recipe and its tables: nothing about a recipe is typed twice.

Also: the grid's ``Config`` (architecture, learning rate, recipe), the store's
recipe columns, ``runs.py`` (one finished run, shared by train, refit and
reproduce) and an import graph of these layers without circles.
"""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import click
import pytest

from scratchnet import cli, recipe
from scratchnet.estimator import NeuralNetClassifier
from scratchnet.grid import COLUMNS, Config, make_grid
from scratchnet.presets import PRESETS, Preset
from scratchnet.recipe import DEFAULTS, Recipe
from scratchnet.runs import RUN_FILES, RunSettings, train_run
from scratchnet.store import Store

SRC = Path(__file__).resolve().parent.parent / "src" / "scratchnet"
UPPER = {"cli", "tuning", "grid", "store", "report", "reproduce", "runs", "presets", "estimator", "modelio", "inputs"}
"""The experiments and the interfaces: the layers above the maths and training."""


# -------------------------------------------------------------------- Config
def test_a_config_is_architecture_rate_and_recipe():
    config = Config.of(2, 30, 0.1, activation="leaky-relu", init="xavier")
    assert config == Config(2, 30, 0.1, Recipe(activation="leaky_relu", init="glorot"))
    assert (
        list(config.row())
        == list(COLUMNS)
        == ["hidden_layers", "hidden_nodes", "learning_rate", *Recipe.FIELDS, "arch"]
    )
    assert Config.from_row(config.row()) == config
    assert config.widths(64, 10) == [64, 30, 30, 10]
    assert Config(1, 10, 0.1).recipe is recipe.ARTICLE


def test_configs_sort_by_their_columns():
    grid = make_grid([1], [8], [0.1, 0.2], optimizers=["sgd", "adam"], dropouts=[0, 0.5])
    assert grid == sorted(grid, key=lambda c: tuple(c.row().values()))
    assert [c.row()["optimizer"] for c in grid[:4]] == ["adam", "adam", "sgd", "sgd"]


# ----------------------------------------------------- choices and defaults
def _option(command: click.Command, name: str) -> click.Option:
    return next(p for p in command.params if p.name == name)


@pytest.mark.parametrize("field", recipe.NAMED_FIELDS)
def test_train_choices_and_defaults_come_from_the_recipe(field):
    option = _option(cli.train_command, field)
    assert list(option.type.choices) == recipe.choices(field)
    assert option.default == DEFAULTS[field]


def test_both_spellings_of_a_name_are_accepted():
    for spelling in ("cross-entropy", "cross_entropy", "ce"):
        settings = cli.train_command.make_context(
            "train", ["--output", "softmax", "--loss", spelling, "--epochs", "1"]
        ).params
        assert cli.recipe_of(settings).loss == "cross_entropy"


def test_tune_heads_are_every_output_with_every_loss_spelling_that_trains():
    heads = _option(cli.tune_command, "heads").type.choices
    pairs = [(o, lo) for o in recipe.choices("output") for lo in recipe.choices("loss")]
    assert len(heads) == sum(cli._pairs(o, lo) for o, lo in pairs) < len(pairs)
    assert "softmax/cross-entropy" in heads and "softmax/cross_entropy" in heads
    assert "sigmoid/cross-entropy" not in heads


def test_estimator_parameters_come_from_the_recipe():
    constraints = NeuralNetClassifier._parameter_constraints
    for field in recipe.NAMED_FIELDS:
        assert constraints[field][0].options == set(recipe.choices(field))
    params = NeuralNetClassifier().get_params()
    assert {k: params[k] for k in Recipe.FIELDS} == DEFAULTS
    assert NeuralNetClassifier(loss="ce", output="softmax").get_recipe().loss == "cross_entropy"


def test_presets_are_recipes():
    assert all(isinstance(p, Preset) and isinstance(p.recipe, Recipe) for p in PRESETS.values())
    assert PRESETS["article"].recipe.is_article
    assert PRESETS["best"]["batch_size"] == PRESETS["best"].batch_size


# ------------------------------------------------------------------- store
def test_the_store_schema_holds_every_recipe_field_with_its_type(tmp_path):
    Store.create_or_open(tmp_path / "s.sqlite", {"folds": 2}).close()
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        for table in ("runs", "refits"):
            columns = {row[1]: row[2] for row in conn.execute(f"PRAGMA table_info({table})")}
            assert {k: columns[k] for k in Recipe.FIELDS} == {
                k: {str: "TEXT", float: "REAL"}[recipe.FIELD_TYPES[k]] for k in Recipe.FIELDS
            }


# -------------------------------------------------------------------- runs
def test_a_run_writes_every_file_and_describes_its_recipe_once(tmp_path):
    lines = []
    settings = RunSettings(
        epochs=2, batch_size=40, learning_rate=0.5, hidden=(8,), recipe=Recipe(optimizer="adam", dropout=0.1)
    )
    result = train_run(settings, tmp_path / "run", verbose=False, progress=False, echo=lines.append)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(RUN_FILES)
    assert lines[0].endswith("; optimizer adam, dropout 0.1") and "hold-out accuracy" in lines[-1]
    assert result.net.epochs_trained == 2 and 0 <= result.accuracy <= 1


# ----------------------------------------------------------- import graph
def _imports(module: Path) -> set[str]:
    """The project modules ``module`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            found |= {n for n in names if (SRC / f"{n}.py").is_file()}
    return found


def test_no_import_circle_passes_through_the_experiments_or_the_interfaces():
    graph = {p.stem: _imports(p) for p in SRC.glob("*.py")}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for nxt in graph.get(node, ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    assert [m for m in sorted(UPPER) if reaches(m, m)] == []
    assert "cli" not in graph["reproduce"] | graph["tuning"]  # library code never calls the command line
    assert not graph["modelio"] & {"network", "estimator"}  # the format layer is below both
