"""The report's transfer section (config `transfer:`, kemdy/transfer/): per variant, the matrix
of trained on one release, the other, both (the in-corpus folds) or one then the other,
against tested on each. Every cell is recomputed from the transfer runs' and the folds'
predictions.csv (kemdy/transfer/scores.py) and compared with results/transfer/matrix.csv; a
run that disagrees with its metrics.json or tests other segments than its direction's, and a
figure of matrix.csv that differs, is a consistency note."""

from __future__ import annotations

import math
from pathlib import Path

from kemdy.labels.relabel import read_new_data
from kemdy.transfer import scores
from kemdy.transfer.plan import from_config
from kemdy.transfer.runs import pooled_folds, transfer_runs
from kemdy.transfer.split import FRAME_COLUMNS, read_sessions

TOLERANCE = 1e-9  # the same numpy code on the same rows: only CSV round-off may differ
KEY = ["variant", "trained_on", "tested_on"]


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return abs(float(a) - float(b)) <= TOLERANCE  # NaN on one side only: False


def check_matrix(stored, again, path, notes: list[str]) -> None:
    """matrix.csv against the cells recomputed from the runs."""
    merged = stored.merge(again, on=KEY, how="outer", suffixes=("", "_again"), indicator=True)
    for _, r in merged.iterrows():
        cell = f"{path}: {r['variant']} trained on {r['trained_on']}, tested on {r['tested_on']}"
        if r["_merge"] != "both":
            where = path if r["_merge"] == "left_only" else "the recomputation"
            notes.append(f"{cell} is only in {where} (rerun summarize_transfer).")
            continue
        bad = [c for c in scores.TEXT_COLUMNS if c not in KEY and r[c] != r[f"{c}_again"]]
        bad += [c for c in scores.NUMBER_COLUMNS if not same(r[c], r[f"{c}_again"])]
        if bad:
            notes.append(f"{cell}: {', '.join(bad)} disagree with the figures recomputed from "
                         "the runs' predictions.csv (rerun summarize_transfer).")


def transfer_section(path, data_dir, found, config: dict, folds: list[int], n_boot: int,
                     seed: int, notes: list[str]) -> dict | None:
    """Everything the template shows of the transfer matrix; problems go to `notes`.
    `found`: the report's runs (their in-corpus folds, not read again)."""
    path, data_dir = Path(path), Path(data_dir)
    plan = from_config(config)
    if plan is None:
        notes.append(f"{path} was given, but config.json has no transfer: section: not shown.")
        return None
    frame = read_new_data(data_dir / "new_data.csv", FRAME_COLUMNS)
    sessions = read_sessions(data_dir / "transfer" / "sessions.csv")
    runs = transfer_runs(plan, frame, sessions, path.parent, notes)
    table = scores.matrix(plan, frame, sessions, runs, pooled_folds(found, plan.variants, folds),
                          n_boot, seed)
    if path.is_file():
        check_matrix(scores.read_matrix(path), table, path, notes)
    else:
        notes.append(f"{path}: not found (rerun summarize_transfer); the transfer matrix is "
                     "recomputed from the runs present.")
    roles = {d: {r: part["session"].astype(str).tolist()
                 for r, part in sessions[sessions["dataset"] == d].groupby("role")}
             for d in plan.datasets}
    cells = {(r["variant"], r["trained_on"], r["tested_on"]):
             {**r, "present": not math.isnan(r["n_segments"]),
              "has_before": not math.isnan(r["before_f1_macro"]),
              # 2 to 4 sessions: the interval comes from a handful of distinct resamples
              "few_sessions": 2 <= r["n_sessions"] < scores.FEW_SESSIONS,
              "resamples": scores.resamples(0 if math.isnan(r["n_sessions"])
                                            else int(r["n_sessions"]))}
             for r in table.to_dict("records")}
    rows = list(dict.fromkeys(table["trained_on"]))
    return {"plan": plan, "datasets": list(plan.datasets), "rows": rows, "cells": cells,
            "roles": roles, "path": str(path), "n_boot": n_boot}
