"""Read a KEMDy20 root (the release or the look-alike) into one checked table, segments.csv.

    python scripts/ingest.py --root results/lookalike/KEMDy20_v1_1 \
        --out results/data/segments.csv --report results/data/ingest.json \
        --skipped results/data/skipped.csv [--skip-missing] [--sample-rate 16000]

The reader and the columns: scripts/kemdy/release/segments.py. Outputs are written only
when everything passed, all three together; nothing is ever written under --root. Bad
input stops with an error naming the file, the row and the fix.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from kemdy.errors import InputError, run_cli
from kemdy.release.segments import ingest, inside, write

log = logging.getLogger("ingest")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, type=Path, help="KEMDy20 folder (read only)")
    ap.add_argument("--out", required=True, type=Path, help="segments.csv")
    ap.add_argument("--report", required=True, type=Path, help="ingest.json")
    ap.add_argument("--skipped", required=True, type=Path, help="skipped.csv")
    ap.add_argument("--skip-missing", action="store_true",
                    help="skip segments whose wav/txt is missing or unusable instead of failing")
    ap.add_argument("--sample-rate", type=int, default=16000, help="required wav sample rate")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for flag, path in (("--out", args.out), ("--report", args.report), ("--skipped", args.skipped)):
        if inside(path, args.root):
            raise InputError(path, f"{flag} is inside the dataset root",
                             "write outputs elsewhere (e.g. results/data); the root stays read-only")
    started = time.perf_counter()
    segments, report, skipped = ingest(args.root, args.sample_rate, args.skip_missing)
    write(segments, report, skipped, args.out, args.report, args.skipped)
    log.info("%d segments from %d annotation files (%d Segment IDs given their file's session, "
             "%d disqust cells, %d multi-label totals, %d skipped) in %.1f s",
             report["segments"], report["annotation_files"], report["prefix_fixes_total"],
             report["disqust_normalised"], report["multi_label_totals"],
             report["skipped_segments"], time.perf_counter() - started)


if __name__ == "__main__":
    run_cli(main)
