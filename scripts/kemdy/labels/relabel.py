"""Re-label a segments table: new_data.csv, evaluators.csv and agreement.json (this module
owns all three).

- new_data.csv: `dataset, segment_id, session, speaker, text, wav_path, label`, the seven
  scores, `max_score, total_emotion, n_votes`, then `valence, arousal` (the evaluators'
  1-5 ratings weighted as their emotion votes are) and `total_valence, total_arousal` (the
  release's plain means).
- evaluators.csv: `evaluator, n_votes, accuracy_vs_majority` (a_j), `accuracy_vs_final`
  (share of j's votes equal to the final label), `weight` (the method's, see
  kemdy.labels.aggregate). Counted on the labelled segments.
- agreement.json: `method, fleiss_kappa, krippendorff_alpha, strict_majority_share` (on the
  labelled segments), `n_segments, n_labelled, n_ties, skipped_min_votes, multilabel_totals`
  (release totals with `;`), `multilabel_resolved` (of those, labelled without a tie),
  `label_counts`, `total_counts` (the release's single-label totals by class) and, for
  dawid_skene, `iterations, converged`.

Segments with fewer than min_votes votes are dropped and listed (`skipped_min_votes`). Row
numbers in error messages are file lines (the header is row 1).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from kemdy.atomic import atomic_outputs
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.labels.aggregate import (METHODS, Aggregation, aggregate, encode_votes, one_hot,
                                    vote_columns)
from kemdy.labels.agreement import fleiss_kappa, krippendorff_alpha_nominal
from kemdy.tables import read_json, read_table

PASS_COLUMNS = ["dataset", "segment_id", "session", "speaker", "text", "wav_path"]
REQUIRED_COLUMNS = PASS_COLUMNS + ["total_emotion"]
DIMENSIONS = ("valence", "arousal")
OUT_COLUMNS = PASS_COLUMNS + ["label", *CLASSES, "max_score", "total_emotion", "n_votes",
                             *DIMENSIONS, *(f"total_{d}" for d in DIMENSIONS)]
EVALUATOR_COLUMNS = ["evaluator", "n_votes", "accuracy_vs_majority", "accuracy_vs_final", "weight"]


def evaluator_table(codes: np.ndarray, result: Aggregation, names: list[str]) -> pd.DataFrame:
    present = codes >= 0
    n_votes = present.sum(axis=0)
    agree_final = ((codes == result.label[:, None]) & present).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        final = np.where(n_votes > 0, agree_final / n_votes, np.nan)
    return pd.DataFrame({
        "evaluator": names,
        "n_votes": n_votes,
        "accuracy_vs_majority": result.accuracy,
        "accuracy_vs_final": final,
        "weight": result.weight,
    })  # fmt: skip


def class_counts(labels: pd.Series) -> dict[str, int]:
    counts = labels.value_counts()
    return {c: int(counts.get(c, 0)) for c in CLASSES}


def evaluator_slots(segments: pd.DataFrame, path) -> list[str]:
    """The emotion column of every evaluator slot, e01 .. eJ without a gap."""
    columns = vote_columns(segments)
    expected = [f"e{j:02d}_emotion" for j in range(1, max(len(columns), 1) + 1)]
    absent = [c for c in expected if c not in columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}",
                         "re-run ingest: segments.csv needs the columns of contracts.md")
    return columns


def weighted_ratings(segments: pd.DataFrame, emotion_columns: list[str], dim: str,
                     weight: np.ndarray) -> np.ndarray:
    """Each segment's valence (or arousal): the mean of its evaluators' 1-5 ratings weighted
    by the method's evaluator weights; the plain mean where every rater weighs 0; NaN where
    there is no rating (or no rating column)."""
    columns = [c.replace("_emotion", f"_{dim}") for c in emotion_columns]
    if not all(c in segments.columns for c in columns):
        return np.full(len(segments), np.nan)
    ratings = segments[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    rated = np.isfinite(ratings)
    w = np.where(rated, weight[None, :], 0.0)
    plain = np.where(rated, 1.0, 0.0)
    w = np.where(w.sum(1, keepdims=True) > 0, w, plain)
    total = w.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (np.nan_to_num(ratings) * w).sum(1) / total, np.nan)


def relabel(
    segments: pd.DataFrame, method: str = "wawa", min_votes: int = 3, tol: float = 1e-6,
    max_iter: int = 100, path="segments.csv", evaluators: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """segments.csv table -> (new_data, evaluators, agreement) as written by write().
    `evaluators` names the slots (ingest.json's `evaluators`: {"e01": "Eval01F", ...});
    a slot without a name is called by its column prefix."""
    if method not in METHODS:
        raise InputError("--method", f"unknown method '{method}'",
                         f"use one of {', '.join(METHODS)}", key="labels.method")
    absent = [c for c in REQUIRED_COLUMNS if c not in segments.columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}",
                         "re-run ingest: segments.csv needs the columns of contracts.md")
    columns = evaluator_slots(segments, path)
    codes_all = encode_votes(segments, columns, path=path)
    n_votes_all = (codes_all >= 0).sum(axis=1)
    keep = n_votes_all >= min_votes
    codes = codes_all[keep]
    kept = segments.loc[keep].reset_index(drop=True)
    if kept.empty:
        raise InputError(path, f"no segment has at least {min_votes} evaluator votes",
                         "lower labels.min_votes or check the annotation files",
                         key="labels.min_votes")
    result = aggregate(codes, method, tol=tol, max_iter=max_iter)

    new_data = kept[PASS_COLUMNS].copy()
    new_data["label"] = np.asarray(CLASSES, dtype=object)[result.label]
    for c, name in enumerate(CLASSES):
        new_data[name] = result.scores[:, c]
    new_data["max_score"] = result.scores.max(axis=1)
    new_data["total_emotion"] = kept["total_emotion"].to_numpy()
    new_data["n_votes"] = n_votes_all[keep]
    for dim in DIMENSIONS:  # the evaluators' ratings weighted as their emotion votes are
        new_data[dim] = weighted_ratings(kept, columns, dim, result.weight)
    for dim in DIMENSIONS:
        total = kept.get(f"total_{dim}")
        new_data[f"total_{dim}"] = (np.nan if total is None
                                    else pd.to_numeric(total, errors="coerce").to_numpy())

    totals = segments["total_emotion"].fillna("").astype(str)
    multi = totals.str.contains(";", regex=False).to_numpy()
    agreement = {
        "method": method,
        "fleiss_kappa": fleiss_kappa(one_hot(codes).sum(axis=1)),
        "krippendorff_alpha": krippendorff_alpha_nominal(codes, len(CLASSES)),
        "strict_majority_share": float(result.strict.mean()),
        "n_segments": int(len(segments)),
        "n_labelled": int(len(kept)),
        "n_ties": int(result.tied.sum()),
        "skipped_min_votes": segments.loc[~keep, "segment_id"].astype(str).tolist(),
        "multilabel_totals": int(multi.sum()),
        "multilabel_resolved": int((multi[keep] & ~result.tied).sum()),
        "label_counts": class_counts(new_data["label"]),
        "total_counts": class_counts(totals[~multi]),
    }
    if method == "dawid_skene":
        agreement["iterations"] = result.iterations
        agreement["converged"] = result.converged
    names = [(evaluators or {}).get(c[:-8], c[:-8]) for c in columns]
    return new_data, evaluator_table(codes, result, names), agreement


def json_ready(obj):
    """NaN (an undefined statistic) -> null: strict JSON has no NaN."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def write(new_data: pd.DataFrame, evaluators: pd.DataFrame, agreement: dict, out,
          evaluators_path, agreement_path) -> None:
    """The three outputs, all or none."""
    with atomic_outputs(out, evaluators_path, agreement_path) as (t_new, t_eval, t_agree):
        evaluators.to_csv(t_eval, index=False)
        with open(t_agree, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(json_ready(agreement), indent=2) + "\n")
        new_data.to_csv(t_new, index=False)


def read_new_data(path, columns=OUT_COLUMNS, **read_csv) -> pd.DataFrame:
    """new_data.csv; ids, speakers and labels as text unless `read_csv` says otherwise."""
    read_csv.setdefault("dtype", {"segment_id": str, "speaker": str, "label": str})
    return read_table(path, columns, "run the aggregate_labels step (or re-run it)", **read_csv)


def read_evaluators(path, **read_csv) -> pd.DataFrame:
    return read_table(path, EVALUATOR_COLUMNS, "re-run the aggregate_labels step", **read_csv)


def read_agreement(path) -> dict:
    return read_json(path, "run the aggregate_labels step (or re-run it)")
