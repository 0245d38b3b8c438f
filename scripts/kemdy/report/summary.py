"""Every run of the grid, loaded and checked, and the summary of their headline figures.
Owns results/summary.csv.

summary.csv has one row per variant x metric: `variant, metric, mean, std, n_folds, missing,
n_seeds, fold0, fold1, ...`. std is the sample standard deviation over folds (ddof=1). A
variant trained over several seeds (kemdy/protocol.py) has one run per fold x seed, under
fold{k}/seed{s}/; its fold figure is the mean over its seeds (a fold counts as present only
with every seed). The metrics: kemdy.metrics.HEADLINE, then the calibration figures ece,
brier, nll of the prob_<class> columns (lower is better) and, for a model trained with
calibrate: temperature, ece_calibrated, brier_calibrated, nll_calibrated (the same figures of
softmax(log p / T), T from the run's metrics.json) and `temperature` itself. Each figure is
recomputed from predictions.csv with kemdy.metrics and must agree with the run's
metrics.json (a disagreement is an error naming the file). A missing run is an error unless
allowed; then its fold cell stays empty, `n_folds` counts the folds present and `missing`
lists the absent ones: nothing is filled in or averaged silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kemdy.atomic import write_csv
from kemdy.errors import InputError
from kemdy.metrics import CALIBRATED, CALIBRATION, HEADLINE, VA_METRICS, score_predictions
from kemdy.report.options import parse_variant_values
from kemdy.runs import read_history, read_json, read_predictions

SCORED_FILES = ("predictions.csv", "metrics.json")  # what the summary reads of a run
SUMMARY_TOLERANCE = 1e-6
# Figures a run has only where its files allow (prob_ columns; a temperature): summarised and
# checked where present, so a run of an older version still summarises.
PROBABILITY_METRICS = [*CALIBRATION, *CALIBRATED, "temperature"]
# metrics.json is written from the same predictions, so only float noise may differ.
TOLERANCE = 1e-6


@dataclass
class Run:
    """One trained model scored on its test fold."""

    variant: str
    fold: int
    path: Path
    predictions: pd.DataFrame
    metrics: dict  # as stored in metrics.json
    scores: dict  # recomputed from predictions.csv
    history: pd.DataFrame | None = None
    seed: int | None = None
    members: list["Run"] = field(default_factory=list)  # several seeds: one run per seed


@dataclass
class Runs:
    """Every run found for the requested variants x folds, and the ones that are missing."""

    variants: list[str]
    folds: list[int]
    runs: dict[tuple[str, int], Run] = field(default_factory=dict)
    missing: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # -> absent files
    no_history: list[tuple[str, int]] = field(default_factory=list)  # present, no history.csv
    seeds: dict[str, list[int]] = field(default_factory=dict)  # variants with several seeds

    def of(self, variant: str) -> list[Run]:
        return [self.runs[(variant, k)] for k in self.folds if (variant, k) in self.runs]

    def missing_folds(self, variant: str) -> list[int]:
        return [k for k in self.folds if (variant, k) in self.missing]

    def pooled(self, variant: str) -> pd.DataFrame:
        """Out-of-fold predictions of one variant, all its present folds stacked."""
        frames = [r.predictions.assign(fold=r.fold) for r in self.of(variant)]
        if not frames:
            return pd.DataFrame(columns=["segment_id", "label", "pred", "fold"])
        pooled = pd.concat(frames, ignore_index=True)
        # several seeds: each segment once per seed
        dup = pooled[[c for c in ("segment_id", "seed") if c in pooled]].duplicated(keep=False)
        if dup.any():
            seg = pooled.loc[dup, "segment_id"].iloc[0]
            folds = sorted(pooled.loc[pooled["segment_id"] == seg, "fold"].tolist())
            raise InputError(
                self.runs[(variant, folds[0])].path / "predictions.csv",
                f"segment {seg} is in the test set of folds {folds} of {variant}",
                "test folds must be disjoint: re-run the split and training",
            )
        return pooled


def parse_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_seeds(items: list[str] | None) -> dict[str, list[int]]:
    """--seeds VARIANT=S1,S2 (repeated): the variants trained over several seeds."""
    return parse_variant_values(items, "--seeds", "VARIANT=S1,S2,...", "text_ce=1,2,3",
                                _seed_list)


def _seed_list(text: str) -> list[int]:
    seeds = [int(s) for s in parse_list(text)]
    if not seeds:  # `V=,` would read as a single-seed variant with n_seeds 0
        raise ValueError(text)
    return seeds


def parse_folds(text: str) -> list[int]:
    try:
        return [int(part) for part in parse_list(text)]
    except ValueError:
        raise InputError("--folds", f"'{text}' is not a comma-separated list of integers",
                         "pass e.g. --folds 0,1,2,3,4") from None


def check_agreement(path: Path, stored: dict, scores: dict, variant: str, fold: int) -> None:
    """metrics.json must say what its predictions say (and be the run its folder names)."""
    if "variant" in stored and stored["variant"] != variant:
        raise InputError(path, f"says variant '{stored['variant']}' but lies under {variant}",
                         "re-run the training step", key="variant")
    if "fold" in stored and stored["fold"] != fold:
        raise InputError(path, f"says fold {stored['fold']} but lies under fold{fold}",
                         "re-run the training step", key="fold")
    if "n_test" in stored and stored["n_test"] != scores["n_test"]:
        raise InputError(path, f"n_test {stored['n_test']} but predictions.csv has "
                         f"{scores['n_test']} rows", "re-run the training step", key="n_test")
    for metric in CALIBRATION + CALIBRATED:
        if metric in stored and metric not in scores:  # e.g. ece_calibrated, no temperature
            raise InputError(path, f"'{metric}' but no prob_<class> columns in predictions.csv"
                             " or no temperature to recompute it from",
                             "re-run the training step", key=metric)
    # ece, brier, nll: an older metrics.json has none; the calibrated ones go with a temperature
    for metric in HEADLINE + [m for m in VA_METRICS + CALIBRATED if m in scores] + \
            [m for m in CALIBRATION if m in scores and m in stored]:
        if metric not in stored:
            raise InputError(path, f"no '{metric}'", "re-run the training step", key=metric)
        value = stored[metric]
        both_undefined = isinstance(value, float) and math.isnan(value) and math.isnan(scores[metric])
        # written as `not <=` so that a NaN on one side only counts as a disagreement
        if not both_undefined and (not isinstance(value, (int, float))
                                   or not abs(value - scores[metric]) <= TOLERANCE):
            raise InputError(
                path,
                f"{metric} {value} disagrees with {scores[metric]:.6f} recomputed from "
                "predictions.csv",
                "re-run the training step (metrics.json and predictions.csv are out of step)",
                key=metric,
            )


def stored_temperature(path: Path, stored: dict) -> float | None:
    """metrics.json's temperature (calibrate: temperature), checked: a positive number."""
    t = stored.get("temperature")
    if t is not None and not (isinstance(t, (int, float)) and not isinstance(t, bool)
                              and math.isfinite(t) and t > 0):
        raise InputError(path, f"temperature {t!r} is not a positive number",
                         "re-run the training step", key="temperature")
    return t


def load_run(run_dir: Path, variant: str, fold: int, with_history: bool = False) -> Run:
    predictions = read_predictions(run_dir / "predictions.csv")
    stored = read_json(run_dir / "metrics.json")
    scores = score_predictions(predictions,
                               temperature=stored_temperature(run_dir / "metrics.json", stored))
    check_agreement(run_dir / "metrics.json", stored, scores, variant, fold)
    history = None
    if with_history and (run_dir / "history.csv").is_file():
        history = read_history(run_dir / "history.csv")
    return Run(variant, fold, run_dir, predictions, stored, scores, history)


def seed_average(by_seed: dict[int, float]) -> tuple[float, float]:
    """A fold's figure over its seeds: (mean, sample std; NaN for one seed)."""
    values = [float(v) for v in by_seed.values()]
    if not values:
        return math.nan, math.nan
    std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return float(np.mean(values)), std


def seed_spread(per_fold: dict[int, dict[int, float]]) -> float:
    """The spread across seeds: the mean over folds of each fold's std over its seeds."""
    stds = [seed_average(s)[1] for s in per_fold.values() if len(s) > 1]
    return float(np.mean(stds)) if stds else math.nan


def seed_run(members: list[Run], variant: str, fold: int, path: Path) -> Run:
    """One fold of a several-seed variant: its seeds' predictions stacked (a `seed` column),
    every figure the mean over the seeds (seed_average)."""
    predictions = pd.concat([m.predictions.assign(seed=m.seed) for m in members],
                            ignore_index=True)
    scores = {k: seed_average({m.seed: m.scores[k] for m in members})[0]
              for k, v in members[0].scores.items() if isinstance(v, (int, float))}
    metrics = {"variant": variant, "fold": fold,
               "best_epoch": {f"seed{m.seed}": m.metrics.get("best_epoch") for m in members},
               "train_seconds": sum(float(m.metrics.get("train_seconds") or 0) for m in members),
               "device": members[0].metrics.get("device")}
    weights = [m.metrics["layer_weights"] for m in members
               if isinstance(m.metrics.get("layer_weights"), list)]
    if len(weights) == len(members):
        metrics["layer_weights"] = np.mean(np.asarray(weights, dtype=float), axis=0).tolist()
    return Run(variant, fold, path, predictions, metrics, scores, None, None, members)


def load_fold(run_dir: Path, variant: str, fold: int, seeds: list[int] | None,
              history: bool) -> tuple[Run | None, list[str], bool]:
    """(run, absent files, whether a history.csv is missing) of one fold: one run, or with
    several `seeds` one run per seed (absent unless every seed is there)."""
    if not seeds:
        absent = [f for f in SCORED_FILES if not (run_dir / f).is_file()]
        if absent:
            return None, absent, False
        run = load_run(run_dir, variant, fold, history)
        return run, [], history and run.history is None
    absent = [f"seed{s}/{f}" for s in seeds for f in SCORED_FILES
              if not (run_dir / f"seed{s}" / f).is_file()]
    if absent:
        return None, absent, False
    members = []
    for s in seeds:
        members.append(load_run(run_dir / f"seed{s}", variant, fold, history))
        members[-1].seed = s
    no_history = history and any(m.history is None for m in members)
    return seed_run(members, variant, fold, run_dir), [], no_history


def collect_runs(runs_dir, variants: list[str], folds: list[int], allow_missing: bool = False,
                 history: bool = False, seeds: dict[str, list[int]] | None = None) -> Runs:
    """Load runs_dir/{variant}/fold{k} (fold{k}/seed{s} for a variant of several `seeds`). A
    run without predictions.csv or metrics.json is missing; with `history`, a present run
    without history.csv is listed as missing that file (its predictions still count)."""
    runs_dir = Path(runs_dir)
    found = Runs(list(variants), list(folds), seeds=dict(seeds or {}))
    for variant in variants:
        for fold in folds:
            run, absent, no_history = load_fold(runs_dir / variant / f"fold{fold}", variant,
                                                fold, found.seeds.get(variant), history)
            if absent:
                found.missing[(variant, fold)] = absent
                continue
            found.runs[(variant, fold)] = run
            if no_history:
                found.no_history.append((variant, fold))
    problems = [f"{v}/fold{k} ({', '.join(a)})" for (v, k), a in found.missing.items()]
    problems += [f"{v}/fold{k} (history.csv)" for v, k in found.no_history]
    if problems and not allow_missing:
        raise InputError(runs_dir, f"{len(problems)} missing run(s) or file(s): "
                         + "; ".join(problems),
                         "train them, or pass --allow-missing to report without them")
    return found


def fold_stats(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of the present folds; NaN where undefined."""
    if not values:
        return math.nan, math.nan
    mean = float(np.mean(values))
    std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return mean, std


def summary_metrics(runs: list[Run]) -> list[str]:
    """A variant's rows of summary.csv: HEADLINE, then each PROBABILITY_METRICS figure that
    one of its runs has (a fold without it: an empty cell)."""
    return HEADLINE + [m for m in PROBABILITY_METRICS if any(m in r.scores for r in runs)]


def summary_table(found: Runs) -> pd.DataFrame:
    rows = []
    for variant in found.variants:
        runs = found.of(variant)
        missing = found.missing_folds(variant)
        for metric in summary_metrics(runs):
            values = [r.scores[metric] for r in runs if metric in r.scores]
            mean, std = fold_stats(values)
            row = {"variant": variant, "metric": metric, "mean": mean, "std": std,
                   "n_folds": len(runs), "missing": " ".join(f"fold{k}" for k in missing),
                   "n_seeds": len(found.seeds.get(variant, [None]))}
            by_fold = {r.fold: r.scores.get(metric, math.nan) for r in runs}
            row.update({f"fold{k}": by_fold.get(k, math.nan) for k in found.folds})
            rows.append(row)
    return pd.DataFrame(rows)


def write_summary(path, found: Runs) -> None:
    write_csv(path, summary_table(found))


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
        for m in summary_metrics(found.of(variant)):
            if (variant, m) not in index.index:
                raise InputError(path, f"no row for {variant} / {m}",
                                 "re-run scripts/summarize.py with the same --variants")
            row = index.loc[(variant, m)]
            for run in found.of(variant):
                col = f"fold{run.fold}"
                value = row.get(col, math.nan)
                got = run.scores.get(m, math.nan)
                if pd.notna(value) and not abs(float(value) - got) <= SUMMARY_TOLERANCE:
                    raise InputError(path, f"{variant} {m} {col} is {value} but "
                                     f"{run.path / 'predictions.csv'} gives {got:.6f}",
                                     "summary.csv is stale: re-run scripts/summarize.py")
