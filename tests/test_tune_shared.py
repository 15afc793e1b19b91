"""Several ``tune`` processes on one store share the grid (issue 14, trap 6): real processes, the store's rows."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scratchnet.cli import main
from scratchnet.store import Claims, Store
from scratchnet.tuning import run_tune
from test_tune import GRID, SETTINGS, digits_split, grid_configs, new_store

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "MPLBACKEND": "Agg"}
KEY = "hidden_layers, hidden_nodes, learning_rate, fold"


def _argv(path, *extra):
    return [sys.executable, "-m", "scratchnet", "tune", *GRID, "--store", str(path), "--workers", "1",
            "--blas-threads", "1", "--no-progress", *extra]  # fmt: skip


def _run_together(path, n, *extra):
    """Start ``n`` tune processes on ``path`` at the same moment; their (exit code, stdout, stderr)."""
    procs = [
        subprocess.Popen(_argv(path, *extra), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]
    return [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]


def _rows(path):
    with sqlite3.connect(path) as conn:
        runs = conn.execute(f"SELECT {KEY} FROM runs").fetchall()
        claims = conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
        owners = conn.execute("SELECT COUNT(*) FROM owners").fetchone()[0]
    return runs, claims, owners


@pytest.mark.parametrize("n", [2, 3])
def test_concurrent_tunes_share_a_new_store_and_train_each_once(tmp_path, n):
    path = tmp_path / "shared.sqlite"
    outcomes = _run_together(path, n, "--group-size", "2")
    for code, out, err in outcomes:
        assert code == 0, err
        assert "24 of 24 in" in out, out  # each waits for the others and sees the whole grid
    trained = [int(re.search(r"^(\d+) trainings run", out, re.M).group(1)) for _, out, _ in outcomes]
    assert sum(trained) == 24, trained  # every training run exactly once over all processes
    # Who ran how many depends on timing (a process that starts late may find the grid done), so it is not
    # asserted here; test_claims_… shows live claims are respected, benchmarks/bench_shared_tune.py the split.
    runs, claims, owners = _rows(path)
    assert len(runs) == 24 == len(set(runs))
    assert claims == 0 and owners == 0  # every claim given back


def test_new_is_refused_while_another_tune_works_and_claims_of_the_killed_one_expire(tmp_path, capsys):
    path = tmp_path / "busy.sqlite"
    argv = _argv(path, "--group-size", "1")
    argv[argv.index("--epochs") + 1] = "40"
    argv[argv.index("--batch-size") + 1] = "10"
    proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        held = 0
        while time.monotonic() < deadline and proc.poll() is None and not held:
            time.sleep(0.1)
            try:
                with sqlite3.connect(path) as conn:
                    held = conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
            except sqlite3.Error:
                held = 0
        assert held and proc.poll() is None, proc.stderr.read().decode()
        tune = list(argv[3:])
        tune[tune.index("--epochs") + 1] = "3"
        tune[tune.index("--batch-size") + 1] = "50"
        with pytest.raises(SystemExit) as exc:
            main([*tune, "--new"])
        err = capsys.readouterr().err
        assert exc.value.code == 1 and err.count("\n") == 1 and "in use by another tune" in err, err
        assert path.exists()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    runs_before, claims, owners = _rows(path)
    assert claims >= 1 and owners == 1  # the killed process left its claims behind
    # the same experiment resumed: the dead process's claims expire at once (its pid is gone)
    code = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=300)
    assert code.returncode == 0, code.stderr
    runs, claims, owners = _rows(path)
    assert len(runs) == 24 == len(set(runs)) and set(runs_before) <= set(runs)
    assert claims == 0 and owners == 0


def test_claims_of_a_silent_owner_expire_and_of_a_live_one_are_respected(tmp_path, monkeypatch):
    import scratchnet.store as store_module

    X_train, _, y_train, _ = digits_split()
    path = tmp_path / "claims.sqlite"
    with new_store(path, X_train, y_train) as store:
        everything = [(c, f) for f in range(SETTINGS["folds"]) for c in grid_configs()]
        with sqlite3.connect(path) as conn:  # a process on another machine that stopped beating long ago
            conn.execute(
                "INSERT INTO owners VALUES ('far:1:x', 'elsewhere', 1, 'then', ?)",
                (time.time() - 2 * store_module.CLAIM_SECONDS,),
            )
            conn.executemany(
                "INSERT INTO claims (config, fold, owner, claimed_at) VALUES (?, ?, 'far:1:x', 0)",
                [(store_module.config_key(c), f) for c, f in everything],
            )
        with Claims(store) as mine, Claims(store) as other:
            got = mine.claim(everything[:5])
            assert got == everything[:5]  # the silent owner's claims expired
            assert other.claim(everything[:8]) == everything[5:8]  # a live owner's claims are respected
            assert other.held_by_others() == 5
        summary = run_tune(store, X_train, y_train, grid_configs(), workers=1, progress=False, echo=lambda *a: None,
                           **SETTINGS)  # fmt: skip
        assert summary["trained"] == 24
    runs, claims, owners = _rows(path)
    assert len(runs) == 24 and claims == 0 and owners == 0


def test_an_older_store_gains_the_claims_tables_and_stays_version_2(tmp_path):
    X_train, _, y_train, _ = digits_split()
    path = tmp_path / "v2.sqlite"
    with new_store(path, X_train, y_train):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE claims")
        conn.execute("DROP TABLE owners")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")
    with Store.open(path, readonly=True) as store:
        assert store.finished() == set()
    with Store.open(path) as store, Claims(store) as claims:
        assert claims.claim([(grid_configs()[0], 0)])
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()[0] == "2"


def test_two_owners_drawing_jobs_in_turn_split_the_grid_without_overlap(tmp_path):
    from scratchnet.tuning import make_groups

    X_train, _, y_train, _ = digits_split()
    everything = [(c, f) for f in range(SETTINGS["folds"]) for c in grid_configs()]
    groups = make_groups(everything, 1, 2)
    with new_store(tmp_path / "turns.sqlite", X_train, y_train) as store, Claims(store) as a, Claims(store) as b:
        drawn = {"a": [], "b": []}
        turns = {"a": a.claimed_groups(groups), "b": b.claimed_groups(groups)}
        while turns:
            for name in list(turns):
                job = next(turns[name], None)
                if job is None:
                    del turns[name]
                else:
                    drawn[name].extend((c, job[0]) for c in job[1])
    assert drawn["a"] and drawn["b"]
    assert not set(drawn["a"]) & set(drawn["b"])
    assert sorted(map(str, drawn["a"] + drawn["b"])) == sorted(map(str, everything))


def test_tune_processes_on_one_machine_share_its_cores_between_their_blas_threads(tmp_path, monkeypatch):
    import scratchnet.tuning as tuning

    monkeypatch.setattr(tuning, "default_workers", lambda: 4)
    assert tuning._workers_and_threads("local", 1, None, None, 1) == (1, 4)
    assert tuning._workers_and_threads("local", 2, None, None, 2) == (2, 1)
    assert tuning._workers_and_threads("local", 1, 3, None, 2) == (1, 3)  # the user's --blas-threads stands
    X_train, _, y_train, _ = digits_split()
    with new_store(tmp_path / "cores.sqlite", X_train, y_train) as store:
        with sqlite3.connect(store.path) as conn:  # a live process on another machine does not use our cores
            conn.execute("INSERT INTO owners VALUES ('far:1:x', 'elsewhere', 1, 'now', ?)", (time.time() + 3600,))
        with Claims(store) as one:
            assert one.on_this_host() == 1
            with Claims(store) as two:
                assert one.on_this_host() == two.on_this_host() == 2
                threads = []
                real_run_group = tuning.run_group

                def spy(data, fold, configs, settings, *rest):
                    threads.append(settings["blas_threads"])
                    return real_run_group(data, fold, configs, settings, *rest)

                monkeypatch.setattr(tuning, "run_group", spy)
                lines = []
                run_tune(store, X_train, y_train, grid_configs(), workers=1, progress=False, echo=lines.append,
                         **{**SETTINGS, "epochs": 1})  # fmt: skip
        assert set(threads) == {1}  # three processes (this run and `one`, `two`) on 4 cores: 1 thread each
        assert any("3 tune processes share this machine's 4 cores: 1 BLAS thread per worker" in x for x in lines)
