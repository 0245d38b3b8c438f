"""Write a KEMDy20 look-alike: the release's files and quirks, plus a planted, learnable signal.

    python scripts/generate_lookalike.py --root results/lookalike/KEMDy20_v1_1 \
        --truth results/lookalike/truth.csv --seed 7 --n-sessions 20 --segments-per-session 60 \
        --prior demo --single-modality-share 0.4 --wrong-prefix-sessions 12 17

What it writes and the signal it plants: scripts/kemdy/demo/lookalike.py.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from kemdy.demo.lookalike import PRIORS, generate
from kemdy.errors import run_cli

log = logging.getLogger("generate_lookalike")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, type=Path, help="dataset root to create")
    ap.add_argument("--truth", required=True, type=Path, help="hidden labels CSV (outside root)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n-sessions", type=int, default=20)
    ap.add_argument("--segments-per-session", type=int, default=60)
    ap.add_argument("--prior", choices=sorted(PRIORS), default="demo")
    ap.add_argument("--single-modality-share", type=float, default=0.4)
    ap.add_argument("--wrong-prefix-sessions", type=int, nargs="*", default=[],
                    help="sessions whose annotation file names the wrong session (release: 12 17)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    started = time.perf_counter()
    counts = generate(args.root, args.truth, seed=args.seed, n_sessions=args.n_sessions,
                      segments_per_session=args.segments_per_session, prior=args.prior,
                      single_modality_share=args.single_modality_share,
                      wrong_prefix_sessions=args.wrong_prefix_sessions)
    log.info("wrote %d segments in %d sessions under %s (truth: %s) in %.1f s",
             counts["segments"], counts["sessions"], args.root, args.truth,
             time.perf_counter() - started)


if __name__ == "__main__":
    run_cli(main)
