"""What PeakL (target_sharpening: peakl) does to the training targets: the README's figures.

    python -m bench peakl

A look-alike of 6 sessions x 60 segments (seed 7, the default config's other settings) goes
through the workflow's own steps, ingest and re-labelling, once per labelling method; the
seven scores of every labelled segment are then sharpened by kemdy.train.data.peakl. Per
method it prints the mean top score and the mean entropy (nats) before and after, and
whether every segment kept its argmax. Deterministic, CPU only, a few seconds; writes
results/bench/peakl.json. Nothing is timed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench.common import write_result
from kemdy.classes import CLASSES
from kemdy.demo.lookalike import generate
from kemdy.labels.aggregate import METHODS
from kemdy.labels.relabel import relabel
from kemdy.release.ingest import ingest
from kemdy.release.segments import read_segments, write
from kemdy.train.data import peakl

LOOKALIKE = {"seed": 7, "n_sessions": 6, "segments_per_session": 60}


def entropy(p: np.ndarray) -> np.ndarray:
    """Each row's entropy in nats (0 log 0 = 0)."""
    return -(p * np.log(p, out=np.zeros_like(p), where=p > 0)).sum(axis=1)


def figures(scores: np.ndarray) -> dict:
    """Mean top score and mean entropy of the scores, before and after PeakL."""
    sharp = peakl(scores)
    return {"top_score": [float(scores.max(axis=1).mean()), float(sharp.max(axis=1).mean())],
            "entropy_nats": [float(entropy(scores).mean()), float(entropy(sharp).mean())],
            "argmax_kept": bool((scores.argmax(axis=1) == sharp.argmax(axis=1)).all())}


def segments_table(work: Path):
    """segments.csv of the look-alike, written and read back as the workflow does."""
    root = work / "KEMDy20_v1_1"
    generate(root, work / "truth.csv", **LOOKALIKE)
    segments, report, skipped = ingest([("kemdy20", root)], workers=2)
    out = work / "data"
    write(segments, report, skipped, out / "segments.csv", out / "ingest.json",
          out / "skipped.csv")
    return read_segments(out / "segments.csv", dtype=str, keep_default_na=False, na_values=[""])


def run(out_dir="results/bench", methods=tuple(METHODS)) -> dict:
    """Every method's figures; printed and written to {out_dir}/peakl.json."""
    with tempfile.TemporaryDirectory() as tmp:
        segments = segments_table(Path(tmp))
    result = {"lookalike": LOOKALIKE, "n_segments": len(segments), "methods": {}}
    print(f"PeakL on a {len(segments)}-segment look-alike (seed {LOOKALIKE['seed']}): "
          "before -> after")
    for method in methods:
        new_data, _, _ = relabel(segments, method, max_iter=500)
        found = figures(new_data[list(CLASSES)].to_numpy(dtype=np.float64))
        result["methods"][method] = {"n_labelled": len(new_data), **found}
        top, ent = found["top_score"], found["entropy_nats"]
        print(f"  {method:<12} mean top score {top[0]:.3f} -> {top[1]:.3f}, mean entropy "
              f"{ent[0]:.3f} -> {ent[1]:.3f} nats, argmax kept: {found['argmax_kept']}")
    write_result(out_dir, "peakl", result)
    return result
