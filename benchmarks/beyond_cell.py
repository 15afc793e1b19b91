"""The article's failing cell (3 hidden layers × 10 nodes) with a modern recipe: mean K-fold CV accuracy on MNIST.

    PYTHONPATH=src python benchmarks/beyond_cell.py --data /path/to/mnist.npz [--epochs 20] [--folds 6]

Same split, folds and seeds as `scratchnet tune` (tuning.make_folds, init_seed,
batch_seed, seed 123), trained through `train` (which uses the reference loop for
these options). Each fold's last-epoch validation accuracy is appended to
--out (CSV) as soon as it is known; a rerun skips the folds already there.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from scratchnet.data import load_mnist, split
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import train
from scratchnet.tuning import Config, batch_seed, init_seed, make_folds

RECIPE = dict(activation="relu", init="he", output="softmax", loss="cross_entropy")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--out", default="runs/beyond_cell.csv")
    args = parser.parse_args()
    X, y = load_mnist(args.data)
    X_train, _, y_train, _ = split(X, y, test_size=10000, seed=args.seed)
    config = Config(3, 10, args.learning_rate)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if out.is_file():
        with out.open() as fh:
            done = {int(r["fold"]): float(r["accuracy"]) for r in csv.DictReader(fh)}
    for fold, (tr, va) in enumerate(make_folds(y_train, args.folds, args.seed)):
        if fold in done:
            continue
        net = MultilayerNeuralNetClassifier(
            [784, 10, 10, 10, 10], random_seed=init_seed(args.seed, config, fold), **RECIPE
        )
        t0 = time.perf_counter()
        hist = train(
            net,
            X_train[tr],
            y_train[tr],
            X_train[va],
            y_train[va],
            epochs=args.epochs,
            batch_size=200,
            learning_rate=args.learning_rate,
            seed=batch_seed(args.seed, fold),
            optimizer="adam",
            verbose=False,
            progress=False,
        )
        done[fold] = float(hist.accuracy_test.iloc[-1])
        new = not out.is_file()
        with out.open("a", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(["fold", "accuracy", "epochs", "seconds"])
            writer.writerow([fold, done[fold], args.epochs, round(time.perf_counter() - t0, 1)])
        print(f"fold {fold}: validation accuracy {done[fold]:.4f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(
        f"mean {args.folds}-fold CV accuracy of 3 × 10 with {RECIPE}, Adam η={args.learning_rate}, "
        f"{args.epochs} epochs: {np.mean(list(done.values())):.6f}"
    )


if __name__ == "__main__":
    main()
