"""What each of the article's "next steps" buys on MNIST, one change at a time, same budget.

Every row trains [784, 50, 10] for the same number of epochs (default 20) with batch 200 on
the article's split (stratified 10,000 hold-out, seed 123) and adds one change to the row
above. Prints a Markdown table: hold-out accuracy after the budget and wall time.

    SCRATCHNET_MNIST=/path/to/mnist.npz python benchmarks/beyond_table.py [--epochs 20] [--dtype float32]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scratchnet import MultilayerNeuralNetClassifier, train
from scratchnet.data import load_mnist, split

ROWS = [
    ("article: sigmoid, MSE, normal init, SGD η = 0.3", {}, {"learning_rate": 0.3}),
    ("+ softmax output, cross-entropy", {"output": "softmax", "loss": "cross_entropy"}, {"learning_rate": 0.3}),
    (
        "+ ReLU hidden layer, He init (η = 0.3)",
        {"output": "softmax", "loss": "cross_entropy", "activation": "relu", "init": "he"},
        {"learning_rate": 0.3},
    ),
    (
        "  the same with η = 0.05",
        {"output": "softmax", "loss": "cross_entropy", "activation": "relu", "init": "he"},
        {"learning_rate": 0.05},
    ),
    (
        "+ Adam (η = 0.001)",
        {"output": "softmax", "loss": "cross_entropy", "activation": "relu", "init": "he"},
        {"learning_rate": 0.001, "optimizer": "adam"},
    ),
    (
        "+ cosine schedule",
        {"output": "softmax", "loss": "cross_entropy", "activation": "relu", "init": "he"},
        {"learning_rate": 0.001, "optimizer": "adam", "schedule": "cosine"},
    ),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--hidden", type=int, default=50)
    args = parser.parse_args()
    dtype = np.dtype(args.dtype).type
    X, y = load_mnist(dtype=dtype)
    X_train, X_test, y_train, y_test = split(X, y, test_size=10000, seed=123)
    print(f"[784, {args.hidden}, 10], batch 200, {args.epochs} epochs, {args.dtype}, seed 123\n")
    print("| recipe (each row adds to the one above) | hold-out accuracy | best epoch's | wall time |")
    print("|---|---:|---:|---:|")
    for name, net_options, train_options in ROWS:
        net = MultilayerNeuralNetClassifier([784, args.hidden, 10], random_seed=123, dtype=dtype, **net_options)
        start = time.perf_counter()
        hist = train(
            net,
            X_train,
            y_train,
            X_test,
            y_test,
            epochs=args.epochs,
            batch_size=200,
            seed=123,
            verbose=False,
            progress=False,
            **train_options,
        )
        seconds = time.perf_counter() - start
        print(
            f"| {name} | {hist.accuracy_test.iloc[-1]:.4f} | {hist.accuracy_test.max():.4f} | {seconds:.0f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
