"""Decode every segment's wav once into one flat array, so training never decodes audio.

    python scripts/decode_audio.py --segments results/data/segments.csv \
        --dataset kemdy20 results/lookalike/KEMDy20_v1_1 [--dataset kemdy19 PATH] \
        --sample-rate 16000 --max-seconds 4.0 --out results/data/audio

The format (audio.npy + audio_index.csv) and how it is read back:
scripts/kemdy/release/audio.py. A wav path is absolute or relative to the root of its
segment's dataset (`--root PATH`: one root for every segment).
"""

from __future__ import annotations

import argparse
import os
import time

from kemdy.errors import InputError, run_cli
from kemdy.release.audio import decode_all
from kemdy.release.segments import NAMES, read_segments


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--segments", required=True, help="segments.csv (segment_id, wav_path)")
    p.add_argument("--dataset", nargs=2, action="append", default=[], metavar=("KIND", "ROOT"),
                   help="a release and its folder (its segments' wav paths start there)")
    p.add_argument("--root", help="one folder for every segment's relative wav path")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--max-seconds", type=float, default=4.0)
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    columns = ["segment_id", "wav_path"] + ([] if args.root else ["dataset"])
    segments = read_segments(args.segments, columns, dtype={"segment_id": str},
                             usecols=lambda c: c in columns)
    if args.max_seconds <= 0 or args.sample_rate <= 0:
        raise InputError("--max-seconds/--sample-rate", "must be positive", "pass positive values")
    roots = {NAMES.get(kind, kind): root for kind, root in args.dataset}
    if args.root:
        bases = [args.root] * len(segments)
    else:
        unknown = sorted(set(segments["dataset"]) - set(roots))
        if unknown:
            raise InputError(args.segments, f"segments of {unknown}, whose root is not given",
                             "pass --dataset KIND ROOT for each dataset of segments.csv")
        bases = segments["dataset"].map(roots).tolist()
    paths = [os.path.join(base, p) for base, p in zip(bases, segments["wav_path"].astype(str))]
    start = time.time()
    index = decode_all(paths, args.sample_rate, args.max_seconds, args.out, segments["segment_id"])
    total = int(index["length"].sum())
    print(f"{len(index)} segments, {total / args.sample_rate / 3600:.2f} h of audio "
          f"({2 * total / 2**20:.1f} MiB) in {time.time() - start:.1f} s -> {args.out}")


if __name__ == "__main__":
    run_cli(main)
