"""What one model learns: the fold's split of new_data.csv and each stage's targets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kemdy.classes import CLASS_INDEX, CLASSES, EMOTIONS, STAGE1_CLASSES
from kemdy.errors import InputError
from kemdy.labels.folds import read_folds
from kemdy.labels.relabel import read_new_data

DATA_COLUMNS = ["segment_id", "session", "text", "label", *CLASSES]
FOLD_COLUMNS = ["segment_id", "fold", "val_fold"]
VA_COLUMNS = ["valence", "arousal"]


def load_split(data_path, folds_path, fold: int) -> pd.DataFrame:
    """new_data.csv joined with folds.csv; `part` is train, val or test for this fold.

    For fold k: test = fold == k, validation = val_fold == k, training = the rest.
    """
    data = read_new_data(data_path, DATA_COLUMNS)
    folds = read_folds(folds_path, FOLD_COLUMNS)
    data["text"] = data["text"].fillna("").astype(str)
    bad = ~data["label"].isin(CLASSES)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(data_path, f"label {data['label'].iloc[row]!r} is not a class",
                         f"labels are one of {CLASSES}", row=row + 2)
    if data["segment_id"].duplicated().any():
        dup = data["segment_id"][data["segment_id"].duplicated()].iloc[0]
        raise InputError(data_path, f"segment {dup} appears twice", "rerun aggregate_labels")
    folds = folds[FOLD_COLUMNS].drop_duplicates("segment_id")
    df = data.merge(folds, on="segment_id", how="left", validate="one_to_one")
    lost = df["fold"].isna()
    if lost.any():
        raise InputError(folds_path, f"{int(lost.sum())} segments of {data_path} have no fold "
                         f"(first: {df.loc[lost, 'segment_id'].iloc[0]})",
                         "rerun make_folds on the current new_data.csv")
    if fold not in set(df["fold"].astype(int)):
        raise InputError(folds_path, f"no segment is in test fold {fold}",
                         f"use one of {sorted(set(df['fold'].astype(int)))}")
    val = pd.to_numeric(df["val_fold"], errors="coerce")
    df["part"] = np.where(df["fold"].astype(int) == fold, "test",
                          np.where(val == fold, "val", "train"))
    for part in ("train", "val"):
        if not (df["part"] == part).any():
            raise InputError(folds_path, f"fold {fold} has no {part} segments",
                             "hold out at least one validation session per fold")
    return df.reset_index(drop=True)


# ---------------------------------------------------------------- stage targets


@dataclass
class Task:
    """What one model learns: its classes, its rows and their targets.

    `frame` holds segment_id, part, label (the true 7-class label), text; `y` the target
    class index (-1 where the row has no target in this task); `soft` the soft targets;
    `va` each row's valence and arousal targets (NaN where new_data.csv has none).
    """

    classes: list[str]
    frame: pd.DataFrame
    y: np.ndarray
    soft: np.ndarray
    stage: int | None = None
    va: np.ndarray | None = None

    def __post_init__(self):
        if self.va is None:
            columns = [c for c in VA_COLUMNS if c in self.frame.columns]
            self.va = (self.frame[VA_COLUMNS].to_numpy(dtype=np.float32) if len(columns) == 2
                       else np.full((len(self.frame), 2), np.nan, dtype=np.float32))

    def rows(self, part: str) -> np.ndarray:
        return np.flatnonzero(self.frame["part"].to_numpy() == part)

    def sessions(self, *parts: str) -> list[str]:
        """The sessions of the rows in `parts`, as "KEMDy20/3" (the session alone where
        new_data.csv has no dataset column)."""
        rows = self.frame[self.frame["part"].isin(parts)]
        names = rows["session"].astype(int).astype(str)
        if "dataset" in rows.columns:
            names = rows["dataset"].astype(str) + "/" + names
        return sorted(set(names))


def peakl(scores: np.ndarray) -> np.ndarray:
    """PeakL (TMN, erc/utils.py apply_peakl): each row's class distribution p, sharpened.

    TMN reads a vote distribution as a label-smoothed one-hot, p = (1 - r) q + r / K (K
    classes), with a smoothing rate that grows with the votes' spread, r = tanh(H(p)), H the
    entropy in nats; it inverts the smoothing, (p - r / K) / (1 - r), clips at zero, subtracts
    the row's smallest value and renormalises to sum 1. The 1 / (1 - r) factor cancels in the
    renormalisation, so the result is, with the threshold t = max(min_c p_c, r / K):

        q_c = max(p_c - t, 0) / sum_k max(p_k - t, 0)

    A class's share drops by t: classes under r / K vanish, the least-voted class always
    does (so with K = 2 the result is one-hot), and the order of the classes, hence the
    argmax, is kept. A one-hot row (H = 0) is unchanged; a uniform row, where every class
    would vanish, is kept as it is. Rows are normalised to sum 1 first.
    """
    p = np.asarray(scores, dtype=np.float64)
    total = p.sum(axis=1, keepdims=True)
    p = np.divide(p, total, out=np.full_like(p, 1.0 / p.shape[1]), where=total > 0)
    logs = np.log(p, out=np.zeros_like(p), where=p > 0)  # 0 log 0 = 0
    r = np.tanh(-(p * logs).sum(axis=1, keepdims=True))
    t = np.maximum(p.min(axis=1, keepdims=True), r / p.shape[1])
    kept = np.maximum(p - t, 0.0)
    mass = kept.sum(axis=1, keepdims=True)
    return np.divide(kept, mass, out=p.copy(), where=mass > 0)


def make_task(split: pd.DataFrame, stage: int | None = None, sharpening: str = "none") -> Task:
    """Targets of a one-stage model (None) or of stage 1 / stage 2 of a two-stage model.

    Stage 1: neutral vs not-neutral, soft targets [s_neutral, 1 - s_neutral].
    Stage 2: the six emotions, soft targets renormalised over them; trained and validated
    on non-neutral segments only, but every test segment gets a prediction.

    sharpening "peakl" sharpens the seven scores of the training rows (never the validation
    or test rows, nor any label) before each stage's targets are derived from them: the
    raters' distribution is what PeakL is meant for, and a two-class stage-1 distribution
    sharpened on its own would always become one-hot.
    """
    scores = split[CLASSES].to_numpy(dtype=np.float64)
    if sharpening == "peakl":
        train = (split["part"] == "train").to_numpy()
        scores = scores.copy()  # to_numpy may return a read-only view of the frame
        scores[train] = peakl(scores[train])
    elif sharpening != "none":
        raise ValueError(f"sharpening must be none or peakl, not {sharpening!r}")
    label_idx = split["label"].map(CLASS_INDEX).to_numpy()
    if stage is None:
        return Task(list(CLASSES), split, label_idx.astype(np.int64), scores.astype(np.float32))
    if stage == 1:
        soft = np.stack([scores[:, 0], 1.0 - scores[:, 0]], axis=1)
        y = (label_idx != 0).astype(np.int64)
        return Task(list(STAGE1_CLASSES), split, y, soft.astype(np.float32), stage=1)
    if stage == 2:
        keep = (split["label"] != "neutral").to_numpy() | (split["part"] == "test").to_numpy()
        split = split[keep].reset_index(drop=True)
        scores, label_idx = scores[keep], label_idx[keep]
        emo = scores[:, 1:]
        total = emo.sum(axis=1, keepdims=True)
        soft = np.divide(emo, total, out=np.full_like(emo, 1.0 / len(EMOTIONS)), where=total > 0)
        y = np.where(label_idx > 0, label_idx - 1, -1).astype(np.int64)
        return Task(list(EMOTIONS), split, y, soft.astype(np.float32), stage=2)
    raise ValueError(f"stage must be None, 1 or 2, not {stage!r}")
