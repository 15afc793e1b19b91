"""tune --arch: a grid over networks of layers (× learning rates × heads/optimisers), beside the MLPs."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnet.cli import load_split, main
from scratchnet.errors import InvalidValueError
from scratchnet.grid import Config, configs_of, experiment_fingerprint, make_grid
from scratchnet.model import LayeredNetwork, load_layered, train_layered
from scratchnet.recipe import Recipe
from scratchnet.store import Store
from scratchnet.tuning import batch_seed, init_seed, make_folds, make_groups

SEED = 5
CNN = "conv(4, 3, padding=1) relu maxpool(2) flatten dense(10)"
FLAT = "dense(16) relu dense(10)"  # takes the flat rows: the digits' images are flattened for it
ARGS = ["--arch", CNN, "--arch", FLAT, "--hidden-layers", "1", "--hidden-nodes", "8", "--learning-rates", "0.01,0.003",
        "--heads", "softmax/cross-entropy", "--optimizers", "adam", "--folds", "2", "--epochs", "2",
        "--batch-size", "40", "--seed", str(SEED), "--dataset", "digits", "--workers", "1", "--no-progress"]  # fmt: skip


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_the_grid_crosses_architectures_with_rates_and_recipes():
    grid = make_grid([], [], [0.1, 0.01], activations=["relu"], optimizers=["sgd", "adam"], archs=["lenet5", FLAT])
    assert len(grid) == 2 * 2 * 2 and all(c.arch and c.hidden_layers == 0 for c in grid)
    assert {c.recipe.activation for c in grid} == {"sigmoid"}  # the architecture writes its activations
    assert {c.arch for c in grid} >= {"dense(16) relu dense(10)"} and any(c.arch.startswith("conv(6, 5") for c in grid)
    X, y = np.zeros((20, 64)), np.arange(20) % 10
    fp = experiment_fingerprint(X, y, dataset="digits", test_size=None, dtype="float64", seed=1, configs=grid,
                                folds=2, epochs=1, batch_size=5)  # fmt: skip
    assert configs_of(fp) == grid and fp["hidden_layers"] == [] and len(fp["archs"]) == 2
    mlp = make_grid([1], [8], [0.1])
    assert "archs" not in experiment_fingerprint(X, y, dataset="digits", test_size=None, dtype="float64", seed=1,
                                                 configs=mlp, folds=2, epochs=1, batch_size=5)  # fmt: skip
    mixed = make_grid([1], [8], [0.1], archs=[FLAT])
    assert [c.arch for c in mixed] == [FLAT, ""]
    more = make_grid([1], [8, 16], [0.1], archs=[FLAT])
    groups = make_groups([(c, f) for c in more for f in (0, 1)], workers=1)
    layered = [g for _, g in groups if any(c.arch for c in g)]
    assert len(groups) == 4 and len(layered) == 2 and all(len(g) == 1 for g in layered)  # alone; the MLPs by fold
    assert Config(1, 8, 0.1).key() == Config(1, 8, 0.1).key() and "arch" not in Config(1, 8, 0.1).key()
    with pytest.raises(InvalidValueError, match="unknown layer 'bogus'"):
        make_grid([], [], [0.1], archs=["dense(10) bogus"])


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("arch") / "a.sqlite"
    with pytest.raises(SystemExit) as exc:
        main(["tune", *ARGS, "--store", str(path)])
    assert exc.value.code == 0
    return path


def test_a_layered_training_is_train_layered_on_the_fold(store_path):
    with Store.open(store_path) as store:
        runs, epochs = store.runs(), store.epochs()
    assert len(runs) == (2 * 2 + 2) * 2 and set(runs.arch) == {CNN, FLAT, ""}
    config = Config(0, 0, 0.01, Recipe(output="softmax", loss="cross_entropy", optimizer="adam"), CNN)
    X_train, _, y_train, _ = load_split("digits", None, None, SEED, "float64")
    train_idx, val_idx = make_folds(y_train, 2, SEED)[1]
    net = LayeredNetwork(CNN, (1, 8, 8), output="softmax", loss="cross_entropy", seed=init_seed(SEED, config, 1))
    hist = train_layered(net, X_train[train_idx], y_train[train_idx], X_train[val_idx], y_train[val_idx], epochs=2,
                         batch_size=40, learning_rate=0.01, seed=batch_seed(SEED, 1), optimizer="adam")  # fmt: skip
    stored = epochs[(epochs.arch == CNN) & (epochs.learning_rate == 0.01) & (epochs.fold == 1)]
    np.testing.assert_allclose(stored.accuracy_validation, hist.accuracy_test, rtol=0, atol=1e-12)
    np.testing.assert_allclose(stored.loss_validation, hist.loss_test, rtol=1e-12)


def test_report_has_a_table_by_architecture_and_refit_trains_the_winner(store_path, tmp_path, capsys):
    code, out, err = run_cli(["report", str(store_path), "--no-figures"], capsys)
    assert code == 0, err
    assert "## Networks of layers: the best configuration of each architecture" in out
    assert f"| `{CNN}` |" in out and f"| `{FLAT}` |" in out
    assert "optimal parameters: " in out and "hidden layers" in out  # the MLP's table is there too
    code, out, err = run_cli(["refit", str(store_path), "--out", str(tmp_path / "refit")], capsys)
    assert code == 0, err
    with Store.open(store_path) as store:
        best = store.refits().iloc[-1]
    assert best.arch == CNN  # the winner is a network of layers: a layered model file
    net = load_layered(tmp_path / "refit" / "model.npz")
    assert net.arch == CNN and len(net.history_records) == 2 and net.input_shape == (1, 8, 8)
    assert f"refit: arch={CNN}" in out and net.history_records[-1]["accuracy_test"] == best.accuracy_test


def test_a_bad_architecture_is_refused_before_a_store_is_made(tmp_path, capsys):
    path = tmp_path / "bad.sqlite"
    code, _, err = run_cli(["tune", *ARGS[:2], "--arch", "conv(4, 3) flatten dense(7)", *ARGS[4:], "--store",
                            str(path)], capsys)  # fmt: skip
    assert code != 0 and "ends with 7 class scores but the data has 10 classes" in err
    assert len(err.strip().splitlines()) == 1 and not path.exists()


def test_halving_over_architectures_is_refused_in_one_line(tmp_path, capsys):
    code, _, err = run_cli(["tune", *ARGS, "--search", "halving", "--store", str(tmp_path / "h.sqlite")], capsys)
    assert code != 0 and "successive halving is for the MLP grid" in err and not (tmp_path / "h.sqlite").exists()
