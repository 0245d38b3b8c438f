"""Figures of the report (matplotlib, Agg backend): each function takes plain numbers and
returns a Figure; `png` turns one into PNG bytes. No file or network access here."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display on a cluster node or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: E402

plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                     "figure.dpi": 100})
COLOURS = plt.get_cmap("tab10").colors


def colour(i: int):
    return COLOURS[i % len(COLOURS)]


def png(fig) -> bytes:
    """PNG bytes of a figure (the figure is closed: the report makes many)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def per_fold(values: dict[str, dict[int, float]], folds: list[int], metric: str):
    """One dot per fold and a bar at the mean, per variant."""
    variants = list(values)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.3 * len(variants) + 1.5), 3.2))
    for i, variant in enumerate(variants):
        ys = [values[variant][k] for k in folds if k in values[variant]]
        if not ys:
            continue
        jitter = np.linspace(-0.15, 0.15, len(ys)) if len(ys) > 1 else [0.0]
        ax.scatter(i + np.asarray(jitter), ys, color=colour(i), s=22, zorder=3)
        ax.hlines(np.mean(ys), i - 0.3, i + 0.3, color=colour(i), lw=2)
    ax.set_xticks(range(len(variants)), variants, rotation=20, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per test fold (bar: mean)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def fold_seeds(values: dict[str, dict[int, dict[int, float]]], folds: list[int], metric: str):
    """Per variant of several seeds: one dot per seed at each fold, a bar at the fold's seed
    mean (what the headline averages over folds)."""
    variants = list(values)
    fig, axes = plt.subplots(1, max(len(variants), 1), squeeze=False,
                             figsize=(max(4.0, 0.9 * len(folds) + 1.5) * max(len(variants), 1), 3.2))
    for ax, variant in zip(axes[0], variants):
        for i, k in enumerate(folds):
            seeds = values[variant].get(k, {})
            if not seeds:
                continue
            ys = list(seeds.values())
            jitter = np.linspace(-0.15, 0.15, len(ys)) if len(ys) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), ys, color=colour(i), s=20, zorder=3)
            ax.hlines(np.mean(ys), i - 0.3, i + 0.3, color=colour(i), lw=2)
        ax.set_xticks(range(len(folds)), [f"fold{k}" for k in folds])
        ax.set_ylabel(metric)
        ax.set_title(f"{variant}: each seed per test fold (bar: seed mean)")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def grouped_bars(series: dict[str, list[float]], classes: list[str], height: float):
    """(fig, ax) with one group of bars per class, one bar per series, classes as ticks."""
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(classes))
    fig, ax = plt.subplots(figsize=(8, height))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name,
               color=colour(i))
    ax.set_xticks(x, classes)
    return fig, ax


def per_class_f1(f1: dict[str, dict[str, float]], classes: list[str]):
    """Grouped bars: F1 of every class, one bar per variant."""
    variants = list(f1)
    fig, ax = grouped_bars({v: [f1[v][c] for c in classes] for v in variants}, classes, 3.2)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 (pooled out-of-fold)")
    ax.legend(ncol=min(len(variants), 5), fontsize=8, frameon=False, loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return fig


def panel_grid(n: int, size: tuple[float, float]):
    """A figure of one panel per variant, three to a row (the spare panels blank)."""
    ncols = min(3, max(n, 1))
    nrows = max(1, -(-n // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


def confusion(matrices: dict[str, np.ndarray], classes: list[str]):
    """Row-normalised confusion matrices (share of each true class), counts in brackets."""
    variants = list(matrices)
    fig, axes = panel_grid(len(variants), (4.3, 4.0))
    for ax, variant in zip(axes.flat, variants):
        counts = np.asarray(matrices[variant], dtype=float)
        rows = counts.sum(axis=1, keepdims=True)
        share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, f"{share[i, j]:.2f}\n({int(counts[i, j])})", ha="center",
                        va="center", fontsize=6.5,
                        color="white" if share[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(variant)
    fig.tight_layout()
    return fig


def learning_curves(curves: dict[str, list[dict]]):
    """Per variant: validation macro-F1 (left) and train/val loss (right) per epoch.

    curves[variant] is a list of {"fold", "stage", "epoch", "train_loss", "val_loss",
    "val_f1_macro", "best_epoch"} (arrays per key, stage None for one-stage runs).
    """
    variants = list(curves)
    fig, axes = plt.subplots(max(len(variants), 1), 2, figsize=(10, 2.6 * max(len(variants), 1)),
                             squeeze=False)
    styles = ["-", "--", ":", "-."]
    for row, variant in zip(axes, variants):
        stages = sorted({str(c["stage"]) for c in curves[variant]})
        for c in curves[variant]:
            col = colour(c["fold"])
            ls = styles[stages.index(str(c["stage"])) % len(styles)]
            tag = f"fold{c['fold']}" + (f" stage {c['stage']}" if c["stage"] is not None else "")
            tag += f" seed {c['seed']}" if c.get("seed") is not None else ""
            row[0].plot(c["epoch"], c["val_f1_macro"], ls, color=col, label=tag)
            best = np.asarray(c["epoch"]) == c["best_epoch"]
            row[0].plot(np.asarray(c["epoch"])[best], np.asarray(c["val_f1_macro"])[best], "*",
                        color=col, ms=11, mec="black", mew=0.5)
            row[1].plot(c["epoch"], c["train_loss"], ls, color=col, alpha=0.45)
            row[1].plot(c["epoch"], c["val_loss"], ls, color=col)
        row[0].set_title(f"{variant}: validation macro-F1 (star: best epoch)")
        row[1].set_title(f"{variant}: loss (faint: train, solid: validation)")
        row[0].set_xlabel("epoch")
        row[1].set_xlabel("epoch")
        row[0].legend(fontsize=7, frameon=False, ncol=2)
        for ax in row:
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def comparison(rows: list[dict], reference: str, metric: str = "macro-F1"):
    """Forest plot: difference to the reference with its bootstrap 95 % CI, per variant."""
    fig, ax = plt.subplots(figsize=(6.5, 0.55 * max(len(rows), 1) + 1.2))
    for i, r in enumerate(rows):
        ax.errorbar(r["delta"], i, xerr=[[r["delta"] - r["lo"]], [r["hi"] - r["delta"]]],
                    fmt="o", color=colour(r.get("colour", i + 1)), capsize=4)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(range(len(rows)), [r["variant"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} minus {reference} (pooled out-of-fold, 95 % bootstrap CI)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def class_distribution(counts: dict[str, dict[str, int]], classes: list[str]):
    """Share of segments per class for each labelling (e.g. release totals vs aggregated)."""
    shares = {}
    for name, by_class in counts.items():
        total = sum(by_class.values()) or 1
        shares[name] = [by_class.get(c, 0) / total for c in classes]
    fig, ax = grouped_bars(shares, classes, 3.0)
    ax.set_ylabel("share of segments (log scale)")
    ax.set_yscale("log")  # neutral dwarfs the rest on KEMDy20 (about 83 %)
    ax.yaxis.set_major_locator(FixedLocator([0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{100 * y:g} %"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def va_scatter(points: dict[str, dict[str, tuple]]):
    """Predicted against true valence and arousal, one row per variant (pooled test folds)."""
    variants = list(points)
    fig, axes = plt.subplots(max(len(variants), 1), 2, figsize=(8, 3.6 * max(len(variants), 1)),
                             squeeze=False)
    for row, variant in zip(axes, variants):
        for ax, dim in zip(row, ("valence", "arousal")):
            true, pred = points[variant][dim]
            ax.scatter(true, pred, s=8, alpha=0.5, color=colour(0 if dim == "valence" else 1))
            ax.plot([1, 5], [1, 5], color="grey", lw=1)
            ax.set_xlim(0.8, 5.2)
            ax.set_ylim(0.8, 5.2)
            ax.set_xlabel(f"{dim} (evaluators, weighted)")
            ax.set_ylabel(f"predicted {dim}")
            ax.set_title(f"{variant}: {dim}")
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def layer_weights(weights: dict[str, list[float]]):
    """The learnt softmax weight of every audio layer (0: the front end's output), per variant
    (mean over folds)."""
    variants = list(weights)
    n = max(len(w) for w in weights.values())
    fig, ax = grouped_bars({v: weights[v] for v in variants}, [str(i) for i in range(n)], 3.0)
    ax.axhline(1.0 / n, color="grey", lw=1, ls="--")
    ax.set_xlabel("audio encoder layer (0: input to the transformer)")
    ax.set_ylabel("weight (dashed: uniform)")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def reliability(rows: dict[str, dict]):
    """Reliability diagrams, a panel per variant: per bin of the predicted class's confidence
    (p[pred], so a two-stage variant is judged as it predicts), the
    accuracy against the mean confidence (dot area: the bin's segments), before and, for a
    calibrated variant, after temperature scaling; the diagonal is perfect calibration.

    rows[variant]: {"bins_before", "bins_after" (None), "before", "after" (None)}, as
    kemdy.report.calibration.variant_row gives them."""
    variants = list(rows)
    fig, axes = panel_grid(len(variants), (3.6, 3.5))
    for ax, variant in zip(axes.flat, variants):
        row = rows[variant]
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
        title = f"{variant}\nECE {row['before']['ece']:.3f}"
        for i, when in enumerate(("before", "after")):
            bins = row[f"bins_{when}"]
            if bins is None:
                continue
            filled = bins["count"] > 0
            size = 200 * bins["count"][filled] / max(bins["count"].sum(), 1)
            ax.plot(bins["confidence"][filled], bins["accuracy"][filled], "-", color=colour(i),
                    lw=1, alpha=0.7)
            ax.scatter(bins["confidence"][filled], bins["accuracy"][filled], s=10 + size,
                       color=colour(i), label=f"{when} temperature scaling" if row["bins_after"]
                       is not None else "as trained", zorder=3)
        if row["after"] is not None:
            title += f" → {row['after']['ece']:.3f} after"
            ax.legend(fontsize=7, frameon=False, loc="lower right")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean confidence (predicted class)")
        ax.set_ylabel("accuracy")
        ax.set_title(title, fontsize=8.5)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def empty(message: str):
    """A small picture that says there is nothing to plot."""
    fig, ax = plt.subplots(figsize=(4, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center")
    return fig
