"""Seconds per epoch of LeNet-5 and the ``cnn`` network: scratchnet's layers against PyTorch on the CPU.

Both frameworks train the same network (same initial weights, copied by
``scratchnet.torch_export``) on the same batches with Adam, the same batch size,
dtype and number of threads (BLAS and Numba for scratchnet, ``torch.set_num_threads``
for PyTorch). Their training steps are timed *interleaved* (a block of steps of one,
then of the other, repeated), so that a machine shared with other work slows both
alike; seconds per epoch = median seconds per step × steps per epoch (60,000 MNIST
training images: 468 batches of 128). ``--full`` times whole epochs instead.

    PYTHONPATH=src python benchmarks/bench_cnn.py --threads 1 2 --append benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import numpy as np


def cpu_name():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    name = fields.get("Model name", "unknown CPU").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    flags = fields.get("Flags", "")
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {cpus} CPUs, {simd}"


def blas_name():
    from threadpoolctl import threadpool_info

    np.ones((2, 2)) @ np.ones((2, 2))
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i['internal_api']} {i.get('version')} ({i.get('architecture')})" for i in infos) or "?"


def load_data(n):
    """MNIST training images if ``$SCRATCHNET_MNIST`` is set, else random images of its shape."""
    if os.environ.get("SCRATCHNET_MNIST"):
        from scratchnet.data import load_mnist

        X, y = load_mnist(dtype=np.float32)
        return X[:n].reshape(-1, 1, 28, 28), y[:n], "MNIST"
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n), "random images"


def bench(arch, threads, batch_size, steps, reps, full, X, y, epoch_size, dtype):
    import numba
    import torch
    from threadpoolctl import threadpool_limits

    from scratchnet.model import LayeredNetwork
    from scratchnet.optimizers import Adam
    from scratchnet.torch_export import to_torch

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    model = LayeredNetwork(arch, (1, 28, 28), dtype=dtype, seed=0)
    net = to_torch(model).train()
    params = model.param_list()
    opt = Adam(0.001)
    opt_t = torch.optim.Adam(net.parameters(), lr=0.001)
    Y = np.eye(10, dtype=model.dtype)[y]
    rng = np.random.default_rng(1)
    X = X.astype(model.dtype)

    def ours(idx):
        model.forward(X[idx], training=True)
        opt.update(params, model.backward(Y[idx]))

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def theirs(idx):
        idx = torch.from_numpy(idx)
        opt_t.zero_grad()
        torch.nn.functional.cross_entropy(net(Xt[idx]), yt[idx]).backward()
        opt_t.step()

    times = {"scratchnet": [], "torch": []}
    n_steps = epoch_size // batch_size if full else steps
    with threadpool_limits(threads):
        for f in (ours, theirs):  # warm up: Numba compilation, allocator, oneDNN primitives
            for _ in range(3):
                f(rng.choice(len(X), batch_size, replace=False))
        for _ in range(reps):
            for name, f in (("scratchnet", ours), ("torch", theirs)):
                batches = [rng.choice(len(X), batch_size, replace=False) for _ in range(n_steps)]
                start = time.perf_counter()
                for idx in batches:
                    f(idx)
                times[name].append((time.perf_counter() - start) / n_steps)
    per_epoch = {k: float(np.median(v)) * (epoch_size // batch_size) for k, v in times.items()}
    return per_epoch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="+", default=["lenet5", "cnn"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=40, help="steps per timed block")
    ap.add_argument("--reps", type=int, default=5, help="timed blocks per framework (interleaved)")
    ap.add_argument("--full", action="store_true", help="time whole epochs of 60,000 images")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--append", default=None, help="append the results to this markdown file")
    args = ap.parse_args()

    import torch

    epoch_size = 60000
    X, y, source = load_data(epoch_size if args.full else 10000)
    load_before = os.getloadavg()
    rows = []
    for arch in args.archs:
        for threads in args.threads:
            r = bench(arch, threads, args.batch_size, args.steps, args.reps, args.full, X, y, epoch_size, args.dtype)
            ratio = r["scratchnet"] / r["torch"]
            rows.append((arch, threads, r["scratchnet"], r["torch"], ratio))
            print(
                f"{arch:8s} threads={threads}: scratchnet {r['scratchnet']:7.1f} s/epoch, "
                f"torch {r['torch']:7.1f} s/epoch, ratio {ratio:.2f}",
                flush=True,
            )
    load_after = os.getloadavg()
    how = "whole epochs" if args.full else f"median of {args.reps} interleaved blocks of {args.steps} steps × 468"
    lines = [
        f"CPU: {cpu_name()}; BLAS: {blas_name()}; torch {torch.__version__}; numpy {np.__version__}",
        f"batch {args.batch_size}, Adam(0.001), {args.dtype}, {source}; seconds per epoch = {how}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after",
        "",
        "| network | threads | scratchnet s/epoch | PyTorch s/epoch | ratio |",
        "|---|---:|---:|---:|---:|",
        *[f"| {a} | {t} | {s:.1f} | {p:.1f} | {q:.2f} |" for a, t, s, p, q in rows],
    ]
    print("\n".join(lines))
    if args.append:
        import shlex
        import sys

        command = "PYTHONPATH=src python " + " ".join(shlex.quote(a) for a in sys.argv)
        with open(args.append, "a") as fh:
            fh.write(
                f"\n## bench_cnn: layered CNNs against PyTorch ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
                f"`{command}`\n\n" + "\n".join(lines) + "\n"
            )


if __name__ == "__main__":
    main()
