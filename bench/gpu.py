"""The real run's training speed on this machine's accelerator: klue/roberta-base and
wav2vec2-base shapes (random weights, nothing downloaded) through the workflow's own loop.

    python -m bench gpu            # -> results/bench/gpu.json, a few minutes on one GPU
    python -m bench gpu --small    # tiny shapes: a smoke test that runs anywhere

For the text model and the multimodal model (text + a trained wav2vec2, front end frozen,
4-s clips, batch 64 as configs/kemdy20.yaml), and the multimodal model with a wavlm-large,
whisper-small or whisper-large-v3 audio encoder instead (mixed precision only): training samples/s, evaluation samples/s and
peak GPU memory, in float32 and in the mixed precision the workflow picks for the device
(bfloat16 where native, else float16 with a GradScaler). Then the multimodal training
step fed with DataLoader workers against none (the batch collated in the loop, as
before). Samples/s are over a timed pass after an untimed one over the same batches.

Side by side in the same run (issue 32.3): a group-norm encoder's evaluation batched as
alone (kemdy.train.alone) against one length per batch, as scoring did before; and the text
model's evaluation at 2x (the workflow's), 4x and 8x the training batch.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from datetime import date

import numpy as np
import torch

from bench import cards, geometry
from bench.common import machine, write_result
from kemdy.cpus import available_cpus
from kemdy.train.batches import length_grouped_batches
from kemdy.train.loop import Runtime, precision, predict, scores_unpadded
from kemdy.train.models import padding_sensitive


def _peak_reset(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def _eval_seconds(model, inputs, rows, batch: int, runtime: Runtime, **how) -> float:
    """Seconds predict() takes over `rows`, after one untimed pass (see measure)."""
    predict(model, inputs, rows, "ce", batch, runtime, **how)
    geometry.sync(runtime.device)
    start = time.perf_counter()
    predict(model, inputs, rows, "ce", batch, runtime, **how)
    geometry.sync(runtime.device)
    return time.perf_counter() - start


def measure(kind: str, parts: dict, inputs, runtime: Runtime, batch_size: int, steps: int,
            accumulate: int = 1, eval_rows: int = 256, pass_audio_mask: bool = False) -> dict:
    """Training and evaluation samples/s and peak memory of one model in one precision."""
    model = geometry.model(kind, parts, pass_audio_mask=pass_audio_mask)
    batches = length_grouped_batches(inputs.lengths, batch_size, 0, 0)[:steps]
    epoch = geometry.epoch_timer(model, inputs, batches, runtime, accumulate=accumulate)
    _peak_reset(runtime.device)
    # Warm-up: one untimed pass over the same batches. Every new batch shape costs a first
    # call its kernel selection (measured on an H200: the first pass of a precision ran at
    # 133-183 samples/s, the next at 1,370-1,650), and an epoch of training sees its shapes
    # again every epoch: the timed pass is the steady state.
    epoch()
    train_s = epoch()
    rows = np.arange(min(eval_rows, len(inputs.task.frame)))
    eval_s = _eval_seconds(model, inputs, rows, 2 * batch_size, runtime)
    trained = sum(len(b) for b in batches)
    unpadded = scores_unpadded(inputs, model)  # as predict() batched it
    got = {"train_samples_per_s": trained / train_s, "eval_samples_per_s": len(rows) / eval_s,
           "peak_gib": _peak_gib(runtime.device), "train_samples": trained,
           "eval_samples": int(len(rows)), "eval_batch": 2 * batch_size,
           "eval_unpadded": unpadded}
    if inputs.audio is not None and not unpadded and padding_sensitive(
            model.audio_encoder.config, pass_audio_mask):
        # the clips batched as alone (kemdy.train.alone) against the one-length batches
        # that scoring used before
        got["eval_one_length_samples_per_s"] = len(rows) / _eval_seconds(
            model, inputs, rows, 2 * batch_size, runtime, one_length=True)
    if kind == "text":  # launch-bound at real size: would larger evaluation batches help?
        more = np.arange(min(16 * batch_size, len(inputs.task.frame)))  # 2+ batches of 8x
        got["eval_samples_per_s_by_batch"] = {
            k * batch_size: len(more) / _eval_seconds(model, inputs, more, k * batch_size,
                                                      runtime) for k in (2, 4, 8)}
    del model, epoch
    return got


def run(out_dir: str = "results/bench", small: bool = False, batch_size: int | None = None,
        steps: int | None = None, accumulate: int = 1) -> dict:
    device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    batch_size = batch_size or (8 if small else 64)
    steps = steps or (3 if small else 20)
    amp, _ = precision(device)
    precisions = {"float32": (None, None)}
    if amp is not None:
        precisions[str(amp).removeprefix("torch.")] = precision(device)
    workers = min(4, available_cpus() - 1) if device.type == "cuda" else 1
    parts = geometry.encoders(small)
    result = {"part": "gpu", "machine": machine(), "small": small, "batch_size": batch_size,
              "accumulate": accumulate, "steps": steps, "audio_seconds": 4.0,
              "parameters": {k: geometry.n_parameters(v) for k, v in parts.items()},
              "runs": []}
    vocab = parts["text"].config.vocab_size
    n = batch_size * steps
    with tempfile.TemporaryDirectory(prefix="kemdy_bench_gpu_") as tmp:
        for kind in ("text", "mm"):
            inputs = geometry.workload(f"{tmp}/{kind}", n, kind, vocab)
            for name, (dtype, scaler) in precisions.items():
                runtime = Runtime(device, dtype, scaler, workers, show=False)
                got = measure(kind, parts, inputs, runtime, batch_size, steps, accumulate)
                result["runs"].append({"model": kind, "precision": name, "workers": workers, **got})
                _print(result["runs"][-1])
            if kind == "mm":  # the batch collated in the loop, as before the DataLoader
                dtype, scaler = precisions[list(precisions)[-1]]
                runtime = Runtime(device, dtype, scaler, 0, show=False)
                got = measure(kind, parts, inputs, runtime, batch_size, steps, accumulate)
                result["runs"].append({"model": kind, "precision": list(precisions)[-1],
                                       "workers": 0, **got})
                _print(result["runs"][-1])
                fed, unfed = result["runs"][-2], result["runs"][-1]
                measure_extra_audio(result, parts, inputs, precisions, device, workers,
                                    batch_size, steps, accumulate)
    result["dataloader_speedup"] = fed["train_samples_per_s"] / unfed["train_samples_per_s"]
    print(f"multimodal training with {fed['workers']} DataLoader workers vs none: "
          f"{result['dataloader_speedup']:.2f}x")
    result["date"] = date.today().isoformat()
    if device.type == "cuda":
        result["memory_gib"] = torch.cuda.get_device_properties(device).total_memory / 2**30
    write_result(out_dir, "gpu", result)
    print(f"card table (python -m bench grid --cards): "
          f"{cards.write(out_dir, cards.from_gpu(result, cards.card_shapes(small)))}")
    return result


def measure_extra_audio(result: dict, parts: dict, inputs, precisions: dict, device,
                        workers: int, batch_size: int, steps: int, accumulate: int) -> None:
    """The multimodal model with each further audio encoder (wavlm-large, whisper-small,
    whisper-large-v3: every 4-s clip costs Whisper a 30-s window), trained, front end
    frozen, in the workflow's precision for the device; one encoder in memory at a time.
    A run out of GPU memory is recorded as such, and the next one runs."""
    name, (dtype, scaler) = list(precisions.items())[-1]
    for audio_name, build in geometry.extra_audio(result["small"]).items():
        audio, extractor, pass_mask = build()
        result["parameters"][audio_name] = geometry.n_parameters(audio)
        runtime = Runtime(device, dtype, scaler, workers, show=False)
        fed = inputs if extractor is None else replace(inputs, feature_extractor=extractor)
        run = {"model": f"mm+{audio_name}", "precision": name, "workers": workers}
        micro = accumulate
        while True:  # the workflow's answer to a batch that does not fit: `accumulate`
            try:
                run.update(measure("mm", {**parts, "audio": audio}, fed, runtime, batch_size,
                                   steps, micro, pass_audio_mask=pass_mask), accumulate=micro)
                break
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                if micro * 2 > min(8, batch_size):
                    run["error"] = f"out of GPU memory at batch {batch_size}, accumulate {micro}"
                    break
                micro *= 2
        result["runs"].append(run)
        _print(run)
        del audio
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _print(r: dict) -> None:
    if "error" in r:
        print(f"{r['model']:>16} {r['precision']:<8}: {r['error']}", flush=True)
        return
    peak = f", peak {r['peak_gib']:.1f} GiB" if r["peak_gib"] is not None else ""
    acc = f", accumulate {r['accumulate']}" if r.get("accumulate", 1) > 1 else ""
    alone = r.get("eval_one_length_samples_per_s")
    versus = (f", {r['eval_samples_per_s'] / alone:.2f}x one length each ({alone:.1f})"
              if alone else "")
    by_batch = r.get("eval_samples_per_s_by_batch", {})
    versus += "".join(f", batch {b}: {v / by_batch[r['eval_batch']]:.2f}x"
                      for b, v in by_batch.items() if b != r["eval_batch"])
    print(f"{r['model']:>16} {r['precision']:<8} workers {r['workers']}{acc}: train "
          f"{r['train_samples_per_s']:8.1f} samples/s, eval {r['eval_samples_per_s']:8.1f} "
          f"samples/s (batch {r['eval_batch']}{', one length each' * r['eval_unpadded']}"
          f"{versus}){peak}", flush=True)
