"""Re-labelling methods: segment scores and labels from the evaluators' votes.

- `wawa` (default), the original project's re-vote without its defects. On the segments with
  a strict majority (top count > half of the evaluators who voted on that segment),
  evaluator j's accuracy a_j is the share of those of its votes that chose the majority
  label, and w_j = a_j / sum(a). A class's score is the sum of w_j over the evaluators who
  chose it, divided by the sum of w_j over the evaluators who voted on the segment, so the
  seven scores sum to 1. An evaluator without any strict-majority vote weighs 0; a segment
  whose voters all weigh 0 falls back to plain vote shares, and if no segment has a strict
  majority every evaluator weighs the same.
- `majority`: plain vote shares.
- `dawid_skene`: EM over one confusion matrix per evaluator (Dawid & Skene 1979), started
  from the vote shares, with a pseudo-count of SMOOTHING in every prior and confusion cell;
  it stops when no class prior or confusion entry moves by more than tol, or after max_iter
  iterations. Scores are the posteriors. No randomness: same input, same output.

Label: the class with the top score. Scores within np.isclose of the top are a tie, broken
by taking the first tied class in CLASSES order (what np.argmax over the CLASSES-ordered
score columns does, as the original did). Votes are class codes matched exactly, never by
substring; everything is vectorised over a one-hot vote tensor (segments x evaluators x
classes): no Python loop over segments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kemdy.classes import CLASS_INDEX, CLASSES
from kemdy.errors import InputError
METHODS = ("wawa", "majority", "dawid_skene")
VOTE_COLUMN = re.compile(r"^e\d{2,}_emotion$")  # segments.csv: e01_emotion, e02_emotion, ...
VOTE_COLUMNS = [f"e{j:02d}_emotion" for j in range(1, 11)]  # KEMDy20's ten evaluators


def vote_columns(frame: pd.DataFrame) -> list[str]:
    """The emotion vote column of every evaluator slot of a segments table, in slot order."""
    return sorted((c for c in frame.columns if VOTE_COLUMN.match(c)), key=lambda c: int(c[1:-8]))
SMOOTHING = 0.01  # Dawid-Skene pseudo-count per cell; add-one (1.0) swamps small data sets


@dataclass
class Aggregation:
    """Scores and labels of the segments, with what each method learnt about the evaluators."""

    scores: np.ndarray  # (n, K) float, rows sum to 1
    label: np.ndarray  # (n,) class index
    tied: np.ndarray  # (n,) bool: several classes within np.isclose of the top score
    accuracy: np.ndarray  # (J,) a_j: agreement with the strict majority (NaN: no such vote)
    weight: np.ndarray  # (J,) wawa: w_j; majority: 1/J; dawid_skene: estimated accuracy
    strict: np.ndarray  # (n,) bool: the segment has a strict majority
    iterations: int | None = None  # dawid_skene only
    converged: bool | None = None


def encode_votes(frame: pd.DataFrame, columns=None, path="segments.csv") -> np.ndarray:
    """Emotion vote columns (default: every slot's) -> class codes (n, J) int8; -1 = missing
    (empty cell). Exact matching against CLASSES; any other value is an InputError naming
    its row.
    """
    columns = vote_columns(frame) if columns is None else columns
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
