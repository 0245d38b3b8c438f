"""Transfer between releases: each release's sessions cut into train / val / test, and what
each direction's training job reads (results/data/transfer/).

    python scripts/transfer_split.py --new-data results/data/new_data.csv \
        --datasets KEMDy19,KEMDy20 --val-sessions 1 --test-sessions 2 --seed 0 \
        [--sequential] --out-dir results/data/transfer

Writes sessions.csv and, per direction, {direction}/new_data.csv and folds.csv (folds.csv's
format: train.py --fold 0 trains it). The cut and the directions: scripts/kemdy/transfer/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kemdy.atomic import write_csv
from kemdy.errors import InputError, run_cli
from kemdy.labels.folds import split_masks
from kemdy.labels.relabel import read_new_data
from kemdy.report.summary import parse_list
from kemdy.transfer.plan import TransferPlan
from kemdy.transfer.split import direction_tables, split_sessions, write


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-data", required=True, type=Path)
    parser.add_argument("--datasets", required=True, help="the two dataset names, A,B")
    parser.add_argument("--val-sessions", type=int, default=1)
    parser.add_argument("--test-sessions", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sequential", action="store_true",
                        help="also the A-then-B and B-then-A directions")
    parser.add_argument("--out-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    names = parse_list(args.datasets)
    if len(names) != 2:
        raise InputError("--datasets", f"{args.datasets!r} names {len(names)} datasets",
                         "name the two releases, e.g. --datasets KEMDy19,KEMDy20")
    plan = TransferPlan((), (names[0], names[1]), args.sequential, args.val_sessions,
                        args.test_sessions, args.seed)
    frame = read_new_data(args.new_data)
    sessions = split_sessions(frame, plan.datasets, args.val_sessions, args.test_sessions,
                              args.seed, args.new_data)
    write(sessions, args.out_dir / "sessions.csv")
    for d in plan.directions:
        data, folds = direction_tables(frame, sessions, d)
        write_csv(args.out_dir / d.name / "new_data.csv", data)
        write_csv(args.out_dir / d.name / "folds.csv", folds)
        train, val, test = split_masks(folds, 0)
        print(f"{d.name}: train {int(train.sum())}, validation {int(val.sum())}, "
              f"test {int(test.sum())} segments")
    for (dataset, role), part in sessions.groupby(["dataset", "role"], sort=False):
        print(f"{dataset} {role}: sessions {part['session'].tolist()}")


if __name__ == "__main__":
    run_cli(main)
