"""The report researchers decide from: one self-contained HTML file (no network, no JS).

    python scripts/render_report.py --runs-dir results/runs --data-dir results/data \
        --summary results/summary.csv --config-json results/config.json \
        --benchmarks benchmarks --variants text_ce,text_soft_bce,text_two_stage,mm_ce,mm_two_stage \
        --folds 0,1,2,3,4 --reference text_ce --bootstrap 1000 --seed 0 \
        --out reports/summary.html [--plots-dir results/report] [--allow-missing] \
        [--seeds VARIANT=S1,S2 ...] [--selection VARIANT=results/sweeps/VARIANT/selection.csv ...]
        [--raters results/data/raters.csv] [--transfer results/transfer/matrix.csv]

Every figure is recomputed from the runs' predictions.csv and checked against metrics.json
and summary.csv (a stale or disagreeing file is an error). The sections and the template:
scripts/kemdy/report/. The plots are embedded as base64 PNG and, with --plots-dir, also
written there as PNG files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kemdy.atomic import write_atomic
from kemdy.errors import InputError, run_cli
from kemdy.report.render import PLOT_FILES, build, placeholder_plots


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True, type=Path)
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--config-json", required=True, type=Path)
    parser.add_argument("--benchmarks", type=Path, default=None,
                        help="folder of Snakemake benchmark TSVs (searched recursively)")
    parser.add_argument("--variants", required=True, help="comma-separated variant names")
    parser.add_argument("--folds", required=True, help="comma-separated fold numbers")
    parser.add_argument("--reference", required=True, help="variant every other is compared to")
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--plots-dir", type=Path, default=None,
                        help="also write the plots here as PNG files")
    parser.add_argument("--inputs-digest", default="",
                        help="fingerprint of the config and dataset state the run used: "
                        "a failed rerun on other inputs moves the report aside")
    parser.add_argument("--allow-missing", action="store_true",
                        help="report the runs present, with a banner naming the missing ones")
    parser.add_argument("--seeds", action="append", metavar="VARIANT=S1,S2",
                        help="a variant trained over several seeds (runs under fold{k}/seed{s})")
    parser.add_argument("--selection", action="append", metavar="VARIANT=CSV",
                        help="a swept variant's selection.csv (the report's sweep section)")
    parser.add_argument("--raters", type=Path, default=None,
                        help="raters.csv (raters_consensus.csv beside it): the median and "
                        "best rater beside every variant")
    parser.add_argument("--transfer", type=Path, default=None,
                        help="results/transfer/matrix.csv (its runs beside it): the transfer "
                        "between releases, recomputed and checked")
    args = parser.parse_args(argv)
    if args.bootstrap < 1:
        raise InputError("--bootstrap", f"{args.bootstrap} resamples", "pass at least 1")
    html, images = build(args)
    if args.plots_dir is not None:
        for key, data in placeholder_plots(images).items():
            write_atomic(args.plots_dir / PLOT_FILES[key], data)
    write_atomic(args.out, html)


if __name__ == "__main__":
    run_cli(main)
