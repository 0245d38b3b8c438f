"""Each fusion's training cost against concat, and what caching sequences would take.

    python -m bench fusion            # tiny encoders on the CPU, full size on a GPU
    python -m bench fusion --small    # tiny fusions too: a smoke test

1. Sequence cache: the bytes a frozen encoder's hidden-state sequences would take for all
   of KEMDy20 (13,462 segments), at klue/roberta-base's 768-d tokens and wav2vec2-base /
   -large's 768 / 1024-d frames for 4-s and 7-s clips (frames from the encoder's own
   convolution arithmetic), float16 and float32, last layer and every layer
   (audio_layers: weighted). The figures behind not caching them (README: fusion).
2. Training samples/s and peak memory of every fusion at its default sizes, the real token
   lengths and 4-s / 7-s clips, both encoders trained (front end frozen) and both frozen
   (cached vectors; the sequence fusions run them live), with ratios against concat in the
   same run. On a GPU the encoders have the real shapes and memory is
   max_memory_allocated; on the CPU they are tiny and memory is the peak resident-set
   growth over the timed pass, sampled every millisecond (glibc's mmap threshold fixed
   low so freed tensors leave the resident set).
"""

from __future__ import annotations

import ctypes
import os
import tempfile
import threading
import time

import numpy as np
import torch

from bench import geometry
from bench.common import machine, write_result
from kemdy.fusion_spec import DEFAULT_SIZES, FUSIONS
from kemdy.train.batches import Inputs, length_grouped_batches
from kemdy.train.loop import Runtime, precision

KEMDY20_SEGMENTS = 13462
SMALL_SIZES = {"mixer_projection": 16, "mixer_patch": 4, "mixer_depth": 2, "mixer_width": 32,
               "attention_dim": 32, "attention_heads": 2, "attention_layers": 1,
               "attention_self_layers": 1, "gmu_dim": 32}


def sequence_cache(audio) -> list[dict]:
    """GB (1e9 bytes) of every segment's sequences, at most a clip's frames each."""
    tokens = {"mean": float(np.mean(geometry.TOKENS)), "max_len 64": 64}
    rows = []
    for name, n in tokens.items():
        rows.append({"what": f"text 768-d, {name} tokens", "values": KEMDY20_SEGMENTS * n * 768})
    for seconds in (4.0, 7.0):
        frames = int(audio._get_feat_extract_output_lengths(torch.tensor(int(seconds * 16000))))
        for label, width, layers in (("wav2vec2-base", 768, 13), ("wav2vec2-large", 1024, 25)):
            values = KEMDY20_SEGMENTS * frames * width
            rows.append({"what": f"{label} {seconds:g} s ({frames} frames)", "values": values,
                         "layers": layers})
    for r in rows:
        r["fp16_gb"], r["fp32_gb"] = r["values"] * 2 / 1e9, r["values"] * 4 / 1e9
        if "layers" in r:
            r["weighted_fp16_gb"] = r["fp16_gb"] * r["layers"]
    return rows


class PeakRSS:
    """Peak growth of the resident set while the block runs (CPU)."""

    def __enter__(self):
        try:  # M_MMAP_THRESHOLD = 64 KiB: big buffers are mmapped and unmapped when freed
            ctypes.CDLL("libc.so.6").mallopt(-3, 65536)
        except OSError:
            pass
        self.base = self.peak = self._rss()
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self._rss())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.gib = (self.peak - self.base) / 2**30


def measure(model, inputs: Inputs, runtime: Runtime, batch_size: int, steps: int) -> dict:
    """Training samples/s of a timed pass after an untimed one, and its peak memory."""
    batches = length_grouped_batches(inputs.lengths, batch_size, 0, 0)[:steps]
    epoch = geometry.epoch_timer(model, inputs, batches, runtime)
    epoch()  # kernels chosen
    cuda = runtime.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(runtime.device)
    with PeakRSS() as rss:
        seconds = epoch()
    peak = torch.cuda.max_memory_allocated(runtime.device) / 2**30 if cuda else rss.gib
    return {"train_samples_per_s": sum(map(len, batches)) / seconds, "peak_gib": peak,
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def cached(inputs: Inputs, parts: dict) -> Inputs:
    """The same rows with frozen encoders' vectors, as the embedding cache gives them."""
    n, g = len(inputs.task.frame), torch.Generator().manual_seed(0)
    width = {m: parts[m].config.hidden_size for m in ("text", "audio")}
    return Inputs(inputs.task, text_emb=torch.randn(n, width["text"], generator=g),
                  audio_emb=torch.randn(n, width["audio"], generator=g))


def run(out_dir: str = "results/bench", small: bool = False, batch_size: int | None = None,
        steps: int | None = None, seconds=(4.0, 7.0)) -> dict:
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    full = device.type == "cuda" and not small  # real encoder shapes only where they run
    batch_size, steps = batch_size or (64 if full else 8), steps or (10 if full else 3)
    parts = geometry.encoders(small=not full)
    sizes = SMALL_SIZES if small else DEFAULT_SIZES
    runtime = Runtime(device, *precision(device), workers=0, show=False)
    result = {"part": "fusion", "machine": machine(), "encoders": "real" if full else "tiny",
              "sizes": sizes, "batch_size": batch_size, "steps": steps,
              "sequence_cache": sequence_cache(parts["audio"]), "runs": []}
    for r in result["sequence_cache"]:
        extra = f", every layer {r['weighted_fp16_gb']:.1f}" if "layers" in r else ""
        print(f"sequence cache {r['what']:>36}: {r['fp16_gb']:6.1f} GB fp16, "
              f"{r['fp32_gb']:6.1f} GB fp32{extra}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kemdy_bench_fusion_") as tmp:
        for s in seconds:
            live = geometry.workload(f"{tmp}/{s}", batch_size * steps, "mm",
                                     parts["text"].config.vocab_size, audio_seconds=s)
            for frozen in (False, True):
                for fusion in FUSIONS:
                    spec = {"fusion": fusion, "freeze_text": frozen, "freeze_audio": frozen,
                            **sizes}
                    model = geometry.model("mm", parts, spec)
                    # frozen encoders outside the model: their vectors come in the batch
                    feed = live if model.text_encoder is not None else cached(live, parts)
                    got = measure(model, feed, runtime, batch_size, steps)
                    run_ = {"fusion": fusion, "audio_seconds": s,
                            "encoders": "frozen" if frozen else "trained", **got}
                    base = next((r for r in result["runs"] if r["fusion"] == "concat" and
                                 r["audio_seconds"] == s and r["encoders"] == run_["encoders"]),
                                run_)
                    run_["speed_vs_concat"] = (got["train_samples_per_s"]
                                               / base["train_samples_per_s"])
                    # concat on cached vectors may grow the resident set by nothing at all
                    run_["memory_vs_concat"] = (got["peak_gib"] / base["peak_gib"]
                                                if base["peak_gib"] * 2**30 >= 2**20 else None)
                    result["runs"].append(run_)
                    _print(run_)
    write_result(out_dir, "fusion", result)
    return result


def _print(r: dict) -> None:
    memory = "" if r["memory_vs_concat"] is None else f" ({r['memory_vs_concat']:.2f}x)"
    print(f"{r['fusion']:>16} {r['audio_seconds']:g} s, encoders {r['encoders']:<7}: train "
          f"{r['train_samples_per_s']:8.1f} samples/s ({r['speed_vs_concat']:.2f}x concat), "
          f"peak {r['peak_gib']:.3f} GiB{memory}, "
          f"{r['trainable']:,} trainable", flush=True)
