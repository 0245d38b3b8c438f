"""Decode every segment's wav once into one flat array, so training never decodes audio.

    python scripts/decode_audio.py --segments results/data/segments.csv \
        --root results/lookalike/KEMDy20_v1_1 --sample-rate 16000 --max-seconds 4.0 \
        --out results/data/audio

The format (audio.npy + audio_index.csv) and how it is read back:
scripts/kemdy/release/audio.py. A wav path is absolute or relative to --root.
"""

from __future__ import annotations

import argparse
import os
import time

from kemdy.errors import InputError, run_cli
from kemdy.release.audio import decode_all
from kemdy.release.segments import read_segments


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--segments", required=True, help="segments.csv (segment_id, wav_path)")
    p.add_argument("--root", required=True, help="dataset root (relative wav paths start here)")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--max-seconds", type=float, default=4.0)
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    segments = read_segments(args.segments, ["segment_id", "wav_path"],
                             dtype={"segment_id": str},
                             usecols=lambda c: c in ("segment_id", "wav_path"))
    if args.max_seconds <= 0 or args.sample_rate <= 0:
        raise InputError("--max-seconds/--sample-rate", "must be positive", "pass positive values")
    paths = [os.path.join(args.root, p) for p in segments["wav_path"].astype(str)]
    start = time.time()
    index = decode_all(paths, args.sample_rate, args.max_seconds, args.out, segments["segment_id"])
    total = int(index["length"].sum())
    print(f"{len(index)} segments, {total / args.sample_rate / 3600:.2f} h of audio "
          f"({2 * total / 2**20:.1f} MiB) in {time.time() - start:.1f} s -> {args.out}")


if __name__ == "__main__":
    run_cli(main)
