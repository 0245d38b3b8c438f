"""Write a KEMDy20 (or KEMDy19) look-alike: the release's files and quirks, plus a planted,
learnable signal.

    python scripts/generate_lookalike.py --root results/lookalike/KEMDy20_v1_1 \
        --truth results/lookalike/truth.csv --seed 7 --n-sessions 20 --segments-per-session 60 \
        --prior demo --single-modality-share 0.4 --wrong-prefix-sessions 12 17

Several at once: `--lookalike RELEASE ROOT TRUTH SEED` per look-alike instead of --root,
--truth and --seed. What is written and the signal it plants: scripts/kemdy/demo/. A root
is replaced only when the look-alike's own marker lists every file in it
(scripts/kemdy/demo/owned.py): a folder holding anything else is never touched.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

from kemdy.demo.lookalike import PRIORS, generate
from kemdy.demo.owned import check_owned, write_marker
from kemdy.errors import run_cli

log = logging.getLogger("generate_lookalike")


def write_one(release: str, root: Path, truth: Path, seed: int, settings: dict) -> dict:
    check_owned(root)
    if root.exists():  # ours, as its marker says: written anew
        shutil.rmtree(root)
    kwargs = {"release": release} if release != "kemdy20" else {}
    counts = generate(root, truth, seed=seed, **settings, **kwargs)
    write_marker(root, {"release": release, "seed": seed, **settings})
    return counts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, help="dataset root to create")
    ap.add_argument("--truth", type=Path, help="hidden labels CSV (outside root)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--release", choices=["kemdy20", "kemdy19"], default="kemdy20",
                    help="which release's format the look-alike imitates")
    ap.add_argument("--lookalike", nargs=4, action="append", default=[],
                    metavar=("RELEASE", "ROOT", "TRUTH", "SEED"), help="one of several")
    ap.add_argument("--n-sessions", type=int, default=20)
    ap.add_argument("--segments-per-session", type=int, default=60)
    ap.add_argument("--prior", choices=sorted(PRIORS), default="demo")
    ap.add_argument("--single-modality-share", type=float, default=0.4)
    ap.add_argument("--wrong-prefix-sessions", type=int, nargs="*", default=[],
                    help="sessions whose annotation file names the wrong session (release: 12 17)")
    args = ap.parse_args(argv)
    jobs = [(r, Path(root), Path(truth), int(seed)) for r, root, truth, seed in args.lookalike]
    if args.root or args.truth:
        if not (args.root and args.truth):
            ap.error("--root and --truth go together")
        jobs.append((args.release, args.root, args.truth, args.seed))
    if not jobs:
        ap.error("name a look-alike: --root and --truth, or --lookalike")
    settings = {"n_sessions": args.n_sessions, "segments_per_session": args.segments_per_session,
                "prior": args.prior, "single_modality_share": args.single_modality_share,
                "wrong_prefix_sessions": args.wrong_prefix_sessions}
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for release, root, truth, seed in jobs:
        started = time.perf_counter()
        counts = write_one(release, root, truth, seed, settings)
        log.info("wrote %d segments in %d sessions under %s (truth: %s) in %.1f s",
                 counts["segments"], counts["sessions"], root, truth,
                 time.perf_counter() - started)


if __name__ == "__main__":
    run_cli(main)
