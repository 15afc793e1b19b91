"""The whole article in one command: every experiment, every figure, our numbers beside its numbers.

``reproduce(out)`` runs, in order: the gradient check (§4), the digit grid and
the 10- and 100-epoch runs with their curves (§5–6, through the ``train``
command), the cross-validated grid search into ``out/tune.sqlite`` (§7,
resumable), its table and figures, the refit of the best configuration and
its hold-out score; then writes ``out/REPORT.md``. Finished steps are reused
when run again. ``quick=True`` does the same on the bundled digits data with a
small grid, in well under two minutes.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .data import load_split
from .gradcheck import check_gradients, format_report, random_problem
from .grid import experiment_fingerprint, make_grid
from .network import MultilayerNeuralNetClassifier
from .report import best_rate_table, format_markdown, markdown_table, plot_curves, plot_heatmap, summarize
from .runs import RunSettings, train_run
from .store import Store, StoreError
from .training import format_epoch
from .tuning import refit_best, run_tune
from .version import __version__

ARTICLE = {
    "class_counts": {0: 6903, 1: 7877, 2: 6990, 3: 7141, 4: 6824, 5: 6313, 6: 6876, 7: 7293, 8: 6825, 9: 6958},
    "untrained_accuracy": 0.095,
    "run10": {
        "first": 0.285,
        "last": 0.765,
        "line": "epoch 0: loss_training=0.096 | accuracy_training=0.236 | loss_test=0.088 | accuracy_test=0.285",
    },
    "run100": "about 0.90 after ~50 epochs, training and test alike",
    "table": pd.DataFrame(
        [
            [0.905217, 0.927083, 0.936883, 0.939067, 0.9441],
            [0.8476, 0.925567, 0.933817, 0.93725, 0.9415],
            [0.112533, 0.305133, 0.779133, 0.912867, 0.92285],
        ],
        index=pd.Index([1, 2, 3], name="hidden_layers"),
        columns=pd.Index([10, 20, 30, 40, 50], name="hidden_nodes"),
    ),
    "best": (1, 50, 0.3, 0.944),
    "tune_time": "about 12 hours on one core (Intel Xeon Gold, 3.5 GHz)",
    "refit": {"accuracy_training": 0.958, "accuracy_test": 0.946, "loss_training": 0.008, "loss_test": 0.009},
}

PLANS = {
    # the article's experiments on MNIST; the learning rate of the 10- and 100-epoch runs is not
    # stated in the article: we use 0.1
    "full": {
        "dataset": "mnist",
        "hidden": [50],
        "run10": {"epochs": 10, "batch_size": 100, "learning_rate": 0.1},
        "run100": {"epochs": 100, "batch_size": 200, "learning_rate": 0.1},
        "grid": {
            "hidden_layers": [1, 2, 3],
            "hidden_nodes": [10, 20, 30, 40, 50],
            "learning_rates": [0.1, 0.2, 0.3],
            "folds": 6,
            "epochs": 250,
            "batch_size": 200,
        },
    },
    # the same steps on the 1,797 bundled 8×8 digits, with rates and batches that suit so few samples
    "quick": {
        "dataset": "digits",
        "hidden": [50],
        "run10": {"epochs": 10, "batch_size": 20, "learning_rate": 1.0},
        "run100": {"epochs": 100, "batch_size": 20, "learning_rate": 1.0},
        "grid": {
            "hidden_layers": [1, 2],
            "hidden_nodes": [10, 30],
            "learning_rates": [0.5, 2.0],
            "folds": 3,
            "epochs": 20,
            "batch_size": 20,
        },
    },
}


def _run_train(
    folder: Path,
    dataset: str,
    data_path: str | None,
    seed: int,
    hidden: list[int],
    settings: dict,
    echo: Callable,
    progress: bool = False,
) -> pd.DataFrame:
    """One ``train`` run of the article's recipe (``runs.train_run``); skipped if ``folder`` already holds it."""
    history_file = folder / "history.csv"
    if history_file.is_file() and (folder / "model.npz").is_file():
        history = pd.read_csv(history_file)
        if len(history) == settings["epochs"]:
            echo(f"reusing {folder} ({settings['epochs']} epochs already trained)")
            return history
    run = RunSettings(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        hidden=tuple(hidden),
        dataset=dataset,
        data_path=data_path,
        seed=seed,
    )
    train_run(run, folder, verbose=True, progress=progress, echo=echo)
    return pd.read_csv(history_file)


def _md(df: pd.DataFrame, index_name: str, floatfmt: str = ".6f") -> str:
    return markdown_table(df, index_name, floatfmt)


@dataclass
class Findings:
    """What the steps of ``reproduce`` found, for REPORT.md."""

    plan: dict
    grid: dict
    seed: int
    quick: bool
    grad_lines: list[str]
    split: list[np.ndarray]
    untrained_accuracy: float
    run10: pd.DataFrame
    run100: pd.DataFrame
    summary: dict
    refit: dict
    tune_seconds: float
    executor: str
    workers: int | None
    elapsed: float = 0.0

    @property
    def dataset(self) -> str:
        return self.plan["dataset"]


def _gradient_check(echo: Callable) -> list[str]:
    """§4: the gradient check of an untrained [50, 40, 30, 10] network on 5 random samples; its report lines."""
    echo("== gradient check (article §4)")
    net = MultilayerNeuralNetClassifier([50, 40, 30, 10], random_seed=1)
    lines = format_report(check_gradients(net, *random_problem(net, 5, 1)))
    for line in lines:
        echo(line)
    return lines


def _untrained_accuracy(split: list[np.ndarray], hidden: list[int], seed: int, echo: Callable) -> float:
    """§5: the hold-out accuracy of the untrained network (about one in ten)."""
    X_train, X_test, y_train, y_test = split
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    untrained = MultilayerNeuralNetClassifier([X_train.shape[1], *hidden, n_classes], random_seed=seed)
    accuracy = untrained.accuracy(X_test, y_test)
    echo(f"untrained accuracy on the hold-out: {accuracy:.4f}")
    return accuracy


def _open_grid_store(out: Path, split: list[np.ndarray], dataset: str, grid: dict, seed: int) -> tuple[Store, list]:
    """The store ``out/tune.sqlite`` of the grid search (resumed if it exists) and the grid's configurations."""
    X_train, _, y_train, _ = split
    configs = make_grid(grid["hidden_layers"], grid["hidden_nodes"], grid["learning_rates"])
    fingerprint = experiment_fingerprint(
        X_train,
        y_train,
        dataset=dataset,
        test_size=None,
        dtype="float64",
        seed=seed,
        configs=configs,
        folds=grid["folds"],
        epochs=grid["epochs"],
        batch_size=grid["batch_size"],
    )
    try:
        return Store.create_or_open(out / "tune.sqlite", fingerprint), configs
    except StoreError as exc:
        raise StoreError(f"{exc}. For reproduce: choose another --out, or delete {out} to start over") from None


def _write_tables(store: Store, out: Path) -> dict:
    """The report of the store: ``out/tune.md``, the heatmap and the learning curves; returns its summary."""
    summary = summarize(store)
    (out / "tune.md").write_text(format_markdown(summary, store.path.name))
    plot_heatmap(summary["complete"], out / "heatmap.png")
    plot_curves(store.epochs(), out / "curves.png")
    return summary


def _finished_refit(summary: dict, epochs: int) -> dict | None:
    """The store's refit of the best configuration with ``epochs`` epochs whose model still exists, if any."""
    best, refits = summary["best"], summary["refits"]
    done = refits[
        (refits.hidden_layers == best.hidden_layers)
        & (refits.hidden_nodes == best.hidden_nodes)
        & (refits.learning_rate == best.learning_rate)
        & (refits.epochs == epochs)
    ]
    if not done.empty and Path(done.iloc[-1].model_path).is_file():
        return done.iloc[-1].to_dict()
    return None


def reproduce(
    out: str | os.PathLike,
    *,
    quick: bool = False,
    data_path: str | os.PathLike | None = None,
    seed: int = 123,
    epochs: int | None = None,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    echo: Callable[[str], object] = print,
) -> Path:
    """Run every step of the article into ``out`` and write ``out/REPORT.md``; returns its path."""
    start = time.perf_counter()
    plan = PLANS["quick" if quick else "full"]
    grid = dict(plan["grid"], **({"epochs": epochs} if epochs else {}))
    dataset = plan["dataset"]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    grad_lines = _gradient_check(echo)

    echo(f"== data and training runs on {dataset} (article §5–6)")
    split = load_split(dataset, data_path, None, seed, "float64")
    untrained_accuracy = _untrained_accuracy(split, plan["hidden"], seed, echo)
    run10 = _run_train(out / "run10", dataset, data_path, seed, plan["hidden"], plan["run10"], echo, progress)
    run100 = _run_train(out / "run100", dataset, data_path, seed, plan["hidden"], plan["run100"], echo, progress)

    echo("== cross-validated grid search (article §7)")
    store, configs = _open_grid_store(out, split, dataset, grid, seed)
    with store:
        tune_summary = run_tune(
            store,
            split[0],
            split[2],
            configs,
            folds=grid["folds"],
            epochs=grid["epochs"],
            batch_size=grid["batch_size"],
            seed=seed,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            echo=echo,
        )
        summary = _write_tables(store, out)
        refit = _finished_refit(summary, grid["epochs"])
        if refit is not None:
            echo(f"reusing the refit in {Path(refit['model_path']).parent}")
        else:
            echo("== refit of the best configuration on all training samples (article §7)")
            refit = refit_best(
                store, data_path=data_path, out=out / "refit", verbose=True, progress=progress, echo=echo
            )
        summary = summarize(store)
        (out / "tune.md").write_text(format_markdown(summary, store.path.name))

    findings = Findings(
        plan=plan,
        grid=grid,
        seed=seed,
        quick=quick,
        grad_lines=grad_lines,
        split=split,
        untrained_accuracy=untrained_accuracy,
        run10=run10,
        run100=run100,
        summary=summary,
        refit=refit,
        tune_seconds=tune_summary.get("seconds_all", tune_summary["seconds"]),
        executor=executor,
        workers=workers,
        elapsed=time.perf_counter() - start,
    )
    path = out / "REPORT.md"
    path.write_text("\n".join(_report(findings)) + "\n")
    echo(f"wrote {path} ({findings.elapsed:.0f} s)")
    return path


# ------------------------------------------------------------------ REPORT.md
def _report(f: Findings) -> list[str]:
    """REPORT.md, section by section: ours beside the article's."""
    return [
        *_title_section(f),
        *_gradient_section(f),
        *_data_section(f),
        *_training_section(f),
        *_tuning_section(f),
        *_refit_section(f),
    ]


def _title_section(f: Findings) -> list[str]:
    lines = [
        '# scratchnet reproduces "From Adaline to Multilayer Neural Networks"',
        "",
        f"`scratchnet reproduce{' --quick' if f.quick else ''}` — scratchnet {__version__}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()} with {os.cpu_count()} cores, "
        f"{f.elapsed:.0f} s in all (steps already done are reused). Seed {f.seed}.",
        "",
    ]
    if f.quick:
        lines += [
            "**Quick mode**: the data is scikit-learn's 1,797 8×8 digits, not MNIST, with a small grid and "
            "rates and batches suited to so few samples. The article's numbers (MNIST) are shown beside "
            "ours for orientation only; run `scratchnet reproduce` (MNIST) for a real comparison.",
            "",
        ]
    return lines


def _gradient_section(f: Findings) -> list[str]:
    return [
        "## 1. Gradient check (§4)",
        "",
        "Untrained network, layers [50, 40, 30, 10], 5 random samples. Ours:",
        "",
        "```text",
        *f.grad_lines,
        "```",
        "",
        "Article: every gradient of every layer numerically equal, `Gradients look in order!`.",
        "",
    ]


def _data_section(f: Findings) -> list[str]:
    X_train, _, y_train, y_test = f.split
    counts = dict(zip(*np.unique(np.concatenate([y_train, y_test]), return_counts=True), strict=True))
    return [
        "## 2. Data (§5)",
        "",
        "![ten random images of each class](run10/digits.png)",
        "",
        "| | ours | article |",
        "|---|---:|---:|",
        f"| data set | {f.dataset} | MNIST (mnist_784) |",
        f"| samples × features | {len(y_train) + len(y_test):,} × {X_train.shape[1]} | 70,000 × 784 |",
        f"| training / hold-out | {len(y_train):,} / {len(y_test):,} | 60,000 / 10,000 |",
        "| class counts | "
        + " ".join(f"{k}:{v}" for k, v in counts.items())
        + " | "
        + " ".join(f"{k}:{v}" for k, v in ARTICLE["class_counts"].items())
        + " |",
        "",
    ]


def _training_section(f: Findings) -> list[str]:
    a, run10, run100 = ARTICLE, f.run10, f.run100
    r10, r100 = f.plan["run10"], f.plan["run100"]
    half = min(49, len(run100) - 1)
    return [
        "## 3. Training (§6)",
        "",
        f"Layers [{f.split[0].shape[1]}, 50, {int(f.split[2].max()) + 1}], plain minibatch gradient descent. "
        + ("" if f.quick else "The article does not state the learning rate of these two runs; we use 0.1. "),
        "",
        "| | ours | article |",
        "|---|---:|---:|",
        f"| untrained accuracy (hold-out) | {f.untrained_accuracy:.3f} | ≈ {a['untrained_accuracy']} |",
        f"| {r10['epochs']} epochs, batch {r10['batch_size']}, η={r10['learning_rate']:g}: accuracy_test epoch 0 → "
        f"{r10['epochs'] - 1} | {run10.accuracy_test.iloc[0]:.3f} → {run10.accuracy_test.iloc[-1]:.3f} | "
        f"{a['run10']['first']} → {a['run10']['last']} (10 epochs, batch 100) |",
        f"| {r100['epochs']} epochs, batch {r100['batch_size']}, η={r100['learning_rate']:g}: accuracy_test at epoch "
        f"{half} / {len(run100) - 1} | {run100.accuracy_test.iloc[half]:.3f} / {run100.accuracy_test.iloc[-1]:.3f} "
        f"| {a['run100']} (100 epochs, batch 200) |",
        f"| same run: accuracy_training at epoch {len(run100) - 1} | {run100.accuracy_training.iloc[-1]:.3f} | "
        "alike the test accuracy |",
        "",
        "First epoch line, ours then the article's:",
        "",
        "```text",
        _epoch_line(run10.iloc[0]),
        a["run10"]["line"],
        "```",
        "",
        f"![loss, {r10['epochs']} epochs](run10/loss.png) ![accuracy, {r10['epochs']} epochs](run10/accuracy.png)",
        "",
        f"![loss, {r100['epochs']} epochs](run100/loss.png) ![accuracy, {r100['epochs']} epochs](run100/accuracy.png)",
        "",
    ]


def _tuning_section(f: Findings) -> list[str]:
    a, grid = ARTICLE, f.grid
    runs, best = f.summary["runs"], f.summary["best"]
    accuracy_table, rate_table = best_rate_table(f.summary["complete"])
    return [
        "## 4. Hyperparameter tuning (§7)",
        "",
        f"Grid: hidden layers {grid['hidden_layers']} × nodes {grid['hidden_nodes']} × learning rates "
        f"{grid['learning_rates']}, {grid['folds']}-fold stratified cross-validation on the training part, "
        f"{grid['epochs']} epochs, batch {grid['batch_size']}: {len(runs)} trainings "
        f"(article: 3 × 5 × 3 × 6 folds = 270 trainings of 250 epochs, batch 200). Store `tune.sqlite`, "
        "full tables in [tune.md](tune.md).",
        "",
        "Mean cross-validation accuracy at the best learning rate, ours:",
        "",
        _md(accuracy_table, "hidden layers"),
        "",
        "Best learning rate per cell, ours:",
        "",
        _md(rate_table, "hidden layers", "g"),
        "",
        "The article's table (MNIST):",
        "",
        _md(a["table"], "hidden layers"),
        "",
        "![heatmap](heatmap.png)",
        "",
        "![learning curves](curves.png)",
        "",
        "| | ours | article |",
        "|---|---:|---:|",
        f"| optimal parameters | n_hidden_layers={int(best.hidden_layers)}, n_hidden_nodes={int(best.hidden_nodes)}, "
        f"learning rate={best.learning_rate:g} | n_hidden_layers={a['best'][0]}, n_hidden_nodes={a['best'][1]}, "
        f"learning rate={a['best'][2]} |",
        f"| best mean cross validation accuracy | {best.accuracy_validation:.6f} | {a['best'][3]} |",
        f"| training time | {runs['seconds'].sum():.1f} s of training summed over all trainings; "
        f"the grid search {f.tune_seconds:.1f} s wall-clock in all ({f.executor} executor, "
        f"{f.workers or os.cpu_count()} workers) | {a['tune_time']} |",
        "",
    ]


def _refit_section(f: Findings) -> list[str]:
    _, _, y_train, y_test = f.split
    return [
        "## 5. Final model (§7)",
        "",
        f"Best configuration retrained on all {len(y_train):,} training samples for {int(f.refit['epochs'])} epochs, "
        f"scored on the {len(y_test):,} hold-out samples (model `refit/model.npz`).",
        "",
        "| last epoch | ours | article |",
        "|---|---:|---:|",
        *[f"| {k} | {float(f.refit[k]):.4f} | ≈ {v} |" for k, v in ARTICLE["refit"].items()],
        "",
        "![refit accuracy](refit/accuracy.png)",
    ]


def _epoch_line(record: pd.Series) -> str:
    return format_epoch({**record.to_dict(), "epoch": int(record["epoch"])})
