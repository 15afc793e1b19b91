"""scratchnet tune --activation/--output/--loss/--init: one recipe for the whole grid, part of the store."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from scratchnet.cli import load_split, main
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.recipe import NETWORK_FIELDS as ARTICLE_NETWORK
from scratchnet.recipe import Recipe
from scratchnet.store import Store
from scratchnet.training import train_reference
from scratchnet.tuning import (
    Config,
    batch_seed,
    experiment_fingerprint,
    init_seed,
    layer_widths,
    make_folds,
    make_grid,
)

GRID = [
    "--hidden-layers",
    "1,2",
    "--hidden-nodes",
    "8",
    "--learning-rates",
    "0.1,0.3",
    "--folds",
    "2",
    "--epochs",
    "2",
    "--batch-size",
    "40",
    "--seed",
    "5",
    "--dataset",
    "digits",
    "--workers",
    "1",
    "--no-progress",
]
RECIPE = ["--activation", "leaky-relu", "--output", "softmax", "--loss", "cross-entropy", "--init", "xavier"]
NETWORK = {"activation": "leaky_relu", "output": "softmax", "loss": "cross_entropy", "init": "glorot"}


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture(scope="module")
def recipe_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("recipe") / "t.sqlite"
    with pytest.raises(SystemExit) as exc:
        main(["tune", *GRID, *RECIPE, "--store", str(path)])
    assert exc.value.code == 0
    return path


def test_the_store_records_the_recipe_and_its_runs_use_it(recipe_store):
    with Store.open(recipe_store) as store:
        fp, runs, epochs = store.fingerprint, store.runs(), store.epochs()
    assert {k: fp[k] for k in NETWORK} == NETWORK
    assert len(runs) == 4 * 2
    # One stored training, redone alone by the reference loop with the recipe: the same history.
    X_train, _, y_train, _ = load_split("digits", None, None, 5, "float64")
    train_idx, val_idx = make_folds(y_train, 2, 5)[1]
    config = Config(2, 8, 0.3)
    net = MultilayerNeuralNetClassifier(layer_widths(config, 64, 10), random_seed=init_seed(5, config, 1), **NETWORK)
    hist = train_reference(
        net,
        X_train[train_idx],
        y_train[train_idx],
        X_train[val_idx],
        y_train[val_idx],
        epochs=2,
        batch_size=40,
        learning_rate=0.3,
        seed=batch_seed(5, 1),
        verbose=False,
        progress=False,
    )
    stored = epochs[
        (epochs.hidden_layers == 2) & (epochs.hidden_nodes == 8) & (epochs.learning_rate == 0.3) & (epochs.fold == 1)
    ].sort_values("epoch")
    assert stored.epoch.tolist() == [0, 1]
    np.testing.assert_allclose(stored.loss_validation, hist.loss_test, rtol=1e-10)
    np.testing.assert_allclose(stored.accuracy_validation, hist.accuracy_test, rtol=0)
    np.testing.assert_allclose(stored.loss_training, hist.loss_training, rtol=1e-10)


def test_another_recipe_is_refused_and_the_same_one_resumes(recipe_store, capsys):
    code, out, err = run_cli(["tune", *GRID, "--store", str(recipe_store)], capsys)
    assert code == 1 and err.count("\n") == 1 and "belongs to another experiment" in err
    assert "activation=leaky_relu" in err and "activation=sigmoid" in err and "loss=cross_entropy" in err
    code, out, err = run_cli(["tune", *GRID, *RECIPE[:6], "--init", "glorot", "--store", str(recipe_store)], capsys)
    assert code == 0, err
    assert "all 8 trainings are already in" in out  # xavier = glorot, leaky-relu = leaky_relu: the same experiment


def test_refit_builds_the_recipe(recipe_store, tmp_path, capsys):
    code, out, err = run_cli(
        ["refit", str(recipe_store), "--out", str(tmp_path / "refit"), "--no-progress", "--quiet"], capsys
    )
    assert code == 0, err
    assert "activation leaky_relu" in out
    net = MultilayerNeuralNetClassifier.load(tmp_path / "refit" / "model.npz")
    assert net.options == NETWORK and net.epochs_trained == 2


def test_stores_made_before_the_recipe_was_recorded_still_resume(tmp_path):
    """A fingerprint without the recipe keys is the article's recipe."""
    X_train, _, y_train, _ = load_split("digits", None, None, 5, "float64")
    kw = dict(
        dataset="digits",
        test_size=None,
        dtype="float64",
        seed=5,
        configs=make_grid([1], [8], [0.1]),
        folds=2,
        epochs=2,
        batch_size=40,
    )
    old = {k: v for k, v in experiment_fingerprint(X_train, y_train, **kw).items() if k not in ARTICLE_NETWORK}
    path = tmp_path / "old.sqlite"
    Store.create_or_open(path, old).close()
    Store.create_or_open(path, experiment_fingerprint(X_train, y_train, **kw)).close()
    with pytest.raises(ValueError, match="activation=sigmoid.*activation=relu"):
        Store.create_or_open(
            path,
            experiment_fingerprint(
                X_train, y_train, **{**kw, "configs": make_grid([1], [8], [0.1], activations=["relu"])}
            ),
        )
    with sqlite3.connect(path) as conn:
        stored = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()[0])
    assert "activation" not in stored


@pytest.mark.parametrize(
    "network, error, match",
    [
        ({"output": "sigmoid", "loss": "ce"}, ValueError, "refused.*with a sigmoid output use"),
        ({"activation": "swish"}, ValueError, "unknown activation 'swish'"),
        ({"depth": 3}, TypeError, r"unknown recipe field\(s\) \['depth'\]"),
        ({"init": 3}, TypeError, "init must be a name"),
    ],
)
def test_bad_recipes_are_refused(network, error, match):
    with pytest.raises(error, match=match):
        Recipe.of(network)


def test_cli_refuses_a_bad_pair_in_one_line(tmp_path, capsys):
    code, _out, err = run_cli(["tune", *GRID, "--loss", "cross-entropy", "--store", str(tmp_path / "x.sqlite")], capsys)
    assert code != 0 and err.startswith("error: ") and err.count("\n") == 1 and "sigmoid output" in err
    assert not (tmp_path / "x.sqlite").exists()
