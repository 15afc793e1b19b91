"""Skip connections against the deep-sigmoid plateau: plain vs residual sigmoid MLPs on MNIST.

    SCRATCHNET_MNIST=/path/to/mnist.npz OPENBLAS_NUM_THREADS=1 PYTHONPATH=src \\
        python benchmarks/residual_study.py --epochs 30 --out runs/residual_study.jsonl

For every depth d (hidden layers) × width w × learning rate η it trains, with the
article's recipe otherwise (sigmoid hidden layers and output, MSE, N(0, 0.1²)
weights, zero biases, plain SGD, batch 200):

* **plain**: ``dense(w) sigmoid`` × d, then ``dense(10)`` — the article's network
  (``model.mlp_arch``; ``LayeredNetwork.from_mlp`` trains to its exact numbers);
* **residual**: ``dense(w) sigmoid`` then ``residual(dense(w) sigmoid)`` × (d − 1),
  then ``dense(10)``: each hidden layer after the first adds its input back,
  ``A⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾ + σ(A⁽ᵏ⁻¹⁾·W⁽ᵏ⁾ + b⁽ᵏ⁾)``.

Both draw the same initial weights (the identity shortcuts draw nothing) and see the
same batches (seed 123), so the skip connections are the only difference. Per run:
hold-out accuracy per epoch (stratified 10,000-image hold-out, seed 123), the first
epoch whose hold-out accuracy reaches 0.2 (off the 0.1125 plateau: 0.1125 is the share
of the digit 1, what a network predicting "1" for everything scores), and
‖∂L/∂W⁽ᵏ⁾‖ of every dense layer on a fixed sample of 1,000 training rows before
training (epoch 0) and after the first epoch (epoch 1).

Each run is appended to ``--out`` (JSON lines) when it ends; a rerun skips the runs
already there, and ``--table`` only prints the tables of the file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from scratchnet.data import load_split
from scratchnet.losses import int_to_onehot
from scratchnet.model import LayeredNetwork, mlp_arch, train_layered

LEFT = 0.2
"""Hold-out accuracy that counts as having left the plateau of 0.1125 (every image called "1")."""
SAMPLE = 1000


def arch(kind: str, depth: int, width: int, n_in: int, n_classes: int) -> str:
    """The spec of a plain or residual sigmoid MLP of ``depth`` hidden layers of ``width`` nodes."""
    if kind == "plain":
        return mlp_arch([n_in] + [width] * depth + [n_classes])
    first = f"dense({width}, init='normal') sigmoid"
    block = f"residual(dense({width}, init='normal') sigmoid)"
    return " ".join([first] + [block] * (depth - 1) + [f"dense({n_classes}, init='normal')"])


def grad_norms(model: LayeredNetwork, X: np.ndarray, Y: np.ndarray) -> list[float]:
    """‖∂L/∂W⁽ᵏ⁾‖ (Frobenius) of every dense layer, input to output, on ``X``/``Y`` (no dropout anyway)."""
    _, grads = model.gradients(X, Y, training=False)
    return [float(np.linalg.norm(g)) for name, g in grads.items() if name.endswith(".W")]


def spread(model: LayeredNetwork, X: np.ndarray) -> list[float]:
    """How much the images still differ after each hidden layer and at the output: the mean over units of the
    standard deviation across ``X`` of A⁽ᵏ⁾ (the value after layer k's sigmoid and, in a residual net, its skip)."""
    out, a = [], model._input(X)
    for layer in model.layers:
        a = layer.forward(a)
        if layer.kind in ("sigmoid", "residual"):
            out.append(float(a.std(axis=0).mean()))
    out.append(float(model.predict_proba(X).std(axis=0).mean()))
    return out


def build(kind, depth, width, X_train, y_train, seed):
    n_classes = int(y_train.max()) + 1
    return LayeredNetwork(
        arch(kind, depth, width, X_train.shape[1], n_classes),
        (X_train.shape[1],),
        output="sigmoid",
        loss="mse",
        dtype=X_train.dtype,
        seed=seed,
    )


def init_row(kind, depth, width, data, seed):
    """At the initial weights only: gradient norms and spreads on the fixed sample (no training)."""
    X_train, y_train, _, _ = data
    model = build(kind, depth, width, X_train, y_train, seed)
    Xs, Ys = _sample(model, X_train, y_train, seed)
    return {"kind": kind, "depth": depth, "width": width, "grad_norms": grad_norms(model, Xs, Ys),
            "spread": spread(model, Xs)}  # fmt: skip


def _sample(model, X_train, y_train, seed):
    rows = np.sort(np.random.default_rng(seed).choice(X_train.shape[0], min(SAMPLE, X_train.shape[0]), False))
    return X_train[rows], int_to_onehot(y_train[rows], model.n_classes).astype(X_train.dtype)


def run_one(kind, depth, width, eta, data, epochs, seed, batch_size):
    X_train, y_train, X_test, y_test = data
    model = build(kind, depth, width, X_train, y_train, seed)
    Xs, Ys = _sample(model, X_train, y_train, seed)
    norms = {0: grad_norms(model, Xs, Ys)}
    spreads = {0: spread(model, Xs)}

    def after(record):
        if record["epoch"] == 0:
            norms[1] = grad_norms(model, Xs, Ys)
            spreads[1] = spread(model, Xs)

    start = time.perf_counter()
    history = train_layered(model, X_train, y_train, X_test, y_test, epochs=epochs, batch_size=batch_size,
                            learning_rate=eta, seed=seed, optimizer="sgd", on_epoch=after)  # fmt: skip
    seconds = time.perf_counter() - start
    acc = [float(a) for a in history.accuracy_test]
    left = next((i + 1 for i, a in enumerate(acc) if a >= LEFT), None)
    return {
        "kind": kind,
        "depth": depth,
        "width": width,
        "eta": eta,
        "epochs": epochs,
        "arch": model.arch,
        "accuracy_test": acc,
        "loss_test": [float(v) for v in history.loss_test],
        "left_plateau_epoch": left,
        "grad_norms_epoch0": norms[0],
        "grad_norms_epoch1": norms.get(1),
        "spread_epoch0": spreads[0],
        "spread_epoch1": spreads.get(1),
        "seconds": seconds,
    }


def _fmt_acc(a):
    return f"{a:.4f}"


def _epoch_at(acc, e):
    return _fmt_acc(acc[e - 1]) if len(acc) >= e else "–"


def table(results: list[dict]) -> str:
    """The study's table in Markdown: one row per (η, depth, width), plain and residual side by side."""
    by = {(r["eta"], r["depth"], r["width"], r["kind"]): r for r in results}
    keys = sorted({(r["eta"], r["depth"], r["width"]) for r in results}, key=lambda k: (-k[0], k[1], k[2]))
    epochs = max(r["epochs"] for r in results)
    mid = min(5, epochs)
    head = (
        f"| η | depth × width | plain: acc. epoch {mid} | plain: epoch {epochs} | plain leaves at | "
        f"residual: acc. epoch {mid} | residual: epoch {epochs} | residual leaves at | "
        "layer 1 / output ‖∂L/∂W‖ at epoch 0, plain → residual | at epoch 1, plain → residual | s (plain/res.) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for eta, d, w in keys:
        p, r = by.get((eta, d, w, "plain")), by.get((eta, d, w, "residual"))
        cells = [f"{eta:g}", f"{d} × {w}"]
        for x in (p, r):
            if x is None:
                cells += ["–", "–", "–"]
                continue
            left = x["left_plateau_epoch"]
            cells += [
                _epoch_at(x["accuracy_test"], mid),
                _epoch_at(x["accuracy_test"], epochs),
                f"epoch {left}" if left else f"not in {x['epochs']}",
            ]
        for key in ("grad_norms_epoch0", "grad_norms_epoch1"):
            ratios = [f"{x[key][0] / x[key][-1]:.2g}" if x and x.get(key) else "–" for x in (p, r)]
            cells.append(" → ".join(ratios))
        cells.append("/".join(f"{x['seconds']:.0f}" if x else "–" for x in (p, r)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def norms_table(results: list[dict], depth: int, width: int, eta: float) -> str:
    """Per-layer ‖∂L/∂W⁽ᵏ⁾‖ of one cell, plain and residual, at epochs 0 and 1."""
    rows = [r for r in results if (r["depth"], r["width"], r["eta"]) == (depth, width, eta)]
    if not rows:
        return ""
    n = depth + 1
    head = "| network, epoch | " + " | ".join(f"layer {k}" for k in range(1, n)) + " | output |"
    lines = [head, "|" + "---|" * (n + 1)]
    for r in sorted(rows, key=lambda r: r["kind"]):
        for e in (0, 1):
            v = r[f"grad_norms_epoch{e}"]
            if v:
                lines.append(f"| {r['kind']}, epoch {e} | " + " | ".join(f"{x:.2e}" for x in v) + " |")
    return "\n".join(lines)


def init_table(rows: list[dict]) -> str:
    """At the initial weights: how much the images differ after hidden layer 1, the last hidden layer and at
    the output (``spread``), plain and residual side by side."""
    by = {(r["depth"], r["width"], r["kind"]): r for r in rows}
    head = (
        "| depth × width | spread after layer 1 | after the last hidden layer, plain → residual | "
        "at the output, plain → residual |"
    )
    lines = [head, "|---|---|---|---|"]
    for d, w in sorted({(r["depth"], r["width"]) for r in rows}):
        p, r = by.get((d, w, "plain")), by.get((d, w, "residual"))
        if p is None or r is None:
            continue
        lines.append(
            f"| {d} × {w} | {p['spread'][0]:.3g} | {p['spread'][-2]:.3g} → {r['spread'][-2]:.3g} | "
            f"{p['spread'][-1]:.3g} → {r['spread'][-1]:.3g} |"
        )
    return "\n".join(lines)


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", help="mnist (SCRATCHNET_MNIST) or digits (for tests)")
    parser.add_argument("--depths", default="3,6,10")
    parser.add_argument("--widths", default="10,50")
    parser.add_argument("--etas", default="0.3")
    parser.add_argument("--kinds", default="plain,residual", help="plain, residual or both")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--limit", type=int, default=None, help="train on the first LIMIT training rows only")
    parser.add_argument("--out", default="runs/residual_study.jsonl")
    parser.add_argument("--table", action="store_true", help="only print the tables of --out")
    parser.add_argument(
        "--init-only", action="store_true", help="no training: the spreads and gradients at the initial weights"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    depths = [int(v) for v in args.depths.split(",")]
    widths = [int(v) for v in args.widths.split(",")]
    etas = [float(v) for v in args.etas.split(",")]
    if not args.table:
        X_train, X_test, y_train, y_test = load_split(args.dataset, None, None, args.seed, args.dtype)
        if args.limit:
            X_train, y_train = X_train[: args.limit], y_train[: args.limit]
        data = (X_train, y_train, X_test, y_test)
    if args.init_only:
        rows = [init_row(k, d, w, data, args.seed) for d in depths for w in widths for k in args.kinds.split(",")]
        print(init_table(rows))
        return rows
    if not args.table:
        print(
            f"{args.dataset}: {X_train.shape[0]} training / {X_test.shape[0]} hold-out rows, {args.dtype}, "
            f"{platform.processor() or platform.machine()}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}",
            flush=True,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        done = {(r["kind"], r["depth"], r["width"], r["eta"], r["epochs"]) for r in read(out)}
        for eta in etas:
            for depth in depths:
                for width in widths:
                    for kind in args.kinds.split(","):
                        if (kind, depth, width, eta, args.epochs) in done:
                            continue
                        r = run_one(kind, depth, width, eta, data, args.epochs, args.seed, args.batch_size)
                        with out.open("a") as f:
                            f.write(json.dumps(r) + "\n")
                        left = r["left_plateau_epoch"]
                        print(
                            f"η={eta:g} {kind:>8} {depth:>2} × {width:<3} hold-out {r['accuracy_test'][-1]:.4f} "
                            f"after {args.epochs} epochs, left the plateau: {left or 'no'}, {r['seconds']:.0f} s",
                            flush=True,
                        )
    results = [r for r in read(out) if r["epochs"] == args.epochs]
    results = [r for r in results if r["depth"] in depths and r["width"] in widths and r["eta"] in etas]
    print(table(results))
    narrowest = min(widths)
    for depth in depths:
        nt = norms_table(results, depth, narrowest, etas[0])
        if nt:
            print(f"\n‖∂L/∂W⁽ᵏ⁾‖ of {depth} × {narrowest}, η = {etas[0]:g}:\n{nt}")
    return results


if __name__ == "__main__":
    main()
