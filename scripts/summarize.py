"""Headline figures of every run, recomputed from its predictions: results/summary.csv.

    python scripts/summarize.py --runs-dir results/runs \
        --variants text_ce,text_soft_bce,text_two_stage,mm_ce,mm_two_stage \
        --folds 0,1,2,3,4 --out results/summary.csv [--seeds VARIANT=S1,S2 ...] [--allow-missing]

The table and its checks: scripts/kemdy/report/summary.py. One row per variant x metric: the
headline figures, ece, brier and nll (lower is better), and for a variant trained with
calibrate: temperature ece_calibrated, brier_calibrated, nll_calibrated and temperature. Each
figure must agree with the run's metrics.json; a missing run is an error unless --allow-missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kemdy.errors import run_cli
from kemdy.report.summary import (collect_runs, parse_folds, parse_list, parse_seeds,
                                  write_summary)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, type=Path)
    parser.add_argument("--variants", required=True, help="comma-separated variant names")
    parser.add_argument("--folds", required=True, help="comma-separated fold numbers")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", action="append", metavar="VARIANT=S1,S2",
                        help="a variant trained over several seeds (runs under fold{k}/seed{s})")
    parser.add_argument("--allow-missing", action="store_true",
                        help="summarise the runs present; missing folds stay empty")
    args = parser.parse_args(argv)
    found = collect_runs(args.runs_dir, parse_list(args.variants), parse_folds(args.folds),
                         args.allow_missing, seeds=parse_seeds(args.seeds))
    write_summary(args.out, found)
    for (variant, fold), absent in found.missing.items():
        print(f"WARNING: missing run {variant}/fold{fold} ({', '.join(absent)})")


if __name__ == "__main__":
    run_cli(main)
