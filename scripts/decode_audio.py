"""Decode every segment's wav once into one flat array, so training never decodes audio.

    python scripts/decode_audio.py --segments results/data/segments.csv \
        --root results/lookalike/KEMDy20_v1_1 --sample-rate 16000 --max-seconds 4.0 \
        --out results/data/audio

Each wav is read with soundfile, mixed to mono, resampled with scipy's resample_poly if its
rate differs, cut to --max-seconds and stored as int16 (the release's own 16-bit PCM) in
`audio.npy`, one segment after another; `audio_index.csv` gives each segment's
`segment_id, offset, length` (samples) and the `sample_rate`. Load with
np.load(..., mmap_mode="r"). A wav path is absolute or relative to --root.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time

import numpy as np
import pandas as pd
import soundfile as sf
from scipy.signal import resample_poly

from datasets import atomic_output, write_csv
from errors import InputError, run_cli


def read_wave(path, sample_rate: int, max_samples: int | None = None) -> np.ndarray:
    """A wav as float32 mono at `sample_rate`, cut to max_samples (None: whole clip)."""
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        if max_samples is not None:  # resample only what is kept (plus a filter margin)
            wave = wave[: math.ceil((max_samples + 64) * rate / sample_rate)]
        g = math.gcd(int(rate), int(sample_rate))
        wave = resample_poly(wave, sample_rate // g, int(rate) // g).astype(np.float32)
    return wave if max_samples is None else wave[:max_samples]


def to_int16(wave: np.ndarray) -> np.ndarray:
    return np.clip(np.round(wave * 32768.0), -32768, 32767).astype(np.int16)


def decode_all(wav_paths, sample_rate: int, max_seconds: float, out_dir,
               segment_ids) -> pd.DataFrame:
    """Write audio.npy and audio_index.csv under out_dir; returns the index.

    Samples stream to a raw temporary file (memory stays flat for 13k segments), which
    then gets its .npy header.
    """
    max_samples = int(round(max_seconds * sample_rate))
    os.makedirs(out_dir, exist_ok=True)
    lengths = []
    with tempfile.TemporaryFile(dir=out_dir) as raw:
        for sid, path in zip(segment_ids, wav_paths):
            try:
                wave = read_wave(path, sample_rate, max_samples)
            except (sf.LibsndfileError, RuntimeError, OSError) as err:
                raise InputError(path, f"cannot read the wav of {sid} ({err})",
                                 "check the file, or set dataset.skip_missing: true") from None
            raw.write(to_int16(wave).tobytes())
            lengths.append(len(wave))
        raw.seek(0)
        with atomic_output(os.path.join(out_dir, "audio.npy")) as tmp:
            with open(tmp, "wb") as handle:
                header = {"descr": np.dtype(np.int16).str, "fortran_order": False,
                          "shape": (int(sum(lengths)),)}
                np.lib.format.write_array_header_1_0(handle, header)
                shutil.copyfileobj(raw, handle, 1 << 22)
    offsets = np.cumsum([0, *lengths])[:-1].astype(np.int64)
    index = pd.DataFrame({"segment_id": list(segment_ids), "offset": offsets,
                          "length": np.asarray(lengths, dtype=np.int64),
                          "sample_rate": sample_rate})
    write_csv(index, os.path.join(out_dir, "audio_index.csv"))  # last: it marks completion
    return index


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--segments", required=True, help="segments.csv (segment_id, wav_path)")
    p.add_argument("--root", required=True, help="dataset root (relative wav paths start here)")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--max-seconds", type=float, default=4.0)
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    if not os.path.exists(args.segments):
        raise InputError(args.segments, "file not found", "run the ingest step first")
    segments = pd.read_csv(args.segments, dtype={"segment_id": str},
                           usecols=lambda c: c in ("segment_id", "wav_path"))
    missing = {"segment_id", "wav_path"} - set(segments.columns)
    if missing:
        raise InputError(args.segments, f"missing columns {sorted(missing)}", "rerun ingest")
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
