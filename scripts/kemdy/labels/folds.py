"""Cross-validation folds by whole sessions (or speakers), with a validation split. Owns
results/data/folds.csv.

Test folds (--method):
- `session_blocks` (default, the original's): the sorted sessions cut into n_folds
  consecutive blocks as equal as possible (earlier blocks take the remainder); with 40
  sessions and 5 folds: 01-08, 09-16, 17-24, 25-32, 33-40. Groups are always sessions.
  With several datasets each is cut alone and fold k takes block k of every one, so each
  fold tests on every dataset.
- `stratified_group`: scikit-learn's StratifiedGroupKFold on the labels, shuffled with
  --seed, keeping whole groups (--group-by session or speaker) in one fold. With
  --group-by speaker the two speakers of a session may land in different folds.

A group is a session (or speaker) of one dataset: the same number in KEMDy19 and KEMDy20 is
two groups, so whole sessions of each dataset stay on one side. Validation (model
selection), carved deterministically from the training data by whole groups: the training run of fold k validates on --val-sessions groups (sessions, or
speakers with --group-by speaker) drawn, with a generator seeded by --seed, from the
groups of fold (k + 1) mod n_folds. A segment's fold therefore fixes the only run that can
validate on it, so every segment is validation data for at most one run.

folds.csv: `dataset, segment_id, session, speaker, fold, val_fold`; val_fold is the fold whose
training run validates on the segment, -1 if none. For the run of fold k:
test = (fold == k), validation = (val_fold == k), training = every other segment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kemdy.atomic import write_csv
from kemdy.errors import InputError
from kemdy.tables import read_table

METHODS = ("session_blocks", "stratified_group")
GROUP_BY = ("session", "speaker")
REQUIRED_COLUMNS = ["dataset", "segment_id", "session", "speaker", "label"]
OUT_COLUMNS = ["dataset", "segment_id", "session", "speaker", "fold", "val_fold"]


def _natural_sorted(values) -> list:
    """Unique values sorted numerically when they all are numbers (1 < 2 < 10), else as text."""
    unique = pd.unique(pd.Series(list(values)))
    numeric = pd.to_numeric(pd.Series(unique), errors="coerce")
    if numeric.notna().all():
        return [unique[i] for i in np.argsort(numeric.to_numpy(), kind="stable")]
    return sorted(unique, key=str)


def group_ids(frame: pd.DataFrame, column: str) -> pd.Series:
    """An integer id per (dataset, session or speaker), numbered in natural order: the same
    session number in two releases is two groups."""
    ids, keys = {}, list(zip(frame["dataset"], frame[column]))
    for dataset in sorted(frame["dataset"].unique()):
        for value in _natural_sorted(frame.loc[frame["dataset"] == dataset, column]):
            ids[(dataset, value)] = len(ids)
    return pd.Series([ids[k] for k in keys], index=frame.index)


def session_blocks(sessions: pd.Series, n_folds: int, datasets: pd.Series | None = None) -> np.ndarray:
    """Fold of each row: each dataset's sorted sessions cut into n_folds consecutive,
    near-equal blocks; fold k takes block k of every dataset."""
    datasets = pd.Series("", index=sessions.index) if datasets is None else datasets
    fold = np.full(len(sessions), -1, dtype=int)
    for dataset in datasets.unique():
        mine = (datasets == dataset).to_numpy()
        ordered = _natural_sorted(sessions[mine])
        block = {s: k for k, chunk in enumerate(np.array_split(np.arange(len(ordered)), n_folds))
                 for s in (ordered[i] for i in chunk)}
        fold[mine] = sessions[mine].map(block).to_numpy(dtype=int)
    return fold


def stratified_group(labels: pd.Series, groups: pd.Series, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each row from StratifiedGroupKFold (whole groups, label mix kept)."""
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.full(len(labels), -1, dtype=int)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels, groups)):
        fold[test] = k
    return fold


def validation_folds(fold: np.ndarray, groups: pd.Series, n_folds: int, val_groups: int,
                     seed: int) -> np.ndarray:
    """val_fold of each row: run k validates on val_groups groups of fold (k + 1) mod n."""
    rng = np.random.default_rng(seed)
    val_fold = np.full(len(fold), -1, dtype=int)
    groups = groups.to_numpy()
    for k in range(n_folds):  # a loop over folds, not segments
        source = (k + 1) % n_folds
        candidates = _natural_sorted(groups[fold == source])
        chosen = rng.choice(len(candidates), size=val_groups, replace=False)
        val_fold[np.isin(groups, [candidates[i] for i in chosen]) & (fold == source)] = k
    return val_fold


def check_settings(frame: pd.DataFrame, method: str, n_folds: int, group_by: str,
                   val_sessions: int, path) -> str:
    """Raise InputError for impossible settings; return the grouping column."""
    if method not in METHODS:
        raise InputError("--method", f"unknown method '{method}'",
                         f"use one of {', '.join(METHODS)}", key="folds.method")
    if group_by not in GROUP_BY:
        raise InputError("--group-by", f"unknown grouping '{group_by}'",
                         f"use one of {', '.join(GROUP_BY)}", key="folds.group_by")
    column = "session" if method == "session_blocks" else group_by
    if n_folds < 2:
        raise InputError("--n-folds", f"n_folds is {n_folds}; cross-validation needs at least 2",
                         "set folds.n_folds to 2 or more", key="folds.n_folds")
    # session_blocks cuts every dataset into n_folds blocks; the other method needs n_folds
    # groups over all of them.
    counts = (frame.groupby("dataset")[column].nunique() if method == "session_blocks"
              else pd.Series({"the data": frame.groupby(["dataset", column]).ngroups}))
    for dataset, n_groups in counts.items():
        if n_folds > n_groups:
            where = "in the data" if len(counts) == 1 else f"of {dataset}"
            raise InputError(
                path, f"n_folds {n_folds} is more than the {n_groups} {column}s {where}",
                f"set folds.n_folds to at most {n_groups}", key="folds.n_folds",
            )  # fmt: skip
    if val_sessions < 1:
        raise InputError("--val-sessions", f"val_sessions is {val_sessions}; every run needs "
                         "validation data for model selection",
                         "set folds.val_sessions to 1 or more", key="folds.val_sessions")
    return column


def make_folds(frame: pd.DataFrame, method: str = "session_blocks", n_folds: int = 5,
               group_by: str = "session", val_sessions: int = 1, seed: int = 0,
               path="new_data.csv") -> pd.DataFrame:
    """new_data table -> folds table (see the module docstring)."""
    absent = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}",
                         "re-run aggregate_labels: new_data.csv needs the columns of contracts.md")
    if frame.empty:
        raise InputError(path, "no segments", "re-run aggregate_labels (every segment dropped?)")
    column = check_settings(frame, method, n_folds, group_by, val_sessions, path)
    groups = group_ids(frame, column)
    if method == "session_blocks":
        fold = session_blocks(frame["session"], n_folds, frame["dataset"])
    else:
        fold = stratified_group(frame["label"], groups, n_folds, seed)
    sizes = np.bincount(fold, minlength=n_folds)
    if (sizes == 0).any():
        raise InputError(path, f"fold(s) {np.flatnonzero(sizes == 0).tolist()} came out empty",
                         "lower folds.n_folds or use folds.method session_blocks",
                         key="folds.n_folds")
    for k in range(n_folds):
        source = (k + 1) % n_folds
        in_source = groups[fold == source].nunique()
        outside = groups[fold != k].nunique()
        if val_sessions > in_source or val_sessions >= outside:
            raise InputError(
                path, f"val_sessions {val_sessions} leaves fold {k} without training data "
                f"(fold {source} has {in_source} {column}s; {outside} {column}s lie outside "
                f"fold {k})",
                "lower folds.val_sessions or folds.n_folds, or add sessions",
                key="folds.val_sessions",
            )  # fmt: skip
    val_fold = validation_folds(fold, groups, n_folds, val_sessions, seed)
    out = frame[["dataset", "segment_id", "session", "speaker"]].copy()
    out["fold"] = fold
    out["val_fold"] = val_fold
    return out[OUT_COLUMNS]


def split_masks(folds: pd.DataFrame, k: int) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(train, validation, test) row masks of the training run of fold k."""
    test = folds["fold"] == k
    val = folds["val_fold"] == k
    return ~(test | val), val, test


def read_folds(path, columns=OUT_COLUMNS, **read_csv) -> pd.DataFrame:
    """folds.csv (segment ids as text)."""
    read_csv.setdefault("dtype", {"segment_id": str})
    return read_table(path, columns, "rerun the make_folds step", **read_csv)


def write(folds: pd.DataFrame, path) -> None:
    write_csv(path, folds)
