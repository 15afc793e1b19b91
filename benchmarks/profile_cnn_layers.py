"""Where a training step of a layered network spends its time: seconds per layer, forward and backward.

    PYTHONPATH=src python benchmarks/profile_cnn_layers.py --threads 2            # the cnn preset's network
    PYTHONPATH=src python benchmarks/profile_cnn_layers.py --arch lenet5 --threads 1

Trains ``--steps`` minibatches of 128 random 1×28×28 images (float32, Adam, softmax + cross-entropy)
with every layer's ``forward``/``backward`` timed, and prints each one's share of the wall time;
"rest" is the optimiser, the loss and the bookkeeping. The kernels are compiled (or loaded from
Numba's cache) by a first, untimed step.
"""

from __future__ import annotations

import argparse
import collections
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from scratchnet.model import LayeredNetwork, train_layered


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="cnn")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    numba.set_num_threads(args.threads)
    spent: dict[str, float] = collections.defaultdict(float)

    def timed(cls, name):
        method = getattr(cls, name)

        def wrapper(self, *a, **k):
            t = time.perf_counter()
            out = method(self, *a, **k)
            spent[f"{self.spec()[:24]} {name}"] += time.perf_counter() - t
            return out

        setattr(cls, name, wrapper)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((128 * args.steps, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, len(X))
    with threadpool_limits(args.threads):
        model = LayeredNetwork(args.arch, (1, 28, 28), output="softmax", loss="cross_entropy", dtype="float32", seed=0)
        recipe = dict(batch_size=128, learning_rate=0.001, optimizer="adam", seed=1)
        train_layered(model, X[:128], y[:128], epochs=1, **recipe)  # compile or load the kernels
        for cls in {type(layer) for layer in model.layers}:
            timed(cls, "forward")
            timed(cls, "backward")
        t = time.perf_counter()
        train_layered(model, X, y, epochs=1, **recipe)
        total = time.perf_counter() - t
    print(f"{args.arch}, {args.threads} thread(s): {total:.2f} s for {args.steps} steps of 128")
    for key, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.005 * total:
            print(f"  {key:<34} {seconds:6.2f} s {100 * seconds / total:5.1f} %")
    print(f"  {'rest':<34} {total - sum(spent.values()):6.2f} s")


if __name__ == "__main__":
    main()
