"""The original project's re-vote as row-by-row loops (its defects removed), and random votes
of KEMDy20's shape: the oracle tests/test_aggregate_labels.py holds the vectorised methods to,
and the baseline bench/aggregate.py times."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kemdy.classes import CLASSES
from kemdy.labels.aggregate import VOTE_COLUMNS

KEMDY20_SEGMENTS = 13_462
# KEMDy20's single-label totals (docs: kemdy20-format.md), in CLASSES order.
KEMDY20_COUNTS = np.array([11_120, 1_183, 156, 144, 121, 61, 43], dtype=float)


def random_votes(n: int, n_eval: int = 10, seed: int = 0, missing: float = 0.02) -> np.ndarray:
    """Class codes (n, n_eval), -1 = missing: hidden class from KEMDy20's prior, each
    evaluator right with its own probability (0.55-0.95), otherwise a draw from the prior."""
    rng = np.random.default_rng(seed)
    prior = KEMDY20_COUNTS / KEMDY20_COUNTS.sum()
    truth = rng.choice(len(prior), size=n, p=prior)
    skill = rng.uniform(0.55, 0.95, size=n_eval)
    right = rng.random((n, n_eval)) < skill
    noise = rng.choice(len(prior), size=(n, n_eval), p=prior)
    codes = np.where(right, truth[:, None], noise).astype(np.int8)
    codes[rng.random((n, n_eval)) < missing] = -1
    return codes


def votes_frame(codes: np.ndarray) -> pd.DataFrame:
    """Codes -> the emotion columns of segments.csv (strings; NaN = missing vote)."""
    names = np.asarray(CLASSES + [np.nan], dtype=object)
    return pd.DataFrame(names[codes], columns=VOTE_COLUMNS[: codes.shape[1]])


def wawa_rowwise(frame: pd.DataFrame, use_loc: bool = True) -> dict:
    """The original's loops, one segment at a time, without its defects.

    Exact label matching, every label spelt as CLASSES (disgust included), strict majority
    over the evaluators present, scores normalised over the evaluators present, first
    class in CLASSES order among np.isclose ties, the same fallbacks as the vectorised code.
    Returns {"labels", "scores" (list of dicts), "accuracy", "weight"}.
    """
    columns = [c for c in VOTE_COLUMNS if c in frame.columns]
    index = list(frame.index)
    if use_loc:

        def cell(i, j):
            return frame.loc[index[i], columns[j]]
    else:
        rows = frame[columns].to_numpy().tolist()

        def cell(i, j):
            return rows[i][j]

    def voted(value):
        return isinstance(value, str) and value != ""

    n_eval = len(columns)
    hits, seen = [0] * n_eval, [0] * n_eval
    # 1. Evaluator reliability on the strict-majority segments.
    for i in range(len(index)):
        counts = {c: 0 for c in CLASSES}
        n_votes = 0
        for j in range(n_eval):
            value = cell(i, j)
            if voted(value):
                counts[value] += 1
                n_votes += 1
        top = max(counts, key=lambda c: counts[c])
        if 2 * counts[top] > n_votes:
            for j in range(n_eval):
                value = cell(i, j)
                if voted(value):
                    seen[j] += 1
                    hits[j] += value == top
    accuracy = [h / s if s else 0.0 for h, s in zip(hits, seen)]
    total_a = sum(accuracy)
    weight = [a / total_a for a in accuracy] if total_a > 0 else [1.0 / n_eval] * n_eval
    # 2. Re-vote: each class's score is the weight of the evaluators who chose it.
    labels, scores = [], []
    for i in range(len(index)):
        denom = sum(weight[j] for j in range(n_eval) if voted(cell(i, j)))
        n_present = sum(1 for j in range(n_eval) if voted(cell(i, j)))
        row = {}
        for c in CLASSES:
            s, k = 0.0, 0
            for j in range(n_eval):
                if cell(i, j) == c:
                    s += weight[j]
                    k += 1
            row[c] = s / denom if denom > 0 else k / n_present
        best = max(row.values())
        labels.append(next(c for c in CLASSES if abs(row[c] - best) <= 1e-8 + 1e-5 * best))
        scores.append(row)
    return {"labels": labels, "scores": scores, "accuracy": accuracy, "weight": weight}
