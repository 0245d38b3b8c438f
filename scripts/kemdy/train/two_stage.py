"""Two-stage variants: stage 1 tells neutral from not-neutral, stage 2 which emotion; their
predictions combine into one 7-class prediction per segment.

A segment is neutral when stage 1's P(neutral) >= threshold, else stage 2's most likely
emotion, EMOTIONS[argmax] (the original mapped stage-2 outputs back with an off-by-one).
Probabilities: prob_neutral = p1, prob_<emotion> = (1 - p1) x p2(emotion). A
valence/arousal prediction comes from stage 1 (the stage trained on every segment).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kemdy.classes import EMOTIONS
from kemdy.errors import InputError

VA_COLUMNS = ["valence", "arousal", "pred_valence", "pred_arousal"]


def combine(stage1: pd.DataFrame, stage2: pd.DataFrame, threshold: float,
            source: str = "stage predictions") -> pd.DataFrame:
    """7-class predictions from stage 1's and stage 2's prediction tables."""
    s1 = set(stage1["segment_id"])
    s2 = set(stage2["segment_id"])
    if s1 != s2:
        raise InputError(source, f"the stages predict different segments ({len(s1 ^ s2)} differ)",
                         "retrain both stages on the same folds.csv")
    df = stage1[["segment_id", "prob_neutral"]].merge(
        stage2[["segment_id", "label"]], on="segment_id", validate="one_to_one")
    p2 = stage2.set_index("segment_id").loc[df["segment_id"], [f"prob_{e}" for e in EMOTIONS]]
    p2 = p2.to_numpy(dtype=float)
    p1 = df["prob_neutral"].to_numpy(dtype=float)
    pred = np.where(p1 >= threshold, "neutral", np.asarray(EMOTIONS)[p2.argmax(axis=1)])
    out = pd.DataFrame({"segment_id": df["segment_id"], "label": df["label"], "pred": pred,
                        "prob_neutral": p1})
    for j, e in enumerate(EMOTIONS):
        out[f"prob_{e}"] = (1.0 - p1) * p2[:, j]
    va = [c for c in VA_COLUMNS if c in stage1.columns]
    if va:
        out = out.merge(stage1[["segment_id", *va]], on="segment_id", validate="one_to_one")
    return out
