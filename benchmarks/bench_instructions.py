"""Instruction counts of one fold-epoch of a small article grid: an A/B that a loaded machine cannot blur.

    SCRATCHNET_MNIST=/path/to/mnist.npz OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        valgrind --tool=callgrind --callgrind-out-file=/dev/null python3.11 benchmarks/bench_instructions.py REPO METHOD TRAIN

REPO: a checkout whose ``src`` is imported (e.g. a worktree of the commit before a change, and one after);
METHOD: ``reference`` (train_reference, one network at a time), ``dense`` or ``sparse`` (train_many with that
first layer); TRAIN: 1 to train, 0 to stop after the set-up. The training's instructions are the difference of
callgrind's "Collected" between TRAIN=1 and TRAIN=0. Workload: 9 networks (1-3 hidden layers × 10, 30, 50
nodes, η 0.1, sigmoid/MSE, float32), 4,000 MNIST training rows, 1,000 validation rows, batch 200, one epoch.
Run the interpreter itself (not a pyenv shim) so that valgrind follows it.
"""

import os
import sys

repo, method, train = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
sys.path.insert(0, f"{repo}/src")
import numpy as np  # noqa: E402

from scratchnet.engine import train_many  # noqa: E402
from scratchnet.network import MultilayerNeuralNetClassifier  # noqa: E402
from scratchnet.training import train_reference  # noqa: E402

with np.load(os.environ["SCRATCHNET_MNIST"]) as d:
    raw = d["x_train"][:5000].reshape(5000, -1) if "x_train" in d.files else d["X"][:5000]
    labels = d["y_train"][:5000] if "y_train" in d.files else d["y"][:5000]
X = (raw.astype(np.float32) / np.float32(255) - np.float32(0.5)) * np.float32(2)
y = labels.astype(np.int64)
Xt, yt, Xv, yv = X[:4000], y[:4000], X[4000:], y[4000:]
grid = [(d, w, 0.1) for d in (1, 2, 3) for w in (10, 30, 50)]
nets = [
    MultilayerNeuralNetClassifier([784, *[w] * d, 10], random_seed=i, dtype=np.float32)
    for i, (d, w, _) in enumerate(grid)
]
if train:
    if method == "reference":
        for net, (_, _, lr) in zip(nets, grid):
            train_reference(net, Xt, yt, Xv, yv, epochs=1, batch_size=200, learning_rate=lr, seed=0, verbose=False,
                            progress=False)  # fmt: skip
    else:
        train_many(nets, Xt, yt, Xv, yv, epochs=1, batch_size=200, learning_rates=[g[2] for g in grid], seed=0,
                   first_layer=method, blas_threads=1)  # fmt: skip
print(sum(float(w.sum()) for n in nets for w in n.weights))
