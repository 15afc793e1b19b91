"""Issue 11: the traps a new user met in the first hour, each pinned by a test."""

import json
import re
import sqlite3
from pathlib import Path

import pytest

from scratchnet.cli import main
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import train, train_reference

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_tune_on_digits_takes_the_digits_grid_and_says_so(tmp_path, capsys):
    store = tmp_path / "t.sqlite"
    args = ("tune", "--hidden-layers", "1", "--hidden-nodes", "10", "--folds", "2", "--epochs", "2")
    code, out, err = run(capsys, *args, "--store", str(store), "--no-progress", "--workers", "1")
    assert code == 0, err
    assert "the digits grid's defaults: batch_size 20, learning_rates [0.5, 1, 2]" in out
    conn = sqlite3.connect(store)
    fp = json.loads(conn.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()[0])
    conn.close()
    assert fp["batch_size"] == 20 and fp["learning_rates"] == [0.5, 1.0, 2.0]


def test_bare_scratchnet_prints_its_help_not_an_error(capsys):
    code, out, err = run(capsys)
    assert code == 0 and out.startswith("Usage: scratchnet") and "error" not in err


def test_train_help_has_no_doubled_percent_and_both_progress_flags(capsys):
    code, out, _ = run(capsys, "train", "--help")
    assert code == 0 and "%%" not in out and "10 % of" in out
    assert "--progress / --no-progress" in out


def test_tune_heads_offers_only_pairs_it_accepts(capsys):
    code, out, _ = run(capsys, "tune", "--help")
    assert "SIGMOID/CROSS-ENTROPY" not in out and "SOFTMAX/BCE" not in out and "SOFTMAX/CROSS-ENTROPY" in out
    code, _, err = run(capsys, "tune", "--heads", "sigmoid/cross-entropy")
    assert code == 2 and err.count("\n") == 1


def test_the_library_is_quiet_by_default(digits_split, capsys):
    X_train, X_test, y_train, y_test = digits_split
    for fn in (train, train_reference):
        net = MultilayerNeuralNetClassifier([64, 10, 10], random_seed=0)
        fn(net, X_train, y_train, X_test, y_test, epochs=2, batch_size=50, learning_rate=1.0)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_there_is_a_license_file():
    assert "MIT License" in (ROOT / "LICENSE").read_text()


def test_quick_reproduce_help_does_not_promise_a_minute(capsys):
    _, out, _ = run(capsys, "reproduce", "--help")
    assert "about a minute" not in out
    assert "~30 s" not in (ROOT / "README.md").read_text()


def test_learning_rates_print_alike(tmp_path, capsys):
    code, out, _ = run(
        capsys, "train", "--hidden", "5", "--epochs", "1", "--learning-rate", "2", "--quiet", "--no-progress",
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 0 and re.search(r"learning rate 2(;|\n)", out), out
