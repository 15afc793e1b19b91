"""Train a layered network (default: the ``cnn`` architecture) on real MNIST, stratified 10k hold-out, seed 123.

    SCRATCHNET_MNIST=/path/to/mnist.npz OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        PYTHONPATH=src python benchmarks/train_cnn_mnist.py --epochs 15 --save /tmp/cnn.npz

Prints one history line per epoch (the article's format plus seconds) and, at the
end, the first epoch reaching the target hold-out accuracy and the wall time to it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scratchnet.data import load_mnist, split
from scratchnet.model import LayeredNetwork, save_layered, train_layered


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--learning-rate", type=float, default=0.001)
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--schedule", default="constant")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--augment", action="store_true")
    ap.add_argument("--target", type=float, default=0.992)
    ap.add_argument("--save", default=None)
    args = ap.parse_args()

    X, y = load_mnist(dtype=np.dtype(args.dtype).type)
    X_train, X_test, y_train, y_test = split(X, y, test_size=10000, seed=123)
    model = LayeredNetwork(args.arch, (1, 28, 28), dtype=args.dtype, seed=args.seed)
    print(model.summary(), flush=True)
    start = time.perf_counter()
    reached = []

    def on_epoch(record):
        if record["accuracy_test"] >= args.target and not reached:
            reached.append((record["epoch"], time.perf_counter() - start))
        if args.save:
            save_layered(model, args.save)
        return False

    history = train_layered(
        model,
        X_train,
        y_train,
        X_test,
        y_test,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        optimizer=args.optimizer,
        schedule=args.schedule,
        augment=args.augment or None,
        verbose=True,
        on_epoch=on_epoch,
    )
    total = time.perf_counter() - start
    best = history.loc[history.accuracy_test.idxmax()]
    print(f"best hold-out accuracy {best.accuracy_test:.4f} at epoch {int(best.epoch)}; total {total:.0f} s")
    if reached:
        print(f"reached {args.target} after epoch {reached[0][0]} (epochs counted from 0) in {reached[0][1]:.0f} s")
    else:
        print(f"did not reach {args.target}")


if __name__ == "__main__":
    main()
