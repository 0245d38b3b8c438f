"""Re-label a segments table: new_data.csv, evaluators.csv and agreement.json (this module
owns all three).

- new_data.csv: `segment_id, session, speaker, text, wav_path, label`, the seven scores,
  `max_score, total_emotion, n_votes`.
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
from kemdy.labels.aggregate import METHODS, VOTE_COLUMNS, Aggregation, aggregate, encode_votes, one_hot
from kemdy.labels.agreement import fleiss_kappa, krippendorff_alpha_nominal
from kemdy.release.kemdy20 import EVALUATORS
from kemdy.tables import read_table

PASS_COLUMNS = ["segment_id", "session", "speaker", "text", "wav_path"]
REQUIRED_COLUMNS = PASS_COLUMNS + ["total_emotion"] + VOTE_COLUMNS
OUT_COLUMNS = PASS_COLUMNS + ["label", *CLASSES, "max_score", "total_emotion", "n_votes"]
EVALUATOR_COLUMNS = ["evaluator", "n_votes", "accuracy_vs_majority", "accuracy_vs_final", "weight"]


def evaluator_table(codes: np.ndarray, result: Aggregation) -> pd.DataFrame:
    present = codes >= 0
    n_votes = present.sum(axis=0)
    agree_final = ((codes == result.label[:, None]) & present).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        final = np.where(n_votes > 0, agree_final / n_votes, np.nan)
    return pd.DataFrame({
        "evaluator": EVALUATORS[: codes.shape[1]],
        "n_votes": n_votes,
        "accuracy_vs_majority": result.accuracy,
        "accuracy_vs_final": final,
        "weight": result.weight,
    })  # fmt: skip


def class_counts(labels: pd.Series) -> dict[str, int]:
    counts = labels.value_counts()
    return {c: int(counts.get(c, 0)) for c in CLASSES}


def relabel(
    segments: pd.DataFrame, method: str = "wawa", min_votes: int = 3, tol: float = 1e-6,
    max_iter: int = 100, path="segments.csv",
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """segments.csv table -> (new_data, evaluators, agreement) as written by write()."""
    if method not in METHODS:
        raise InputError("--method", f"unknown method '{method}'",
                         f"use one of {', '.join(METHODS)}", key="labels.method")
    absent = [c for c in REQUIRED_COLUMNS if c not in segments.columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}",
                         "re-run ingest: segments.csv needs the columns of contracts.md")
    codes_all = encode_votes(segments, path=path)
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
    return new_data, evaluator_table(codes, result), agreement


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
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise InputError(path, "not found", "run the aggregation step first") from None
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err})", "re-run aggregate_labels") from None
