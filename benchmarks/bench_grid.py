"""One fold-epoch of the article's grid, trained five ways; seconds, GFLOP/s, % of GEMM peak.

    python benchmarks/bench_grid.py            # the full measurement (45 configurations, 50,000 + 10,000 rows)
    python benchmarks/bench_grid.py --quick    # a quick look: 9 configurations, 10,000 + 2,000 rows

Data: real MNIST from $SCRATCHNET_MNIST (or --data) when set, else synthetic data
of the same shape (said so in the output). The grid is the article's (section 7):
hidden layers 1, 2, 3 × width 10…50 × learning rate 0.1, 0.2, 0.3, sigmoid, MSE,
plain SGD, batch 200; one epoch = every training batch plus a validation pass.

Measured, each on the same rows and batch order:
  (a) reference   scratchnet's readable network, one configuration at a time
  (b) sklearn     MLPClassifier one at a time (logistic, sgd, momentum 0, alpha 0;
                  it has no MSE loss, so it minimises log-loss instead)
  (c) torch       PyTorch on the CPU, one at a time (only when installed)
  (d) engine      scratchnet.engine.train_many: all configurations together, first
                  layer dense (one GEMM for all networks)
  (d′) engine     the same with the sparse first layer (scratchnet.sparse: only the
                  pixels off their background, 19 % on MNIST) — what tune runs on MNIST
  (e) engine ×P   (d) and (d′) in P processes × 1 BLAS thread, each training a fold-epoch at
                  once, as tune runs them (throughput per fold-epoch = epoch time / P;
                  --processes, 0 to skip)

The engine's rows are the steady epoch time (train_many's history ``seconds``,
validation pass included) after a warm-up call; its one-off set-up per fold
(packing the weights, the sparse rows) is printed apart and is included in the
full-grid time (6 folds × set-up + 1,500 × epoch).

FLOPs per network and sample: forward 2·Σₖ nᵏ⁻¹nᵏ, weight gradients 2·Σₖ nᵏ⁻¹nᵏ,
input gradients 2·Σ_{k≥2} nᵏ⁻¹nᵏ (training rows), plus a forward pass per
validation row. GFLOP/s counts these dense FLOPs for every method, so it is
comparable across rows; the sparse first layer does fewer (its first-layer
products scale with the non-zeros), and its "% peak" is of the FLOPs it really does.
The full-grid time extrapolates to 6 folds × 250 epochs of the 45-configuration
grid on 50,000 + 10,000 rows, in proportion to the FLOPs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import itertools

from threadpoolctl import threadpool_info, threadpool_limits

from scratchnet.batching import batch_indices, epoch_rng
from scratchnet.engine import train_many
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.training import train_reference

GRID = [(depth, width, lr) for depth in (1, 2, 3) for width in (10, 20, 30, 40, 50) for lr in (0.1, 0.2, 0.3)]
FULL = dict(configs=len(GRID), rows=50000, val_rows=10000, folds=6, epochs=250)


def grid(n_configs):
    """The first configurations of a spread of the grid (all 45 when n_configs = 45)."""
    if n_configs >= len(GRID):
        return GRID
    picks = np.linspace(0, len(GRID) - 1, n_configs).round().astype(int)
    return [GRID[i] for i in picks]


def layers_of(config, n_in=784, n_out=10):
    depth, width, _ = config
    return [n_in, *[width] * depth, n_out]


def flops(configs, rows, val_rows, batch=200):
    """Floating-point operations of one fold-epoch (see the module docstring)."""
    seen = (rows // batch) * batch
    total = 0.0
    for c in configs:
        L = layers_of(c)
        macs = [a * b for a, b in itertools.pairwise(L)]
        total += seen * (2 * sum(macs) + 2 * sum(macs) + 2 * sum(macs[1:])) + val_rows * 2 * sum(macs)
    return total


def gemm_peak(dtype, threads, n=2000, repeats=5):
    """GFLOP/s of the best of a few n×n matrix products."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    with threadpool_limits(threads, user_api="blas"):
        a @ b
        best = min(_time(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _time(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def load_data(args, dtype):
    path = args.data or os.environ.get("SCRATCHNET_MNIST")
    n = args.rows + args.val_rows
    if path:
        from scratchnet.data import load_mnist

        X, y = load_mnist(path, dtype=dtype)
        X, y = X[:60000], y[:60000]
        if n > X.shape[0]:
            raise SystemExit(f"error: --rows + --val-rows = {n} exceeds the 60,000 MNIST training rows")
        source = f"real MNIST ({path}), first {args.rows} rows train, next {args.val_rows} validate"
    else:
        rng = np.random.default_rng(0)
        X = rng.uniform(-1, 1, (n, 784)).astype(dtype)
        y = rng.integers(0, 10, n)
        source = "SYNTHETIC data of MNIST's shape (set SCRATCHNET_MNIST for real MNIST; timings are alike)"
    return (X[: args.rows], y[: args.rows], X[args.rows : n], y[args.rows : n]), source


# ---------------------------------------------------------------- the methods
def run_reference(configs, data, dtype, batch, seed):
    for i, c in enumerate(configs):
        net = MultilayerNeuralNetClassifier(layers_of(c), random_seed=i, dtype=dtype)
        train_reference(
            net, *data, epochs=1, batch_size=batch, learning_rate=c[2], seed=seed, verbose=False, progress=False
        )


def run_sklearn(configs, data, dtype, batch, seed):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y, Xv, yv = data
    for i, c in enumerate(configs):
        clf = MLPClassifier(
            hidden_layer_sizes=[c[1]] * c[0],
            activation="logistic",
            solver="sgd",
            learning_rate="constant",
            learning_rate_init=c[2],
            momentum=0.0,
            nesterovs_momentum=False,
            alpha=0.0,
            batch_size=batch,
            max_iter=1,
            shuffle=True,
            random_state=i,
            tol=0,
            n_iter_no_change=10**9,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        p = clf.predict_proba(Xv)
        float(np.mean(p.argmax(axis=1) == yv))


def run_torch(configs, data, dtype, batch, seed):
    import torch

    tdt = torch.float32 if dtype == np.float32 else torch.float64
    X, y, Xv, yv = (torch.from_numpy(np.ascontiguousarray(a)) for a in data)
    Y = torch.nn.functional.one_hot(y, 10).to(tdt)
    for i, c in enumerate(configs):
        torch.manual_seed(i)
        L = layers_of(c)
        mods = []
        for a, b in itertools.pairwise(L):
            mods += [torch.nn.Linear(a, b, dtype=tdt), torch.nn.Sigmoid()]
        model = torch.nn.Sequential(*mods)
        opt = torch.optim.SGD(model.parameters(), lr=c[2])
        loss_fn = torch.nn.MSELoss()
        for idx in batch_indices(X.shape[0], batch, epoch_rng(seed, 0)):
            idx = torch.from_numpy(idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[idx]), Y[idx])
            loss.backward()
            opt.step()
        with torch.no_grad():
            out = model(Xv)
            float(((out - torch.nn.functional.one_hot(yv, 10).to(tdt)) ** 2).mean())
            float((out.argmax(1) == yv).to(tdt).mean())


def _nets_lrs(configs, dtype):
    nets = [MultilayerNeuralNetClassifier(layers_of(c), random_seed=i, dtype=dtype) for i, c in enumerate(configs)]
    return nets, [c[2] for c in configs]


def run_engine(configs, data, dtype, batch, seed, first_layer="auto"):
    """``(set-up seconds, epoch seconds)`` of one fold-epoch of the engine."""
    nets, lrs = _nets_lrs(configs, dtype)
    t = time.perf_counter()
    (history, *_) = train_many(
        nets, *data, epochs=1, batch_size=batch, learning_rates=lrs, seed=seed, first_layer=first_layer
    )
    epoch = float(history["seconds"].iloc[0])
    return time.perf_counter() - t - epoch, epoch


_SHARED = {}


def _engine_child(seed):
    configs, data, dtype, batch, first_layer = _SHARED["job"]
    with threadpool_limits(1, user_api="blas"):
        return run_engine(configs, data, dtype, batch, seed, first_layer)


def run_engine_processes(configs, data, dtype, batch, seed, processes, first_layer="auto"):
    """``(set-up, epoch)`` seconds, the slowest of ``processes`` fold-epochs trained at once, 1 BLAS thread each."""
    _SHARED["job"] = (configs, data, dtype, batch, first_layer)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        pool.map(_engine_child, range(processes))  # start-up and compilation outside the timing
        times = pool.map(_engine_child, [seed + i for i in range(processes)])
    return max(t[0] for t in times), max(t[1] for t in times)


def first_layer_share(configs, data, batch):
    """``(first-layer dense FLOPs per fold-epoch, share of non-zeros of X − c)`` for the sparse accounting."""
    from scratchnet.sparse import background, density

    X, _, Xv, _ = data
    seen = (X.shape[0] // batch) * batch
    width = sum(layers_of(c)[1] for c in configs)
    dense = 2 * 784 * width * (2 * seen + Xv.shape[0])
    return dense, density(np.concatenate([X, Xv]), background(X))


# ---------------------------------------------------------------------- main
def blas_report():
    lines = []
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            lines.append(
                f"  {lib['internal_api']} {lib.get('version')} kernel={lib.get('architecture')} "
                f"threads={lib['num_threads']} ({Path(lib['filepath']).name})"
            )
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="9 configurations, 10,000 + 2,000 rows")
    p.add_argument("--configs", type=int, default=None, help="how many grid configurations (default 45)")
    p.add_argument("--rows", type=int, default=None, help="training rows (default 50000)")
    p.add_argument("--val-rows", type=int, default=None, help="validation rows (default 10000)")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all cores)")
    p.add_argument("--processes", type=int, default=2, help="for (e); 0 skips it")
    p.add_argument("--skip", default="", help="comma-separated methods to skip: reference,sklearn,torch,engine")
    p.add_argument("--data", default=None, help="MNIST file (default $SCRATCHNET_MNIST)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.configs = args.configs or (9 if args.quick else len(GRID))
    args.rows = args.rows or (10000 if args.quick else 50000)
    args.val_rows = args.val_rows or (2000 if args.quick else 10000)
    threads = args.threads or os.cpu_count()
    dtype = np.dtype(args.dtype).type
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    data, source = load_data(args, dtype)
    configs = grid(args.configs)
    work = flops(configs, args.rows, args.val_rows, args.batch_size)
    full_work = flops(GRID, FULL["rows"], FULL["val_rows"], args.batch_size) * FULL["folds"] * FULL["epochs"]
    peaks = {name: gemm_peak(np.dtype(name).type, threads) for name in ("float32", "float64")}
    peak = peaks[args.dtype]
    peak1 = gemm_peak(dtype, 1) if args.processes else None

    print(
        f"bench_grid: one fold-epoch of {len(configs)} configurations, {args.rows} training + "
        f"{args.val_rows} validation rows, batch {args.batch_size}, {args.dtype}"
    )
    print(f"data: {source}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at start"
    )
    print(f"BLAS (threadpoolctl; this run limits it to {threads} thread(s) per process):")
    print("\n".join(blas_report()))
    one = f"; {args.dtype} with 1 thread {peak1:.1f} GFLOP/s" if peak1 else ""
    print(
        f"GEMM peak (2000×2000, {threads} thread(s)): float32 {peaks['float32']:.1f} GFLOP/s, "
        f"float64 {peaks['float64']:.1f} GFLOP/s{one}"
    )
    print(
        f"work: {work / 1e9:.1f} GFLOP per fold-epoch; full grid (45 configs × 6 folds × 250 epochs, "
        f"50,000 + 10,000 rows) {full_work / 1e12:.1f} TFLOP"
    )
    print(
        "sklearn: MLPClassifier has no MSE loss; it minimises log-loss (same layers, logistic, sgd, "
        "momentum 0, alpha 0, batch 200)"
    )

    first_dense, nonzero = first_layer_share(configs, data, args.batch_size)
    sparse_work = work - first_dense * (1 - nonzero)
    print(
        f"sparse first layer: {100 * nonzero:.1f} % of the inputs differ from their background, so it does "
        f"{sparse_work / 1e9:.1f} of the {work / 1e9:.1f} GFLOP ({100 * sparse_work / work:.0f} %)"
    )
    methods = [
        ("(a) reference, one at a time", "reference", run_reference),
        ("(b) sklearn MLPClassifier, one at a time", "sklearn", run_sklearn),
        ("(c) PyTorch CPU, one at a time", "torch", run_torch),
    ]
    engines = [("(d) engine, dense first layer", "dense"), ("(d′) engine, sparse first layer", "sparse")]
    print()
    header = (
        f"{'method':52s} {'s/fold-epoch':>12s} {'GFLOP/s':>9s} {'% peak':>7s} {'full grid':>12s} {'vs (a)':>7s}"
        f" {'÷ limit':>8s} {'vs (b)':>7s}"
    )
    print(header)
    print("-" * len(header))
    ref = sk = None
    # The dense GEMM limit (issue 15): the fold-epoch's dense FLOPs at the best GEMM rate this machine offers,
    # all threads in one product or one thread per core in as many processes.
    limit = work / 1e9 / max(peak, (args.processes or 1) * (peak1 or 0))
    targets = []  # (label, seconds) of the engine's rows

    def report(label, seconds, peak=peak, done=work, setup=0.0):
        nonlocal ref, sk
        if label.startswith("(a)"):
            ref = seconds
        if label.startswith("(b)"):
            sk = seconds
        gflops = work / seconds / 1e9
        full = seconds * full_work / work + FULL["folds"] * setup
        speed = f"{ref / seconds:6.2f}×" if ref else "      -"
        engine = label.startswith(("(d", "(e"))
        if engine:
            targets.append((label, seconds))
        over = f"{seconds / limit:7.2f}×" if engine else "       -"
        versus = f"{sk / seconds:6.2f}×" if engine and sk else "      -"
        print(
            f"{label:52s} {seconds:12.3f} {gflops:9.1f} {100 * done / seconds / 1e9 / peak:6.1f}% "
            f"{full / 60:8.1f} min {speed} {over} {versus}",
            flush=True,
        )

    with threadpool_limits(threads, user_api="blas"):
        for label, key, fn in methods:
            if key in skip:
                continue
            if key == "torch":
                try:
                    import torch
                except ImportError:
                    print("(c) PyTorch: not installed, skipped (pip install torch==2.13.0 to include it)")
                    continue
                torch.set_num_threads(threads)
                label = f"(c) PyTorch {torch.__version__} CPU, one at a time"
            report(label, _time(lambda fn=fn: fn(configs, data, dtype, args.batch_size, args.seed)))
        if "engine" not in skip:
            setups = []
            for label, first_layer in engines:
                run_engine(configs[:2], data, dtype, args.batch_size, args.seed, first_layer)  # warm-up: compile
                setup, epoch = run_engine(configs, data, dtype, args.batch_size, args.seed, first_layer)
                setups.append(f"{label[:4].strip()} {setup:.2f} s")
                report(label, epoch, done=sparse_work if first_layer == "sparse" else work, setup=setup)
    if args.processes and "engine" not in skip:
        for label, first_layer in engines:
            setup, epoch = run_engine_processes(
                configs, data, dtype, args.batch_size, args.seed, args.processes, first_layer
            )
            name = f"(e{label[2 : label.index(')')]})"
            setups.append(f"{name} {setup:.2f} s")
            report(
                f"{name} engine {label[: label.index(')') + 1]}, {args.processes} processes × 1 BLAS thread",
                epoch / args.processes,
                peak=max(peak, args.processes * peak1),
                done=sparse_work if first_layer == "sparse" else work,
                setup=setup / args.processes,
            )
        print(
            f"\n(e) is throughput: the slowest of {args.processes} simultaneous fold-epochs / {args.processes}; "
            f"its % peak is of max(peak above, {args.processes} × the 1-thread peak)."
        )
    if "engine" not in skip:
        print(f"engine set-up per fold (once per 250 epochs; in the full-grid column): {', '.join(setups)}")
    print(
        f"% peak: of the {args.dtype} GEMM peak with {threads} thread(s). full grid: extrapolated in proportion "
        "to the FLOPs. vs (a): speed-up over the reference."
    )
    rates = f"max({peak:.1f}, {args.processes} × {peak1:.1f})" if peak1 else f"{peak:.1f}"
    print(
        f"÷ limit: time / the dense GEMM-limit time {limit:.3f} s ({work / 1e9:.1f} GFLOP at {rates} GFLOP/s); "
        "vs (b): speed-up over scikit-learn one at a time. Issue 15's target: ≤ 1.3× the limit and ≥ 10× (b)."
    )
    if targets:
        label, best = min(targets, key=lambda t: t[1])
        sk_part = f", {sk / best:.2f}× scikit-learn" if sk else ""
        print(f"best engine row: {label.split(',')[0]} {best:.3f} s = {best / limit:.2f}× the limit{sk_part}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
