"""Stores that know their health (issue 14, traps 4–6): damage noticed, salvage, read-only places, odd files."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from scratchnet.store import Store, StoreError
from scratchnet.tuning import experiment_fingerprint, make_grid, run_tune
from test_tune import GRID, SETTINGS, digits_split, run_cli

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "MPLBACKEND": "Agg"}


CONFIGS = make_grid([1, 2], [4, 8, 12], [0.5, 1.0, 2.0, 4.0])
N_RUNS = len(CONFIGS) * SETTINGS["folds"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A store of 72 trainings of 3 epochs: several pages of runs and of epochs."""
    path = tmp_path_factory.mktemp("health") / "tune.sqlite"
    X_train, _, y_train, _ = digits_split()
    fp = experiment_fingerprint(X_train, y_train, dataset="digits", test_size=None, dtype="float64",
                                seed=SETTINGS["seed"], configs=CONFIGS, folds=SETTINGS["folds"],
                                epochs=SETTINGS["epochs"], batch_size=SETTINGS["batch_size"])  # fmt: skip
    with Store.create_or_open(path, fp) as store:
        run_tune(store, X_train, y_train, CONFIGS, workers=1, progress=False, echo=lambda *a: None, **SETTINGS)
    return path


def _pages(path, table):
    """The leaf pages of ``table`` (from SQLite's dbstat)."""
    with closing(sqlite3.connect(path)) as conn:
        return [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]


def _damage(path, page):
    with closing(sqlite3.connect(path)) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xa5" * size)


def _runs(path):
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT * FROM runs ORDER BY id").fetchall()


def test_a_damaged_store_is_a_one_line_error_that_says_how_to_recover(tuned, tmp_path, capsys):
    path = tmp_path / "damaged.sqlite"
    shutil.copy(tuned, path)
    original = _runs(path)
    _damage(path, _pages(path, "epochs")[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.sqlite"]
    for argv in (
        ["report", str(path), "--no-figures"],
        ["report", str(path), "--format", "csv"],
        ["refit", str(path)],
        ["tune", *GRID, "--store", str(path), "--workers", "1", "--no-progress"],
    ):
        code, out, err = run_cli(argv, capsys)
        assert code == 1 and err.count("\n") == 1 and "is damaged" in err, (argv, err)
        assert "scratchnet store export" in err and "--new" in err and out == ""
    assert not Path(str(path) + "-wal").exists() and not Path(str(path) + "-shm").exists()
    # the export salvages every run (their pages are intact)
    code, out, err = run_cli(["store", "export", str(path), str(tmp_path / "runs.csv")], capsys)
    assert code == 0, err
    with open(tmp_path / "runs.csv") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + len(original) == 1 + N_RUNS
    assert [r[0] for r in rows[1:]] == [str(r[0]) for r in original]
    # --new starts the damaged store over
    code, _, err = run_cli(["tune", *GRID, "--store", str(path), "--workers", "1", "--no-progress", "--new"], capsys)
    assert code == 0, err
    assert len(_runs(path)) == 24


def test_export_salvages_the_rows_of_intact_pages(tuned, tmp_path, capsys):
    path = tmp_path / "runs_damaged.sqlite"
    shutil.copy(tuned, path)
    original = {r[0]: r for r in _runs(path)}
    leaves = _pages(path, "runs")
    assert len(leaves) >= 2
    _damage(path, leaves[0])
    with pytest.raises(StoreError, match="is damaged"):
        Store.open(path)
    code, out, err = run_cli(["store", "export", str(path), str(tmp_path / "out.csv")], capsys)
    assert code == 0, err
    with open(tmp_path / "out.csv") as f:
        rows = list(csv.DictReader(f))
    assert 0 < len(rows) < len(original)
    columns = rows and list(rows[0])
    for row in rows:
        stored = dict(zip(columns, original[int(row["id"])], strict=True))
        assert float(row["accuracy_validation"]) == stored["accuracy_validation"]
    assert "wrote" in out


def test_zero_byte_and_truncated_stores_can_be_started(tuned, tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    code, _, err = run_cli(["tune", *GRID, "--store", str(empty), "--workers", "1", "--no-progress"], capsys)
    assert code == 0, err
    truncated = tmp_path / "truncated.sqlite"
    truncated.write_bytes(Path(tuned).read_bytes()[: 3 * 4096 + 100])
    code, _, err = run_cli(["report", str(truncated)], capsys)
    assert code == 1 and err.count("\n") == 1
    code, _, err = run_cli(["tune", *GRID, "--store", str(truncated), "--workers", "1", "--no-progress"], capsys)
    assert code == 1 and err.count("\n") == 1 and "--new" in err, err
    code, _, err = run_cli(["tune", *GRID, "--store", str(truncated), "--workers", "1", "--no-progress", "--new"],
                           capsys)  # fmt: skip
    assert code == 0, err
    assert len(_runs(truncated)) == 24


def test_report_leaves_no_wal_files_and_reads_a_store_being_written(tuned, tmp_path, capsys):
    path = tmp_path / "wal.sqlite"
    shutil.copy(tuned, path)
    code, out, _ = run_cli(["report", str(path), "--no-figures"], capsys)
    assert code == 0 and f"{N_RUNS} of {N_RUNS} trainings finished" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wal.sqlite"]
    with Store.open(path) as writer:  # a tune at work keeps a -wal file: report reads through it
        writer.set_meta("note", "x")
        code, out, _ = run_cli(["report", str(path), "--no-figures"], capsys)
        assert code == 0 and f"{N_RUNS} of {N_RUNS}" in out


def _read_only_run(folder, argv):
    """Run ``scratchnet argv`` with ``folder`` read-only: a read-only bind mount (as root) or chmod."""
    command = [sys.executable, "-m", "scratchnet", *argv]
    if os.geteuid() == 0:
        if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
            pytest.skip("running as root without mount namespaces: no read-only place to test in")
        script = f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", script, "sh", *command]
    else:
        folder.chmod(0o555)
    try:
        return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    finally:
        folder.chmod(0o755)


def test_stores_in_read_only_places(tuned, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(tuned, folder / "tune.sqlite")
    done = _read_only_run(folder, ["report", str(folder / "tune.sqlite"), "--no-figures"])
    assert done.returncode == 0 and f"{N_RUNS} of {N_RUNS} trainings finished" in done.stdout, done.stderr
    done = _read_only_run(folder, ["tune", *GRID, "--store", str(folder / "new.sqlite"), "--no-progress"])
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot create store" in done.stderr and "writable place" in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["tune.sqlite"]
