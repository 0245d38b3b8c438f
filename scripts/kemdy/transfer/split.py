"""Each release's sessions cut once into train / val / test, and what each transfer direction
reads. Owns results/data/transfer/.

sessions.csv: `dataset, session, role`. For each dataset (config order) a generator seeded
with folds.seed draws test_sessions sessions, then val_sessions more, from its sessions in
natural order; the rest train. Every direction uses this one cut, so a release's test
sessions are the same in every run that tests on them (a sequential run's "before" and
"after" are scored on the same segments).

{direction}/new_data.csv and folds.csv: new_data.csv's rows a direction uses and folds.csv's
columns, so train.py --fold 0 trains it unchanged (test: fold == 0, validation:
val_fold == 0, training: the rest):

    SOURCE-to-TARGET    train: source train   val: source val   test: source test + all target
    SOURCE-then-TARGET  train: target train   val: target val   test: source test + target test

A sequential run's new_data.csv leaves out the source's train and val sessions: it was
trained on them already, and folds.csv has no way to say "neither train nor test".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kemdy.atomic import write_csv
from kemdy.errors import InputError
from kemdy.labels.folds import OUT_COLUMNS, _natural_sorted as natural_sorted
from kemdy.tables import read_table
from kemdy.transfer.plan import Direction

ROLES = ("train", "val", "test")
SESSION_COLUMNS = ["dataset", "session", "role"]
FRAME_COLUMNS = ["dataset", "segment_id", "session", "speaker", "label"]  # what the matrix reads


def split_sessions(frame: pd.DataFrame, datasets, val_sessions: int, test_sessions: int,
                   seed: int, path="new_data.csv") -> pd.DataFrame:
    """sessions.csv from new_data.csv's rows (see the module docstring)."""
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in datasets:
        sessions = natural_sorted(frame.loc[frame["dataset"] == dataset, "session"])
        if not sessions:
            raise InputError(path, f"no segment of {dataset}", "rerun aggregate_labels: "
                             "transfer: needs both datasets' segments", key="transfer")
        if len(sessions) < test_sessions + val_sessions + 1:
            raise InputError(path, f"{dataset} has {len(sessions)} sessions: transfer."
                             f"test_sessions {test_sessions} + transfer.val_sessions "
                             f"{val_sessions} leave none to train on",
                             "lower transfer.test_sessions or transfer.val_sessions",
                             key="transfer.test_sessions")
        drawn = rng.permutation(len(sessions))
        role = {i: "test" for i in drawn[:test_sessions]}
        role.update({i: "val" for i in drawn[test_sessions:test_sessions + val_sessions]})
        rows += [(dataset, s, role.get(i, "train")) for i, s in enumerate(sessions)]
    return pd.DataFrame(rows, columns=SESSION_COLUMNS)


def roles(frame: pd.DataFrame, sessions: pd.DataFrame, path="sessions.csv") -> pd.Series:
    """Each segment's session role (new_data.csv's rows against sessions.csv)."""
    key = sessions.assign(session=sessions["session"].astype(str))
    merged = frame[["dataset", "session"]].astype({"session": str}).merge(
        key, on=["dataset", "session"], how="left", validate="many_to_one")
    if merged["role"].isna().any():
        first = merged[merged["role"].isna()].iloc[0]
        raise InputError(path, f"session {first['session']} of {first['dataset']} has no role",
                         "rerun the transfer_split step on the current new_data.csv")
    return pd.Series(merged["role"].to_numpy(), index=frame.index)


def direction_tables(frame: pd.DataFrame, sessions: pd.DataFrame, d: Direction
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(new_data rows, folds table) of one direction."""
    role = roles(frame, sessions)
    source, target = frame["dataset"] == d.source, frame["dataset"] == d.target
    learn = target if d.sequential else source  # the release this run trains on
    if d.sequential:  # both releases' held-out sessions
        test = (source | target) & (role == "test")
    else:  # the source's held-out sessions and every session of the target
        test = (source & (role == "test")) | target
    val = learn & (role == "val")
    keep = test | learn
    folds = frame.loc[keep, ["dataset", "segment_id", "session", "speaker"]].copy()
    folds["fold"] = np.where(test[keep], 0, 1)
    folds["val_fold"] = np.where(val[keep], 0, -1)
    return frame[keep], folds[OUT_COLUMNS]


def segments_tested(frame: pd.DataFrame, sessions: pd.DataFrame, d: Direction) -> set[str]:
    """The segments a run of this direction must be tested on."""
    _, folds = direction_tables(frame, sessions, d)
    return set(folds.loc[folds["fold"] == 0, "segment_id"].astype(str))


def read_sessions(path) -> pd.DataFrame:
    table = read_table(path, SESSION_COLUMNS, "rerun the transfer_split step",
                       dtype={"dataset": str, "role": str})
    bad = ~table["role"].isin(ROLES)
    if bad.any():
        raise InputError(path, f"role {table['role'][bad].iloc[0]!r} is not one of {ROLES}",
                         "rerun the transfer_split step")
    return table


def write(table: pd.DataFrame, path) -> None:
    write_csv(path, table)
