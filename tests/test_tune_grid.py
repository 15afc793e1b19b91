"""scratchnet tune varying the recipe: activations, heads, inits, optimiser options (issue 6)."""

from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pandas as pd
import pytest

from scratchnet.cli import load_split, main
from scratchnet.grid import COLUMNS
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.recipe import ARTICLE, Recipe
from scratchnet.recipe import DEFAULTS as ARTICLE_RECIPE
from scratchnet.store import Store
from scratchnet.training import train_reference
from scratchnet.tuning import (
    Config,
    batch_seed,
    configs_of,
    experiment_fingerprint,
    init_seed,
    layer_widths,
    make_folds,
    make_grid,
    make_groups,
    run_group,
    run_tune,
)

SEED = 5
BASE = [
    "--hidden-layers",
    "1",
    "--hidden-nodes",
    "8,16",
    "--learning-rates",
    "0.5,1",
    "--folds",
    "2",
    "--epochs",
    "2",
    "--batch-size",
    "40",
    "--seed",
    str(SEED),
    "--dataset",
    "digits",
    "--workers",
    "1",
    "--no-progress",
]
VARY = ["--activations", "sigmoid,relu", "--heads", "sigmoid/mse,softmax/cross-entropy", "--inits", "normal,he"]
KEYS = list(COLUMNS)


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def digits():
    return load_split("digits", None, None, SEED, "float64")


def alone(config, fold, epochs=2, batch_size=40):
    """One training of the grid redone by itself with the reference loop: its history."""
    X_train, _, y_train, _ = digits()
    train_idx, val_idx = make_folds(y_train, 2, SEED)[fold]
    net = MultilayerNeuralNetClassifier(
        layer_widths(config, 64, 10), random_seed=init_seed(SEED, config, fold), **config.recipe.network_options()
    )
    return train_reference(
        net,
        X_train[train_idx],
        y_train[train_idx],
        X_train[val_idx],
        y_train[val_idx],
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=config.learning_rate,
        seed=batch_seed(SEED, fold),
        verbose=False,
        progress=False,
        **config.recipe.training_options(),
    )


@pytest.fixture(scope="module")
def varied_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "v.sqlite"
    with pytest.raises(SystemExit) as exc:
        main(["tune", *BASE, *VARY, "--store", str(path)])
    assert exc.value.code == 0
    return path


# ------------------------------------------------------------------ the grid
def test_the_article_grid_is_the_default_and_its_configs_are_unchanged():
    assert make_grid([1, 2], [10], [0.1, 0.3]) == [
        Config(1, 10, 0.1),
        Config(1, 10, 0.3),
        Config(2, 10, 0.1),
        Config(2, 10, 0.3),
    ]
    assert Config(1, 10, 0.1).row() == {
        "hidden_layers": 1,
        "hidden_nodes": 10,
        "learning_rate": 0.1,
        **ARTICLE_RECIPE,
        "arch": "",
    }
    assert make_grid(
        [1], [10], [0.1], activations=["sigmoid"], heads=["sigmoid/mse"], optimizers=["SGD"], dropouts=[0]
    ) == [Config(1, 10, 0.1)]


def test_every_dimension_multiplies_the_grid_and_names_are_canonical():
    grid = make_grid(
        [1],
        [8],
        [0.1],
        activations=["leaky-relu", "tanh"],
        heads=["softmax/ce", ("sigmoid", "mse")],
        inits=["xavier", "he"],
        optimizers=["sgd", "momentum"],
        momentums=[0.5, 0.9],
        weight_decays=[0, 1e-4],
        schedules=["constant", "cosine"],
        dropouts=[0, 0.2],
    )
    # momentum multiplies only the momentum optimizer: sgd keeps 0.9 → (1 + 2) optimizer settings
    assert len(grid) == len(set(grid)) == 2 * 2 * 2 * 3 * 2 * 2 * 2
    assert {c.recipe.activation for c in grid} == {"leaky_relu", "tanh"}
    assert {(c.recipe.output, c.recipe.loss) for c in grid} == {("softmax", "cross_entropy"), ("sigmoid", "mse")}
    assert {c.recipe.init for c in grid} == {"glorot", "he"}
    assert {(c.recipe.optimizer, c.recipe.momentum) for c in grid} == {
        ("sgd", 0.9),
        ("momentum", 0.5),
        ("momentum", 0.9),
    }
    assert grid == sorted(grid)
    fp = experiment_fingerprint(
        *digits()[::2],
        dataset="digits",
        test_size=None,
        dtype="float64",
        seed=1,
        configs=grid,
        folds=2,
        epochs=1,
        batch_size=10,
    )
    assert fp["output"] == ["sigmoid", "softmax"] and fp["loss"] == ["mse", "cross_entropy"]  # pairs, aligned
    assert configs_of(json.loads(json.dumps(fp))) == grid
    odd = make_grid([1], [8], [0.1], optimizers=["sgd", "momentum"], momentums=[0.5])  # sgd records 0.9
    fp = experiment_fingerprint(
        *digits()[::2],
        dataset="digits",
        test_size=None,
        dtype="float64",
        seed=1,
        configs=odd,
        folds=2,
        epochs=1,
        batch_size=10,
    )
    assert fp["momentum"] == 0.5 and configs_of(fp) == odd and len(odd) == 2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"heads": ["sigmoid/cross-entropy"]}, ValueError, "sigmoid output"),
        ({"heads": ["softmax"]}, ValueError, "OUTPUT/LOSS"),
        ({"activations": ["swish"]}, ValueError, "unknown activation 'swish'"),
        ({"optimizers": ["adagrad"]}, ValueError, "unknown optimizer 'adagrad'"),
        ({"momentums": [1.0]}, ValueError, r"momentum must be a finite number in \[0, 1\)"),
        ({"weight_decays": [-1e-3]}, ValueError, "weight_decay must be a finite number ≥ 0"),
        ({"schedules": ["linear"]}, ValueError, "unknown schedule 'linear'"),
        ({"dropouts": [1.0]}, ValueError, r"dropout must lie in \[0, 1\)"),
        ({"inits": []}, ValueError, "the grid is empty: give at least one init"),
    ],
)
def test_bad_dimensions_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_grid([1], [8], [0.1], **kwargs)


def test_initial_weights_depend_on_the_cell_and_fold_only():
    article = Config(2, 30, 0.1)
    other = Config(2, 30, 0.001, Recipe("relu", "softmax", "cross_entropy", "he", "adam", 0.9, 1e-4, "cosine", 0.2))
    assert init_seed(3, article, 1) == init_seed(3, other, 1)  # every recipe of a cell starts from the same draws
    assert init_seed(3, article, 1) != init_seed(3, article, 0)


def test_groups_of_mixed_recipes_cover_each_training_once():
    grid = make_grid([1, 2], [8, 16], [0.1], activations=["sigmoid", "relu"], heads=["sigmoid/mse", "softmax/ce"])
    pending = [(c, f) for f in range(3) for c in grid]
    groups = make_groups(pending, 2, None, 64, 10)
    assert sorted((c, f) for f, cs in groups for c in cs) == sorted(pending)


def test_a_group_of_mixed_recipes_trains_each_network_as_if_alone():
    X_train, _, y_train, _ = digits()
    configs = make_grid(
        [1, 2], [8], [0.5], activations=["sigmoid", "relu"], heads=["sigmoid/mse", "softmax/ce"], inits=["normal", "he"]
    )
    payload = {"X": X_train, "y": y_train, "folds": make_folds(y_train, 2, SEED)}
    settings = {"epochs": 2, "batch_size": 40, "seed": SEED, "n_classes": 10, "blas_threads": 1}
    results = run_group(payload, 1, configs, settings)
    assert [Config.from_row(r) for r in results] == configs and len(configs) == 16
    assert len({r["history"]["loss_validation"].iloc[-1] for r in results}) == 16  # every recipe trained its own way
    for r, config in zip(results, configs):
        hist = alone(config, 1)
        np.testing.assert_allclose(r["history"]["loss_validation"], hist.loss_test, rtol=1e-9)
        np.testing.assert_allclose(r["history"]["loss_training"], hist.loss_training, rtol=1e-9)
        np.testing.assert_array_equal(r["history"]["accuracy_validation"], hist.accuracy_test)


# ----------------------------------------------------------- store, report
def raw_means(path):
    with sqlite3.connect(path) as conn:
        raw = pd.read_sql_query("SELECT * FROM runs", conn)
    return raw.groupby(KEYS)["accuracy_validation"].mean().reset_index()


def test_the_store_holds_every_config_and_fold_once_and_resumes(varied_store, capsys):
    with Store.open(varied_store) as store:
        runs, fp = store.runs(), store.fingerprint
    assert len(runs) == 2 * 2 * 2 * 2 * 2 * 2 and not runs.duplicated([*KEYS, "fold"]).any()
    assert fp["activation"] == ["relu", "sigmoid"] and fp["init"] == ["he", "normal"] and fp["optimizer"] == "sgd"
    code, out, err = run_cli(["tune", *BASE, *VARY, "--store", str(varied_store)], capsys)
    assert code == 0 and "all 64 trainings are already in" in out, err
    code, out, err = run_cli(["tune", *BASE, *VARY[:4], "--store", str(varied_store)], capsys)  # inits left out
    assert code == 1 and err.count("\n") == 1 and 'init=["he", "normal"]' in err and "init=normal" in err


def test_report_has_a_table_per_recipe_and_a_ranking(varied_store, capsys):
    code, out, err = run_cli(["report", str(varied_store), "--no-figures"], capsys)
    assert code == 0, err
    means = raw_means(varied_store)
    varied = ["activation", "output", "loss", "init"]
    for key, part in means.groupby(varied):
        heading = f"## activation {key[0]}, output {key[1]}, loss {key[2]}, init {key[3]}"
        assert heading in out
        section = out.split(heading)[1].split("\n## ")[0]
        best = part.groupby(["hidden_layers", "hidden_nodes"])["accuracy_validation"].max().unstack()
        for layers, row in best.iterrows():
            assert f"| {layers} | " + " | ".join(f"{v:.6f}" for v in row) + " |" in section
    ranked = means.sort_values(["accuracy_validation", *KEYS], ascending=[False] + [True] * len(KEYS))
    top = ranked.iloc[0]
    assert (
        f"optimal parameters: n_hidden_layers={top.hidden_layers}, n_hidden_nodes={top.hidden_nodes}, "
        f"learning rate={top.learning_rate:g}, activation={top.activation}, output={top.output}, "
        f"loss={top.loss}, init={top.init}"
    ) in out
    ranking = out.split("## The best 10 configurations")[1].split("\n## ")[0]
    rows = [line for line in ranking.splitlines() if line.startswith("| ") and not line.startswith("| rank")]
    assert len(rows) == 10
    for line, (_, r) in zip(rows, ranked.head(10).iterrows()):
        assert line.startswith(
            f"| {rows.index(line) + 1} | {r.hidden_layers} | {r.hidden_nodes} | "
            f"{r.learning_rate:g} | {r.activation} | {r.output} | {r.loss} | {r.init} | sgd |"
        )
        assert f"| {r.accuracy_validation:.6f} |" in line

    code, out, err = run_cli(["report", str(varied_store), "--format", "csv"], capsys)
    table = pd.read_csv(io.StringIO(out))
    assert list(table.columns[:7]) == ["hidden_layers", "hidden_nodes", "learning_rate", *varied]
    assert "optimizer" not in table.columns and len(table) == 32
    merged = table.merge(means, on=["hidden_layers", "hidden_nodes", "learning_rate", *varied])
    np.testing.assert_allclose(merged.accuracy_validation_x, merged.accuracy_validation_y, rtol=1e-12)
    code, out, _ = run_cli(["report", str(varied_store), "--runs", "--format", "csv"], capsys)
    assert list(pd.read_csv(io.StringIO(out)).columns[:8]) == [
        "hidden_layers",
        "hidden_nodes",
        "learning_rate",
        *varied,
        "fold",
    ]


def test_report_figures_have_a_panel_per_recipe(varied_store, tmp_path, capsys):
    code, _, err = run_cli(["report", str(varied_store), "--figures", str(tmp_path)], capsys)
    assert code == 0, err
    from PIL import Image

    with Image.open(tmp_path / "heatmap.png") as heat, Image.open(tmp_path / "curves.png") as curves:
        assert heat.height > 2 * heat.width  # 8 recipes stacked (one panel is wider than high)
        assert curves.height > 2 * curves.width  # 8 rows of 2 panels


def test_refit_trains_the_best_configuration_with_its_recipe(varied_store, tmp_path, capsys):
    import shutil

    path = tmp_path / "r.sqlite"
    shutil.copy(varied_store, path)
    code, _out, err = run_cli(
        ["refit", str(path), "--out", str(tmp_path / "refit"), "--quiet", "--no-progress"], capsys
    )
    assert code == 0, err
    top = (
        raw_means(varied_store)
        .sort_values(["accuracy_validation", *KEYS], ascending=[False] + [True] * len(KEYS))
        .iloc[0]
    )
    net = MultilayerNeuralNetClassifier.load(tmp_path / "refit" / "model.npz")
    assert net.options == {k: top[k] for k in ["activation", "output", "loss", "init"]}
    assert net.layers == [64, *[top.hidden_nodes] * top.hidden_layers, 10]
    with Store.open(path) as store:
        refit = store.refits().iloc[-1]
    assert {k: refit[k] for k in KEYS} == {k: top[k] for k in KEYS}


def test_cli_refuses_heads_with_output_and_bad_pairs(tmp_path, capsys):
    path = tmp_path / "x.sqlite"
    for extra, message in [
        (["--heads", "softmax/mse", "--output", "softmax"], "either as --heads or"),
        (["--heads", "sigmoid/cross-entropy"], "choose one or more of sigmoid/mse"),  # only the pairs that train
        (["--activations", "sigmoid,swish"], "choose one or more of sigmoid"),
        (["--momentums", "0.5,1.5", "--optimizers", "momentum"], "momentum must be"),
        (["--dropouts", "x"], "not a comma-separated list of numbers"),
    ]:
        code, _out, err = run_cli(["tune", *BASE, *extra, "--store", str(path)], capsys)
        assert code != 0 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not path.exists()


# --------------------------------------------------------- format-1 stores
FORMAT_1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, hidden_layers INTEGER NOT NULL, hidden_nodes INTEGER NOT NULL,
    learning_rate REAL NOT NULL, fold INTEGER NOT NULL, init_seed INTEGER NOT NULL, batch_seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL, loss_training REAL, accuracy_training REAL, loss_validation REAL,
    accuracy_validation REAL, seconds REAL NOT NULL, group_size INTEGER NOT NULL, group_seconds REAL NOT NULL,
    finished_at TEXT NOT NULL, UNIQUE (hidden_layers, hidden_nodes, learning_rate, fold));
CREATE TABLE epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
    loss_training REAL, accuracy_training REAL, loss_validation REAL, accuracy_validation REAL, seconds REAL,
    PRIMARY KEY (run_id, epoch));
CREATE TABLE refits (
    id INTEGER PRIMARY KEY, hidden_layers INTEGER NOT NULL, hidden_nodes INTEGER NOT NULL,
    learning_rate REAL NOT NULL, epochs INTEGER NOT NULL, loss_training REAL, accuracy_training REAL,
    loss_test REAL, accuracy_test REAL, seconds REAL NOT NULL, model_path TEXT, finished_at TEXT NOT NULL);
"""


@pytest.mark.parametrize(
    "network, flags",
    [
        (None, []),
        (
            {"activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"},
            ["--activation", "relu", "--output", "softmax", "--loss", "cross-entropy", "--init", "he"],
        ),
    ],
)
def test_a_format_1_store_opens_resumes_reports_and_refits(tmp_path, capsys, network, flags):
    """A store as the code before this change wrote it (schema and fingerprint of format 1), half finished."""
    X_train, _, y_train, _ = digits()
    recipe = Recipe.of(network)  # the network recipe of every configuration of the grid
    grid = make_grid(
        [1],
        [8, 16],
        [0.5, 1],
        activations=[recipe.activation],
        heads=[(recipe.output, recipe.loss)],
        inits=[recipe.init],
    )
    kw = dict(
        dataset="digits", test_size=None, dtype="float64", seed=SEED, configs=grid, folds=2, epochs=2, batch_size=40
    )
    fresh = tmp_path / "fresh.sqlite"
    with Store.create_or_open(fresh, experiment_fingerprint(X_train, y_train, **kw)) as store:
        run_tune(
            store,
            X_train,
            y_train,
            grid,
            folds=2,
            epochs=2,
            batch_size=40,
            seed=SEED,
            workers=1,
            progress=False,
            echo=lambda *a: None,
        )
        runs, epochs = store.runs(), store.epochs()
    fp = experiment_fingerprint(X_train, y_train, **kw)
    fp = {k: v for k, v in fp.items() if k not in ARTICLE_RECIPE or (network and k in network)}  # as format 1 had it
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as conn:
        conn.executescript(FORMAT_1_SCHEMA)
        conn.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format", "scratchnet-tune"), ("format_version", "1"), ("fingerprint", json.dumps(fp, sort_keys=True))],
        )
        for i, r in runs[runs.fold == 0].reset_index(drop=True).iterrows():  # fold 0 done, fold 1 to do
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i + 1,
                    *(
                        r[c].item() if hasattr(r[c], "item") else r[c]
                        for c in [
                            "hidden_layers",
                            "hidden_nodes",
                            "learning_rate",
                            "fold",
                            "init_seed",
                            "batch_seed",
                            "epochs",
                            "loss_training",
                            "accuracy_training",
                            "loss_validation",
                            "accuracy_validation",
                            "seconds",
                            "group_size",
                            "group_seconds",
                            "finished_at",
                        ]
                    ),
                ),
            )
            mine = epochs[(epochs[KEYS] == r[KEYS]).all(axis=1) & (epochs.fold == 0)]
            conn.executemany(
                "INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i + 1,
                        int(e.epoch),
                        e.loss_training,
                        e.accuracy_training,
                        e.loss_validation,
                        e.accuracy_validation,
                        e.seconds,
                    )
                    for e in mine.itertuples()
                ],
            )
    with Store.open(old) as store:
        assert store.legacy and len(store.finished()) == 4
        recipe = {**ARTICLE_RECIPE, **(network or {})}  # the fingerprint's recipe fills the missing columns
        assert (store.runs()[list(recipe)] == pd.Series(recipe)).all().all()
    argv = ["tune", *BASE, *flags, "--store", str(old)]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "4 of 8 trainings to run" in out
    with Store.open(old) as a, Store.open(fresh) as b:
        pd.testing.assert_frame_equal(a.epochs().drop(columns="seconds"), b.epochs().drop(columns="seconds"))
        pd.testing.assert_frame_equal(
            # run metadata: times, and the first layer chosen (measured; the old store's rows predate it)
            a.runs().drop(columns=["seconds", "group_size", "group_seconds", "finished_at", "first_layer"]),
            b.runs().drop(columns=["seconds", "group_size", "group_seconds", "finished_at", "first_layer"]),
        )
    reports = [
        [
            line
            for line in run_cli(["report", str(p), "--no-figures"], capsys)[1].splitlines()[3:]
            if not line.startswith("Training time")
        ]
        for p in (old, fresh)
    ]
    assert reports[0] == reports[1] and "optimal parameters" in "\n".join(reports[0])  # but store line and times
    code, out, err = run_cli(["refit", str(old), "--out", str(tmp_path / "refit"), "--quiet", "--no-progress"], capsys)
    assert code == 0, err
    with Store.open(old) as store:
        refit = store.refits().iloc[-1]
    assert refit.activation == (network or ARTICLE_RECIPE)["activation"]
    with sqlite3.connect(old) as conn:  # still format 1: no column was added
        assert "activation" not in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}


# ------------------------------------------------------ optimiser dimensions
def test_optimiser_dimensions_train_each_network_with_its_options(tmp_path, capsys):
    path = tmp_path / "o.sqlite"
    code, out, err = run_cli(
        [
            "tune",
            *BASE,
            "--optimizers",
            "sgd,momentum,adam",
            "--momentums",
            "0.5,0.9",
            "--weight-decays",
            "0,0.001",
            "--schedules",
            "constant,cosine",
            "--dropouts",
            "0,0.2",
            "--store",
            str(path),
        ],
        capsys,
    )
    assert code == 0, err
    with Store.open(path) as store:
        runs, epochs = store.runs(), store.epochs()
    assert len(runs) == 2 * 2 * 4 * 2 * 2 * 2 * 2 and not runs.duplicated([*KEYS, "fold"]).any()

    def stored(config):
        return epochs[(epochs[KEYS] == pd.Series(config.row())).all(axis=1) & (epochs.fold == 1)]

    for config in [
        Config.of(1, 16, 0.5, optimizer="adam", weight_decay=0.001),
        Config.of(1, 8, 1.0, optimizer="momentum", momentum=0.5, schedule="cosine"),
    ]:
        hist = alone(config, 1)
        np.testing.assert_allclose(stored(config).loss_validation, hist.loss_test, rtol=1e-7)
    # dropout masks are the engine's own stream: a dropout network at least trains differently
    assert not np.allclose(
        stored(Config.of(1, 16, 0.5, dropout=0.2)).loss_validation, stored(Config(1, 16, 0.5)).loss_validation
    )
    code, out, err = run_cli(["report", str(path), "--no-figures"], capsys)
    assert code == 0 and "## optimizer adam, momentum 0.9, weight_decay 0.001, schedule cosine, dropout 0.2\n" in out


def test_refit_trains_with_the_best_options(tmp_path, capsys):
    path = tmp_path / "a.sqlite"
    argv = ["tune", *BASE, "--optimizer", "adam", "--refit", "--out", str(tmp_path / "refit"), "--store", str(path)]
    argv[argv.index("--hidden-nodes") + 1], argv[argv.index("--learning-rates") + 1] = "8", "0.01"
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "optimizer adam" in out
    X_train, X_test, y_train, y_test = digits()
    net = MultilayerNeuralNetClassifier([64, 8, 10], random_seed=SEED)
    best = MultilayerNeuralNetClassifier.load(tmp_path / "refit" / "model.npz")
    hist = train_reference(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=2,
        batch_size=40,
        learning_rate=0.01,
        seed=SEED,
        verbose=False,
        progress=False,
        optimizer="adam",
    )
    np.testing.assert_allclose(best.history.loss_test, hist.loss_test, rtol=1e-9)
    for a, b in zip(best.weights, net.weights):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)


@pytest.fixture
def engine_with_options(monkeypatch):
    """The real ``train_many``, watched: the ``options`` argument of each call is recorded."""
    import scratchnet.tuning

    calls = []
    real = scratchnet.tuning.train_many

    def train_many(*args, options=None, **kwargs):
        calls.append(options)
        return real(*args, options=options, **kwargs)

    monkeypatch.setattr(scratchnet.tuning, "train_many", train_many)
    return calls


def test_run_group_hands_the_engine_each_networks_options(engine_with_options):
    X_train, _, y_train, _ = digits()
    payload = {"X": X_train, "y": y_train, "folds": make_folds(y_train, 2, SEED)}
    settings = {"epochs": 2, "batch_size": 40, "seed": SEED, "n_classes": 10, "blas_threads": 1}
    plain = make_grid([1], [8], [0.5, 1.0], activations=["sigmoid", "relu"])
    run_group(payload, 0, plain, settings)
    assert engine_with_options == [[ARTICLE.training_options()] * len(plain)]  # the article's plain SGD, each
    mixed = make_grid(
        [1],
        [8],
        [0.5],
        optimizers=["sgd", "nesterov", "adam"],
        momentums=[0.5],
        weight_decays=[0, 0.01],
        dropouts=[0, 0.25],
        schedules=["step"],
    )
    results = run_group(payload, 1, mixed, settings)
    assert engine_with_options[1] == [c.recipe.training_options() for c in mixed] and len(mixed) == 12
    for r, config in zip(results, mixed):
        hist = alone(config, 1)
        np.testing.assert_allclose(r["history"]["loss_validation"], hist.loss_test, rtol=1e-10)


def test_cli_optimiser_grid_store_report_and_refit(engine_with_options, tmp_path, capsys):
    path = tmp_path / "o.sqlite"
    argv = [
        "tune",
        *BASE,
        "--optimizers",
        "sgd,adam",
        "--dropouts",
        "0,0.2",
        "--store",
        str(path),
        "--refit",
        "--out",
        str(tmp_path / "refit"),
    ]
    argv[argv.index("--learning-rates") + 1] = "0.01,0.5"
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "recipe optimizer [adam, sgd], dropout [0, 0.2]" in out
    with Store.open(path) as store:
        runs, fp, refit = store.runs(), store.fingerprint, store.refits().iloc[-1]
    assert len(runs) == 2 * 2 * 2 * 2 * 2 and fp["optimizer"] == ["adam", "sgd"] and fp["dropout"] == [0.0, 0.2]
    top = raw_means(path).sort_values(["accuracy_validation", *KEYS], ascending=[False] + [True] * len(KEYS)).iloc[0]
    assert {k: refit[k] for k in KEYS} == {k: top[k] for k in KEYS}
    code, out, err = run_cli(["report", str(path), "--no-figures"], capsys)
    for heading in [
        "## optimizer adam, dropout 0",
        "## optimizer adam, dropout 0.2",
        "## optimizer sgd, dropout 0",
        "## optimizer sgd, dropout 0.2",
    ]:
        assert heading + "\n" in out
    assert f"optimizer={top.optimizer}, dropout={top.dropout:g}" in out
