"""The report researchers decide from: one self-contained HTML file (no network, no JS).

    python scripts/render_report.py --runs-dir results/runs --data-dir results/data \
        --summary results/summary.csv --config-json results/effective_config.json \
        --benchmarks benchmarks --variants text_ce,text_soft_bce,text_two_stage,mm_ce,mm_two_stage \
        --folds 0,1,2,3,4 --reference text_ce --bootstrap 1000 --seed 0 \
        --out reports/summary.html [--plots-dir results/report] [--allow-missing]

Every figure is recomputed here from the runs' predictions.csv with scripts/metrics.py and
checked against metrics.json and summary.csv (a stale or disagreeing file is an error). The
plots are embedded as base64 PNG and, with --plots-dir, also written there as PNG files.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import subprocess
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

import plots
from errors import InputError, run_cli
from kemdy20 import CLASS_INDEX, CLASSES
from metrics import HEADLINE, headline, score_predictions
from atomic import write_atomic
from summarize import Runs, collect_runs, parse_folds, parse_list, read_json
from variants import resolve

TEMPLATES = Path(__file__).parent / "templates"
METRIC_NAMES = {"f1_macro": "F1-macro", "balanced_accuracy": "Balanced accuracy",
                "f1_weighted": "F1-weighted", "f1_micro": "F1-micro", "accuracy": "Accuracy"}
PACKAGES = ["torch", "transformers", "pandas", "scikit-learn", "numpy", "matplotlib",
            "snakemake"]
DEMO_BANNER = ("DEMO on a generated KEMDy20 look-alike with small encoders built locally (text: "
               "random; audio: pre-trained a minute without labels on the look-alike's clips): "
               "these numbers say nothing about KEMDy20.")
SUMMARY_TOLERANCE = 1e-6
PLOT_FILES = {  # plot key -> file name under --plots-dir
    "per_fold": "per_fold_f1_macro.png",
    "per_class": "per_class_f1.png",
    "confusion": "confusion.png",
    "curves": "learning_curves.png",
    "comparison": "comparison.png",
    "classes": "class_distribution.png",
}


# ---------------------------------------------------------------- paired bootstrap


def encode(labels) -> np.ndarray:
    return np.fromiter((CLASS_INDEX[x] for x in labels), dtype=np.int64, count=len(labels))


def group_confusions(y: np.ndarray, pred: np.ndarray, g: np.ndarray, n_groups: int, k: int) -> np.ndarray:
    """(n_groups, k*k) confusion counts of each group (session) of segments."""
    return np.bincount(g * k * k + y * k + pred, minlength=n_groups * k * k).reshape(n_groups, k * k)


def macro_f1(cm: np.ndarray) -> np.ndarray:
    """sklearn's f1_score(average="macro", zero_division=0) from confusion counts: classes
    that occur in neither labels nor predictions are left out, as sklearn does."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(-1) + cm.sum(-2)
    present = denom > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=present)
    return f1.sum(-1) / present.sum(-1)


def balanced_accuracy(cm: np.ndarray) -> np.ndarray:
    """sklearn's balanced_accuracy_score: mean recall over the classes present in the labels."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(-1)
    recall = np.divide(tp, support, out=np.zeros(tp.shape), where=support > 0)
    return recall.sum(-1) / (support > 0).sum(-1)


def paired_bootstrap(label, pred_a, pred_b, n_boot: int, seed: int, groups=None,
                     chunk: int = 200) -> dict:
    """Difference b - a of macro-F1 and balanced accuracy on the same segments, with a
    percentile 95 % CI from `n_boot` resamples (same draws for a and b).

    Segments of one session share speakers and a recording, so they are not independent:
    with `groups` (the session of each segment) whole sessions are resampled, which gives
    an honest, wider interval. A resample is a multinomial draw of session counts, so its
    confusion matrix is counts @ per-session confusions: no Python loop over resamples.
    """
    y, a, b = encode(label), encode(pred_a), encode(pred_b)
    n, k = len(y), len(CLASSES)
    _, g = np.unique(np.asarray(groups if groups is not None else np.arange(n)), return_inverse=True)
    n_groups = int(g.max()) + 1

    cm_a, cm_b = group_confusions(y, a, g, n_groups, k), group_confusions(y, b, g, n_groups, k)
    stats = {"f1_macro": macro_f1, "balanced_accuracy": balanced_accuracy}
    point = {m: float(f(cm_b.sum(0).reshape(k, k)) - f(cm_a.sum(0).reshape(k, k)))
             for m, f in stats.items()}
    rng = np.random.default_rng(seed)
    deltas = {m: [] for m in stats}
    for start in range(0, n_boot, chunk):
        draws = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=min(chunk, n_boot - start))
        boot_a = (draws @ cm_a).reshape(-1, k, k)
        boot_b = (draws @ cm_b).reshape(-1, k, k)
        for m, f in stats.items():
            deltas[m].append(f(boot_b) - f(boot_a))
    out = {}
    for m in stats:
        d = np.concatenate(deltas[m])
        lo, hi = np.percentile(d, [2.5, 97.5])
        out[m] = {"delta": point[m], "lo": float(lo), "hi": float(hi),
                  "p_better": float(np.mean(d > 0)), "n_boot": int(n_boot), "n": n,
                  "n_groups": n_groups, "unit": "session" if groups is not None else "segment"}
    return out


# ---------------------------------------------------------------- results sections


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


def comparisons(found: Runs, reference: str, n_boot: int, seed: int) -> list[dict]:
    """Per-fold differences to the reference and the paired bootstrap, per variant."""
    if not found.of(reference):
        return []
    ref_pooled = found.pooled(reference)
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
        pair = ref_pooled[["segment_id", "label", "pred"]].merge(
            found.pooled(variant)[["segment_id", "label", "pred"]], on="segment_id",
            suffixes=("_ref", "_var"))
        if (pair["label_ref"] != pair["label_var"]).any():
            seg = pair.loc[pair["label_ref"] != pair["label_var"], "segment_id"].iloc[0]
            raise InputError(found.of(variant)[0].path.parent,
                             f"segment {seg} has a different label in {variant} than in "
                             f"{reference}", "train both variants on the same labels")
        boot = None
        if len(pair):
            sessions = pair["segment_id"].str.slice(4, 6)  # SessNN_...: the segment's session
            boot = paired_bootstrap(pair["label_ref"].tolist(), pair["pred_ref"].tolist(),
                                    pair["pred_var"].tolist(), n_boot, seed, groups=sessions)
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
    """One curve per stage: epochs, losses and the epoch of the best validation macro-F1."""
    groups = history.groupby("stage", sort=True) if "stage" in history else [(None, history)]
    curves = []
    for stage, h in groups:
        h = h.sort_values("epoch")
        curves.append({
            "stage": stage, "epoch": h["epoch"].to_numpy(),
            "train_loss": h["train_loss"].to_numpy(dtype=float),
            "val_loss": h["val_loss"].to_numpy(dtype=float),
            "val_f1_macro": h["val_f1_macro"].to_numpy(dtype=float),
            # early stopping keeps the first epoch with the best validation macro-F1
            "best_epoch": h["epoch"].iloc[int(np.argmax(h["val_f1_macro"].to_numpy()))],
            "best_f1": float(h["val_f1_macro"].max()),
        })
    return curves


def results_sections(found: Runs, reference: str, n_boot: int, seed: int) -> dict:
    n = len(found.folds)
    rows = headline_rows(found)
    comps = comparisons(found, reference, n_boot, seed)
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
        for r in runs:
            if r.history is None:
                continue
            for c in best_epochs(r.history):
                curves[variant].append({**c, "fold": r.fold})
                stored = r.metrics.get("best_epoch")
                if isinstance(stored, dict):  # two-stage: {"stage1": e1, "stage2": e2}
                    stored = stored.get(f"stage{c['stage']}", stored.get(str(c["stage"])))
                if isinstance(stored, (int, float)) and stored != c["best_epoch"]:
                    where = "" if c["stage"] is None else f" stage {c['stage']}"
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
        "notes": notes,
    }


def check_summary(path: Path, found: Runs) -> None:
    """summary.csv must hold the figures recomputed here (else it is stale)."""
    if not path.is_file():
        raise InputError(path, "not found", "run scripts/summarize.py first")
    table = pd.read_csv(path)
    for col in ("variant", "metric", "mean"):
        if col not in table.columns:
            raise InputError(path, f"no column '{col}'", "re-run scripts/summarize.py")
    index = table.set_index(["variant", "metric"])
    for variant in found.variants:
        for m in HEADLINE:
            if (variant, m) not in index.index:
                raise InputError(path, f"no row for {variant} / {m}",
                                 "re-run scripts/summarize.py with the same --variants")
            row = index.loc[(variant, m)]
            for run in found.of(variant):
                col = f"fold{run.fold}"
                value = row.get(col, math.nan)
                if pd.notna(value) and abs(float(value) - run.scores[m]) > SUMMARY_TOLERANCE:
                    raise InputError(path, f"{variant} {m} {col} is {value} but "
                                     f"{run.path / 'predictions.csv'} gives {run.scores[m]:.6f}",
                                     "summary.csv is stale: re-run scripts/summarize.py")


# ---------------------------------------------------------------- data section


def read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(path, "not found", "run the data steps of the workflow first")
    df = pd.read_csv(path, keep_default_na=False, dtype=str)
    absent = [c for c in columns if c not in df.columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}", "re-run the step that wrote it")
    return df


def flatten(obj, prefix: str = "") -> list[tuple[str, object]]:
    """Nested JSON -> (dotted key, scalar) pairs, for a table of ingest counts."""
    if isinstance(obj, dict) and not obj:
        return [(prefix[:-1], "none")] if prefix else []
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(obj, list) and not all(isinstance(x, (int, float, str)) for x in obj):
        return [kv for i, v in enumerate(obj) for kv in flatten(v, f"{prefix}{i}.")]
    return [(prefix[:-1], obj)]


def numeric_total(obj) -> int | None:
    if isinstance(obj, bool):
        return None
    if isinstance(obj, (int, float)):
        return int(obj)
    if isinstance(obj, dict):  # {file: count}; empty means no fixes
        parts = [numeric_total(v) for v in obj.values()]
        parts = [p for p in parts if p is not None]
        return sum(parts) if parts or not obj else None
    return None


def ingest_fixes(ingest: dict) -> list[dict]:
    """Top-level ingest entries that count Segment-ID prefix fixes or disqust fixes."""
    fixes = []
    for key, value in ingest.items():
        k = key.lower()
        if k.endswith("_total") and key[: -len("_total")] in ingest:
            continue  # the total of a per-file dict listed anyway
        if "prefix" in k or "disqust" in k:
            fixes.append({"key": key, "total": numeric_total(value),
                          "detail": flatten(value) if isinstance(value, dict) else []})
    return fixes


def data_section(data_dir: Path, found: Runs) -> dict:
    segments = read_table(data_dir / "segments.csv", ["segment_id", "total_emotion"])
    new = read_table(data_dir / "new_data.csv", ["segment_id", "label", "total_emotion"])
    evaluators = read_table(data_dir / "evaluators.csv", [
        "evaluator", "n_votes", "accuracy_vs_majority", "accuracy_vs_final", "weight"])
    agreement_path = data_dir / "agreement.json"
    if not agreement_path.is_file():
        raise InputError(agreement_path, "not found", "run the aggregation step first")
    agreement = read_json(agreement_path)
    notes, missing_files = [], []

    totals = segments["total_emotion"]
    multi = totals.str.contains(";")
    release_single = totals[~multi & (totals != "")].value_counts()
    in_tie = pd.Series([c for t in totals[multi] for c in t.split(";")]).value_counts() \
        if multi.any() else pd.Series(dtype=int)
    aggregated = new.loc[new["label"].isin(CLASSES), "label"].value_counts()
    classes = [{"class": c, "release": int(release_single.get(c, 0)),
                "in_tie": int(in_tie.get(c, 0)), "aggregated": int(aggregated.get(c, 0))}
               for c in CLASSES]
    new_multi = new["total_emotion"].str.contains(";")
    single = ~new_multi & new["total_emotion"].isin(CLASSES) & new["label"].isin(CLASSES)
    changed = int((new.loc[single, "label"] != new.loc[single, "total_emotion"]).sum())
    counts = {
        "segments": len(segments), "multi_label_totals": int(multi.sum()),
        "no_total": int((totals == "").sum()), "labelled": int(new["label"].isin(CLASSES).sum()),
        "multi_in_new": int(new_multi.sum()),
        # resolved = labelled without a tie: only the aggregation step knows (ties are broken)
        "resolved": agreement.get("multilabel_resolved"), "ties": agreement.get("n_ties"),
        "single_changed": changed, "n_single_in_new": int(single.sum()),
        "sessions": int(segments["session"].nunique()) if "session" in segments else None,
    }
    for key, mine, source in (("label_counts", aggregated, "new_data.csv labels"),
                              ("total_counts", release_single, "segments.csv totals")):
        stored = agreement.get(key)
        if isinstance(stored, dict):
            diff = [c for c in CLASSES if int(stored.get(c, 0)) != int(mine.get(c, 0))]
            if diff:
                notes.append(f"agreement.json {key} disagree with the {source} for {diff}.")

    evaluator_rows = evaluators.to_dict("records")
    for row in evaluator_rows:
        for col in ("accuracy_vs_majority", "accuracy_vs_final", "weight"):
            row[col] = float(row[col]) if row[col] != "" else math.nan

    ingest = None
    if (data_dir / "ingest.json").is_file():
        raw = read_json(data_dir / "ingest.json")
        ingest = {"rows": flatten(raw), "fixes": ingest_fixes(raw)}
    else:
        missing_files.append("ingest.json")
    skipped = None
    if (data_dir / "skipped.csv").is_file():
        sk = read_table(data_dir / "skipped.csv", ["segment_id", "file", "reason"])
        skipped = {"n": len(sk), "reasons": sk["reason"].value_counts().to_dict(),
                   "rows": sk.head(50).to_dict("records")}
    else:
        missing_files.append("skipped.csv")
    folds = None
    if (data_dir / "folds.csv").is_file():
        fo = read_table(data_dir / "folds.csv", ["segment_id", "fold"])
        folds = []
        for k, g in fo.groupby("fold", sort=True):
            sessions = sorted(g["session"].unique()) if "session" in g else []
            folds.append({"fold": k, "n": len(g), "sessions": ", ".join(map(str, sessions))})
            test = set(g["segment_id"])
            for variant in found.variants:
                run = found.runs.get((variant, int(k)))
                if run is not None and set(run.predictions["segment_id"]) != test:
                    notes.append(f"{variant}/fold{k}: predictions.csv covers "
                                 f"{len(run.predictions)} segments, folds.csv puts {len(test)} "
                                 "in this test fold (the sets differ).")
    else:
        missing_files.append("folds.csv")

    agreement_rows = []  # scalars as they are, lists (e.g. skipped_min_votes) as a count
    for k, v in agreement.items():
        if isinstance(v, list):
            shown = ", ".join(map(str, v[:3])) + (", …" if len(v) > 3 else "")
            agreement_rows.append((k, f"{len(v)}" + (f" ({shown})" if v else "")))
        elif not isinstance(v, dict):
            agreement_rows.append((k, v))
    return {"classes": classes, "counts": counts, "evaluators": evaluator_rows,
            "agreement": agreement, "agreement_rows": agreement_rows, "ingest": ingest,
            "skipped": skipped, "folds": folds, "notes": notes, "missing_files": missing_files,
            "distribution": {
                "release totals (single-label)": {c["class"]: c["release"] for c in classes},
                "aggregated labels": {c["class"]: c["aggregated"] for c in classes}}}


# ---------------------------------------------------------------- provenance


def git_commit(cwd: Path) -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip()
                                      else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> list[tuple[str, str]]:
    out = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def disk_size(root: Path) -> int | None:
    if not root.is_dir():
        return None
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total


def benchmarks(folder: Path | None) -> list[dict]:
    """One row per Snakemake benchmark TSV under `folder`, slowest first."""
    if folder is None or not folder.is_dir():
        return []
    rows = []
    for tsv in sorted(folder.rglob("*.tsv")):
        try:
            df = pd.read_csv(tsv, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            raise InputError(tsv, "not a Snakemake benchmark table", "re-run the job") from None
        if "s" not in df.columns or df.empty:
            raise InputError(tsv, "no 's' column or no row", "re-run the job")
        first = df.iloc[0]
        rows.append({"job": str(tsv.relative_to(folder).with_suffix("")),
                     "s": float(first["s"]), "hms": str(first.get("h:m:s", "")),
                     "max_rss": first.get("max_rss", ""),
                     "cpu_time": first.get("cpu_time", "")})
    return sorted(rows, key=lambda r: -r["s"])


def provenance(config: dict, config_path: Path, found: Runs, data: dict, bench: list[dict],
               reference: str, n_boot: int, seed: int) -> dict:
    dataset = config.get("dataset", {})
    kind = dataset.get("kind", "unknown")
    root = Path(str(dataset.get("root", "")))
    variants, notes = [], []
    for v in found.variants:
        try:
            spec = resolve(config, v, source=str(config_path))
        except InputError as err:
            notes.append(str(err))
            spec = {}
        devices = sorted({str(r.metrics.get("device", "unknown")) for r in found.of(v)})
        variants.append({"variant": v, "modality": spec.get("modality", "?"),
                         "loss": spec.get("loss", "?"), "two_stage": spec.get("two_stage"),
                         "seed": spec.get("seed", "?"), "devices": ", ".join(devices) or "-"})
    seeds = [("train.seed (per variant, see the table)", "")]
    seeds += [(f"{k}.seed", config[k]["seed"]) for k in ("synthetic", "folds", "report")
              if isinstance(config.get(k), dict) and "seed" in config[k]
              and (k != "synthetic" or kind == "synthetic")]
    seeds.append(("bootstrap seed used here", seed))
    size = disk_size(root) if str(root) else None
    return {
        "kind": kind, "is_demo": kind == "synthetic",
        "dataset_label": ("generated KEMDy20 look-alike" if kind == "synthetic"
                          else "KEMDy20" if kind == "kemdy20" else kind),
        "root": str(root), "disk_mb": None if size is None else size / 2**20,
        "n_segments": data["counts"]["segments"], "n_sessions": data["counts"]["sessions"],
        "encoders": config.get("encoders", {}), "variants": variants, "seeds": seeds[1:],
        "config_json": json.dumps(config, indent=2, sort_keys=False, default=str),
        "commit": git_commit(Path.cwd()), "versions": versions(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "benchmarks": bench, "bench_total_s": sum(r["s"] for r in bench),
        "reference": reference, "n_boot": n_boot, "notes": notes,
    }


# ---------------------------------------------------------------- rendering


def make_plots(found: Runs, results: dict, data: dict, reference: str) -> dict[str, bytes]:
    n = len(found.folds)
    present = [v for v in found.variants if v in results["pooled"]]
    # a variant short of folds says so in every plot
    name = {v: v if len(found.of(v)) == n else f"{v} ({len(found.of(v))} of {n} folds)"
            for v in found.variants}
    figs = {}
    if present:
        figs["per_fold"] = plots.per_fold(
            {name[v]: {k: s["f1_macro"] for k, s in results["per_fold"][v].items()}
             for v in present}, found.folds, "F1-macro")
        figs["per_class"] = plots.per_class_f1(
            {name[v]: {c: results["pooled"][v]["per_class"][c]["f1"] for c in CLASSES}
             for v in present}, CLASSES)
        figs["confusion"] = plots.confusion(
            {name[v]: np.asarray(results["pooled"][v]["confusion"]) for v in present}, CLASSES)
    if results["curves"]:
        figs["curves"] = plots.learning_curves({name[v]: c for v, c in results["curves"].items()})
    comps = [c for c in results["comparisons"] if c["boot"]]
    if comps:
        figs["comparison"] = plots.comparison(
            [{"variant": name[c["variant"]], **c["boot"]["f1_macro"],
              "colour": present.index(c["variant"])} for c in comps], reference)
    figs["classes"] = plots.class_distribution(data["distribution"], CLASSES)
    return {k: plots.png(f) for k, f in figs.items()}


def placeholder_plots(images: dict[str, bytes]) -> dict[str, bytes]:
    """Every file of PLOT_FILES, a 'no data' picture where there is nothing to plot, so the
    workflow's declared outputs always exist."""
    return {k: images[k] if k in images else plots.png(plots.empty(f"{k}: no runs to plot"))
            for k in PLOT_FILES}


def fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def render(context: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["f3"] = fmt
    env.filters["epoch"] = lambda e: "–" if e is None else ", ".join(
        f"{k}: {v}" for k, v in e.items()) if isinstance(e, dict) else str(e)
    env.filters["pct"] = lambda x, total: "–" if not total else f"{100 * x / total:.1f} %"
    env.filters["signed"] = lambda x: "–" if x is None or math.isnan(x) else f"{x:+.3f}"
    return env.get_template("summary.html.j2").render(**context)


def build(args) -> tuple[str, dict[str, bytes]]:
    variants, folds = parse_list(args.variants), parse_folds(args.folds)
    if args.reference not in variants:
        raise InputError("--reference", f"'{args.reference}' is not among --variants {variants}",
                         "pick the reference from the variants being reported")
    found = collect_runs(args.runs_dir, variants, folds, args.allow_missing, history=True)
    check_summary(args.summary, found)
    if not args.config_json.is_file():
        raise InputError(args.config_json, "not found", "the workflow writes it before the report")
    config = read_json(args.config_json)
    results = results_sections(found, args.reference, args.bootstrap, args.seed)
    data = data_section(args.data_dir, found)
    bench = benchmarks(args.benchmarks)
    prov = provenance(config, args.config_json, found, data, bench, args.reference,
                      args.bootstrap, args.seed)
    images = make_plots(found, results, data, args.reference)
    missing = [{"run": f"{v}/fold{k}", "files": ", ".join(f)} for (v, k), f in
               found.missing.items()]
    missing += [{"run": f"{v}/fold{k}", "files": "history.csv (its predictions are used)"}
                for v, k in found.no_history]
    missing.sort(key=lambda m: (variants.index(m["run"].split("/")[0]), m["run"]))
    context = {
        "demo_banner": DEMO_BANNER, "prov": prov, "results": results, "data": data,
        "missing": missing, "variants": variants, "folds": folds, "n_folds": len(folds),
        "reference": args.reference, "headline_metrics": HEADLINE, "names": METRIC_NAMES,
        "classes": CLASSES, "seed": args.seed, "n_boot": args.bootstrap,
        "images": {k: base64.b64encode(v).decode("ascii") for k, v in images.items()},
        "css": (TEMPLATES / "report.css").read_text(encoding="utf-8"),
    }
    return render(context), images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--config-json", required=True, type=Path)
    parser.add_argument("--benchmarks", type=Path, default=None,
                        help="folder of Snakemake benchmark TSVs (searched recursively)")
    parser.add_argument("--variants", required=True, help="comma-separated variant names")
    parser.add_argument("--folds", required=True, help="comma-separated fold numbers")
    parser.add_argument("--reference", required=True, help="variant every other is compared to")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--plots-dir", type=Path, default=None,
                        help="also write the plots here as PNG files")
    parser.add_argument("--allow-missing", action="store_true",
                        help="report the runs present, with a banner naming the missing ones")
    args = parser.parse_args(argv)
    if args.bootstrap < 1:
        raise InputError("--bootstrap", f"{args.bootstrap} resamples", "pass at least 1")
    html, images = build(args)
    if args.plots_dir is not None:
        for key, data in placeholder_plots(images).items():
            write_atomic(args.plots_dir / PLOT_FILES[key], data)
    write_atomic(args.out, html)


if __name__ == "__main__":
    run_cli(main)
