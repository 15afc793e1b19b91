"""Grid search: store, grouping, resume after SIGKILL, Dask = local, report, refit, refusals."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scratchnet.cli import load_split, main
from scratchnet.store import Store, StoreError
from scratchnet.tuning import (
    Config,
    batch_seed,
    experiment_fingerprint,
    init_seed,
    make_folds,
    make_grid,
    make_groups,
    run_tune,
)

SRC = str(Path(__file__).resolve().parents[1] / "src")
# a tiny grid on the bundled digits: 2 × 2 × 2 configurations × 3 folds = 24 trainings of 3 epochs
GRID = [
    "--hidden-layers",
    "1,2",
    "--hidden-nodes",
    "8,16",
    "--learning-rates",
    "0.5,2",
    "--folds",
    "3",
    "--epochs",
    "3",
    "--batch-size",
    "50",
    "--seed",
    "7",
    "--dataset",
    "digits",
]
SETTINGS = {"folds": 3, "epochs": 3, "batch_size": 50, "seed": 7}


def run_cli(argv, capsys):
    """Run ``scratchnet argv`` in-process: ``(exit code, stdout, stderr)``."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def digits_split():
    return load_split("digits", None, None, SETTINGS["seed"], "float64")


def grid_configs():
    return make_grid([1, 2], [8, 16], [0.5, 2.0])


def new_store(path, X_train, y_train):
    fp = experiment_fingerprint(
        X_train,
        y_train,
        dataset="digits",
        test_size=None,
        dtype="float64",
        seed=SETTINGS["seed"],
        configs=grid_configs(),
        folds=SETTINGS["folds"],
        epochs=SETTINGS["epochs"],
        batch_size=SETTINGS["batch_size"],
    )
    return Store.create_or_open(path, fp)


def stored_epochs(path):
    """Every stored epoch without the timings, in a canonical order."""
    with Store.open(path) as store:
        return store.epochs().drop(columns="seconds")


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    """The tiny grid run through, locally, one worker, one job per fold."""
    path = tmp_path_factory.mktemp("tune") / "tune.sqlite"
    X_train, _, y_train, _ = digits_split()
    with new_store(path, X_train, y_train) as store:
        run_tune(
            store,
            X_train,
            y_train,
            grid_configs(),
            workers=1,
            blas_threads=1,
            progress=False,
            echo=lambda *a: None,
            **SETTINGS,
        )
    return path


# ------------------------------------------------------------------ pieces
def test_grid_is_the_article_default_product():
    configs = make_grid([1, 2, 3], [10, 20, 30, 40, 50], [0.1, 0.2, 0.3])
    assert len(configs) == 45 and len(set(configs)) == 45
    assert configs[0] == Config(1, 10, 0.1) and configs[-1] == Config(3, 50, 0.3)


def test_seeds_depend_only_on_seed_config_and_fold():
    a, b = Config(2, 30, 0.1), Config(2, 30, 0.3)
    assert init_seed(1, a, 0) == init_seed(1, b, 0)  # learning rates of a cell start alike
    assert len({init_seed(1, a, f) for f in range(6)}) == 6
    assert init_seed(1, a, 0) != init_seed(2, a, 0) != init_seed(1, Config(1, 30, 0.1), 0)
    assert batch_seed(1, 0) == batch_seed(1, 0) != batch_seed(1, 1) != batch_seed(2, 1)


def test_folds_are_stratified_partitions_of_the_training_part():
    _, _, y_train, _ = digits_split()
    folds = make_folds(y_train, 3, 7)
    val = np.concatenate([v for _, v in folds])
    assert np.array_equal(np.sort(val), np.arange(len(y_train)))
    for train, v in folds:
        assert not set(train) & set(v)
        share = np.bincount(y_train[v], minlength=10) / np.bincount(y_train, minlength=10)
        assert np.all(np.abs(share - 1 / 3) < 0.05)
    with pytest.raises(ValueError, match="fewer --folds"):
        make_folds(np.array([0, 0, 0, 1, 1, 1, 1]), 4, 0)


@pytest.mark.parametrize(
    "workers, group_size, n_folds, expected_groups",
    [
        (1, None, 6, 6),
        (2, None, 6, 6),
        (2, None, 3, 6),
        (4, None, 6, 12),
        (1, 4, 6, 6 * 12),
        (2, 45, 6, 6),
    ],
)
def test_groups_cover_each_training_once_and_balance_workers(workers, group_size, n_folds, expected_groups):
    configs = make_grid([1, 2, 3], [10, 20, 30, 40, 50], [0.1, 0.2, 0.3])
    pending = [(c, f) for f in range(n_folds) for c in configs]
    groups = make_groups(pending, workers, group_size, 784, 10)
    assert len(groups) == expected_groups
    flat = [(c, f) for f, cs in groups for c in cs]
    assert sorted(flat) == sorted(pending)
    if group_size:
        assert max(len(cs) for _, cs in groups) <= group_size
    if group_size is None and workers > 1:  # the work of a round of groups is spread evenly
        costs = sorted(
            sum(
                sum(
                    a * b
                    for a, b in zip(
                        [784, *[c.hidden_nodes] * c.hidden_layers], [*[c.hidden_nodes] * c.hidden_layers, 10]
                    )
                )
                for c in cs
            )
            for _, cs in groups
        )
        assert costs[-1] / costs[0] < 1.3


# ----------------------------------------------------------- determinism
def test_results_do_not_depend_on_grouping(local_store, tmp_path):
    X_train, _, y_train, _ = digits_split()
    with new_store(tmp_path / "g.sqlite", X_train, y_train) as store:
        run_tune(
            store,
            X_train,
            y_train,
            grid_configs(),
            workers=1,
            blas_threads=1,
            group_size=3,
            progress=False,
            echo=lambda *a: None,
            **SETTINGS,
        )
    pd.testing.assert_frame_equal(stored_epochs(tmp_path / "g.sqlite"), stored_epochs(local_store))


def test_cli_local_processes_equal_single_process(local_store, tmp_path, capsys):
    path = tmp_path / "p.sqlite"
    code, out, err = run_cli(
        [
            "tune",
            *GRID,
            "--store",
            str(path),
            "--workers",
            "2",
            "--group-size",
            "5",
            "--blas-threads",
            "1",
            "--no-progress",
        ],
        capsys,
    )
    assert code == 0, err
    assert "2 local workers" in out and "24 of 24" in out
    pd.testing.assert_frame_equal(stored_epochs(path), stored_epochs(local_store))
    with Store.open(path) as store:
        runs = store.runs()
    assert len(runs) == 24 and (runs["epochs"] == 3).all() and (runs["seconds"] > 0).all()
    assert sorted(runs.groupby(["fold", "group_seconds"]).size()) == [4] * 6  # 8 configs cut into 2 even jobs of ≤ 5
    groups = runs.groupby(["fold", "group_seconds"])
    np.testing.assert_allclose(groups["seconds"].sum(), groups["group_seconds"].first())  # shares add up


def test_dask_localcluster_equals_local_to_the_last_digit(local_store, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    X_train, _, y_train, _ = digits_split()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
        new_store(tmp_path / "d.sqlite", X_train, y_train) as store,
    ):
        summary = run_tune(
            store,
            X_train,
            y_train,
            grid_configs(),
            executor="dask",
            client=client,
            blas_threads=1,
            progress=False,
            echo=lambda *a: None,
            **SETTINGS,
        )
        ran_on = set(client.run(os.getpid).values())
    assert summary["trained"] == 24 and len(ran_on) == 2
    dask_epochs, local_epochs = stored_epochs(tmp_path / "d.sqlite"), stored_epochs(local_store)
    assert len(dask_epochs) == 24 * 3
    pd.testing.assert_frame_equal(dask_epochs, local_epochs, check_exact=True)


# ---------------------------------------------------------------- resume
@pytest.mark.slow
def test_resume_after_sigkill_trains_each_config_fold_once(local_store, tmp_path, capsys):
    path = tmp_path / "killed.sqlite"
    # one configuration per job and more epochs than the fixture, so the run is still going when killed
    argv = [
        "tune",
        *GRID,
        "--store",
        str(path),
        "--workers",
        "1",
        "--group-size",
        "1",
        "--blas-threads",
        "1",
        "--no-progress",
    ]
    argv[argv.index("--epochs") + 1] = "6"
    argv[argv.index("--batch-size") + 1] = "20"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchnet", *argv],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    committed = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists():
                try:
                    with sqlite3.connect(path) as conn:
                        committed = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
                except sqlite3.OperationalError:  # the schema is being created
                    committed = 0
                if committed >= 3:
                    break
            time.sleep(0.02)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, like a machine dying
        proc.wait()
    with sqlite3.connect(path) as conn:
        before = conn.execute(
            "SELECT hidden_layers, hidden_nodes, learning_rate, fold, accuracy_validation, finished_at FROM runs"
        ).fetchall()
    assert 3 <= len(before) < 24
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert f"{24 - len(before)} of 24 trainings to run" in out
    with sqlite3.connect(path) as conn:
        after = conn.execute(
            "SELECT hidden_layers, hidden_nodes, learning_rate, fold, accuracy_validation, finished_at FROM runs"
        ).fetchall()
        per_run = conn.execute("SELECT COUNT(*) FROM epochs GROUP BY run_id").fetchall()
        keys = conn.execute(
            "SELECT COUNT(*) FROM runs GROUP BY hidden_layers, hidden_nodes, learning_rate, fold"
        ).fetchall()
    assert set(before) <= set(after)  # nothing committed before the kill was lost or redone
    assert len(after) == 24 and keys == [(1,)] * 24 and per_run == [(6,)] * 24
    # the same as an uninterrupted run
    X_train, _, y_train, _ = digits_split()
    fp = experiment_fingerprint(
        X_train,
        y_train,
        dataset="digits",
        test_size=None,
        dtype="float64",
        seed=7,
        configs=grid_configs(),
        folds=3,
        epochs=6,
        batch_size=20,
    )
    with Store.create_or_open(tmp_path / "whole.sqlite", fp) as store:
        run_tune(
            store,
            X_train,
            y_train,
            grid_configs(),
            folds=3,
            epochs=6,
            batch_size=20,
            seed=7,
            workers=1,
            blas_threads=1,
            progress=False,
            echo=lambda *a: None,
        )
    pd.testing.assert_frame_equal(stored_epochs(path), stored_epochs(tmp_path / "whole.sqlite"))
    code, out, _ = run_cli(argv, capsys)  # a finished store: nothing left to do
    assert code == 0 and "all 24 trainings are already in" in out


@pytest.mark.slow
def test_sigkill_of_the_parent_stops_its_worker_processes(tmp_path):
    path = tmp_path / "orphans.sqlite"
    argv = [
        "tune",
        *GRID,
        "--store",
        str(path),
        "--workers",
        "2",
        "--group-size",
        "1",
        "--blas-threads",
        "1",
        "--no-progress",
    ]
    argv[argv.index("--epochs") + 1] = "30"
    argv[argv.index("--batch-size") + 1] = "10"
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchnet", *argv],
        env={**os.environ, "PYTHONPATH": SRC},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def group():
        return subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True).stdout.split()

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and len(group()) < 3:
            time.sleep(0.1)  # until the worker processes are up
        time.sleep(1.0)
        assert proc.poll() is None and len(group()) >= 3
        proc.kill()  # SIGKILL to the parent only, as `kill -9 PID`
        proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and group():
            time.sleep(0.2)
        assert not group(), "worker processes kept running after their parent was killed"
    finally:
        if group():
            os.killpg(proc.pid, signal.SIGKILL)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] < 24


# ---------------------------------------------------------------- report
def raw_means(path):
    with sqlite3.connect(path) as conn:
        raw = pd.read_sql_query(
            "SELECT hidden_layers, hidden_nodes, learning_rate, fold, accuracy_validation FROM runs", conn
        )
    return raw.groupby(["hidden_layers", "hidden_nodes", "learning_rate"])["accuracy_validation"].mean()


def test_report_equals_pandas_recomputation_from_raw_rows(local_store, tmp_path, capsys):
    code, out, err = run_cli(["report", str(local_store), "--format", "csv", "--no-figures"], capsys)
    assert code == 0, err
    table = pd.read_csv(io.StringIO(out)).set_index(["hidden_layers", "hidden_nodes", "learning_rate"])
    expected = raw_means(local_store)
    assert (table["folds"] == 3).all()
    np.testing.assert_allclose(table["accuracy_validation"].sort_index(), expected.sort_index(), rtol=1e-12)

    code, out, err = run_cli(["report", str(local_store), "--figures", str(tmp_path / "fig")], capsys)
    assert code == 0, err
    best_cell = expected.groupby(level=["hidden_layers", "hidden_nodes"]).max().unstack()
    for layers, row in best_cell.iterrows():
        line = f"| {layers} | " + " | ".join(f"{v:.6f}" for v in row) + " |"
        assert line in out  # the article's table: best learning rate per cell
    ranked = (
        expected.reset_index()
        .sort_values(
            ["accuracy_validation", "hidden_layers", "hidden_nodes", "learning_rate"],
            ascending=[False, True, True, True],
        )
        .iloc[0]
    )
    assert (
        f"optimal parameters: n_hidden_layers={int(ranked.hidden_layers)}, n_hidden_nodes={int(ranked.hidden_nodes)}, "
        f"learning rate={ranked.learning_rate:g}"
    ) in out
    assert f"best mean cross validation accuracy: {ranked.accuracy_validation:.6f}" in out
    assert "### learning rate 0.5" in out and "### learning rate 2" in out
    assert (tmp_path / "fig" / "heatmap.png").stat().st_size > 0
    assert (tmp_path / "fig" / "curves.png").stat().st_size > 0


def test_report_runs_lists_every_training_with_its_final_epoch(local_store, capsys):
    code, out, err = run_cli(["report", str(local_store), "--runs", "--format", "csv"], capsys)
    assert code == 0, err
    runs = pd.read_csv(io.StringIO(out))
    assert {
        "hidden_layers",
        "hidden_nodes",
        "learning_rate",
        "fold",
        "accuracy_validation",
        "loss_validation",
        "accuracy_training",
        "loss_training",
        "seconds",
    } <= set(runs.columns)
    assert len(runs) == 24
    with Store.open(local_store) as store:
        last = store.epochs().query("epoch == 2").reset_index(drop=True)
    np.testing.assert_array_equal(runs["accuracy_validation"], last["accuracy_validation"])
    np.testing.assert_array_equal(runs["loss_training"], last["loss_training"])
    code, out, _ = run_cli(["report", str(local_store), "--runs"], capsys)
    assert out.startswith("| hidden_layers | hidden_nodes | learning_rate | fold |") and out.count("\n") == 26


def test_incomplete_store_reports_only_complete_configurations(tmp_path, capsys):
    X_train, _, y_train, _ = digits_split()
    path = tmp_path / "part.sqlite"
    with new_store(path, X_train, y_train) as store:
        run_tune(
            store, X_train, y_train, grid_configs()[:2], workers=1, progress=False, echo=lambda *a: None, **SETTINGS
        )
    with sqlite3.connect(path) as conn:  # (1, 8, 2.0) keeps only fold 0
        conn.execute("DELETE FROM runs WHERE learning_rate = 2.0 AND fold > 0")
    code, out, _ = run_cli(["report", str(path), "--no-figures"], capsys)
    assert code == 0 and "4 of 24 trainings finished" in out and "**Incomplete**" in out
    assert "### learning rate 0.5" in out and "### learning rate 2" not in out
    assert "optimal parameters: n_hidden_layers=1, n_hidden_nodes=8, learning rate=0.5" in out


# ---------------------------------------------------------------- refusals
def test_mismatched_store_is_refused_unless_new(local_store, tmp_path, capsys):
    path = tmp_path / "m.sqlite"
    assert run_cli(["tune", *GRID, "--store", str(path), "--workers", "1", "--no-progress"], capsys)[0] == 0
    argv = ["tune", *GRID, "--store", str(path), "--workers", "1", "--no-progress"]
    argv[argv.index("--seed") + 1] = "8"
    argv[argv.index("--learning-rates") + 1] = "0.5,1"
    code, out, err = run_cli(argv, capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: store ")
    assert "belongs to another experiment" in err and "seed=7" in err and "seed=8" in err
    assert "learning_rates=[0.5, 2.0]" in err and "--new" in err
    with Store.open(path) as store:
        assert len(store.runs()) == 24  # untouched
    code, out, err = run_cli([*argv, "--new"], capsys)
    assert code == 0, err
    with Store.open(path) as store:
        assert store.fingerprint["seed"] == 8 and sorted(store.runs()["learning_rate"].unique()) == [0.5, 1.0]


def test_store_refuses_other_data(local_store):
    X_train, _, y_train, _ = digits_split()
    X_other = X_train.copy()
    X_other[0, 0] += 0.5
    fp = experiment_fingerprint(
        X_other,
        y_train,
        dataset="digits",
        test_size=None,
        dtype="float64",
        seed=7,
        configs=grid_configs(),
        folds=3,
        epochs=3,
        batch_size=50,
    )
    with pytest.raises(StoreError, match="data_sha256"):
        Store.create_or_open(local_store, fp)


@pytest.mark.parametrize("content", [b"hello, not a database\n" * 50, None])
def test_a_file_that_is_not_a_store_is_refused_in_one_line(tmp_path, capsys, content):
    path = tmp_path / "foreign.sqlite"
    if content is None:  # an SQLite database of something else
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE people (name TEXT)")
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    for command in (["report", str(path)], ["refit", str(path)], ["tune", *GRID, "--store", str(path), "--new"]):
        code, _out, err = run_cli(command, capsys)
        assert code == 1 and err.count("\n") == 1 and "is not a scratchnet store" in err, err
    assert path.read_bytes() == before  # never overwritten, even with --new


def test_missing_store_is_an_error_and_not_created(tmp_path, capsys):
    code, _, err = run_cli(["report", str(tmp_path / "nope.sqlite")], capsys)
    assert code == 1 and "does not exist" in err and not (tmp_path / "nope.sqlite").exists()


# ----------------------------------------------------------------- refit
def test_refit_is_the_train_command_with_the_best_configuration(local_store, tmp_path, capsys):
    import shutil

    from scratchnet.network import MultilayerNeuralNetClassifier

    store_copy = tmp_path / "r.sqlite"
    shutil.copy(local_store, store_copy)
    code, out, err = run_cli(["refit", str(store_copy), "--out", str(tmp_path / "refit"), "--no-progress"], capsys)
    assert code == 0, err
    lines = [l for l in out.splitlines() if l.startswith("epoch ")]
    assert len(lines) == 3 and lines[0].startswith("epoch 0: loss_training=")
    assert "hold-out accuracy" in out
    with Store.open(store_copy) as store:
        refit = store.refits().iloc[-1]
    ranked = raw_means(local_store).sort_values(ascending=False)
    assert (refit.hidden_layers, refit.hidden_nodes, refit.learning_rate) == ranked.index[0]
    hidden = ",".join([str(refit.hidden_nodes)] * int(refit.hidden_layers))
    code, out, err = run_cli(
        [
            "train",
            "--dataset",
            "digits",
            "--seed",
            "7",
            "--hidden",
            hidden,
            "--epochs",
            "3",
            "--batch-size",
            "50",
            "--learning-rate",
            f"{refit.learning_rate}",
            "--quiet",
            "--out",
            str(tmp_path / "train"),
        ],
        capsys,
    )
    assert code == 0, err
    a = MultilayerNeuralNetClassifier.load(tmp_path / "refit" / "model.npz")
    b = MultilayerNeuralNetClassifier.load(tmp_path / "train" / "model.npz")
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(wa, wb)
    assert refit.accuracy_test == pytest.approx(b.history.accuracy_test.iloc[-1], abs=0)
    code, out, _ = run_cli(["report", str(store_copy), "--no-figures"], capsys)
    assert "## Refit on all training samples" in out


# ------------------------------------------------------------- reproduce
@pytest.mark.slow
def test_reproduce_writes_every_step_and_resumes(tmp_path, capsys, monkeypatch):
    from scratchnet import reproduce

    tiny = {
        "dataset": "digits",
        "hidden": [16],
        "run10": {"epochs": 2, "batch_size": 50, "learning_rate": 1.0},
        "run100": {"epochs": 3, "batch_size": 50, "learning_rate": 1.0},
        "grid": {
            "hidden_layers": [1],
            "hidden_nodes": [8, 16],
            "learning_rates": [1.0],
            "folds": 2,
            "epochs": 2,
            "batch_size": 50,
        },
    }
    monkeypatch.setitem(reproduce.PLANS, "quick", tiny)
    argv = ["reproduce", "--quick", "--out", str(tmp_path), "--workers", "1", "--no-progress"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "Gradients look in order!" in out and "hold-out accuracy" in out
    report = (tmp_path / "REPORT.md").read_text()
    for heading in [
        "## 1. Gradient check",
        "## 2. Data",
        "## 3. Training",
        "## 4. Hyperparameter tuning",
        "## 5. Final model",
        "best mean cross validation accuracy",
        "0.944",
        "0.905217",
    ]:
        assert heading in report
    for figure in [
        "run10/digits.png",
        "run10/loss.png",
        "run10/accuracy.png",
        "run100/accuracy.png",
        "heatmap.png",
        "curves.png",
        "refit/accuracy.png",
    ]:
        assert f"({figure})" in report and (tmp_path / figure).stat().st_size > 0
    with Store.open(tmp_path / "tune.sqlite") as store:
        assert len(store.runs()) == 4 and len(store.refits()) == 1
        refit = store.refits().iloc[0]
    assert f"| accuracy_test | {refit.accuracy_test:.4f} |" in report
    code, out, err = run_cli(argv, capsys)  # again: every step is reused
    assert code == 0, err
    assert out.count("reusing") == 3 and "all 4 trainings are already in" in out
    with Store.open(tmp_path / "tune.sqlite") as store:
        assert len(store.runs()) == 4 and len(store.refits()) == 1


def test_default_and_explicit_test_size_are_the_same_experiment(local_store, tmp_path):
    X_train, _, y_train, _ = digits_split()
    kwargs = dict(dataset="digits", dtype="float64", seed=7, configs=grid_configs(), folds=3, epochs=3, batch_size=50)
    assert experiment_fingerprint(X_train, y_train, test_size=None, **kwargs) == experiment_fingerprint(
        X_train, y_train, test_size=0.2, **kwargs
    )


def test_progress_counts_every_epoch_once():
    from scratchnet.tuning import _Progress, make_folds, run_group

    X_train, _, y_train, _ = digits_split()
    payload = {"X": X_train, "y": y_train, "folds": make_folds(y_train, 3, 7)}
    ticks = []
    settings = {"epochs": 4, "batch_size": 50, "seed": 7, "n_classes": 10, "blas_threads": 1}
    results = run_group(payload, 1, grid_configs()[:3], settings, ticks.append)
    assert ticks == [3, 3, 3, 3] and len(results) == 3

    class Bar:
        n, total = 8, 40  # 2 of 10 trainings of 4 epochs were done before

        def update(self, k):
            self.n += k

    bar = Bar()
    shown = _Progress(bar, 4)
    shown.finished(2)  # a group's result arrives before its epoch reports
    assert bar.n == 16
    for _ in range(4):
        shown.tick(2)  # the late reports do not count twice
    assert bar.n == 16
    shown.tick(3)
    assert bar.n == 19
    shown.finished(8)
    shown.tick(100)
    assert bar.n == 40


def test_a_damaged_store_is_refused_but_can_be_started_over(local_store, tmp_path, capsys):
    import shutil

    path = tmp_path / "old.sqlite"
    shutil.copy(local_store, path)
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN group_size")
    code, _, err = run_cli(["report", str(path)], capsys)
    assert code == 1 and "damaged or pre-release scratchnet store" in err and "group_size" in err
    code, _out, err = run_cli(["tune", *GRID, "--store", str(path), "--new", "--workers", "1", "--no-progress"], capsys)
    assert code == 0, err
    pd.testing.assert_frame_equal(stored_epochs(path), stored_epochs(local_store))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--scheduler", "tcp://127.0.0.1:8786"], "needs --executor dask"),
        (["--batch-size", "2000"], "larger than the 958 training samples of a fold"),
        (["--folds", "1"], "--folds"),
        (["--learning-rates", "0.1,-1"], "finite numbers > 0"),
    ],
)
def test_bad_tune_options_are_one_line_errors(tmp_path, capsys, extra, message):
    code, _out, err = run_cli(["tune", *GRID, "--store", str(tmp_path / "s.sqlite"), *extra], capsys)
    assert code != 0 and err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "s.sqlite").exists()


def test_progress_poll_skips_temporary_and_vanished_count_files(tmp_path, monkeypatch):
    from pathlib import Path

    from scratchnet.tuning import _reported_epochs

    (tmp_path / "101").write_text("40")
    (tmp_path / "102").write_text("5")
    (tmp_path / "102.tmp").write_text("7")  # being written: renamed to 102 next
    (tmp_path / "103").write_text("")
    assert _reported_epochs(tmp_path) == 45
    real = Path.read_text

    def vanished(self, *args, **kwargs):  # 101 is replaced between the listing and the read
        if self.name == "101":
            raise FileNotFoundError(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", vanished)
    assert _reported_epochs(tmp_path) == 5


def test_dask_worker_killed_mid_grid_costs_only_its_job(tmp_path, monkeypatch):
    """A worker process SIGKILLed while it trains: its job is rerun on another worker; every training once."""
    import signal
    import threading
    import time

    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    X_train, _, y_train, _ = digits_split()
    settings = {**SETTINGS, "epochs": 25, "batch_size": 20}
    with new_store(tmp_path / "l.sqlite", X_train, y_train) as store:
        run_tune(store, X_train, y_train, grid_configs(), workers=1, blas_threads=1, progress=False,
                 echo=lambda *a: None, **settings)  # fmt: skip
    killed = []
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
        new_store(tmp_path / "d.sqlite", X_train, y_train) as store,
    ):
        pids = client.run(os.getpid)

        def kill_a_busy_worker():
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = [w for w, keys in client.processing().items() if any("run_group" in str(k) for k in keys)]
                if busy and store.conn is not None:
                    time.sleep(0.3)  # mid-job
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker)
        killer.start()
        summary = run_tune(store, X_train, y_train, grid_configs(), executor="dask", client=client, group_size=1,
                           blas_threads=1, progress=False, echo=lambda *a: None, **settings)  # fmt: skip
        killer.join()
    assert killed, "no worker was killed"
    assert summary["trained"] == 24
    with Store.open(tmp_path / "d.sqlite") as done:
        runs = done.runs()
    assert len(runs) == 24 and not runs.duplicated(["hidden_layers", "hidden_nodes", "learning_rate", "fold"]).any()
    pd.testing.assert_frame_equal(stored_epochs(tmp_path / "d.sqlite"), stored_epochs(tmp_path / "l.sqlite"),
                                  check_exact=True)  # fmt: skip


def test_each_training_is_committed_the_moment_it_finishes(tmp_path):
    """A training that diverges is committed in the epoch it diverged, before its group ends; a local worker
    (``commit`` = the store's path) commits by itself, what the caller gets back is already in the store."""
    from scratchnet.tuning import run_group

    X_train, _, y_train, _ = digits_split()
    payload = {"X": X_train, "y": y_train, "folds": make_folds(y_train, 3, 7)}
    settings = {"epochs": 4, "batch_size": 50, "seed": 7, "n_classes": 10, "blas_threads": 1}
    configs = make_grid([1], [8], [0.5, 1e300], activations=["relu"], heads=[("softmax", "cross_entropy")])
    events = []
    results = run_group(payload, 0, configs, settings, lambda n: events.append(("epoch", n)),
                        lambda rs: events.append(("commit", [r["learning_rate"] for r in rs])))  # fmt: skip
    assert events == [("epoch", 1), ("commit", [1e300]), ("epoch", 1), ("epoch", 1), ("epoch", 1), ("commit", [0.5])]
    assert [r["diverged_epoch"] for r in results] == [None, 0]
    with new_store(tmp_path / "w.sqlite", X_train, y_train) as store:
        results = run_group(payload, 1, grid_configs()[:2], settings, None, str(store.path))
        assert store.finished() == {(Config.from_row(r), 1) for r in results}
        assert store.add_runs(results) == 0  # the caller's commit keeps the worker's rows as they are


def test_a_job_killed_while_writing_its_checkpoints_goes_on_together_from_the_epoch_all_share(tmp_path):
    """A kill between two trainings' checkpoint writes leaves one at epoch 4 (and its previous at 2), the others at
    2: the job resumes all from 2, together (trained apart, the stacked products' widths and last bits change)."""
    from scratchnet.engine import train_many
    from scratchnet.tuning import _networks, _resumed_networks, checkpoint_name, forget_checkpoint, write_checkpoint

    X, _, y, _ = digits_split()
    configs = make_grid([1], [8, 16], [0.5, 1.0])
    nets = _networks(configs, 0, 7, X.shape[1], 10, X.dtype)
    paths = [tmp_path / checkpoint_name(c, 0) for c in configs]
    train_many(nets, X[:200], y[:200], None, None, epochs=2, batch_size=20, learning_rates=0.5, seed=1)
    for net, path in zip(nets, paths):
        write_checkpoint(path, net, {"first_layer": "dense"})
    train_many(nets[:1], X[:200], y[:200], None, None, epochs=2, batch_size=20, learning_rates=0.5, seed=1)
    write_checkpoint(paths[0], nets[0], {"first_layer": "dense"})  # killed here: the others stay at epoch 2
    fresh = _networks(configs, 0, 7, X.shape[1], 10, X.dtype)
    layers = {}
    resumed = _resumed_networks(fresh, configs, 0, str(tmp_path), 10, layers)
    assert [net.epochs_trained for net in resumed] == [2, 2, 2, 2] and layers == dict.fromkeys(range(4), "dense")
    forget_checkpoint(paths[1])  # one training has no checkpoint at all: every one starts again
    assert [net.epochs_trained for net in _resumed_networks(fresh, configs, 0, str(tmp_path), 10, {})] == [0] * 4
    for path in paths:
        forget_checkpoint(path)
    assert not list(tmp_path.iterdir())
