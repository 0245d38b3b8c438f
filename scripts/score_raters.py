"""Score every evaluator as if it were a model: results/data/raters.csv (the raters' ceiling).

    python scripts/score_raters.py --segments results/data/segments.csv \
        --new-data results/data/new_data.csv --ingest results/data/ingest.json \
        --method wawa --min-votes 3 --ds-tol 1e-6 --ds-max-iter 100 --min-segments 100 \
        --out results/data/raters.csv --consensus results/data/raters_consensus.csv

Each rater's votes against the consensus of the other raters, built by the labels: settings
aggregate_labels used (pass the same ones), on the test segments of new_data.csv; raters
with fewer than --min-segments scored segments are kept but marked as left out. Method and
columns: scripts/kemdy/labels/raters.py. Data only: no encoder, no run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kemdy.errors import InputError, run_cli
from kemdy.labels.aggregate import METHODS
from kemdy.labels.raters import MIN_SEGMENTS, consensus_table, median_and_best, score, write
from kemdy.labels.relabel import read_new_data
from kemdy.release.segments import read_ingest_report, read_segments


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", required=True, type=Path)
    parser.add_argument("--new-data", required=True, type=Path)
    parser.add_argument("--ingest", type=Path, help="ingest.json: the raters' names")
    parser.add_argument("--method", default="wawa", help=" | ".join(METHODS))
    parser.add_argument("--min-votes", type=int, default=3)
    parser.add_argument("--ds-tol", type=float, default=1e-6)
    parser.add_argument("--ds-max-iter", type=int, default=100)
    parser.add_argument("--min-segments", type=int, default=MIN_SEGMENTS,
                        help="fewer scored test segments: the rater is left out")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--consensus", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.min_votes < 1:
        raise InputError("--min-votes", f"{args.min_votes} is below 1",
                         "set labels.min_votes to 1..10", key="labels.min_votes")
    if args.min_segments < 0:
        raise InputError("--min-segments", f"{args.min_segments} is below 0",
                         "set raters.min_segments to 0 or more", key="raters.min_segments")
    segments = read_segments(args.segments, ["dataset", "segment_id"], dtype=str,
                             keep_default_na=False, na_values=[""])
    new_data = read_new_data(args.new_data, ["segment_id", "label"])
    names = read_ingest_report(args.ingest).get("evaluators") if args.ingest else None
    consensus = consensus_table(segments, new_data, args.method, args.min_votes, args.ds_tol,
                                args.ds_max_iter, args.new_data)
    table = score(segments, consensus, names, args.min_segments)
    write(table, consensus, args.out, args.consensus)
    for dataset, part in table.groupby("dataset", sort=False):
        median, best = median_and_best(table, dataset)
        left = part.loc[~part["included"], "rater"].tolist()
        print(f"{dataset}: {int(part['included'].sum())} of {len(part)} raters scored"
              + (f", median rater by pooled macro-F1 {median['rater']} ({median['f1_macro']:.3f}), "
                 f"best {best['rater']} ({best['f1_macro']:.3f})" if median else "")
              + (f"; left out (< {args.min_segments} segments): {', '.join(left)}" if left
                 else ""))


if __name__ == "__main__":
    run_cli(main)
