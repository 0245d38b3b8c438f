"""The release's audio decoded once: owns results/data/audio/ (audio.npy, audio_index.csv).

Each wav is read with soundfile, mixed to mono, resampled with scipy's resample_poly if its
rate differs, cut to max_seconds and stored as int16 (the release's own 16-bit PCM) in
`audio.npy`, one segment after another; `audio_index.csv` gives each segment's
`segment_id, offset, length` (samples), the `sample_rate` and a `digest` of the clip's
samples (so whatever hashes the index, a checkpoint's fingerprint, covers the audio itself).
AudioStore reads it back through a memory map. No torch here: decode_audio runs in the data
environment.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile

import numpy as np
import pandas as pd
import soundfile as sf

from kemdy.atomic import atomic_output, write_csv
from kemdy.errors import InputError


def read_wave(path, sample_rate: int, max_samples: int | None = None) -> np.ndarray:
    """A wav as float32 mono at `sample_rate`, cut to max_samples (None: whole clip)."""
    data, rate = sf.read(path, dtype="float32", always_2d=True)
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        from scipy.signal import resample_poly  # only here: a release is 16 kHz throughout

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
    lengths, digests = [], []
    with tempfile.TemporaryFile(dir=out_dir) as raw:
        for sid, path in zip(segment_ids, wav_paths):
            try:
                wave = read_wave(path, sample_rate, max_samples)
            except (sf.LibsndfileError, RuntimeError, OSError) as err:
                raise InputError(path, f"cannot read the wav of {sid} ({err})",
                                 "check the file, or set dataset.skip_missing: true") from None
            samples = to_int16(wave).tobytes()
            raw.write(samples)
            lengths.append(len(wave))
            digests.append(hashlib.blake2b(samples, digest_size=12).hexdigest())
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
                          "sample_rate": sample_rate, "digest": digests})
    write_csv(os.path.join(out_dir, "audio_index.csv"), index)  # last: it marks completion
    return index


def _read_index(path) -> pd.DataFrame:
    if not os.path.exists(path):
        raise InputError(path, "file not found", "rerun the decode_audio step")
    index = pd.read_csv(path, dtype={"segment_id": str})
    missing = [c for c in ("segment_id", "offset", "length") if c not in index.columns]
    if missing:
        raise InputError(path, f"missing columns {missing}", "rerun the decode_audio step")
    return index


class AudioStore:
    """The decode_audio cache: one flat int16 array (memory-mapped) plus its index."""

    def __init__(self, folder):
        index_path = os.path.join(folder, "audio_index.csv")
        wave_path = os.path.join(folder, "audio.npy")
        index = _read_index(index_path)
        if not os.path.exists(wave_path):
            raise InputError(wave_path, "file not found", "rerun the decode_audio step")
        self.wave = np.load(wave_path, mmap_mode="r")
        self.sample_rate = int(index["sample_rate"].iloc[0]) if "sample_rate" in index else None
        self.rows = dict(zip(index["segment_id"], zip(index["offset"], index["length"])))
        self.path = index_path

    def span(self, segment_id: str) -> tuple[int, int]:
        if segment_id not in self.rows:
            raise InputError(self.path, f"segment {segment_id} is not in the audio cache",
                             "rerun decode_audio on the current segments.csv")
        return self.rows[segment_id]

    def raw(self, segment_id: str, max_samples: int, offset: int = 0) -> np.ndarray:
        """The stored int16 samples from `offset`, at most max_samples of them (a view of
        the memory map)."""
        start, length = self.span(segment_id)
        offset = min(max(offset, 0), length)
        return self.wave[start + offset: start + min(length, offset + max_samples)]

    def waveform(self, segment_id: str, max_samples: int, offset: int = 0) -> np.ndarray:
        return self.raw(segment_id, max_samples, offset).astype(np.float32) / 32768.0
