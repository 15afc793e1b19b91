"""Successive halving (``tune --search halving``): rungs, hot start = uninterrupted training, promotions, the store's
rungs and claims, resume after SIGKILL, Dask = local, report and refit."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from scratchnet.cli import load_split, main
from scratchnet.grid import halving_plan, halving_rungs, rung_sizes
from scratchnet.report import config_means, promoted, ranking
from scratchnet.store import Claims, Store
from scratchnet.tuning import Config, experiment_fingerprint, make_grid, run_tune

SRC = str(Path(__file__).resolve().parents[1] / "src")
SEED, FOLDS, EPOCHS, BATCH = 7, 3, 9, 50
# 8 configurations × 3 folds on digits; rungs of 1, 3 and 9 epochs keep 8, 3 and 1 configurations
HALVING = {"min_epochs": 1, "factor": 3}


def digits_split():
    return load_split("digits", None, None, SEED, "float64")


def configs(**recipe):
    return make_grid([1, 2], [8, 16], [0.5, 2.0], **recipe)


def new_store(path, grid, epochs=EPOCHS, halving=True):
    X_train, _, y_train, _ = digits_split()
    fp = experiment_fingerprint(
        X_train,
        y_train,
        dataset="digits",
        test_size=None,
        dtype="float64",
        seed=SEED,
        configs=grid,
        folds=FOLDS,
        epochs=epochs,
        batch_size=BATCH,
    )
    if halving:
        fp.update(search="halving", **HALVING)
    return Store.create_or_open(path, fp)


def tune(store, grid, epochs=EPOCHS, halving=True, **kwargs):
    X_train, _, y_train, _ = digits_split()
    options = {"search": "halving", **HALVING} if halving else {}
    return run_tune(
        store,
        X_train,
        y_train,
        grid,
        folds=FOLDS,
        epochs=epochs,
        batch_size=BATCH,
        seed=SEED,
        blas_threads=1,
        progress=False,
        echo=lambda *a: None,
        **{"workers": 1, **options, **kwargs},
    )


def rung_rows(path):
    """The stored rungs without timings and states, in a canonical order."""
    with Store.open(path) as store:
        return store.rung_runs().drop(columns=["seconds", "group_size", "group_seconds", "finished_at"])


def stored_epochs(path):
    with Store.open(path) as store:
        return store.epochs().drop(columns="seconds")


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    """The small grid by successive halving with momentum, a step schedule and dropout (state that must carry over)."""
    grid = configs(optimizers=["momentum"], schedules=["step"], dropouts=[0.1])
    path = tmp_path_factory.mktemp("halving") / "h.sqlite"
    with new_store(path, grid) as store:
        summary = tune(store, grid)
    return path, grid, summary


def test_rungs_and_their_sizes():
    assert halving_rungs(250, 10, 3) == [10, 30, 90, 250]  # the last rung capped at the epochs
    assert rung_sizes(45, 3, 4) == [45, 15, 5, 2]  # the article's grid
    assert halving_rungs(250, 250, 3) == [250]  # one rung: the grid
    assert halving_rungs(9, 1, 3) == [1, 3, 9]
    assert rung_sizes(8, 3, 3) == [8, 3, 1]


def test_each_rung_trains_only_its_survivors_once_and_hot_starts(halved):
    path, _, summary = halved
    rows = rung_rows(path)
    assert rows.groupby("rung").size().to_dict() == {0: 8 * FOLDS, 1: 3 * FOLDS, 2: 1 * FOLDS}
    assert rows.groupby("rung")["epochs"].unique().map(list).to_dict() == {0: [1], 1: [3], 2: [9]}
    # never trained from zero: the epochs trained are the rungs' differences, 8·3·1 + 3·3·2 + 1·3·6 = 60
    assert summary["epochs"] == 60 and summary["trained"] == 36
    with Store.open(path) as store:  # the last rung alone is in runs: report and refit read it as a grid
        assert len(store.runs()) == FOLDS and set(store.runs()["epochs"]) == {EPOCHS}
        states = store.conn.execute("SELECT rung, COUNT(state) FROM rungs GROUP BY rung").fetchall()
    assert states == [(0, 8 * FOLDS), (1, 3 * FOLDS), (2, 0)]  # the last rung needs no state to go on from


def test_promotions_are_the_best_third_by_mean_cv_accuracy(halved):
    path, _, _ = halved
    rows = rung_rows(path)
    for rung, keep in ((0, 3), (1, 1)):
        here = rows[rows["rung"] == rung]
        means = here.groupby(["hidden_layers", "hidden_nodes", "learning_rate"])["accuracy_validation"].mean()
        expected = set(means.sort_values(ascending=False, kind="stable").index[:keep])
        nxt = rows[rows["rung"] == rung + 1]
        assert set(map(tuple, nxt[["hidden_layers", "hidden_nodes", "learning_rate"]].drop_duplicates().values)) == (
            expected
        )


def test_hot_start_equals_an_uninterrupted_training(halved, tmp_path):
    """Every rung's numbers equal those of training the survivors straight through that many epochs."""
    path, grid, _ = halved
    rows = rung_rows(path)
    survivors = sorted(
        Config.from_row(r) for _, r in rows[rows["rung"] == 1].drop_duplicates(list(grid[0].row())).iterrows()
    )
    with new_store(tmp_path / "straight.sqlite", survivors, halving=False) as store:
        tune(store, survivors, halving=False)
    straight = stored_epochs(tmp_path / "straight.sqlite")
    keys = ["hidden_layers", "hidden_nodes", "learning_rate", "fold"]
    winner = stored_epochs(path)  # the last rung's full histories (their first rungs' epochs included)
    pd.testing.assert_frame_equal(
        winner.reset_index(drop=True),
        straight.merge(winner[keys].drop_duplicates(), on=keys).reset_index(drop=True),
        check_exact=True,
    )
    for rung, epochs in ((0, 1), (1, 3)):  # each rung's last epoch as in the straight training
        here = rows[rows["rung"] == rung].merge(straight[straight["epoch"] == epochs - 1], on=keys, suffixes=("", "_s"))
        assert len(here) == 3 * FOLDS
        for m in ("loss_training", "accuracy_training", "loss_validation", "accuracy_validation"):
            assert (here[m] == here[f"{m}_s"]).all(), m


def test_diverged_trainings_are_never_promoted(tmp_path):
    # ReLU with softmax/cross-entropy at a learning rate of 1e300 diverges in the first epoch
    grid = make_grid([1], [8, 16, 32, 64], [0.05, 1e300], activations=["relu"], heads=[("softmax", "cross-entropy")])
    with new_store(tmp_path / "d.sqlite", grid, epochs=4) as store:
        run_tune(
            store,
            *(lambda s: (s[0], s[2]))(digits_split()),
            grid,
            folds=FOLDS,
            epochs=4,
            batch_size=BATCH,
            seed=SEED,
            workers=1,
            blas_threads=1,
            progress=False,
            echo=lambda *a: None,
            search="halving",
            min_epochs=1,
            factor=2,
        )
        rows = store.rung_runs()
    first = rows[rows["rung"] == 0]
    diverged = set(map(tuple, first[first["diverged_epoch"].notna()][["hidden_nodes", "learning_rate"]].values))
    assert diverged, "no training diverged: the test proves nothing"
    later = set(map(tuple, rows[rows["rung"] > 0][["hidden_nodes", "learning_rate"]].values))
    assert later and not (later & diverged)
    # the promotion itself: a rung of two finite configurations keeping three gives two
    means = ranking(config_means(first), top=8)
    assert promoted(first, 0, 8, FOLDS) == sorted(Config.from_row(r) for _, r in means.iterrows())


def test_claims_name_their_rung(tmp_path):
    grid = configs()
    with new_store(tmp_path / "c.sqlite", grid) as store, Claims(store) as a, Claims(store) as b:
        item = [(grid[0], 0)]
        assert a.claim(item) == item
        assert b.claim(item) == []  # the same training of the same rung is a's
        b.rung = 1
        assert b.claim(item) == item  # the next rung's is another job
        assert b.held_by_others() == 0 and a.held_by_others() == 0  # a looks at rung 0, b at rung 1


def test_an_older_store_gains_the_rung_of_its_claims(tmp_path):
    path = tmp_path / "old.sqlite"
    grid = configs()
    with new_store(path, grid, halving=False):
        pass
    with sqlite3.connect(path) as conn:  # as format 3 made it
        conn.execute("DROP TABLE claims")
        conn.execute("DROP TABLE rungs")
        conn.execute(
            "CREATE TABLE claims (config TEXT NOT NULL, fold INTEGER NOT NULL, owner TEXT NOT NULL, "
            "claimed_at REAL NOT NULL, PRIMARY KEY (config, fold))"
        )
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'format_version'")
    with Store.open(path) as store, Claims(store) as claims:
        assert claims.claim([(grid[0], 1)]) == [(grid[0], 1)]
        assert store.rung_runs().empty
    with sqlite3.connect(path) as conn:
        assert "rung" in {r[1] for r in conn.execute("PRAGMA table_info(claims)")}


def test_dask_localcluster_equals_local(halved, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PYTHONPATH", SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    path, grid, _ = halved
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
        new_store(tmp_path / "d.sqlite", grid) as store,
    ):
        summary = tune(store, grid, executor="dask", client=client)
    assert summary["epochs"] == 60
    pd.testing.assert_frame_equal(rung_rows(tmp_path / "d.sqlite"), rung_rows(path), check_exact=True)
    pd.testing.assert_frame_equal(stored_epochs(tmp_path / "d.sqlite"), stored_epochs(path), check_exact=True)


ARGV = [
    "tune",
    "--dataset",
    "digits",
    "--hidden-layers",
    "1,2",
    "--hidden-nodes",
    "8,16",
    "--learning-rates",
    "0.5,2",
    "--optimizers",
    "momentum",
    "--schedules",
    "step",
    "--dropouts",
    "0.1",
    "--folds",
    str(FOLDS),
    "--epochs",
    str(EPOCHS),
    "--batch-size",
    str(BATCH),
    "--seed",
    str(SEED),
    "--search",
    "halving",
    "--min-epochs",
    "1",
    "--factor",
    "3",
    "--workers",
    "1",
    "--group-size",
    "1",
    "--blas-threads",
    "1",
    "--checkpoint-every",
    "1",
    "--no-progress",
]


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _kill_when(path, sql, at_least):
    """Run the halving command in a new session; SIGKILL its whole group once ``sql`` counts ``at_least`` rows."""
    env = {**os.environ, "PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchnet", *ARGV, "--store", str(path)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(path) as conn:
                    if conn.execute(sql).fetchone()[0] >= at_least:
                        break
            except sqlite3.Error:  # not made yet
                pass
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # like a machine dying
        proc.wait()


@pytest.mark.parametrize(
    "sql, at_least",
    [
        ("SELECT COUNT(*) FROM rungs WHERE rung = 0", 5),  # in the first rung
        ("SELECT COUNT(*) FROM rungs WHERE rung = 1", 2),  # in the second, some of its trainings hot-started
    ],
)
def test_resume_after_sigkill_equals_an_uninterrupted_halving(halved, tmp_path, capsys, sql, at_least):
    path = tmp_path / "killed.sqlite"
    _kill_when(path, sql, at_least)
    with sqlite3.connect(path) as conn:
        before = conn.execute("SELECT rung, hidden_layers, hidden_nodes, learning_rate, fold, finished_at FROM rungs")
        before = before.fetchall()
    assert 0 < len(before) < 36
    code, _, err = run_cli([*ARGV, "--store", str(path)], capsys)
    assert code == 0, err
    with sqlite3.connect(path) as conn:
        after = conn.execute("SELECT rung, hidden_layers, hidden_nodes, learning_rate, fold, finished_at FROM rungs")
        after = after.fetchall()
    assert set(before) <= set(after) and len(after) == 36  # nothing committed was lost or trained again
    pd.testing.assert_frame_equal(rung_rows(path), rung_rows(halved[0]), check_exact=True)
    pd.testing.assert_frame_equal(stored_epochs(path), stored_epochs(halved[0]), check_exact=True)


def test_report_shows_the_rungs_and_refit_takes_the_last_rungs_winner(halved, tmp_path, capsys):
    path, _, _ = halved
    code, out, err = run_cli(["report", str(path), "--no-figures"], capsys)
    assert code == 0, err
    assert "## Successive halving" in out and "60 training epochs of the full grid's 216 (27.8%)" in out
    assert "| 1 | 1 | 8 of 8 | 24 | 0 |" in out and "| 3 | 9 | 1 of 1 | 3 | 0 |" in out
    assert "| 3 | 24 |" in out and "|  | 18 |" in out  # 3 went on after rung 1; rung 3 is the last
    assert "Incomplete" not in out
    with Store.open(path) as store:
        winner = store.runs().iloc[0]
        plan = halving_plan(store.fingerprint)
    assert plan == [(1, 8), (3, 3), (9, 1)]
    code, out, err = run_cli(["refit", str(path), "--out", str(tmp_path / "refit"), "--quiet", "--no-progress"], capsys)
    assert code == 0, err
    assert (
        f"n_hidden_layers={winner.hidden_layers}, n_hidden_nodes={winner.hidden_nodes}, learning rate="
        f"{winner.learning_rate:g}" in out
    )
    with Store.open(path) as store:
        assert int(store.refits().iloc[-1]["epochs"]) == EPOCHS


def test_min_epochs_needs_halving(tmp_path, capsys):
    code, _, err = run_cli(
        ["tune", "--dataset", "digits", "--min-epochs", "3", "--store", str(tmp_path / "x.sqlite")], capsys
    )
    assert code != 0 and "--min-epochs needs --search halving" in err
