"""The runs a transfer matrix reads: each variant's transfer runs (results/transfer/runs/,
kemdy/layout.py) and its in-corpus folds (results/runs/). A transfer run's metrics.json must
agree with its predictions.csv (kemdy/report/summary.py load_run), and its test segments
must be exactly those its direction tests on (kemdy/transfer/split.py): anything else is a
problem named by file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kemdy import layout
from kemdy.errors import InputError
from kemdy.report.summary import SCORED_FILES, collect_runs, load_run
from kemdy.transfer.plan import TransferPlan
from kemdy.transfer.split import segments_tested

FOLD = 0  # a transfer run's one test fold


def run_dir(root, variant: str, direction: str) -> Path:
    """A transfer run's folder under `root` (results/transfer in the workflow)."""
    pattern = layout.transfer_run_dir().replace(layout.TRANSFER, str(root), 1)
    return Path(layout.fill(pattern, variant=variant, direction=direction, fold=FOLD))


def transfer_runs(plan: TransferPlan, frame: pd.DataFrame, sessions: pd.DataFrame, root,
                  problems: list[str]) -> dict[tuple[str, str], pd.DataFrame | None]:
    """Each (variant, direction)'s predictions, None where missing or inconsistent (the
    reason appended to `problems`)."""
    out = {}
    for variant in plan.variants:
        for d in plan.directions:
            folder = run_dir(root, variant, d.name)
            absent = [f for f in SCORED_FILES if not (folder / f).is_file()]
            out[(variant, d.name)] = None
            if absent:
                problems.append(f"{folder}: missing {', '.join(absent)} (train it: snakemake "
                                f"--cores 2 {folder}/metrics.json)")
                continue
            try:
                run = load_run(folder, variant, FOLD)
            except InputError as err:
                problems.append(str(err))
                continue
            tested = set(run.predictions["segment_id"].astype(str))
            want = segments_tested(frame, sessions, d)
            if tested != want:
                problems.append(f"{folder / 'predictions.csv'}: tests {len(tested)} segments, "
                                f"{d.name} tests {len(want)} ({len(want - tested)} missing, "
                                f"{len(tested - want)} others): rerun transfer_split and the run")
                continue
            out[(variant, d.name)] = run.predictions
    return out


def in_corpus(runs_dir, variants, folds: list[int]) -> dict[str, pd.DataFrame | None]:
    """Each variant's out-of-fold predictions of its cross-validation folds (None when a
    fold is missing: no in-corpus figure then)."""
    return pooled_folds(collect_runs(runs_dir, list(variants), folds, allow_missing=True),
                        variants, folds)


def pooled_folds(found, variants, folds: list[int]) -> dict[str, pd.DataFrame | None]:
    """in_corpus from runs already collected (kemdy.report.summary.Runs)."""
    return {v: found.pooled(v) if len(found.of(v)) == len(folds) else None for v in variants}
