"""Tables and figures of a grid search store (article, section 7).

The article's table is the mean cross-validation accuracy (validation accuracy
of the last epoch, averaged over the folds) per hidden layers × hidden nodes at
the best learning rate of each cell. A grid that also varies the recipe
(activation, head, init, optimizer, …) gets that table once per combination of
the varied recipe fields, after a ranking of its best configurations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvalidValueError
from .grid import ARCHITECTURE_FIELDS, COLUMN_TYPES, COLUMNS, Config, configs_of, halving_plan, varied_fields
from .plots import new_figure, save_figure
from .recipe import DEFAULTS, Recipe, describe_values
from .store import METRICS, Store

KEYS = list(COLUMNS)
"""Every dimension of a configuration: the article's three, then the recipe (``grid.COLUMNS``)."""
GRID_KEYS = list(ARCHITECTURE_FIELDS)
NUMBER_KEYS = [k for k in KEYS if COLUMN_TYPES[k] is float]
"""The dimensions shown as numbers (``%g``): the learning rate and the recipe's numeric fields."""
TOP = 10
"""Configurations in the ranking of a report whose grid varies the recipe."""


def config_means(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: folds finished, folds ``diverged`` and the fold means of the metrics and seconds.

    A configuration with a diverged fold has no mean metrics (NaN): a diverged cell is left out of the means and
    the optimum, and the tables show it as ``diverged``.
    """
    runs = runs.assign(_diverged=runs["diverged_epoch"].notna() if "diverged_epoch" in runs else False)
    grouped = runs.groupby(KEYS)
    means = grouped[[*METRICS, "seconds"]].mean()
    means.insert(0, "folds", grouped.size())
    means.insert(1, "diverged", grouped["_diverged"].sum().astype(int))
    means.insert(
        means.columns.get_loc("accuracy_validation") + 1,
        "accuracy_validation_std",
        grouped["accuracy_validation"].std(ddof=0),
    )
    bad = means["diverged"] > 0
    means.loc[bad, [*METRICS, "accuracy_validation_std"]] = np.nan
    return means.reset_index()


def finite(means: pd.DataFrame) -> pd.DataFrame:
    """The configurations none of whose folds diverged."""
    return means[means["diverged"] == 0] if "diverged" in means else means


def complete(means: pd.DataFrame, n_folds: int) -> pd.DataFrame:
    """The configurations with all ``n_folds`` folds finished."""
    return means[means["folds"] == n_folds]


def best_config(means: pd.DataFrame) -> pd.Series:
    """The row with the highest mean validation accuracy; ties go to fewer layers, fewer nodes, smaller rate.

    Diverged configurations are never picked."""
    if means.empty:
        raise InvalidValueError(
            "no configuration has finished all its folds yet; run `scratchnet tune` to complete the grid"
        )
    if finite(means).empty:
        raise InvalidValueError("every finished configuration diverged; try smaller learning rates")
    means = finite(means)
    ranked = means.assign(_neg=-means["accuracy_validation"]).sort_values(["_neg", *KEYS], kind="stable")
    return ranked.iloc[0].drop("_neg")


def ranking(means: pd.DataFrame, top: int = TOP) -> pd.DataFrame:
    """The ``top`` configurations by mean validation accuracy (ties as ``best_config``), ranked from 1; no diverged."""
    means = finite(means)
    ranked = means.assign(_neg=-means["accuracy_validation"]).sort_values(["_neg", *KEYS], kind="stable")
    ranked = ranked.drop(columns="_neg").head(top).reset_index(drop=True)
    ranked.index = ranked.index + 1
    return ranked


def promoted(rung_runs: pd.DataFrame, rung: int, keep: int, n_folds: int) -> list[Config]:
    """The ``keep`` configurations that go on after ``rung`` of successive halving: the best by mean validation
    accuracy over all ``n_folds`` folds at that rung (ties as ``best_config``), never a diverged one; sorted."""
    runs = rung_runs[rung_runs["rung"] == rung]
    if runs.empty:
        return []
    top = ranking(complete(config_means(runs), n_folds), top=keep)
    return sorted(Config.from_row(row) for _, row in top.iterrows())


def combinations(means: pd.DataFrame, fields: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """``[(heading, rows), …]``: the rows of each combination of the recipe ``fields`` (one of all rows if none)."""
    if not fields:
        return [("", means)]
    return [
        (", ".join(f"{k} {_cell(v, 'g')}" for k, v in zip(fields, key if isinstance(key, tuple) else (key,))), part)
        for key, part in means.groupby(fields if len(fields) > 1 else fields[0], sort=True)
    ]


def best_rate_table(means: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(accuracy, rate)``: pivots hidden layers × hidden nodes of the best mean accuracy and its learning rate.

    Over every row of ``means``: give one combination of the recipe (``combinations``) for its table.
    """
    idx = (
        means.assign(_neg=-means["accuracy_validation"])
        .sort_values(["_neg", *KEYS], kind="stable")
        .groupby(["hidden_layers", "hidden_nodes"])
        .head(1)
    )
    accuracy = idx.pivot(index="hidden_layers", columns="hidden_nodes", values="accuracy_validation")
    rate = idx.pivot(index="hidden_layers", columns="hidden_nodes", values="learning_rate")
    return accuracy.sort_index().sort_index(axis=1), rate.sort_index().sort_index(axis=1)


def rate_tables(means: pd.DataFrame) -> dict[float, pd.DataFrame]:
    """``{learning_rate: pivot hidden layers × hidden nodes of the mean accuracy}``."""
    return {
        float(lr): part.pivot(index="hidden_layers", columns="hidden_nodes", values="accuracy_validation")
        for lr, part in means.groupby("learning_rate")
    }


def _cell(value, floatfmt, missing=""):
    if value is pd.NA:
        return missing
    if isinstance(value, (float, np.floating)):
        return missing if np.isnan(value) else format(value, floatfmt)
    return str(value)


def diverged_cells(means: pd.DataFrame) -> pd.DataFrame:
    """Hidden layers × hidden nodes: True where every learning rate of the cell diverged (no finite mean)."""
    table = means.assign(_ok=means["diverged"] == 0).pivot_table(
        index="hidden_layers", columns="hidden_nodes", values="_ok", aggfunc="any"
    )
    return ~table.astype(bool)


def markdown_table(
    df: pd.DataFrame, index_name: str | None = None, floatfmt: str = ".6f", marks: pd.DataFrame | None = None
) -> str:
    """A DataFrame as a GitHub Markdown table (numbers right-aligned); ``index_name`` shows the index.

    ``marks``: True where a missing (NaN) cell is a diverged one, shown as ``diverged``."""
    header = ([index_name] if index_name else []) + [str(c) for c in df.columns]

    def mark(i, c):
        if marks is None or i not in marks.index or c not in marks.columns:
            return ""
        return "diverged" if bool(marks.at[i, c]) else ""

    rows = [
        ([_cell(i, floatfmt)] if index_name else []) + [_cell(v, floatfmt, mark(i, c)) for c, v in zip(df.columns, row)]
        for i, row in zip(df.index, df.itertuples(index=False))
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _network(row: pd.Series) -> str:
    """``n_hidden_layers=…, n_hidden_nodes=…`` of an MLP, ``arch=…`` of a network of layers."""
    if isinstance(row.get("arch"), str) and row["arch"]:
        return f"arch={row['arch']}"
    return f"n_hidden_layers={int(row.hidden_layers)}, n_hidden_nodes={int(row.hidden_nodes)}"


def optimal_lines(best: pd.Series, fields: Sequence[str] = ()) -> list[str]:
    """The article's two closing lines; the recipe ``fields`` a grid varies are named after the learning rate."""
    return [
        f"optimal parameters: {_network(best)}, "
        f"learning rate={best.learning_rate:g}" + "".join(f", {k}={_cell(best[k], 'g')}" for k in fields),
        f"best mean cross validation accuracy: {best.accuracy_validation:.6f}",
    ]


def arch_table(means: pd.DataFrame) -> pd.DataFrame:
    """One row per architecture of ``tune --arch``: its best configuration's mean validation accuracy (± std over
    the folds), learning rate, recipe changes and seconds per training, best first."""
    rows = []
    for arch, part in finite(means).groupby("arch", sort=False):
        best = best_config(part)
        rows.append(
            {
                "architecture": f"`{arch}`",
                "accuracy": best.accuracy_validation,
                "std": best.accuracy_validation_std,
                "learning rate": f"{best.learning_rate:g}",
                "recipe": Recipe(**{k: best[k] for k in Recipe.FIELDS}).describe() or "the article's",
                "seconds": best.seconds,
            }
        )
    frame = pd.DataFrame(rows, columns=["architecture", "accuracy", "std", "learning rate", "recipe", "seconds"])
    return frame.sort_values("accuracy", ascending=False, kind="stable").reset_index(drop=True)


def summarize(store: Store) -> dict[str, Any]:
    """Everything ``report`` prints, as data: ``dict`` with runs, means, tables, best, refits, fingerprint."""
    fp = store.fingerprint
    runs = store.runs()
    means = config_means(runs)
    full = complete(means, fp["folds"])
    plan = halving_plan(fp)
    n_total = (plan[-1][1] if plan else len(configs_of(fp))) * fp["folds"]
    layered = full["arch"] != ""
    return {
        "plan": plan,
        "rungs": store.rung_runs() if plan else None,
        "fingerprint": fp,
        "runs": runs,
        "means": means,
        "complete": full[~layered],  # the article's MLPs: its tables and figures
        "layered": full[layered],  # the networks of layers of ``tune --arch``: a table by architecture
        "n_total": n_total,
        "varied": varied_fields(fp),
        "best": best_config(full) if not finite(full).empty else None,
        "refits": store.refits(),
    }


def rung_epochs(rung_runs: pd.DataFrame, plan: Sequence[tuple[int, int]]) -> pd.Series:
    """The epochs each row of ``rung_runs`` trained itself: from the rung before's epochs (its hot start) to its
    last, the epoch it diverged in included."""
    starts = pd.Series([0, *[e for e, _ in plan]], dtype=float)
    end = rung_runs["epochs"].astype(float) + rung_runs["diverged_epoch"].notna().astype(float)
    return (end - starts.reindex(rung_runs["rung"].to_numpy()).to_numpy()).clip(lower=0).astype(int)


def rung_summary(rung_runs: pd.DataFrame, plan: Sequence[tuple[int, int]], n_folds: int) -> pd.DataFrame:
    """One row per rung of successive halving: its epochs, configurations planned and trained, trainings finished and
    diverged, the best mean validation accuracy, the configurations that went on to the next rung (blank while the
    rung is incomplete) and the epochs trained."""
    rows = []
    trained = rung_epochs(rung_runs, plan) if len(rung_runs) else pd.Series(dtype=int)
    for i, (epochs, planned) in enumerate(plan):
        part = rung_runs[rung_runs["rung"] == i]
        means = complete(config_means(part), n_folds) if len(part) else pd.DataFrame()
        kept = plan[i + 1][1] if i + 1 < len(plan) else 0
        best = finite(means)["accuracy_validation"].max() if len(means) else np.nan
        rows.append(
            {
                "rung": i + 1,
                "epochs": epochs,
                "configurations": f"{part[KEYS].drop_duplicates().shape[0]} of {planned}",
                "trainings": len(part),
                "diverged": int(part["diverged_epoch"].notna().sum()),
                "best mean CV accuracy": best,
                "went on": str(min(kept, len(finite(means)))) if kept and len(means) == planned else "",
                "training epochs": int(trained[rung_runs["rung"] == i].sum()) if len(part) else 0,
            }
        )
    return pd.DataFrame(rows).set_index("rung")


def stopped_at(rung_runs: pd.DataFrame, n_folds: int) -> pd.DataFrame:
    """Each configuration of successive halving at the last rung it reached: its mean validation accuracy there
    (NaN: diverged, or folds missing), ordered from the furthest and best."""
    if rung_runs.empty:
        return pd.DataFrame(columns=[*KEYS, "rung", "epochs", "folds", "accuracy_validation"])
    last = rung_runs.groupby(KEYS)["rung"].transform("max")
    part = rung_runs[rung_runs["rung"] == last]
    means = config_means(part.drop(columns="rung"))
    rungs = part.groupby(KEYS)[["rung", "epochs"]].max().reset_index()
    out = means.merge(rungs, on=KEYS)
    out = out.assign(rung=out["rung"] + 1, _neg=-out["accuracy_validation"].fillna(-1), _r=-out["rung"])
    out = out.sort_values(["_r", "_neg", *KEYS], kind="stable").drop(columns=["_neg", "_r"])
    return out[[*KEYS, "rung", "epochs", "folds", "diverged", "accuracy_validation"]].reset_index(drop=True)


def halving_lines(summary: dict[str, Any]) -> list[str]:
    """The successive-halving section of a report: the rungs, and where each configuration stopped."""
    fp, plan, rungs = summary["fingerprint"], summary["plan"], summary["rungs"]
    n_configs = len(configs_of(fp))
    table = rung_summary(rungs, plan, fp["folds"])
    used, full = int(table["training epochs"].sum()), n_configs * fp["folds"] * fp["epochs"]
    stops = stopped_at(rungs, fp["folds"])
    varied = summary.get("varied", [])
    shown = stops[[*GRID_KEYS, *varied, "rung", "epochs", "folds", "diverged", "accuracy_validation"]]
    shown = shown.assign(learning_rate=shown["learning_rate"].map(lambda v: f"{v:g}"))
    return [
        "## Successive halving",
        "",
        f"Factor {fp['factor']}, first rung of {fp['min_epochs']} epochs: rung i trains its configurations on every fold "
        "up to its epochs, going on from the rung before's saved state; the best 1/"
        f"{fp['factor']} by mean cross-validation accuracy (never a diverged one) go on. {used:,} training epochs of "
        f"the full grid's {full:,} ({used / full:.1%}). The tables after this section hold the last rung "
        f"({plan[-1][0]} epochs).",
        "",
        markdown_table(table, "rung", floatfmt=".6f"),
        "",
        "Where each configuration stopped (mean over the folds at its last rung):",
        "",
        markdown_table(shown.set_index("hidden_layers"), "hidden_layers"),
        "",
    ]


def shown_columns(frame: pd.DataFrame, varied: Sequence[str]) -> list[str]:
    """The columns of ``frame`` a report shows: the recipe fields only where the grid varies them."""
    hidden = [k for k in KEYS if k not in GRID_KEYS and k not in varied]
    return [c for c in frame.columns if c not in hidden]


def format_markdown(summary: dict[str, Any], store_path: str | os.PathLike) -> str:
    """The report of a store in Markdown: the article's table, per-rate tables, best lines, times, refit."""
    fp, means, runs, best = summary["fingerprint"], summary["complete"], summary["runs"], summary["best"]
    out = [
        f"# Grid search on {fp['dataset']}: {fp['folds']}-fold cross-validation",
        "",
        f"Store `{store_path}`: {len(runs)} of {summary['n_total']} trainings finished; {fp['epochs']} "
        f"epoch{'' if fp['epochs'] == 1 else 's'}, "
        f"batch {fp['batch_size']}, seed {fp['seed']}, {fp['dtype']}; {fp['n_train']} training samples "
        "(the hold-out is not used).",
        "",
    ]
    recipe = describe_values({k: fp[k] for k in Recipe.FIELDS if k in fp and fp[k] != DEFAULTS[k]})
    if recipe:
        out += [f"Recipe beyond the article's (sigmoid/sigmoid/mse/normal, plain SGD): {recipe}.", ""]
    if summary.get("plan"):
        out += halving_lines(summary)
    if len(runs) < summary["n_total"]:
        out += [
            f"**Incomplete**: only configurations with all {fp['folds']} folds finished are shown; "
            "run the same `scratchnet tune` command again to finish the grid.",
            "",
        ]
    if best is None:
        out.append(
            "Every finished configuration diverged."
            if len(means)
            else "No configuration has finished all its folds yet."
        )
        return "\n".join(out) + "\n"
    varied = summary.get("varied", [])
    layered = summary.get("layered")
    if layered is not None and not layered.empty:
        out += [
            "## Networks of layers: the best configuration of each architecture",
            "",
            "Mean cross-validation accuracy (and its standard deviation over the folds) at the best learning rate "
            "and recipe of each architecture; seconds per training.",
            "",
            markdown_table(arch_table(layered).set_index("architecture"), "architecture"),
            "",
        ]
    if varied and not means.empty:
        top = ranking(means)
        out += [
            f"## The best {len(top)} configurations",
            "",
            "Every dimension of each configuration; mean and standard deviation over the folds.",
            "",
            markdown_table(
                top[[*KEYS, "accuracy_validation", "accuracy_validation_std", "loss_validation", "seconds"]]
                .astype(dict.fromkeys(KEYS, str))
                .assign(**{k: top[k].map(lambda v: f"{v:g}") for k in NUMBER_KEYS}),
                "rank",
            ),
            "",
        ]
    for heading, part in combinations(means, varied) if not means.empty else []:
        level = "###" if varied else "##"
        if varied:
            out += [f"## {heading}", ""]
        accuracy, rate = best_rate_table(part)
        out += [
            f"{level} Mean cross-validation accuracy at the best learning rate",
            "",
            markdown_table(accuracy, "hidden layers", marks=diverged_cells(part)),
            "",
            "Best learning rate of each cell:",
            "",
            markdown_table(rate, "hidden layers", floatfmt="g"),
            "",
        ]
        out += [f"{level} Mean cross-validation accuracy per learning rate", ""]
        for lr, table in rate_tables(part).items():
            marks = diverged_cells(part[part["learning_rate"] == lr])
            out += [f"{level}# learning rate {lr:g}", "", markdown_table(table, "hidden layers", marks=marks), ""]
    n_diverged = int(runs["diverged_epoch"].notna().sum()) if "diverged_epoch" in runs else 0
    if n_diverged:
        out += [
            f"{n_diverged} training{'s' if n_diverged > 1 else ''} diverged (loss or weights NaN/infinite): "
            "their configurations show as `diverged` and are left out of the means and the optimum.",
            "",
        ]
    out += optimal_lines(best, varied) + [""]
    out.append(
        f"Training time: {runs['seconds'].sum():.1f} s in {len(runs)} trainings "
        f"({runs['seconds'].mean():.2f} s per training, {runs['seconds'].sum() / max(1, len(runs)) / fp['epochs']:.3f} "
        "s per epoch on average; summed over workers)."
    )
    refits = summary["refits"]
    if not refits.empty:
        r = refits.iloc[-1]
        out += [
            "",
            "## Refit on all training samples",
            "",
            f"{_network(r)}, learning rate="
            f"{r.learning_rate:g}"
            + "".join(f", {k}={_cell(r[k], 'g')}" for k in varied)
            + f", {int(r.epochs)} epoch{'' if int(r.epochs) == 1 else 's'}: loss_training={r.loss_training:.4f} | "
            f"accuracy_training={r.accuracy_training:.4f} | loss_test={r.loss_test:.4f} | "
            f"accuracy_test={r.accuracy_test:.4f} (hold-out), {r.seconds:.1f} s; model `{r.model_path}`",
        ]
    return "\n".join(out) + "\n"


def runs_table(runs: pd.DataFrame, fmt: str = "markdown", varied: Sequence[str] = ()) -> str:
    """``--runs``: one row per finished training (with the recipe fields the grid ``varied``)."""
    columns = [
        *GRID_KEYS,
        *varied,
        "fold",
        "accuracy_validation",
        "loss_validation",
        "accuracy_training",
        "loss_training",
        "seconds",
        "epochs",
        "init_seed",
        "batch_seed",
        *(["diverged_epoch"] if "diverged_epoch" in runs else []),
    ]
    if fmt == "csv":
        return runs[columns].to_csv(index=False)
    return markdown_table(runs[columns].set_index("hidden_layers"), "hidden_layers") + "\n"


# ------------------------------------------------------------------ figures
def plot_heatmap(
    means: pd.DataFrame,
    path: str | os.PathLike,
    title: str = "mean cross-validation accuracy (best learning rate)",
    fields: Sequence[str] = (),
) -> Path:
    """The article's table as a heatmap, each cell annotated with its accuracy and best learning rate.

    One panel per combination of the recipe ``fields`` a grid varies (``combinations``).
    """
    panels = [(heading, best_rate_table(part)) for heading, part in combinations(means, list(fields))]
    rows, cols = panels[0][1][0].shape
    if len(panels) == 1:
        fig = new_figure(figsize=(1.3 * cols + 2, 1.0 * rows + 1.5))
    else:
        fig = new_figure(figsize=(1.3 * cols + 2.5, (1.0 * rows + 1.4) * len(panels) + 0.5), layout="constrained")
        fig.suptitle(title)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (heading, (accuracy, rate)) in zip(axes, panels):
        image = ax.imshow(accuracy.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for i in range(accuracy.shape[0]):
            for j in range(accuracy.shape[1]):
                value = accuracy.iat[i, j]
                if np.isfinite(value):
                    ax.text(
                        j,
                        i,
                        f"{value:.3f}\nη={rate.iat[i, j]:g}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if value < 0.6 else "black",
                    )
        ax.set_xticks(range(accuracy.shape[1]), [str(c) for c in accuracy.columns])
        ax.set_yticks(range(accuracy.shape[0]), [str(i) for i in accuracy.index])
        ax.set(xlabel="hidden nodes per layer", ylabel="hidden layers", title=heading or title)
        fig.colorbar(image, ax=ax, label="accuracy")
    return save_figure(fig, path)


def mean_curves(epochs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and epoch, the fold means of the metrics."""
    return epochs.groupby([*[k for k in KEYS if k in epochs.columns], "epoch"])[METRICS].mean().reset_index()


def plot_curves(epochs: pd.DataFrame, path: str | os.PathLike, fields: Sequence[str] = ()) -> Path:
    """Mean learning curves per configuration: one panel per hidden layers × learning rate, one colour per width.

    Solid: validation accuracy; dashed: training accuracy (fold means). A grid
    varying the recipe ``fields`` gets a row of panels per combination and number of layers.
    """
    fields = list(fields)
    if "arch" in epochs:  # the MLPs' curves (networks of layers have no layers × nodes panel)
        epochs = epochs[epochs["arch"] == ""]
    curves = mean_curves(epochs)
    layers = sorted(curves["hidden_layers"].unique())
    rates = sorted(curves["learning_rate"].unique())
    nodes = sorted(curves["hidden_nodes"].unique())
    combos = combinations(curves, fields)
    fig = new_figure(
        figsize=(4 * len(rates), 3 * len(layers) * len(combos)), layout="constrained" if len(combos) > 1 else None
    )
    axes = fig.subplots(len(layers) * len(combos), len(rates), squeeze=False, sharex=True, sharey=True)
    colors = {n: f"C{i % 10}" for i, n in enumerate(nodes)}
    for k, (heading, combo) in enumerate(combos):
        for (hl, lr), part in combo.groupby(["hidden_layers", "learning_rate"]):
            ax = axes[k * len(layers) + layers.index(hl), rates.index(lr)]
            for hn, c in part.groupby("hidden_nodes"):
                ax.plot(c["epoch"], c["accuracy_validation"], color=colors[hn], label=f"{hn} nodes")
                ax.plot(c["epoch"], c["accuracy_training"], color=colors[hn], linestyle="--", linewidth=0.8)
            ax.set_title(
                (f"{heading}\n" if heading else "") + f"{hl} hidden layer{'s' if hl > 1 else ''}, learning rate {lr:g}",
                fontsize=9,
            )
            ax.grid(True, alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle("mean learning curves over the folds (solid: validation, dashed: training)")
    return save_figure(fig, path)
