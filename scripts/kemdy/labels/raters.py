"""The raters' ceiling: every evaluator scored as if it were a model. This module owns
raters.csv and raters_consensus.csv.

- A rater is an evaluator slot of segments.csv. Ingest gives each evaluator name of a release
  its own slot (with several releases the name is qualified by the release), so a slot is one
  person of one release: KEMDy19's two rater groups of ten are twenty slots, and a KEMDy19
  rater is never a KEMDy20 rater. (Two groups sharing a header name would share a slot: the
  release gives no other identity.)
- Its predictions are its own emotion votes; its labels are the consensus of the others:
  aggregate_labels run on segments.csv without that slot's votes, i.e. the same method, the
  same scope (every dataset of the run at once, as relabel.relabel pools them) and the same
  min_votes (a segment needs min_votes votes of the *other* raters).
- It is scored on the models' test segments (the labelled segments of new_data.csv: every one
  is in exactly one test fold) where it voted and the others reach a consensus, with the
  models' figures (kemdy.metrics). The models are scored against the full consensus, which
  holds the rater's own vote; each rater is not.

raters.csv: `dataset, rater, slot, n, included`, the five figures of kemdy.metrics.HEADLINE
(`f1_macro, balanced_accuracy, f1_weighted, f1_micro, accuracy`), then `f1_<class>` for every
class. One row per dataset and rater (a rater belongs to the dataset(s) it voted in), and
with several datasets also one row per rater under dataset `all`: the raters of every release
together, each on its own segments, so `all`'s median rater is taken over all of them.
`included` is false where `n` (scored segments) is below min_segments: such a rater is
listed but takes no part in the median or best rater. n = 0: figures empty.

raters_consensus.csv: `dataset, segment_id`, then one column per slot (e01, e02, ...): that
rater's leave-one-out consensus on each test segment, empty where the rater is not scored.
With the votes of segments.csv it makes every figure of raters.csv recomputable
(`score_raters`).

raters.csv's figures are pooled over every test segment. The variants' headline figures are
mean ± std over test folds, and pooled macro-F1 runs above the fold mean where classes are
rare, so the report puts raters on the variants' footing with `fold_means`: each rater
scored per test fold (folds.csv's `fold`) on the same folds as the variants, then the mean
and sample std (ddof 1) over the folds where it has scored segments; the median and best
rater are then chosen by `f1_macro_fold_mean`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kemdy.atomic import atomic_outputs
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.labels.aggregate import METHODS, aggregate, encode_votes
from kemdy.labels.relabel import evaluator_slots
from kemdy.metrics import HEADLINE, score_predictions
from kemdy.tables import read_table

ALL = "all"  # the dataset name of the rows over every release together
MIN_SEGMENTS = 100  # default of raters.min_segments (schemas/config.schema.yaml)
CLASS_F1 = [f"f1_{c}" for c in CLASSES]
FOLD_MEAN = {m: f"{m}_fold_mean" for m in HEADLINE}  # fold_means' columns
FOLD_STD = {m: f"{m}_fold_std" for m in HEADLINE}
COLUMNS = ["dataset", "rater", "slot", "n", "included", *HEADLINE, *CLASS_F1]
FIX = "run the score_raters step (or re-run it)"


def leave_one_out(codes: np.ndarray, j: int, method: str = "wawa", min_votes: int = 3,
                  tol: float = 1e-6, max_iter: int = 100) -> np.ndarray:
    """The consensus of every rater but j on each segment (class code; -1 where the others
    cast fewer than min_votes votes): relabel's aggregation with slot j's votes removed."""
    others = codes.copy()
    others[:, j] = -1
    keep = (others >= 0).sum(axis=1) >= min_votes
    labels = np.full(len(codes), -1, dtype=np.int64)
    if keep.any():
        labels[keep] = aggregate(others[keep], method, tol=tol, max_iter=max_iter).label
    return labels


def check_labels(codes: np.ndarray, segments: pd.DataFrame, new_data: pd.DataFrame,
                 method: str, min_votes: int, tol: float, max_iter: int, path) -> np.ndarray:
    """The test segments as a mask over segments.csv; new_data.csv must be what the same
    aggregation gives with every rater (else it was built another way, or is stale)."""
    keep = (codes >= 0).sum(axis=1) >= min_votes
    test = segments["segment_id"].isin(set(new_data["segment_id"])).to_numpy()
    label = pd.Series(new_data["label"].to_numpy(), index=new_data["segment_id"])
    full = np.full(len(codes), "", dtype=object)
    if keep.any():
        full[keep] = np.asarray(CLASSES, dtype=object)[
            aggregate(codes[keep], method, tol=tol, max_iter=max_iter).label]
    stored = segments["segment_id"].map(label).fillna("").to_numpy()
    differ = np.flatnonzero((keep != test) | (test & (full != stored)))
    if differ.size or test.sum() != len(new_data):
        seg = segments["segment_id"].iloc[differ[0]] if differ.size else "(not in segments.csv)"
        raise InputError(path, f"segment {seg}: its labels are not labels.method {method} with "
                         f"min_votes {min_votes} over segments.csv's votes",
                         "re-run aggregate_labels with the same labels: settings",
                         key="labels.method")
    return test


def consensus_table(segments: pd.DataFrame, new_data: pd.DataFrame, method: str = "wawa",
                    min_votes: int = 3, tol: float = 1e-6, max_iter: int = 100,
                    path="new_data.csv") -> pd.DataFrame:
    """raters_consensus.csv: each slot's leave-one-out consensus on the test segments where
    that slot voted ("" elsewhere)."""
    if method not in METHODS:
        raise InputError("--method", f"unknown method '{method}'",
                         f"use one of {', '.join(METHODS)}", key="labels.method")
    columns = evaluator_slots(segments, "segments.csv")
    codes = encode_votes(segments, columns)
    test = check_labels(codes, segments, new_data, method, min_votes, tol, max_iter, path)
    names = np.asarray(CLASSES + [""], dtype=object)  # code -1 -> ""
    out = segments.loc[test, ["dataset", "segment_id"]].reset_index(drop=True)
    for j, column in enumerate(columns):
        labels = leave_one_out(codes, j, method, min_votes, tol, max_iter)
        labels[codes[:, j] < 0] = -1  # scored only where the rater voted
        out[column[: -len("_emotion")]] = names[labels[test]]
    return out


def slot_names(columns: list[str], evaluators: dict[str, str] | None) -> dict[str, str]:
    """Slot prefix (e01) -> the rater's name in ingest.json (the prefix itself if unnamed)."""
    return {c: (evaluators or {}).get(c, c) for c in columns}


def score_row(dataset: str, rater: str, slot: str, label, vote, min_segments: int) -> dict:
    """One raters.csv row: the rater's votes scored against its consensus."""
    row = {"dataset": dataset, "rater": rater, "slot": slot, "n": len(label),
           "included": len(label) >= max(min_segments, 1)}
    if not len(label):
        return {**row, **{c: math.nan for c in HEADLINE + CLASS_F1}}
    scores = score_predictions(pd.DataFrame({"label": label, "pred": vote}))
    return {**row, **{m: scores[m] for m in HEADLINE},
            **{f"f1_{c}": scores["per_class"][c]["f1"] for c in CLASSES}}


def score(segments: pd.DataFrame, consensus: pd.DataFrame, evaluators: dict | None = None,
          min_segments: int = MIN_SEGMENTS) -> pd.DataFrame:
    """raters.csv from segments.csv's votes and raters_consensus.csv. Each slot gets a row
    for every dataset it voted in (n = 0 if none of those votes is scored), and with several
    datasets one under `all`."""
    slots = [c for c in consensus.columns if c not in ("dataset", "segment_id")]
    absent = [s for s in slots if f"{s}_emotion" not in segments.columns]
    if absent:
        raise InputError("raters_consensus.csv", f"slot(s) {absent} have no votes in "
                         "segments.csv", FIX)
    votes = segments.set_index("segment_id")
    datasets = list(dict.fromkeys(segments["dataset"].astype(str)))
    names = slot_names(slots, evaluators)
    rows = []
    for scope in datasets + ([ALL] if len(datasets) > 1 else []):
        part = consensus if scope == ALL else consensus[consensus["dataset"] == scope]
        voters = votes if scope == ALL else votes[votes["dataset"].astype(str) == scope]
        for s in slots:
            if voters[f"{s}_emotion"].isna().all():
                continue  # not a rater of this dataset
            scored = part[part[s] != ""]
            vote = votes.loc[scored["segment_id"], f"{s}_emotion"].to_numpy()
            rows.append(score_row(scope, names[s], s, scored[s].to_numpy(), vote,
                                  min_segments))
    return pd.DataFrame(rows, columns=COLUMNS)


def fold_means(table: pd.DataFrame, segments: pd.DataFrame, consensus: pd.DataFrame,
               fold_of: pd.Series, folds: list[int]) -> pd.DataFrame:
    """raters.csv's rows with `n_folds` and, per headline measure, `<m>_fold_mean` and
    `<m>_fold_std`: each rater scored on each test fold of `folds` (fold_of: segment_id ->
    its test fold) as score() scores it on all of them; a fold where the rater has no
    scored segment does not count (n_folds 0: figures empty)."""
    names = dict(zip(table["slot"], table["rater"]))
    fold = consensus["segment_id"].map(fold_of)
    scores = pd.concat([score(segments, consensus[fold == k], names, 0) for k in folds]
                       or [score(segments, consensus.iloc[:0], names, 0)], ignore_index=True)
    scores = scores[scores["n"] > 0]
    grouped = scores.groupby(["dataset", "slot"])
    stats = pd.DataFrame({"n_folds": grouped.size()})
    for m in HEADLINE:
        stats[FOLD_MEAN[m]] = grouped[m].mean()
        stats[FOLD_STD[m]] = grouped[m].std(ddof=1)  # NaN for one fold, as the variants'
    out = table.merge(stats.reset_index(), on=["dataset", "slot"], how="left")
    return out.assign(n_folds=out["n_folds"].fillna(0).astype(int))


def ranked(table: pd.DataFrame, dataset: str, by: str = "f1_macro") -> pd.DataFrame:
    """A dataset's included raters, best `by` first (ties: by name)."""
    part = table[(table["dataset"] == dataset) & table["included"]]
    return part.sort_values([by, "rater"], ascending=[False, True], kind="stable",
                            na_position="last")


def median_and_best(table: pd.DataFrame, dataset: str,
                    by: str = "f1_macro") -> tuple[dict | None, dict | None]:
    """The median rater (by `by`, pooled macro-F1 unless told: the report passes the fold
    mean; of an even number, the better of the two middle ones, so that a model beating it
    beats at least half the raters) and the best one."""
    order = ranked(table, dataset, by)
    if order.empty:
        return None, None
    return order.iloc[(len(order) - 1) // 2].to_dict(), order.iloc[0].to_dict()


def write(table: pd.DataFrame, consensus: pd.DataFrame, out, consensus_path) -> None:
    """Both outputs, or neither."""
    with atomic_outputs(out, consensus_path) as (t_out, t_consensus):
        consensus.to_csv(t_consensus, index=False)
        table.to_csv(t_out, index=False)


def read_raters(path) -> pd.DataFrame:
    table = read_table(path, COLUMNS, FIX, dtype={"dataset": str, "rater": str, "slot": str})
    included = table["included"].astype(str).str.lower()
    if not included.isin(["true", "false"]).all():
        raise InputError(path, "column 'included' holds other values than True/False", FIX)
    return table.assign(included=included == "true")


def read_consensus(path) -> pd.DataFrame:
    return read_table(path, ["dataset", "segment_id"], FIX, dtype=str, keep_default_na=False)
