"""Read dataset roots (KEMDy20, KEMDy19, or their look-alikes) into one checked table,
segments.csv.

    python scripts/ingest.py --dataset kemdy20 results/lookalike/KEMDy20_v1_1 \
        [--dataset kemdy19 PATH] --out results/data/segments.csv \
        --report results/data/ingest.json --skipped results/data/skipped.csv \
        [--skip-missing] [--max-skipped-share 0.05] [--sample-rate 16000]

`--root PATH` is short for `--dataset kemdy20 PATH`. The readers and the columns:
scripts/kemdy/release/. Outputs are written only when everything passed, all three
together; nothing is ever written under a root. Bad input stops with an error naming the
file, the row and the fix.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from kemdy.errors import InputError, run_cli
from kemdy.release.ingest import READERS, ingest
from kemdy.release.segments import MAX_SKIPPED_SHARE, inside, write

log = logging.getLogger("ingest")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", nargs=2, action="append", default=[], metavar=("KIND", "ROOT"),
                    help=f"a release ({', '.join(READERS)}) and its folder (read only)")
    ap.add_argument("--root", type=Path, help="short for --dataset kemdy20 ROOT")
    ap.add_argument("--out", required=True, type=Path, help="segments.csv")
    ap.add_argument("--report", required=True, type=Path, help="ingest.json")
    ap.add_argument("--skipped", required=True, type=Path, help="skipped.csv")
    ap.add_argument("--skip-missing", action="store_true",
                    help="skip segments whose wav/txt is missing or unusable instead of failing")
    ap.add_argument("--max-skipped-share", type=float, default=MAX_SKIPPED_SHARE,
                    help="stop when more than this share of the segments is skipped")
    ap.add_argument("--sample-rate", type=int, default=16000, help="required wav sample rate")
    args = ap.parse_args(argv)
    datasets = [(kind, Path(root)) for kind, root in args.dataset]
    datasets += [("kemdy20", args.root)] if args.root else []
    if not datasets:
        ap.error("name a dataset: --dataset KIND ROOT (or --root ROOT)")
    for kind, _ in datasets:
        if kind not in READERS:
            raise InputError("--dataset", f"unknown release '{kind}'", f"use one of {sorted(READERS)}",
                             key="dataset.kind")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for flag, path in (("--out", args.out), ("--report", args.report), ("--skipped", args.skipped)):
        for _, root in datasets:
            if inside(path, root):
                raise InputError(path, f"{flag} is inside the dataset root {root}",
                                 "write outputs elsewhere (e.g. results/data); the root stays "
                                 "read-only")
    started = time.perf_counter()
    segments, report, skipped = ingest(datasets, args.sample_rate, args.skip_missing,
                                       args.max_skipped_share)
    write(segments, report, skipped, args.out, args.report, args.skipped)
    log.info("%d segments from %d annotation files (%d Segment IDs given their file's session, "
             "%d disqust cells, %d multi-label totals, %d skipped) in %.1f s",
             report["segments"], report["annotation_files"], report["prefix_fixes_total"],
             report["disqust_normalised"], report["multi_label_totals"],
             report["skipped_segments"], time.perf_counter() - started)


if __name__ == "__main__":
    run_cli(main)
