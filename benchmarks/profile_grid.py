"""Where one fold-epoch of the article's grid goes in the engine, phase by phase (issue 15).

    SCRATCHNET_MNIST=/work/shared/data/mnist.npz OPENBLAS_NUM_THREADS=1 \\
        python benchmarks/profile_grid.py [--first-layer dense|sparse|both] [--epochs 2] [--src OTHER/src]

Trains the 45 configurations of ``bench_grid.py`` (sigmoid, MSE, plain SGD, batch 200,
50,000 + 10,000 rows, float32) with one BLAS thread, as each process of ``tune`` (and
``bench_grid``'s row (e)) runs them, and times the engine's pieces by wrapping them:
exclusive time (a piece's own time, the pieces it calls taken out) per phase, per
fold-epoch, the fastest of ``--epochs`` epochs per phase. The wrappers cost about 1 µs a
call (a few hundred calls a step), inside the "rest" row.

Phases: first-layer forward and update (the dense GEMMs or the sparse kernels),
the sigmoid forward (σ of every hidden layer and of the outputs), σ′·δ (the hidden
layers' backward through the sigmoid), the output delta (loss sums, correct counts,
η·∂L/∂Z⁽ᴸ⁾), the deeper layers' stacked products and updates (forward and backward),
the batch gather, and the validation pass (its own forward, all phases together).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# --src DIR: profile another checkout's scratchnet (A/B against main: --src /path/to/main/src)
sys.path.insert(
    0, sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv else str(Path(__file__).parents[1] / "src")
)

from threadpoolctl import threadpool_limits

from scratchnet import activations, engine, sparse

_stack: list[list] = []  # [phase, start, time spent in children]
_times: dict[str, float] = defaultdict(float)


def _timed(phase, function):
    """``function`` whose exclusive time is added to ``_times[phase]`` (inside the validation pass: to it)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if _stack and _stack[0][0] == "validation pass":
            return function(*args, **kwargs)  # the validation pass is one phase
        frame = [phase, time.perf_counter(), 0.0]
        _stack.append(frame)
        try:
            return function(*args, **kwargs)
        finally:
            _stack.pop()
            spent = time.perf_counter() - frame[1]
            _times[phase] += spent - frame[2]
            if _stack:
                _stack[-1][2] += spent

    return wrapper


def instrument():
    """Wrap the engine's pieces (before any engine is built: engines read the activation table at birth)."""
    E = engine._Engine
    for name, phase in [
        ("_first_forward", "first layer forward"),
        ("_first_update", "first layer update"),
        ("_output_delta", "output delta, loss, counts"),
        ("_backward_bucket", "deeper layers backward (products, updates)"),
        ("forward", "deeper layers forward (products, biases)"),
        ("evaluate", "validation pass"),
        ("_backward_first", "first layer backward (rest)"),
    ]:
        setattr(E, name, _timed(phase, getattr(E, name)))
    sig = activations.ACTIVATIONS["sigmoid"]
    timed = activations.Activation(
        "sigmoid",
        _timed("sigmoid forward", sig.forward_),
        _timed("sigmoid backward σ′·δ", sig.backward_),
        _timed("sigmoid forward", sig.negated_),
    )
    activations.ACTIVATIONS["sigmoid"] = activations.OUTPUTS["sigmoid"] = engine.ACTIVATIONS["sigmoid"] = timed
    sparse.SparseBatch.take = _timed("batch gather", sparse.SparseBatch.take)
    engine._FusedRun._train = _timed("rest (loop, gather, Python)", engine._FusedRun._train)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--first-layer", choices=["dense", "sparse", "both"], default="both")
    p.add_argument("--epochs", type=int, default=2, help="fold-epochs timed per first layer (the fastest counts)")
    p.add_argument("--configs", type=int, default=45)
    p.add_argument("--src", default=None, help="the src/ folder of the scratchnet to profile (default: this one's)")
    args = p.parse_args(argv)
    import bench_grid  # after scratchnet: bench_grid puts its own src first on the path

    path = os.environ.get("SCRATCHNET_MNIST")
    ns = argparse.Namespace(data=path, rows=50000, val_rows=10000)
    data, source = bench_grid.load_data(ns, np.float32)
    configs = bench_grid.grid(args.configs)
    instrument()
    print(f"profile_grid: {len(configs)} configurations, one fold-epoch, 1 BLAS thread, float32; data: {source}")
    print(f"scratchnet from {Path(engine.__file__).parents[1]}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at start")
    kinds = ["dense", "sparse"] if args.first_layer == "both" else [args.first_layer]
    results = {}
    with threadpool_limits(1, user_api="blas"):
        for kind in kinds:
            bench_grid.run_engine(configs[:2], data, np.float32, 200, 0, kind)  # warm-up, compilation
            best, totals = defaultdict(lambda: np.inf), []
            for _ in range(args.epochs):
                _times.clear()
                _, epoch = bench_grid.run_engine(configs, data, np.float32, 200, 0, kind)
                totals.append(epoch)
                for phase, t in _times.items():
                    best[phase] = min(best[phase], t)
            results[kind] = (min(totals), dict(best))
    phases = sorted({ph for _, b in results.values() for ph in b}, key=lambda ph: -results[kinds[0]][1].get(ph, 0))
    print(f"\n{'phase (exclusive seconds per fold-epoch)':48s}" + "".join(f"{k:>16s}" for k in kinds))
    for ph in phases:
        cells = ""
        for k in kinds:
            total, b = results[k]
            cells += f"{b.get(ph, 0):9.3f} {100 * b.get(ph, 0) / total:4.0f} %"
        print(f"{ph:48s}{cells}")
    print(f"{'epoch (history seconds, fastest)':48s}" + "".join(f"{results[k][0]:9.3f}       " for k in kinds))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} at end")


if __name__ == "__main__":
    main()
