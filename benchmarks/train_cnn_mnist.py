"""Train a layered network (default: the ``cnn`` architecture) on real MNIST, stratified 10k hold-out, seed 123.

    SCRATCHNET_MNIST=/path/to/mnist.npz OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        PYTHONPATH=src python benchmarks/train_cnn_mnist.py --epochs 15 --save /tmp/cnn.npz

Prints one history line per epoch (the article's format plus seconds) and, at the
end, the first epoch reaching the target hold-out accuracy and the wall time to it.

``--framework torch`` trains the same network (``torch_export.to_torch``: the same initial
weights), recipe (Adam, batch, softmax + cross-entropy), hold-out and batch order in PyTorch on
the CPU with ``--threads`` threads, the baseline of issue 12's "at most twice PyTorch's time to
0.992". Run both with the same ``--threads`` in one session and compare the times to the target.
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
    ap.add_argument("--framework", choices=["scratchnet", "torch"], default="scratchnet")
    ap.add_argument("--threads", type=int, default=None, help="BLAS/torch threads (default: as the environment)")
    args = ap.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)

    X, y = load_mnist(dtype=np.dtype(args.dtype).type)
    X_train, X_test, y_train, y_test = split(X, y, test_size=10000, seed=123)
    model = LayeredNetwork(args.arch, (1, 28, 28), dtype=args.dtype, seed=args.seed)
    print(model.summary(), flush=True)
    if args.framework == "torch":
        return train_torch(model, X_train, y_train, X_test, y_test, args)
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


def train_torch(model, X_train, y_train, X_test, y_test, args):
    """The same network, weights at the start, recipe and batch order, trained by PyTorch."""
    import torch

    from scratchnet.batching import epoch_rng
    from scratchnet.optimizers import SCHEDULES
    from scratchnet.torch_export import to_torch

    if args.optimizer != "adam" or args.augment:
        raise SystemExit("--framework torch runs Adam (with any schedule of ours) and no augmentation")
    if args.threads:
        torch.set_num_threads(args.threads)
    net = to_torch(model)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    shape = (-1, 1, 28, 28)
    Xt, yt = torch.from_numpy(X_train.reshape(shape)), torch.from_numpy(y_train.astype(np.int64))
    Xv, yv = torch.from_numpy(X_test.reshape(shape)), torch.from_numpy(y_test.astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=args.learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    torch.manual_seed(args.seed)
    start, reached = time.perf_counter(), None
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        for group in opt.param_groups:  # the rate of this epoch, by our schedule's formula
            group["lr"] = SCHEDULES[args.schedule](args.learning_rate, epoch, args.epochs)
        net.train()
        order = torch.from_numpy(epoch_rng(args.seed, epoch).permutation(len(Xt)))
        for i in range(0, len(Xt), args.batch_size):
            idx = order[i : i + args.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(Xt[idx].to(dtype)), yt[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = float(
                torch.cat([net(Xv[i : i + 2000]).argmax(1) for i in range(0, len(Xv), 2000)]).eq(yv).double().mean()
            )
        if acc >= args.target and reached is None:
            reached = (epoch, time.perf_counter() - start)
        print(f"epoch {epoch}: hold-out accuracy {acc:.4f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    total = time.perf_counter() - start
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); total {total:.0f} s")
    if reached:
        print(f"reached {args.target} after epoch {reached[0]} (epochs counted from 0) in {reached[1]:.0f} s")
    else:
        print(f"did not reach {args.target}")


if __name__ == "__main__":
    main()
