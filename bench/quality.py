"""Are two runs' results of the same quality? Each variant's macro-F1 over its pooled
out-of-fold predictions, with a 95 % interval from resampling whole sessions (the report's
loaders, session groups and bootstrap), and whether another run's figure falls inside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kemdy.report.bootstrap import bootstrap_interval
from kemdy.report.breakdowns import segment_meta
from kemdy.report.summary import collect_runs


def pooled_intervals(workdir, n_boot: int = 2000, seed: int = 0) -> dict:
    """{variant: {"value", "lo", "hi"}} of a finished run's results/."""
    results = Path(workdir) / "results"
    sessions = segment_meta(pd.read_csv(results / "data/new_data.csv", dtype=str))["session"]
    variants = sorted(p.name for p in (results / "runs").iterdir() if p.is_dir())
    folds = sorted({int(p.name[4:]) for p in (results / "runs").glob("*/fold*")})
    found = collect_runs(results / "runs", variants, folds)
    out = {}
    for variant in variants:
        pooled = found.pooled(variant)
        out[variant] = bootstrap_interval(pooled["label"], pooled["pred"],
                                          pooled["segment_id"].map(sessions), n_boot,
                                          seed)["f1_macro"]
    return out


def compare(reference: dict, new: dict) -> dict:
    """Per variant of both: the new figure, the reference interval, and whether it is inside."""
    return {v: {"new": new[v]["value"], "reference": reference[v]["value"],
                "lo": reference[v]["lo"], "hi": reference[v]["hi"],
                "inside": reference[v]["lo"] <= new[v]["value"] <= reference[v]["hi"]}
            for v in new if v in reference}
