"""What can be known up front fails fast (issue 14, trap 7): scheduler, --out, seeds, --resume, the CSV's cells."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pytest

from test_tune import GRID, run_cli

pytest.importorskip("distributed")


def test_an_unreachable_scheduler_fails_within_the_timeout_and_leaves_no_store(tmp_path, capsys):
    store = tmp_path / "dask.sqlite"
    start = time.monotonic()
    code, _out, err = run_cli(["tune", *GRID, "--store", str(store), "--executor", "dask", "--scheduler",
                              "tcp://127.0.0.1:1", "--connect-timeout", "1", "--no-progress"], capsys)  # fmt: skip
    seconds = time.monotonic() - start
    assert code == 1 and err.count("\n") == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err, err
    assert seconds < 15  # loose: the timeout is 1 s, the rest is loading the data on a busy machine
    assert not store.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", ["99999999999999999999", "4294967296", "-1"])
def test_seeds_are_range_checked_by_the_cli(tmp_path, capsys, seed):
    for command in (["train", "--epochs", "1", "--out", str(tmp_path / "t")], ["tune", *GRID]):
        argv = [*command, "--seed", seed, "--store", str(tmp_path / "s.sqlite")] if command[0] == "tune" else [
            *command, "--seed", seed]  # fmt: skip
        code, _out, err = run_cli(argv, capsys)
        assert code == 2 and "--seed" in err and "4294967295" in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_out_is_checked_before_training(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    for out in (str(tmp_path / "a_file" / "sub"), str(tmp_path / ("x" * 300))):
        start = time.monotonic()
        code, _, err = run_cli(["train", "--epochs", "200", "--quiet", "--out", out], capsys)
        assert code == 2 and "--out" in err and "cannot be written" in err and err.count("\n") == 1, err
        assert time.monotonic() - start < 10  # refused before 200 epochs of training


def test_resume_refuses_other_hidden_layers(tmp_path, capsys):
    code, _, err = run_cli(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "m")], capsys)
    assert code == 0, err
    model = str(tmp_path / "m" / "model.npz")
    code, _, err = run_cli(["train", "--resume", model, "--hidden", "30", "--out", str(tmp_path / "r")], capsys)
    assert code == 1 and "hidden layers [50]" in err and "--hidden 30" in err and err.count("\n") == 1
    code, _, err = run_cli(["train", "--resume", model, "--hidden", "50", "--epochs", "1", "--quiet", "--out",
                            str(tmp_path / "r")], capsys)  # fmt: skip
    assert code == 0, err


def test_csv_of_an_unfinished_grid_says_which_cells_are_incomplete(tmp_path, capsys):
    path = tmp_path / "part.sqlite"
    code, _, err = run_cli(["tune", *GRID, "--store", str(path), "--workers", "1", "--no-progress"], capsys)
    assert code == 0, err
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DELETE FROM runs WHERE learning_rate = 2.0 AND fold > 0")
    code, out, _ = run_cli(["report", str(path), "--format", "csv", "--no-figures"], capsys)
    lines = out.splitlines()
    header = lines[0].split(",")
    assert code == 0 and "folds" in header and "complete" in header
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert {(r["learning_rate"], r["folds"], r["complete"]) for r in rows} == {
        ("0.5", "3", "True"),
        ("2.0", "1", "False"),
    }
