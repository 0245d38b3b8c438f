"""Re-label every segment from its evaluators' votes: results/data/new_data.csv.

    python scripts/aggregate_labels.py --segments results/data/segments.csv --method wawa \
        --min-votes 3 --ds-tol 1e-6 --ds-max-iter 100 --out results/data/new_data.csv \
        --evaluators results/data/evaluators.csv --agreement results/data/agreement.json

Methods (--method):
- `wawa` (default), the original project's re-vote without its defects. On the segments with
  a strict majority (top count > half of the evaluators who voted on that segment),
  evaluator j's accuracy a_j is the share of those of its votes that chose the majority
  label, and w_j = a_j / sum(a). A class's score is the sum of w_j over the evaluators who
  chose it, divided by the sum of w_j over the evaluators who voted on the segment, so the
  seven scores sum to 1. An evaluator without any strict-majority vote weighs 0 (its a_j
  is left empty in evaluators.csv); a segment whose voters all weigh 0 falls back to plain
  vote shares, and if no segment has a strict majority every evaluator weighs the same.
- `majority`: plain vote shares.
- `dawid_skene`: EM over one confusion matrix per evaluator (Dawid & Skene 1979), started
  from the vote shares, with a pseudo-count of SMOOTHING in every prior and confusion cell;
  it stops when no class prior or confusion entry moves by more than --ds-tol, or after
  --ds-max-iter iterations. Scores are the posteriors. No randomness: same input, same output.

Label: the class with the top score. Scores within np.isclose of the top are a tie, broken
by taking the first tied class in CLASSES order (what np.argmax over the CLASSES-ordered
score columns does, as the original did); ties are counted in agreement.json. Segments with
fewer than --min-votes votes are dropped and listed there (`skipped_min_votes`).

Input is ingest's segments.csv: labels already spelt as CLASSES (disgust, lower case) in
every column, so votes are matched exactly, never by substring; an empty emotion cell is a
missing vote. Everything after reading is vectorised over a one-hot vote tensor
(segments x evaluators x classes): no Python loop over segments.

Outputs (written atomically):
- new_data.csv: `segment_id, session, speaker, text, wav_path, label`, the seven scores,
  `max_score, total_emotion, n_votes`.
- evaluators.csv: `evaluator, n_votes, accuracy_vs_majority` (a_j), `accuracy_vs_final`
  (share of j's votes equal to the final label), `weight` (wawa: w_j; majority: 1/J;
  dawid_skene: the model's estimated accuracy sum_k pi_k theta_j[k, k], normalised to sum 1).
  Counted on the labelled segments.
- agreement.json: `method, fleiss_kappa, krippendorff_alpha, strict_majority_share` (on the
  labelled segments), `n_segments, n_labelled, n_ties, skipped_min_votes, multilabel_totals`
  (release totals with `;`), `multilabel_resolved` (of those, labelled without a tie),
  `label_counts`, `total_counts` (the release's single-label totals by class) and, for
  dawid_skene, `iterations, converged`.

Row numbers in error messages are file lines (the header is row 1).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agreement import fleiss_kappa, krippendorff_alpha_nominal
from atomic import write_atomic
from errors import InputError, run_cli
from kemdy20 import CLASS_INDEX, CLASSES, EVAL_PREFIXES, EVALUATORS

METHODS = ("wawa", "majority", "dawid_skene")
VOTE_COLUMNS = [f"{p}_emotion" for p in EVAL_PREFIXES]
PASS_COLUMNS = ["segment_id", "session", "speaker", "text", "wav_path"]
REQUIRED_COLUMNS = PASS_COLUMNS + ["total_emotion"] + VOTE_COLUMNS
OUT_COLUMNS = PASS_COLUMNS + ["label", *CLASSES, "max_score", "total_emotion", "n_votes"]
SMOOTHING = 0.01  # Dawid-Skene pseudo-count per cell; add-one (1.0) swamps small data sets


@dataclass
class Aggregation:
    """Scores and labels of the segments, with what each method learnt about the evaluators."""

    scores: np.ndarray  # (n, K) float, rows sum to 1
    label: np.ndarray  # (n,) class index
    tied: np.ndarray  # (n,) bool: several classes within np.isclose of the top score
    accuracy: np.ndarray  # (J,) a_j: agreement with the strict majority (NaN: no such vote)
    weight: np.ndarray  # (J,) see the module docstring
    strict: np.ndarray  # (n,) bool: the segment has a strict majority
    iterations: int | None = None  # dawid_skene only
    converged: bool | None = None


# --- pure functions -------------------------------------------------------------------


def encode_votes(frame: pd.DataFrame, columns=VOTE_COLUMNS, path="segments.csv") -> np.ndarray:
    """Emotion vote columns -> class codes (n, J) int8; -1 = missing (empty cell).

    Exact matching against CLASSES; any other value is an InputError naming its row.
    """
    codes = np.full((len(frame), len(columns)), -1, dtype=np.int8)
    for j, col in enumerate(columns):  # a loop over the ten evaluators, not over segments
        values = frame[col]
        missing = values.isna().to_numpy() | (values.astype(str).str.strip() == "").to_numpy()
        mapped = values.map(CLASS_INDEX)
        bad = mapped.isna().to_numpy() & ~missing
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                path, f"{col} '{values.iloc[i]}' is not one of {CLASSES}",
                "re-run ingest, which normalises every label (e.g. disqust -> disgust)",
                row=i + 2,
            )  # fmt: skip
        codes[~missing, j] = mapped.to_numpy()[~missing].astype(np.int8)
    return codes


def one_hot(codes: np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """Class codes (n, J), -1 = missing -> bool vote tensor (n, J, K)."""
    return codes[:, :, None] == np.arange(n_classes, dtype=codes.dtype)


def strict_majority(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(has a strict majority, majority class) from vote counts (n, K)."""
    top = counts.argmax(axis=1)
    n_votes = counts.sum(axis=1)
    has = 2 * counts.max(axis=1) > n_votes
    return has, top


def decide(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label = first class (CLASSES order) within np.isclose of the top score; tie flags."""
    near_top = np.isclose(scores, scores.max(axis=1, keepdims=True))
    return near_top.argmax(axis=1), near_top.sum(axis=1) > 1


def vote_shares(onehot: np.ndarray) -> np.ndarray:
    counts = onehot.sum(axis=1, dtype=np.float64)
    return counts / counts.sum(axis=1, keepdims=True)


def majority_accuracy(codes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a_j on the strict-majority segments, and those segments' mask."""
    strict, top = strict_majority(counts)
    voted = (codes >= 0) & strict[:, None]
    agreed = (codes == top[:, None]) & voted
    n_voted = voted.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_voted > 0, agreed.sum(axis=0) / n_voted, np.nan)
    return accuracy, strict


def wawa(codes: np.ndarray) -> Aggregation:
    """Reliability-weighted re-vote (see the module docstring)."""
    onehot = one_hot(codes)
    counts = onehot.sum(axis=1)
    accuracy, strict = majority_accuracy(codes, counts)
    a = np.nan_to_num(accuracy, nan=0.0)
    if a.sum() > 0:
        weight = a / a.sum()
    else:  # no strict majority anywhere: nothing to learn reliabilities from
        weight = np.full(len(a), 1.0 / len(a))
    present = (codes >= 0).astype(np.float64)
    # (n, K, J) @ (J,): sum of the weights of the evaluators who chose each class.
    raw = onehot.transpose(0, 2, 1).astype(np.float64) @ weight
    total = present @ weight
    zero = total <= 0
    scores = np.divide(raw, total[:, None], out=np.zeros_like(raw), where=~zero[:, None])
    if zero.any():
        scores[zero] = vote_shares(onehot[zero])
    label, tied = decide(scores)
    return Aggregation(scores, label, tied, accuracy, weight, strict)


def majority(codes: np.ndarray) -> Aggregation:
    """Plain vote shares."""
    onehot = one_hot(codes)
    scores = vote_shares(onehot)
    accuracy, strict = majority_accuracy(codes, onehot.sum(axis=1))
    n_eval = codes.shape[1]
    label, tied = decide(scores)
    return Aggregation(scores, label, tied, accuracy, np.full(n_eval, 1.0 / n_eval), strict)


def dawid_skene(
    codes: np.ndarray, tol: float = 1e-6, max_iter: int = 100, smoothing: float = SMOOTHING
) -> Aggregation:
    """Dawid-Skene EM; scores are the class posteriors of each segment."""
    onehot = one_hot(codes)
    n, n_eval, k = onehot.shape
    flat = onehot.reshape(n, n_eval * k).astype(np.float64)  # (n, J*K), column j*K + l
    posterior = vote_shares(onehot)
    prior = theta = None
    converged, iterations = False, 0
    for iterations in range(1, max_iter + 1):
        # M-step: class prior and confusion theta[j, true k, voted l], smoothed.
        new_prior = (posterior.sum(axis=0) + smoothing) / (n + k * smoothing)
        joint = (posterior.T @ flat).reshape(k, n_eval, k).transpose(1, 0, 2) + smoothing
        new_theta = joint / joint.sum(axis=2, keepdims=True)
        if prior is not None:
            change = max(np.abs(new_prior - prior).max(), np.abs(new_theta - theta).max())
            converged = bool(change < tol)
        prior, theta = new_prior, new_theta
        # E-step: log P(k | votes) = log prior_k + sum over votes of log theta[j, k, vote].
        log_theta = np.log(theta).transpose(0, 2, 1).reshape(n_eval * k, k)
        log_post = np.log(prior) + flat @ log_theta
        log_post -= log_post.max(axis=1, keepdims=True)
        posterior = np.exp(log_post)
        posterior /= posterior.sum(axis=1, keepdims=True)
        if converged:
            break
    accuracy, strict = majority_accuracy(codes, onehot.sum(axis=1))
    estimated = (prior[None, :] * np.diagonal(theta, axis1=1, axis2=2)).sum(axis=1)
    label, tied = decide(posterior)
    return Aggregation(
        posterior, label, tied, accuracy, estimated / estimated.sum(), strict,
        iterations=iterations, converged=converged,
    )  # fmt: skip


def aggregate(codes: np.ndarray, method: str = "wawa", tol: float = 1e-6,
              max_iter: int = 100) -> Aggregation:
    """Dispatch to one method; codes are (n, J) class codes with -1 = missing."""
    if method == "wawa":
        return wawa(codes)
    if method == "majority":
        return majority(codes)
    if method == "dawid_skene":
        return dawid_skene(codes, tol=tol, max_iter=max_iter)
    raise InputError("--method", f"unknown method '{method}'",
                     f"use one of {', '.join(METHODS)}", key="labels.method")


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
    """segments.csv table -> (new_data, evaluators, agreement) as written by main()."""
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


# --- files ----------------------------------------------------------------------------


def json_ready(obj):
    """NaN (an undefined statistic) -> null: strict JSON has no NaN."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def read_segments(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise InputError(path, "file not found", "run the ingest step first") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"unreadable CSV ({err})", "re-run the ingest step") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", required=True, type=Path)
    parser.add_argument("--method", default="wawa", help=" | ".join(METHODS))
    parser.add_argument("--min-votes", type=int, default=3)
    parser.add_argument("--ds-tol", type=float, default=1e-6)
    parser.add_argument("--ds-max-iter", type=int, default=100)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--evaluators", required=True, type=Path)
    parser.add_argument("--agreement", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.min_votes < 1:
        raise InputError("--min-votes", f"{args.min_votes} is below 1",
                         "set labels.min_votes to 1..10", key="labels.min_votes")
    segments = read_segments(args.segments)
    new_data, evaluators, agreement = relabel(
        segments, args.method, args.min_votes, args.ds_tol, args.ds_max_iter, args.segments
    )
    write_atomic(args.evaluators, evaluators.to_csv(index=False))
    write_atomic(args.agreement, json.dumps(json_ready(agreement), indent=2) + "\n")
    write_atomic(args.out, new_data.to_csv(index=False))
    print(
        f"{args.method}: {agreement['n_labelled']} of {agreement['n_segments']} segments "
        f"labelled, {len(agreement['skipped_min_votes'])} below {args.min_votes} votes, "
        f"{agreement['n_ties']} ties; kappa {agreement['fleiss_kappa']:.3f}, "
        f"alpha {agreement['krippendorff_alpha']:.3f}"
    )
    print("labels:", agreement["label_counts"])


if __name__ == "__main__":
    run_cli(main)
