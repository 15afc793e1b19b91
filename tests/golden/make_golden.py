"""Record the exact histories of a few short runs: tests/golden/histories.json.

    PYTHONPATH=src python tests/golden/make_golden.py      # rewrite the record (only on purpose!)

The record pins what the same seeds give: ``tests/test_golden_histories.py``
recomputes every run and compares, so a refactoring that changes the numbers
is caught. Every run is on scikit-learn's bundled digits (no download).

The last bits depend on the CPU: NumPy's SIMD ``exp``/``log`` and OpenBLAS's kernels differ
between an AVX2 and an AVX-512 machine. So the record holds one set of numbers per
``machine()`` (OpenBLAS's core and whether NumPy dispatches AVX-512); running this script
adds or rewrites the current machine's set and keeps the others.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RECORD = HERE / "histories.json"
METRICS = ["loss_training", "accuracy_training", "loss_test", "accuracy_test"]

TRAIN_RUNS = {
    "article": {
        "hidden": [30],
        "dtype": "float64",
        "epochs": 6,
        "batch_size": 20,
        "learning_rate": 1.0,
        "network": {},
        "options": {},
    },
    "article_float32": {
        "hidden": [30],
        "dtype": "float32",
        "epochs": 6,
        "batch_size": 20,
        "learning_rate": 1.0,
        "network": {},
        "options": {},
    },
    "modern": {
        "hidden": [32, 16],
        "dtype": "float64",
        "epochs": 6,
        "batch_size": 32,
        "learning_rate": 0.01,
        "network": {"activation": "relu", "output": "softmax", "loss": "cross_entropy", "init": "he"},
        "options": {"optimizer": "adam", "weight_decay": 1e-4, "schedule": "cosine", "dropout": 0.2},
    },
    "nesterov_tanh_bce": {
        "hidden": [24],
        "dtype": "float64",
        "epochs": 6,
        "batch_size": 25,
        "learning_rate": 0.5,
        "network": {"activation": "tanh", "output": "sigmoid", "loss": "binary_cross_entropy", "init": "glorot"},
        "options": {"optimizer": "nesterov", "momentum": 0.8, "schedule": "step"},
    },
}

TUNE_RUNS = {
    "article_grid": [
        "--hidden-layers",
        "1,2",
        "--hidden-nodes",
        "8,16",
        "--learning-rates",
        "0.5,1",
        "--folds",
        "3",
        "--epochs",
        "4",
        "--batch-size",
        "20",
    ],
    "recipe_grid": [
        "--hidden-layers",
        "1",
        "--hidden-nodes",
        "16",
        "--learning-rates",
        "0.01,0.05",
        "--activations",
        "relu,sigmoid",
        "--heads",
        "softmax/cross-entropy",
        "--optimizers",
        "adam,momentum",
        "--folds",
        "2",
        "--epochs",
        "3",
        "--batch-size",
        "20",
    ],
}


def train_history(spec):
    """One ``train()`` run on digits: its per-epoch metrics (no seconds) and its final parameters' sums."""
    from scratchnet import MultilayerNeuralNetClassifier, train
    from scratchnet.data import load_digits, split

    X, y = load_digits(dtype=np.dtype(spec["dtype"]).type)
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.2, seed=123)
    net = MultilayerNeuralNetClassifier(
        [64, *spec["hidden"], 10], random_seed=123, dtype=np.dtype(spec["dtype"]).type, **spec["network"]
    )
    history = train(
        net,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=spec["epochs"],
        batch_size=spec["batch_size"],
        learning_rate=spec["learning_rate"],
        seed=123,
        verbose=False,
        progress=False,
        **spec["options"],
    )
    return {
        "history": {m: [float(v) for v in history[m]] for m in METRICS},
        "parameter_sums": [float(np.sum(p, dtype=np.float64)) for p in net.weights + net.biases],
    }


def tune_history(args):
    """One ``scratchnet tune`` on digits (one worker): every training's per-epoch validation metrics."""
    from scratchnet.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "g.sqlite"
        try:
            main(["tune", "--dataset", "digits", *args, "--workers", "1", "--store", str(store), "--no-progress"])
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        conn = sqlite3.connect(store)
        rows = conn.execute(
            "SELECT r.hidden_layers, r.hidden_nodes, r.learning_rate, r.activation, r.optimizer, r.fold, e.epoch, "
            "e.loss_training, e.accuracy_training, e.loss_validation, e.accuracy_validation "
            "FROM epochs e JOIN runs r ON r.id = e.run_id"
        ).fetchall()
        conn.close()
    out = {}
    for hl, hn, lr, act, opt, fold, epoch, *metrics in rows:
        key = f"{hl}x{hn} lr={lr!r} {act} {opt} fold={fold}"
        out.setdefault(key, {})[str(epoch)] = [float(v) for v in metrics]
    return dict(sorted(out.items()))


def machine() -> str:
    """The CPU traits the last bits depend on: OpenBLAS's kernel and NumPy's AVX-512 dispatch."""
    from threadpoolctl import threadpool_info

    blas = "+".join(
        sorted({f"{i['internal_api']}-{i.get('architecture')}" for i in threadpool_info() if i["user_api"] == "blas"})
    )
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # NumPy < 2
        from numpy.core._multiarray_umath import __cpu_features__ as features
    return f"{blas}, {'avx512' if features.get('AVX512F') else 'no avx512'}"


def record():
    return {
        "train": {name: train_history(spec) for name, spec in TRAIN_RUNS.items()},
        "tune": {name: tune_history(args) for name, args in TUNE_RUNS.items()},
    }


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    records = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    records[machine()] = record()
    RECORD.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD} for {machine()}")
