"""The report's raters' ceiling: the median and the best rater beside every variant (headline:
mean ± std over the variants' test folds, as the variants; per class: pooled, as the
variants), how often a variant and the median rater part ways, and the raters left out for
too few votes. raters.csv is checked against the files it comes
from: its figures are recomputed from segments.csv's votes and raters_consensus.csv, and its
segments must be new_data.csv's test segments (a disagreement is a consistency note)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from kemdy.labels.folds import read_folds
from kemdy.labels.raters import (ALL, CLASS_F1, FOLD_MEAN, fold_means, median_and_best,
                                 read_consensus, read_raters, score)
from kemdy.labels.relabel import read_new_data
from kemdy.metrics import HEADLINE
from kemdy.release.segments import read_segments
from kemdy.report.summary import Runs

TOLERANCE = 1e-9  # recomputed with the same numpy code: only CSV round-off may differ
CONSENSUS = "raters_consensus.csv"  # beside raters.csv


def agreement_shares(pooled: pd.DataFrame, labels: pd.Series, votes: pd.Series,
                     own: pd.Series) -> dict:
    """On the test segments where the rater is scored (it voted and the others reach a
    consensus: `own`, its leave-one-out consensus, is not empty), each prediction row once (a
    segment once per seed): the share where the model is right and the rater is not
    (`model_only`), and the reverse (`rater_only`). Each side is judged as raters.csv and the
    headline judge it: the model against `labels` (new_data.csv, the full consensus), the
    rater against `own`. labels, votes and own: by segment_id."""
    vote = pooled["segment_id"].map(votes)
    label = pooled["segment_id"].map(labels)
    reference = pooled["segment_id"].map(own[own != ""])
    rows = vote.notna() & label.notna() & reference.notna()
    if not rows.any():
        return {"n": 0, "model_only": math.nan, "rater_only": math.nan}
    model = (pooled.loc[rows, "pred"] == label[rows]).to_numpy()
    rater = (vote[rows] == reference[rows]).to_numpy()
    return {"n": int(rows.sum()), "model_only": float(np.mean(model & ~rater)),
            "rater_only": float(np.mean(rater & ~model))}


def check_figures(table: pd.DataFrame, again: pd.DataFrame, threshold, path, notes) -> None:
    """raters.csv against the figures recomputed from its sources."""
    keys = ["dataset", "slot"]
    merged = table.merge(again, on=keys, how="outer", suffixes=("", "_again"), indicator=True)
    for _, r in merged[merged["_merge"] != "both"].iterrows():
        where = "raters.csv" if r["_merge"] == "left_only" else "the recomputation"
        notes.append(f"{path}: rater {r['slot']} of {r['dataset']} is only in {where}.")
    for _, r in merged[merged["_merge"] == "both"].iterrows():
        who = f"{path}: {r['rater']} ({r['dataset']})"
        if r["n"] != r["n_again"]:
            notes.append(f"{who} has n {int(r['n'])}, the votes and the consensus give "
                         f"{int(r['n_again'])}.")
            continue
        bad = [m for m in HEADLINE + CLASS_F1 if not (
            (math.isnan(r[m]) and math.isnan(r[f"{m}_again"]))
            or abs(r[m] - r[f"{m}_again"]) <= TOLERANCE)]
        if bad:
            notes.append(f"{who}: {', '.join(bad)} disagree with the figures recomputed from "
                         f"segments.csv and {CONSENSUS} (re-run score_raters).")
        if threshold is not None and bool(r["included"]) != (r["n"] >= max(threshold, 1)):
            notes.append(f"{who}: included is {bool(r['included'])} with n {int(r['n'])} and "
                         f"raters.min_segments {threshold} (re-run score_raters).")


def raters_section(path, data_dir, found: Runs, config: dict, notes: list[str]) -> dict | None:
    """Everything the template shows of the raters; consistency problems go to `notes`.
    None without folds.csv (a partial report: section 6 names the missing file): the raters
    could not be put on the variants' footing, per test fold."""
    path, data_dir = Path(path), Path(data_dir)
    if not (data_dir / "folds.csv").is_file():
        return None
    table = read_raters(path)
    consensus = read_consensus(path.parent / CONSENSUS)
    segments = read_segments(data_dir / "segments.csv", ["dataset", "segment_id"], dtype=str,
                             keep_default_na=False, na_values=[""])
    new = read_new_data(data_dir / "new_data.csv", ["segment_id", "label"])
    threshold = (config.get("raters") or {}).get("min_segments")
    names = dict(zip(table["slot"], table["rater"]))
    again = score(segments, consensus, names, threshold if threshold is not None else 0)
    check_figures(table, again, threshold, path, notes)
    if set(consensus["segment_id"]) != set(new["segment_id"]):
        notes.append(f"{path.parent / CONSENSUS} covers {len(consensus)} segments, new_data.csv "
                     f"labels {len(new)} (the sets differ): re-run score_raters.")

    folds = read_folds(data_dir / "folds.csv", ["segment_id", "fold"])
    fold_of = pd.Series(folds["fold"].to_numpy(), index=folds["segment_id"])
    unplaced = ~consensus["segment_id"].isin(fold_of.index)
    if unplaced.any():
        notes.append(f"{int(unplaced.sum())} test segment(s) of {CONSENSUS} are not in "
                     f"folds.csv (first: {consensus.loc[unplaced, 'segment_id'].iloc[0]}): "
                     "re-run make_folds and score_raters.")
    table = fold_means(table, segments, consensus, fold_of, found.folds)
    by = FOLD_MEAN["f1_macro"]  # the headline's footing: mean over the variants' test folds

    labels = pd.Series(new["label"].to_numpy(), index=new["segment_id"])
    votes = segments.set_index("segment_id")
    loo = consensus.set_index("segment_id")  # each rater's leave-one-out consensus
    pooled = {v: found.pooled(v) for v in found.variants if found.of(v)}
    for v, p in pooled.items():
        differ = p["label"].astype(str) != p["segment_id"].map(labels)
        if differ.any():
            notes.append(f"{v}: {int(differ.sum())} prediction row(s) carry another label than "
                         f"new_data.csv (first: {p.loc[differ, 'segment_id'].iloc[0]}).")
    datasets = list(dict.fromkeys(table["dataset"]))
    groups = []
    for dataset in datasets:
        median, best = median_and_best(table, dataset, by)
        part = table[table["dataset"] == dataset]
        shares = {}
        if median is not None:
            rater_votes = votes[f"{median['slot']}_emotion"].dropna()
            shares = {v: agreement_shares(p, labels, rater_votes, loo[median["slot"]])
                      for v, p in pooled.items()}
        groups.append({"dataset": dataset, "median": median, "best": best,
                       "n_raters": len(part), "n_included": int(part["included"].sum()),
                       "shares": shares})
    scope = ALL if ALL in datasets else (datasets[0] if len(datasets) == 1 else None)
    mine = table[table["dataset"] != ALL]  # `all` repeats each rater's own row
    return {"threshold": threshold, "groups": groups, "scope": scope,
            "headline": next((g for g in groups if g["dataset"] == scope), None),
            "left_out": mine[~mine["included"]].to_dict("records"),
            "rows": mine.to_dict("records"), "path": str(path), "folds": found.folds}
