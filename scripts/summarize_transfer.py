"""Transfer between releases: the matrix of every variant trained on one release, the other,
both (the in-corpus folds) or one then the other, tested on each: results/transfer/matrix.csv.

    python scripts/summarize_transfer.py --config-json results/config.json \
        --data-dir results/data --runs-dir results/runs --transfer-dir results/transfer \
        --folds 0,1,2,3,4 --out results/transfer/matrix.csv

The cells, their figures and intervals: scripts/kemdy/transfer/scores.py (report.bootstrap
resamples seeded with report.seed, as the report draws them). Every transfer run must be
there, agree with its metrics.json and test exactly its direction's segments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kemdy.errors import InputError, run_cli
from kemdy.labels.relabel import read_new_data
from kemdy.report.summary import parse_folds
from kemdy.spec import read_config
from kemdy.transfer import scores
from kemdy.transfer.plan import from_config
from kemdy.transfer.runs import in_corpus, transfer_runs
from kemdy.transfer.split import FRAME_COLUMNS, read_sessions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-json", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--runs-dir", required=True, type=Path)
    parser.add_argument("--transfer-dir", required=True, type=Path)
    parser.add_argument("--folds", required=True, help="comma-separated fold numbers")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    config = read_config(args.config_json)
    plan = from_config(config)
    if plan is None:
        raise InputError(args.config_json, "no transfer: section", "add one (README: "
                         "transfer between releases) or drop this step", key="transfer")
    frame = read_new_data(args.data_dir / "new_data.csv", FRAME_COLUMNS)
    sessions = read_sessions(args.data_dir / "transfer" / "sessions.csv")
    problems: list[str] = []
    runs = transfer_runs(plan, frame, sessions, args.transfer_dir, problems)
    if problems:
        raise InputError(args.transfer_dir, "; ".join(problems),
                         "rerun the transfer runs named (snakemake reruns them)")
    folds = parse_folds(args.folds)
    table = scores.matrix(plan, frame, sessions, runs, in_corpus(args.runs_dir, plan.variants,
                                                                 folds),
                          int(config["report"]["bootstrap"]), int(config["report"]["seed"]))
    scores.write(table, args.out)
    print(table[["variant", "trained_on", "tested_on", "f1_macro", "balanced_accuracy",
                 "drop_f1_macro"]].to_string(index=False))


if __name__ == "__main__":
    run_cli(main)
