"""Every variant's results broken down by group of test segments: dataset (when there are
several), speaker gender and session, so a reader sees whether a gain holds for both
genders, every session and each dataset. Pooled out-of-fold predictions, grouped by what
segments.csv says of each segment: recomputable like every other figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kemdy.metrics import headline
from kemdy.report.summary import Runs

SHOWN = ("f1_macro", "balanced_accuracy", "accuracy")  # macro-F1, UA, WA
KEYS = {"dataset": "Dataset", "gender": "Speaker gender", "session": "Session"}


def segment_meta(segments: pd.DataFrame) -> pd.DataFrame:
    """segment_id -> dataset, gender, session (named with its dataset: two releases both have
    a session 1) and the bootstrap's group."""
    meta = segments.set_index("segment_id")
    dataset = meta["dataset"] if "dataset" in meta else pd.Series("KEMDy20", index=meta.index)
    session = pd.to_numeric(meta["session"], errors="coerce")
    out = pd.DataFrame({"dataset": dataset.astype(str),
                        "gender": meta["gender"].astype(str) if "gender" in meta else "?"},
                       index=meta.index)
    out["session"] = [f"{d} Sess{int(s):02d}" if np.isfinite(s) else f"{d} ?"
                      for d, s in zip(out["dataset"], session)]
    return out


def breakdowns(found: Runs, meta: pd.DataFrame) -> list[dict]:
    """One table per grouping: {key, title, groups, sizes: {group: test segments},
    rows: [{variant, cells: {group: figures}}]}. Rendered with groups as rows: the real
    KEMDy20 has 40 sessions (60 with KEMDy19), too many for columns."""
    tables = []
    for key, title in KEYS.items():
        if key == "dataset" and meta["dataset"].nunique() < 2:
            continue
        groups, rows = sorted(meta[key].unique()), []
        for variant in found.variants:
            if not found.of(variant):
                continue
            pooled = found.pooled(variant)
            pooled[key] = pooled["segment_id"].map(meta[key])
            cells = {}
            for group, part in pooled.groupby(key, sort=True):
                figures = headline(part["label"], part["pred"])
                cells[group] = {**{m: figures[m] for m in SHOWN}, "n": len(part)}
            rows.append({"variant": variant, "cells": cells})
        sizes = {g: max((r["cells"][g]["n"] for r in rows if g in r["cells"]), default=0)
                 for g in groups}
        tables.append({"key": key, "title": title, "groups": groups, "rows": rows,
                       "sizes": sizes})
    return tables
