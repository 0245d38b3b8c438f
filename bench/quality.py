"""Are two runs' results of the same quality? Each variant's macro-F1 over its pooled
out-of-fold predictions, with a 95 % interval from resampling whole sessions (as the
report's bootstrap does), and whether another run's figure falls inside it."""

from __future__ import annotations

import glob
import os

import pandas as pd

from kemdy.report.bootstrap import bootstrap_interval


def pooled_intervals(workdir, n_boot: int = 2000, seed: int = 0) -> dict:
    """{variant: {"value", "lo", "hi"}} of a finished run's results/."""
    data = pd.read_csv(os.path.join(workdir, "results/data/new_data.csv"), dtype=str)
    group = data["session"] if "dataset" not in data else data["dataset"] + "/" + data["session"]
    session = dict(zip(data["segment_id"], group))
    out = {}
    for run in sorted(glob.glob(os.path.join(workdir, "results/runs/*"))):
        files = sorted(glob.glob(os.path.join(run, "fold*", "predictions.csv")))
        pooled = pd.concat([pd.read_csv(f, dtype={"segment_id": str}) for f in files])
        out[os.path.basename(run)] = bootstrap_interval(
            pooled["label"], pooled["pred"], pooled["segment_id"].map(session), n_boot,
            seed)["f1_macro"]
    return out


def compare(reference: dict, new: dict) -> dict:
    """Per variant of both: the new figure, the reference interval, and whether it is inside."""
    return {v: {"new": new[v]["value"], "reference": reference[v]["value"],
                "lo": reference[v]["lo"], "hi": reference[v]["hi"],
                "inside": reference[v]["lo"] <= new[v]["value"] <= reference[v]["hi"]}
            for v in new if v in reference}
