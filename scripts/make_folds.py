"""Cross-validation folds by whole sessions (or speakers), with a validation split: folds.csv.

    python scripts/make_folds.py --new-data results/data/new_data.csv \
        --out results/data/folds.csv --method session_blocks --n-folds 5 \
        --group-by session --val-sessions 1 --seed 0

The methods and how validation data is carved: scripts/kemdy/labels/folds.py.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kemdy.errors import run_cli
from kemdy.labels.folds import GROUP_BY, METHODS, make_folds, split_masks, write
from kemdy.labels.relabel import read_new_data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--method", default="session_blocks", help=" | ".join(METHODS))
    parser.add_argument("--n-folds", type=int, default=5)
    parser.add_argument("--group-by", default="session", help=" | ".join(GROUP_BY))
    parser.add_argument("--val-sessions", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    frame = read_new_data(args.new_data, [])
    folds = make_folds(frame, args.method, args.n_folds, args.group_by, args.val_sessions,
                       args.seed, args.new_data)
    write(folds, args.out)
    for k in range(args.n_folds):
        train, val, test = split_masks(folds, k)
        print(f"fold {k}: train {int(train.sum())}, validation {int(val.sum())}, "
              f"test {int(test.sum())}; test sessions "
              f"{sorted(folds.loc[test, 'session'].unique().tolist())}")


if __name__ == "__main__":
    run_cli(main)
