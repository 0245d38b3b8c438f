"""Re-label every segment from its evaluators' votes: results/data/new_data.csv.

    python scripts/aggregate_labels.py --segments results/data/segments.csv --method wawa \
        --min-votes 3 --ds-tol 1e-6 --ds-max-iter 100 --out results/data/new_data.csv \
        --evaluators results/data/evaluators.csv --agreement results/data/agreement.json \
        [--ingest results/data/ingest.json]

Methods (wawa, the original's reliability-weighted re-vote; majority; dawid_skene):
scripts/kemdy/labels/aggregate.py. The three outputs and their columns:
scripts/kemdy/labels/relabel.py. Input is ingest's segments.csv, labels already spelt as
the classes (disgust, lower case) in every column; an empty emotion cell is a missing vote.
ingest.json (--ingest) names the evaluators of its slots.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kemdy.errors import InputError, run_cli
from kemdy.labels.aggregate import METHODS
from kemdy.labels.relabel import relabel, write
from kemdy.release.segments import read_ingest_report, read_segments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", required=True, type=Path)
    parser.add_argument("--method", default="wawa", help=" | ".join(METHODS))
    parser.add_argument("--min-votes", type=int, default=3)
    parser.add_argument("--ds-tol", type=float, default=1e-6)
    parser.add_argument("--ds-max-iter", type=int, default=100)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--evaluators", required=True, type=Path)
    parser.add_argument("--agreement", required=True, type=Path)
    parser.add_argument("--ingest", type=Path, help="ingest.json: the evaluators' names")
    args = parser.parse_args(argv)
    if args.min_votes < 1:
        raise InputError("--min-votes", f"{args.min_votes} is below 1",
                         "set labels.min_votes to 1..10", key="labels.min_votes")
    segments = read_segments(args.segments, dtype=str, keep_default_na=False, na_values=[""])
    names = read_ingest_report(args.ingest).get("evaluators") if args.ingest else None
    new_data, evaluators, agreement = relabel(
        segments, args.method, args.min_votes, args.ds_tol, args.ds_max_iter, args.segments, names
    )
    write(new_data, evaluators, agreement, args.out, args.evaluators, args.agreement)
    print(
        f"{args.method}: {agreement['n_labelled']} of {agreement['n_segments']} segments "
        f"labelled, {len(agreement['skipped_min_votes'])} below {args.min_votes} votes, "
        f"{agreement['n_ties']} ties; kappa {agreement['fleiss_kappa']:.3f}, "
        f"alpha {agreement['krippendorff_alpha']:.3f}"
    )
    print("labels:", agreement["label_counts"])


if __name__ == "__main__":
    run_cli(main)
