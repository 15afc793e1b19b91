"""Issue 11: the traps a new user met in the first hour, each pinned by a test."""

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
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


def test_quick_reproduce_help_and_readme_give_one_measured_duration(capsys):
    _, out, _ = run(capsys, "reproduce", "--help")
    readme = (ROOT / "README.md").read_text()
    import re

    said = re.search(r"in (\d+–\d+ s) on 2 cores", " ".join(out.split()))
    assert said and "~30 s" not in readme, out
    lines = [line for line in readme.splitlines() if "reproduce --quick --out runs/quick" in line]
    assert lines and all(re.search(rf"(?<!\d){re.escape(said.group(1))}", line) for line in lines), lines


def test_learning_rates_print_alike(tmp_path, capsys):
    code, out, _ = run(
        capsys, "train", "--hidden", "5", "--epochs", "1", "--learning-rate", "2", "--quiet", "--no-progress",
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 0 and re.search(r"learning rate 2(;|\n)", out), out


# ------------------------------------------------------------- divergence inside a grid
def _relu_nets(which, lrs):
    from scratchnet.network import MultilayerNeuralNetClassifier as Net

    spec = [[64, 20, 10], [64, 30, 10], [64, 20, 20, 10]]
    nets = [Net(spec[i], random_seed=i, activation="relu", output="softmax", loss="cross_entropy") for i in which]
    return nets, [lrs[i] for i in which]


def test_a_diverged_network_leaves_the_others_bit_identical(digits_split):
    from scratchnet.engine import train_many
    from scratchnet.errors import TrainingDivergedError

    X_train, X_test, y_train, y_test = digits_split
    lrs = [0.5, 1e300, 1.0]
    all3, lr3 = _relu_nets([0, 1, 2], lrs)
    before = [w.copy() for w in all3[1].weights]
    kw = dict(epochs=4, batch_size=20, seed=5)
    got = train_many(all3, X_train, y_train, X_test, y_test, learning_rates=lr3, diverged="drop", **kw)
    two, lr2 = _relu_nets([0, 2], lrs)
    want = train_many(two, X_train, y_train, X_test, y_test, learning_rates=lr2, **kw)
    assert got[1].attrs["diverged_epoch"] == 0 and len(got[1]) == 0
    assert all((a == b).all() for a, b in zip(all3[1].weights, before))  # kept its parameters before the epoch
    for g, w, a, b in ((got[0], want[0], all3[0], two[0]), (got[2], want[1], all3[2], two[1])):
        pd_equal = g.drop(columns="seconds").equals(w.drop(columns="seconds"))
        assert pd_equal and "diverged_epoch" not in g.attrs
        assert all((p == q).all() for p, q in zip(a.weights + a.biases, b.weights + b.biases))
    with pytest.raises(TrainingDivergedError) as info:
        train_many(_relu_nets([0, 1], lrs)[0], X_train, y_train, learning_rates=lrs[:2], X_val=None, y_val=None, **kw)
    assert info.value.networks == [1]


def test_tune_records_a_diverged_cell_and_report_and_refit_leave_it_out(tmp_path, capsys):
    store = tmp_path / "d.sqlite"
    args = [
        "tune", "--hidden-layers", "1", "--hidden-nodes", "10", "--learning-rates", "0.5,1e300", "--folds", "2",
        "--epochs", "2", "--activation", "relu", "--heads", "softmax/cross-entropy", "--store", str(store),
        "--no-progress", "--workers", "1",
    ]  # fmt: skip
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "4 trainings run" in out
    code, out, err = run(capsys, "report", str(store), "--no-figures")
    assert code == 0, err
    assert "2 trainings diverged" in out and "learning rate=0.5" in out
    assert "| 1 | diverged |" in out  # the table of learning rate 1e300
    code, out, err = run(capsys, "report", str(store), "--runs", "--format", "csv")
    assert out.splitlines()[0].endswith("diverged_epoch") and out.count(",0\n") >= 2


def test_a_format_2_store_reads_and_gains_the_diverged_column(tmp_path, capsys):
    from scratchnet.store import Store

    store = tmp_path / "old.sqlite"
    code, _, err = run(
        capsys, "tune", "--hidden-layers", "1", "--hidden-nodes", "5", "--learning-rates", "1", "--folds", "2",
        "--epochs", "1", "--store", str(store), "--no-progress", "--workers", "1",
    )  # fmt: skip
    assert code == 0, err
    conn = sqlite3.connect(store)
    with conn:
        conn.execute("ALTER TABLE runs DROP COLUMN diverged_epoch")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'format_version'")
    conn.close()
    with Store.open(store, readonly=True) as s:
        assert s.runs()["diverged_epoch"].isna().all() and len(s.runs()) == 2
    with Store.open(store) as s:
        assert s.get_meta("format_version") == "3" and not s.missing  # the format of the column it gained


# ------------------------------------------------------------- train checkpoints
TRAIN = [
    "train", "--hidden", "30", "--epochs", "30", "--learning-rate", "0.01", "--optimizer", "adam",
    "--schedule", "cosine", "--dropout", "0.1", "--quiet", "--no-progress",
]  # fmt: skip


# A terminal gives its foreground job Ctrl-C's default action; a test run started in the background of a
# non-interactive shell (``cmd &``, nohup) has SIGINT ignored, a child inherits that, and Python then installs no
# KeyboardInterrupt handler: every Ctrl-C would be lost. The command runs as a user's would, with the default restored.
_AS_AT_A_TERMINAL = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'scratchnet'; runpy.run_module('scratchnet', run_name='__main__', alter_sys=True)"
)


def _cli(args, **kw):
    """``scratchnet ARGS`` in a child process, started as at a terminal (see ``_AS_AT_A_TERMINAL``)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-c", _AS_AT_A_TERMINAL, *args], env=env, **kw)


def _model(path):
    from scratchnet.modelio import read_model_file

    header, arrays = read_model_file(path)
    return header, arrays


def test_train_killed_with_sigkill_resumes_to_the_uninterrupted_end(tmp_path):
    import subprocess
    import time

    full = _cli([*TRAIN, "--out", str(tmp_path / "full")], stdout=subprocess.DEVNULL)
    part = tmp_path / "part"
    proc = _cli([*TRAIN, "--out", str(part), "--checkpoint-every", "2"], stdout=subprocess.DEVNULL)
    checkpoint, done = part / "checkpoint.npz", 0
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if checkpoint.is_file():
            try:
                done = _model(checkpoint)[0]["checkpoint"]["epochs_done"]
            except Exception:  # mid-replace: try again
                done = 0
            if done >= 4:
                proc.kill()  # SIGKILL: no handler runs
                break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -9 and 4 <= done < 30 and not (part / "model.npz").exists()
    resumed = _cli([*TRAIN, "--out", str(part), "--resume", str(part)], stdout=subprocess.PIPE, text=True)
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0 and "resuming the checkpoint" in out, out
    assert full.wait(timeout=300) == 0
    (_, want), (_, got) = _model(tmp_path / "full" / "model.npz"), _model(part / "model.npz")
    for name in want:
        if name == "history":  # every metric to the last bit; the seconds are the clock's
            np.testing.assert_array_equal(got[name][:, :-1], want[name][:, :-1])
        else:
            np.testing.assert_array_equal(got[name], want[name])
    (_, want), (_, got) = _model(tmp_path / "full" / "checkpoint.npz"), _model(part / "checkpoint.npz")
    for name in (n for n in want if n.startswith("optimizer_")):  # Adam's m and v as well
        np.testing.assert_array_equal(got[name], want[name])


def test_train_refuses_to_resume_a_checkpoint_of_another_run(tmp_path, capsys):
    out = tmp_path / "r"
    code, _, err = run(capsys, "train", "--hidden", "5", "--epochs", "2", "--out", str(out), "--no-progress")
    assert code == 0 and (out / "checkpoint.npz").is_file()
    code, _, err = run(capsys, "train", "--hidden", "6", "--epochs", "2", "--out", str(out), "--resume", str(out))
    assert code == 1 and "belongs to another run" in err and "hidden=[5]" in err and err.count("\n") == 1


# ------------------------------------------------------------- tune: kill, interrupt, resume
TUNE = [
    "tune", "--hidden-layers", "1", "--hidden-nodes", "10,20", "--learning-rates", "0.5,1", "--folds", "2",
    "--epochs", "40", "--optimizers", "adam", "--learning-rates", "0.005,0.01", "--dropouts", "0.1",
    "--workers", "1", "--no-progress",
]  # fmt: skip


def _epochs_of(path):
    from scratchnet.store import Store

    with Store.open(path, readonly=True) as store:
        return store.epochs().drop(columns="seconds")


def test_tune_killed_mid_training_resumes_from_checkpoints_to_the_same_numbers(tmp_path, capsys):
    import os
    import signal
    import subprocess
    import time

    whole = tmp_path / "whole.sqlite"
    code, _, err = run(capsys, *TUNE, "--store", str(whole), "--checkpoint-every", "0")
    assert code == 0, err
    store = tmp_path / "t.sqlite"
    proc = _cli([*TUNE, "--store", str(store), "--checkpoint-every", "2"], stdout=subprocess.DEVNULL,
                start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(tmp_path.glob("t.sqlite.checkpoints/*/*.npz"))) >= 4:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait() == -9
    code, out, err = run(capsys, *TUNE, "--store", str(store), "--checkpoint-every", "2")
    assert code == 0, err
    assert "go on from their checkpoints" in out
    assert not list(tmp_path.glob("t.sqlite.checkpoints/*/*.npz"))  # committed trainings leave no checkpoint
    import pandas as pd

    pd.testing.assert_frame_equal(_epochs_of(store), _epochs_of(whole), check_exact=True)


def test_tune_interrupted_says_what_is_safe_and_exits_cleanly(tmp_path):
    import os
    import signal
    import subprocess
    import time

    store = tmp_path / "i.sqlite"
    args = [*TUNE[:-3], "--workers", "2", "--no-progress", "--checkpoint-every", "2", "--store", str(store)]
    args[args.index("--epochs") + 1] = "20000"  # far from its end when Ctrl-C comes, on the fastest CPU
    proc = _cli(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if list(tmp_path.glob("i.sqlite.checkpoints/*/*.npz")):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the grid ended before any checkpoint was seen"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group, once
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:  # lost: end it, so that no training goes on behind the tests
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError("tune went on after Ctrl-C") from None
    assert proc.returncode == 130, err
    assert err.startswith("interrupted: ") and err.count("\n") == 1, err  # one line: no traceback, no warning
    assert "a checkpoint to go on from" in err and "error" not in err


# ------------------------------------------------------------- progress off a terminal
def test_progress_off_a_terminal_prints_plain_lines_not_redraws(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MPLBACKEND": "Agg", "SCRATCHNET_PROGRESS_INTERVAL": "0"}
    for args in (
        ["train", "--hidden", "5", "--epochs", "3", "--quiet", "--out", str(tmp_path / "r")],
        ["tune", "--hidden-layers", "1", "--hidden-nodes", "5", "--learning-rates", "1", "--folds", "2",
         "--epochs", "3", "--workers", "1", "--store", str(tmp_path / "t.sqlite")],
    ):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "scratchnet", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "\r" not in done.stderr and "|" not in done.stderr, done.stderr  # no bar, no redraws
        lines = [line for line in done.stderr.splitlines() if line.startswith(("training: ", "tune: "))]
        assert len(lines) >= 3 and ("3/3 epoch" in lines[-1] or "2/2 training" in lines[-1]), done.stderr


def test_predict_takes_digits_arrays_of_8_by_8_raw_0_to_16(tmp_path, capsys, digits_split):
    from sklearn.datasets import load_digits

    out = tmp_path / "r"
    code, _, err = run(
        capsys, "train", "--hidden", "20", "--epochs", "5", "--out", str(out), "--quiet", "--no-progress"
    )
    assert code == 0, err
    raw = load_digits()
    np.save(tmp_path / "d.npy", raw.images[:20])  # (20, 8, 8), values 0..16
    code, text, err = run(capsys, "predict", str(out / "model.npz"), str(tmp_path / "d.npy"), "--json")
    assert code == 0, err
    predicted = [p["predicted"] for p in json.loads(text)["predictions"]]
    from scratchnet.data import scale_pixels

    net = MultilayerNeuralNetClassifier.load(out / "model.npz")
    assert predicted == net.predict(scale_pixels(raw.data[:20], 16.0)).tolist()  # scaled as in training
    _, help_text, _ = run(capsys, "predict", "--help")
    assert "0..16 for the digits" in help_text


def test_a_failed_openml_download_prints_only_our_line(tmp_path, capsys, monkeypatch):
    import warnings

    import sklearn.datasets

    def failing(*args, **kwargs):
        warnings.warn("Invalid cache, redownloading file", RuntimeWarning, stacklevel=2)
        raise OSError("network unreachable")

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", failing)
    monkeypatch.delenv("SCRATCHNET_MNIST", raising=False)
    monkeypatch.setenv("SCRATCHNET_CACHE", str(tmp_path / "cache"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run(capsys, "train", "--dataset", "mnist", "--epochs", "1", "--out", str(tmp_path / "r"))
    assert code == 1 and err.startswith("error: MNIST is not available") and err.count("\n") == 1, err
    assert not [w for w in caught if "redownloading" in str(w.message)]  # scikit-learn's warning never shows


def test_option_names_are_quoted_one_way_in_errors(capsys):
    _, _, err = run(capsys, "tune", "--scheduler", "tcp://x:1")
    assert "Invalid value for '--scheduler'" in err
