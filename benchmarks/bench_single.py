"""One network at a time: seconds per epoch of ``training.train()`` against a straight loop, scikit-learn, PyTorch.

    python benchmarks/bench_single.py --threads 1            # both recipes, 3 interleaved repeats
    python benchmarks/bench_single.py --threads 2 --repeats 5
    python benchmarks/bench_single.py --recipes best --epochs 1 --repeats 2   # a quick look

Data: the 60,000 MNIST training rows (``$SCRATCHNET_MNIST`` or ``--data``) and the 10,000 test
rows for the per-epoch metrics pass; scaled to [−1, 1] as in the article.

Recipes:
  best      784-512-512-10 ReLU, dropout 0.2, softmax + cross-entropy, Adam (η 0.001, cosine
            schedule in ours), He initialisation, batch 128, float32 (``presets.PRESETS["best"]``)
  article   [784, 50, 10] sigmoid/MSE, plain SGD η 0.3, batch 200, float32 and float64

Methods (one epoch = every training batch, then one pass over the 10,000 test rows for their loss
and accuracy — the per-epoch metrics that ``train()`` reports):
  train     ``scratchnet.training.train`` (the fused engine with one network; training loss and
            accuracy from the minibatch pass, test figures from one forward pass), first layer
            as ``first_layer`` decides (its history attrs say which)
  loop      the article's recipe as a straight 30-line NumPy loop (``article_loop`` below);
            "loop+m" adds one metrics pass over the test rows, "loop" is the training passes alone
  sklearn   ``MLPClassifier.partial_fit`` once per epoch (no dropout and no MSE loss there: the best
            recipe without dropout, the article's with log-loss), then ``predict_proba`` on the test rows
  torch     PyTorch on the CPU: the same layers, loss, optimiser and batch size, training figures
            summed from the minibatches, then one ``no_grad`` pass over the test rows

Rows of the table: ``train`` is the wall time of ``train(..., epochs=E)`` divided by E (its set-up, the
first-layer measurement included); ``train (epochs only)`` the epochs alone (its history's ``seconds``).

Each repeat runs every method for ``--epochs`` epochs in turn (interleaved, so a load change hits
all of them), on the same batch order; the table gives the median over repeats of seconds per
epoch and each method's ratio to ``train`` in the same run. Threads: ``--threads N`` caps
NumPy's BLAS, Numba and PyTorch alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from threadpoolctl import threadpool_info, threadpool_limits

from scratchnet.batching import batch_indices, epoch_rng
from scratchnet.network import MultilayerNeuralNetClassifier
from scratchnet.presets import PRESETS
from scratchnet.training import train

BEST = PRESETS["best"]
ARTICLE = PRESETS["article"]


def load(path, dtype):
    from scratchnet.data import load_mnist

    X, y = load_mnist(path, dtype=None)  # raw bytes: x_train rows first, then x_test
    scale = lambda a: ((a.astype(dtype) / dtype(255.0)) - dtype(0.5)) * dtype(2)  # noqa: E731
    return scale(X[:60000]), y[:60000], scale(X[60000:70000]), y[60000:70000]


# ---------------------------------------------------------------- ours
def make_ours(recipe, dtype, seed=0):
    if recipe == "best":
        net = MultilayerNeuralNetClassifier(
            [784, *BEST.hidden, 10], random_seed=seed, dtype=dtype, **BEST.recipe.network_options()
        )
        opts = dict(batch_size=BEST.batch_size, learning_rate=BEST.learning_rate, **BEST.recipe.training_options())
    else:
        net = MultilayerNeuralNetClassifier([784, *ARTICLE.hidden, 10], random_seed=seed, dtype=dtype)
        opts = dict(batch_size=ARTICLE.batch_size, learning_rate=ARTICLE.learning_rate)
    state = {"net": net, "first_layer": None, "epoch": []}

    def run(data, epochs, seed):
        h = train(state["net"], *data, epochs=epochs, seed=seed, **opts)
        state["first_layer"] = h.attrs.get("first_layer")
        state["epoch"].extend(h.seconds)  # the epochs alone, without train()'s set-up
        return h

    return run, state


# ---------------------------------------------------------------- the straight loop of the article
def make_loop(dtype, seed=0):
    rng = np.random.default_rng(seed)
    W1 = rng.normal(0, 0.1, (784, 50)).astype(dtype)
    W2 = rng.normal(0, 0.1, (50, 10)).astype(dtype)
    b1, b2 = np.zeros(50, dtype), np.zeros(10, dtype)
    P = [W1, b1, W2, b2]
    times = {"train": [], "metrics": []}

    def run(data, epochs, seed):
        X, y, Xt, yt = data
        Y = np.eye(10, dtype=dtype)[y]
        for e in range(epochs):
            t0 = time.perf_counter()
            article_loop(X, Y, P, ARTICLE.learning_rate, ARTICLE.batch_size, epoch_rng(seed, e))
            t1 = time.perf_counter()
            metrics(P, Xt, yt)
            t2 = time.perf_counter()
            times["train"].append(t1 - t0)
            times["metrics"].append(t2 - t1)

    return run, times


def article_loop(X, Y, P, lr, batch, rng):
    """One epoch of the article's network: sigmoid layers, MSE, plain SGD (sections 1–6), nothing else."""
    W1, b1, W2, b2 = P
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for idx in batch_indices(X.shape[0], batch, rng):
        x, t = X[idx], Y[idx]
        a1 = sig(x @ W1 + b1)
        a2 = sig(a1 @ W2 + b2)
        d2 = (2 / (t.size)) * (a2 - t) * a2 * (1 - a2)  # ∂L/∂Z² of the MSE
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        W2 -= lr * (a1.T @ d2)
        b2 -= lr * d2.sum(axis=0)
        W1 -= lr * (x.T @ d1)
        b1 -= lr * d1.sum(axis=0)


def metrics(P, Xt, yt):
    W1, b1, W2, b2 = P
    a = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(Xt @ W1 + b1))) @ W2 + b2)))
    loss = float(np.mean((a - np.eye(10, dtype=a.dtype)[yt]) ** 2))
    return loss, float(np.mean(a.argmax(axis=1) == yt))


# ---------------------------------------------------------------- scikit-learn
def make_sklearn(recipe, dtype, seed=0):
    from sklearn.neural_network import MLPClassifier

    if recipe == "best":
        clf = MLPClassifier(hidden_layer_sizes=BEST.hidden, activation="relu", solver="adam",
                            learning_rate_init=BEST.learning_rate, alpha=0.0, batch_size=BEST.batch_size,
                            random_state=seed, shuffle=True)  # fmt: skip
    else:
        clf = MLPClassifier(hidden_layer_sizes=ARTICLE.hidden, activation="logistic", solver="sgd",
                            learning_rate="constant", learning_rate_init=ARTICLE.learning_rate, momentum=0.0,
                            nesterovs_momentum=False, alpha=0.0, batch_size=ARTICLE.batch_size,
                            random_state=seed, shuffle=True)  # fmt: skip

    def run(data, epochs, seed):
        X, y, Xt, yt = data
        for _ in range(epochs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.partial_fit(X, y, classes=np.arange(10))
            p = clf.predict_proba(Xt)
            float(np.mean(p.argmax(axis=1) == yt))
            float(-np.mean(np.log(np.clip(p[np.arange(len(yt)), yt], 1e-12, None))))

    return run, None


# ---------------------------------------------------------------- PyTorch
def make_torch(recipe, dtype, seed=0):
    import torch

    tdt = torch.float32 if dtype == np.float32 else torch.float64
    torch.manual_seed(seed)
    nn = torch.nn
    if recipe == "best":
        model = nn.Sequential(
            nn.Linear(784, 512, dtype=tdt), nn.ReLU(), nn.Dropout(BEST.recipe.dropout),
            nn.Linear(512, 512, dtype=tdt), nn.ReLU(), nn.Dropout(BEST.recipe.dropout),
            nn.Linear(512, 10, dtype=tdt),
        )  # fmt: skip
        opt = torch.optim.Adam(model.parameters(), lr=BEST.learning_rate)
        loss_fn, batch, onehot = nn.CrossEntropyLoss(), BEST.batch_size, False
    else:
        model = nn.Sequential(nn.Linear(784, 50, dtype=tdt), nn.Sigmoid(), nn.Linear(50, 10, dtype=tdt), nn.Sigmoid())
        opt = torch.optim.SGD(model.parameters(), lr=ARTICLE.learning_rate)
        mse = nn.MSELoss()
        loss_fn = lambda out, t: mse(out, t)  # noqa: E731
        batch, onehot = ARTICLE.batch_size, True

    def run(data, epochs, seed):
        X, y, Xt, yt = (torch.from_numpy(np.ascontiguousarray(a)) for a in data)
        T = torch.nn.functional.one_hot(y, 10).to(tdt) if onehot else y
        Tt = torch.nn.functional.one_hot(yt, 10).to(tdt) if onehot else yt
        for e in range(epochs):
            model.train()
            loss_sum = torch.zeros((), dtype=torch.float64)
            correct = torch.zeros((), dtype=torch.int64)
            for idx in batch_indices(X.shape[0], batch, epoch_rng(seed, e)):
                idx = torch.from_numpy(idx)
                opt.zero_grad(set_to_none=True)
                out = model(X[idx])
                loss = loss_fn(out, T[idx])
                loss.backward()
                opt.step()
                loss_sum += loss.detach()
                correct += (out.detach().argmax(1) == y[idx]).sum()
            model.eval()
            with torch.no_grad():
                out = model(Xt)
                float(loss_fn(out, Tt))
                float((out.argmax(1) == yt).to(tdt).mean())
            float(loss_sum), int(correct)

    return run, None


# ---------------------------------------------------------------- main
def machine(threads):
    cpu = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
        flags = next((line for line in out.splitlines() if line.startswith("Flags")), "")
        cpu += " (AVX-512)" if "avx512f" in flags else " (AVX2)" if "avx2" in flags else ""
    except (OSError, subprocess.CalledProcessError, StopIteration):
        pass
    lines = [f"CPU: {cpu}, {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.2f} at the start"]
    for lib in threadpool_info():
        if lib.get("user_api") == "blas":
            lines.append(f"BLAS: {lib['internal_api']} {lib.get('version')} kernel={lib.get('architecture')} "
                         f"({Path(lib['filepath']).name}), limited to {threads} thread(s)")  # fmt: skip
    import torch

    lines.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads), NumPy {np.__version__}")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS, Numba and PyTorch threads")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per method per repeat")
    p.add_argument("--recipes", default="best,article32,article64")
    p.add_argument("--skip", default="", help="comma-separated methods to skip: train,loop,sklearn,torch")
    p.add_argument("--data", default=os.environ.get("SCRATCHNET_MNIST"))
    args = p.parse_args(argv)
    import numba
    import torch

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    print(f"bench_single: {' '.join(sys.argv[1:]) or '(defaults)'}")
    with threadpool_limits(args.threads, user_api="blas"):
        print("\n".join(machine(args.threads)))
        for recipe in args.recipes.split(","):
            run_recipe(recipe, args, skip)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


def run_recipe(recipe, args, skip):
    base, dtype = ("best", np.float32) if recipe == "best" else ("article", np.dtype(f"float{recipe[-2:]}").type)
    data = load(args.data, dtype)
    methods = {"train": make_ours(base, dtype)}
    if base == "article":
        methods["loop"] = make_loop(dtype)
    methods["sklearn"] = make_sklearn(base, dtype)
    methods["torch"] = make_torch(base, dtype)
    methods = {k: v for k, v in methods.items() if k not in skip}
    for run, _ in methods.values():  # warm-up: compilation, first-touch, caches
        run(data, 1, 99)
    if "loop" in methods:
        methods["loop"][1]["train"].clear(), methods["loop"][1]["metrics"].clear()
    if "train" in methods:
        methods["train"][1]["epoch"].clear()
    seconds = {k: [] for k in methods}
    for r in range(args.repeats):
        for name, (run, _) in methods.items():
            t = time.perf_counter()
            run(data, args.epochs, r)
            seconds[name].append((time.perf_counter() - t) / args.epochs)
    med = {k: float(np.median(v)) for k, v in seconds.items()}
    if "train" in methods:
        med["train (epochs only)"] = float(np.median(methods["train"][1]["epoch"]))
    if "loop" in methods:
        times = methods["loop"][1]
        med["loop (training only)"] = float(np.median(times["train"]))
        med["loop (metrics pass)"] = float(np.median(times["metrics"]))
    ours = med.get("train")
    first = methods["train"][1]["first_layer"] if "train" in methods else None
    print(f"\n{recipe} ({np.dtype(dtype).name}), {args.threads} thread(s), {args.repeats} repeats × {args.epochs} "
          f"epochs, median s/epoch (train's first layer: {first})")  # fmt: skip
    print(f"| {'method':<22} | s/epoch | × train |")
    print(f"|{'-' * 24}|--------:|--------:|")
    for name, s in med.items():
        ratio = f"{s / ours:.2f}" if ours else "–"
        print(f"| {name:<22} | {s:7.3f} | {ratio:>7} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
