"""The results sections of the report: headline table, verdict, comparisons with the
reference (per fold and by bootstrap), learning curves; every figure recomputed from the
runs' predictions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kemdy.errors import InputError
from kemdy.metrics import HEADLINE, headline, score_predictions
from kemdy.report.bootstrap import paired_bootstrap
from kemdy.report.calibration import calibration_section
from kemdy.report.summary import Runs
from kemdy.runs import selectable_epochs


def headline_rows(found: Runs) -> list[dict]:
    """Mean +- sample std over folds of each headline figure; the best mean of each column."""
    rows = []
    for variant in found.variants:
        runs = found.of(variant)
        row = {"variant": variant, "n_folds": len(runs), "metrics": {}}
        for m in HEADLINE:
            values = [r.scores[m] for r in runs]
            row["metrics"][m] = {
                "mean": float(np.mean(values)) if values else math.nan,
                "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan,
                "best": False,
            }
        rows.append(row)
    for m in HEADLINE:
        means = [r["metrics"][m]["mean"] for r in rows if r["n_folds"]]
        if means:
            for r in rows:
                if r["n_folds"] and r["metrics"][m]["mean"] == max(means):
                    r["metrics"][m]["best"] = True
    return rows


def verdict(rows: list[dict], reference: str, boot: dict | None, n_folds: int) -> str:
    scored = [r for r in rows if r["n_folds"]]
    if not scored:
        return "No variant has any finished run: nothing to compare."
    best = max(scored, key=lambda r: r["metrics"]["f1_macro"]["mean"])
    ref = next((r for r in scored if r["variant"] == reference), None)
    b_mean = best["metrics"]["f1_macro"]["mean"]
    uneven = any(r["n_folds"] < n_folds for r in rows)
    caveat = " (means over different sets of folds: see the missing runs)" if uneven else ""
    if ref is None:
        return (f"{best['variant']} has the best macro-F1 ({b_mean:.3f}); the reference "
                f"{reference} has no finished run, so there is no comparison{caveat}.")
    r_mean = ref["metrics"]["f1_macro"]["mean"]
    if best["variant"] == reference:
        others = [r for r in scored if r["variant"] != reference]
        if not others:
            return f"Only the reference {reference} has results: macro-F1 {r_mean:.3f}{caveat}."
        second = max(others, key=lambda r: r["metrics"]["f1_macro"]["mean"])
        gap = r_mean - second["metrics"]["f1_macro"]["mean"]
        return (f"The reference {reference} has the best macro-F1 ({r_mean:.3f}, mean over "
                f"folds), {gap:.3f} ahead of the runner-up {second['variant']}{caveat}.")
    text = (f"{best['variant']} wins on macro-F1: {b_mean:.3f} vs {r_mean:.3f} for the "
            f"reference {reference}, {b_mean - r_mean:+.3f} (mean over folds)")
    if boot is not None:
        s = boot["f1_macro"]
        text += (f"; paired bootstrap on the {s['n']} out-of-fold segments both scored: "
                 f"{s['delta']:+.3f} macro-F1, 95 % CI [{s['lo']:.3f}, {s['hi']:.3f}]")
    return text + caveat + "."


def by_segment(pooled: pd.DataFrame) -> pd.DataFrame:
    """segment_id, label, the fold whose model scored it, and `pred`: the array of its
    predictions, one per seed (in seed order; one element for a variant of one seed)."""
    if "seed" not in pooled:
        return pooled[["segment_id", "label", "fold"]].assign(
            pred=[np.array([p], dtype=object) for p in pooled["pred"]])
    ordered = pooled.sort_values(["segment_id", "seed"], kind="stable")
    wide = ordered.groupby("segment_id", sort=False).agg(
        label=("label", "first"), fold=("fold", "first"), pred=("pred", list)).reset_index()
    wide["pred"] = [np.array(p, dtype=object) for p in wide["pred"]]
    return wide


def comparisons(found: Runs, reference: str, n_boot: int, seed: int,
                groups: pd.Series | None = None) -> list[dict]:
    """Per-fold differences to the reference and the paired bootstrap, per variant; the
    bootstrap resamples whole `groups` (segment_id -> session of its dataset)."""
    if not found.of(reference):
        return []
    ref_wide = by_segment(found.pooled(reference))
    ref_by_fold = {r.fold: r.scores for r in found.of(reference)}
    out = []
    for variant in found.variants:
        if variant == reference or not found.of(variant):
            continue
        per_fold = {}
        for r in found.of(variant):
            if r.fold in ref_by_fold:
                per_fold[r.fold] = {m: r.scores[m] - ref_by_fold[r.fold][m]
                                    for m in ("f1_macro", "balanced_accuracy")}
        pair = ref_wide.merge(by_segment(found.pooled(variant)),
                                            on="segment_id", suffixes=("_ref", "_var"))
        if (pair["label_ref"] != pair["label_var"]).any():
            seg = pair.loc[pair["label_ref"] != pair["label_var"], "segment_id"].iloc[0]
            raise InputError(found.of(variant)[0].path.parent,
                             f"segment {seg} has a different label in {variant} than in "
                             f"{reference}", "train both variants on the same labels")
        boot = None
        if len(pair):
            sessions = (pair["segment_id"].map(groups).fillna("?") if groups is not None
                        else pair["segment_id"].str.slice(4, 6))  # SessNN_...: its session
            boot = paired_bootstrap(pair["label_ref"].tolist(), np.stack(pair["pred_ref"]),
                                    np.stack(pair["pred_var"]), n_boot, seed, groups=sessions,
                                    folds=pair["fold_ref"].to_numpy())
        d = [v["f1_macro"] for v in per_fold.values()]
        out.append({
            "variant": variant, "per_fold": per_fold, "boot": boot, "n_segments": len(pair),
            "n_paired_folds": len(per_fold),
            "mean_delta": float(np.mean(d)) if d else math.nan,
            "wins": int(sum(x > 0 for x in d)),
        })
    return out


def ci_sentence(c: dict) -> str:
    s = c["boot"]["f1_macro"]
    side = ("the CI excludes 0" if s["lo"] > 0 or s["hi"] < 0 else "the CI includes 0")
    return (f"{s['delta']:+.3f} macro-F1, 95 % CI [{s['lo']:.3f}, {s['hi']:.3f}] "
            f"({side}; better in {100 * s['p_better']:.0f} % of {s['n_boot']} resamples)")


def best_epochs(history: pd.DataFrame) -> list[dict]:
    """One curve per stage: epochs, losses and the selectable epoch of the best validation
    macro-F1."""
    groups = history.groupby("stage", sort=True) if "stage" in history else [(None, history)]
    curves = []
    for stage, h in groups:
        h = h.sort_values("epoch")
        chosen = selectable_epochs(h)  # as the job chose (not text-only warm-up epochs)
        curves.append({
            "stage": stage, "epoch": h["epoch"].to_numpy(),
            "train_loss": h["train_loss"].to_numpy(dtype=float),
            "val_loss": h["val_loss"].to_numpy(dtype=float),
            "val_f1_macro": h["val_f1_macro"].to_numpy(dtype=float),
            # early stopping keeps the first epoch with the best validation macro-F1
            "best_epoch": chosen["epoch"].iloc[int(np.argmax(chosen["val_f1_macro"].to_numpy()))],
            "best_f1": float(chosen["val_f1_macro"].max()),
        })
    return curves


def results_sections(found: Runs, reference: str, n_boot: int, seed: int,
                     groups: pd.Series | None = None) -> dict:
    n = len(found.folds)
    rows = headline_rows(found)
    comps = comparisons(found, reference, n_boot, seed, groups)
    boot_of = {c["variant"]: c["boot"] for c in comps}
    winner = max((r for r in rows if r["n_folds"]),
                 key=lambda r: r["metrics"]["f1_macro"]["mean"], default=None)
    notes = []
    pooled, curves, per_fold = {}, {}, {}
    for variant in found.variants:
        runs = found.of(variant)
        per_fold[variant] = {r.fold: {**r.scores, "best_epoch": r.metrics.get("best_epoch"),
                                      "train_seconds": r.metrics.get("train_seconds"),
                                      "device": r.metrics.get("device")} for r in runs}
        if not runs:
            continue
        pooled[variant] = {**score_predictions(found.pooled(variant)), "n_folds": len(runs)}
        curves[variant] = []
        for r in (m for run in runs for m in (run.members or [run])):
            if r.history is None:
                continue
            for c in best_epochs(r.history):
                curves[variant].append({**c, "fold": r.fold, "seed": r.seed})
                stored = r.metrics.get("best_epoch")
                if isinstance(stored, dict):  # two-stage: {"stage1": e1, "stage2": e2}
                    stored = stored.get(f"stage{c['stage']}", stored.get(str(c["stage"])))
                if isinstance(stored, (int, float)) and stored != c["best_epoch"]:
                    where = "" if c["stage"] is None else f" stage {c['stage']}"
                    where += "" if r.seed is None else f" seed {r.seed}"
                    notes.append(f"{variant}/fold{r.fold}{where}: metrics.json says best epoch "
                                 f"{stored}, history.csv's best validation macro-F1 is at "
                                 f"epoch {c['best_epoch']}.")
        if not curves[variant]:
            del curves[variant]
    baseline = None
    if pooled:  # what answering "neutral" to every test segment would score
        y = found.pooled(next(iter(pooled)))["label"].tolist()
        baseline = headline(y, ["neutral"] * len(y))
        baseline["neutral_share"] = float(np.mean(np.asarray(y) == "neutral"))
    return {
        "headline": rows, "winner": winner,
        "verdict": verdict(rows, reference, boot_of.get(winner["variant"]) if winner else None,
                           n),
        "baseline": baseline, "per_fold": per_fold, "pooled": pooled, "curves": curves,
        "comparisons": [{**c, "sentence": ci_sentence(c) if c["boot"] else None} for c in comps],
        "calibration": calibration_section(found, notes),
        "notes": notes,
    }
