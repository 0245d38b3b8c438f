"""Speed of the training loop against the original project's way of doing it.

    python -m bench train-text    # -> results/bench/train-text.json
    python -m bench train-audio   # -> results/bench/train-audio.json

train-text: training and evaluation samples/s of our loop (length-grouped batches padded
to their own longest text, batched evaluation) against an original-style loop (every text
padded to 256 tokens, evaluation one segment at a time), same small model and data,
repetitions interleaved. train-audio: one epoch of the multimodal model with original-style
audio (decode and resample the wav at every access, repeat-pad to 4 s, text padded to
196), with the decode_audio cache and dynamic padding, and with a frozen audio encoder
whose vectors come from the embedding cache. Targets: training >= 3x, evaluation >= 10x,
frozen-encoder multimodal epoch >= 5x. Speed-ups are ratios of median times (and, as a
check on a busy machine, of the fastest repetitions).

They train on kemdy.demo.toy_corpus, the corpus the tests train on too.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pandas as pd
import torch

from bench import geometry
from bench.common import machine, timed, write_result
from kemdy.demo.toy_corpus import toy_workspace
from kemdy.release.audio import AudioStore, read_wave
from kemdy.train.batches import Inputs, length_grouped_batches, pad_tokens, tokenize
from kemdy.train.data import load_split, make_task
from kemdy.train.embedding_cache import audio_embeddings
from kemdy.train.encoders import load_audio_encoder, load_text_encoder
from kemdy.train.loop import Runtime, predict

TEXT_PAD = 256  # the original padded every text to max_len 256 (196 in the multimodal model)
MM_TEXT_PAD = 196
AUDIO_SECONDS = 4.0
CPU = Runtime(torch.device("cpu"), show=False)


class OriginalText:
    """Original-style text batches: every text padded to a fixed width."""

    def __init__(self, inputs, width: int):
        self.inputs, self.width = inputs, width
        self.lengths = inputs.lengths
        self.task = inputs.task

    def collate(self, idx, epoch=0, offsets=None):
        idx = np.asarray(idx)
        seqs = [self.inputs.token_ids[i] for i in idx]
        ids, mask = pad_tokens(seqs, self.inputs.pad_id, self.width)
        return {"y": torch.from_numpy(self.task.y[idx]), "soft": torch.from_numpy(self.task.soft[idx]),
                "va": torch.from_numpy(self.task.va[idx]), "input_ids": ids, "attention_mask": mask}


class OriginalAudio(OriginalText):
    """...and audio decoded (and resampled if needed) from the wav at every access, then
    cut or repeat-padded to 4 s."""

    def __init__(self, inputs, width: int, wav_paths, sample_rate: int):
        super().__init__(inputs, width)
        self.wav_paths, self.sample_rate = wav_paths, sample_rate

    def collate(self, idx, epoch=0, offsets=None):
        batch = super().collate(idx)
        n = int(AUDIO_SECONDS * self.sample_rate)
        waves = []
        for i in idx:
            w = read_wave(self.wav_paths[i], self.sample_rate)
            waves.append(np.tile(w, -(-n // max(len(w), 1)))[:n])
        fe = self.inputs.feature_extractor
        values = fe(waves, sampling_rate=self.sample_rate, return_tensors="pt")["input_values"]
        batch["input_values"] = values
        batch["audio_mask"] = torch.ones(values.shape, dtype=torch.long)
        return batch


def random_batches(n: int, batch_size: int, seed: int, epoch: int):
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i: i + batch_size] for i in range(0, n, batch_size)]


def _setup(tmp, part: str, n_segments: int, wav_rate: int):
    per_session = max(4, n_segments // 4)
    audio = part == "train-audio"
    ws = toy_workspace(tmp, hidden=64, layers=2, heads=2, vocab=2000, conv_dim=32,
                       max_seconds=AUDIO_SECONDS, n_sessions=4, per_session=per_session,
                       seconds=(1.0, 6.0) if audio else (0.3, 0.6), sample_rate=wav_rate,
                       long_text=True)
    split = load_split(ws["data"], ws["folds"], 0)
    task = make_task(split.assign(part="train"))
    tokenizer, text_encoder = load_text_encoder(ws["text"])
    token_ids = tokenize(tokenizer, task.frame["text"], TEXT_PAD)
    kw = {"token_ids": token_ids, "pad_id": tokenizer.pad_token_id}
    encoders = {"text": text_encoder}
    if audio:
        fe, audio_encoder = load_audio_encoder(ws["audio_encoder"])
        kw.update(audio=AudioStore(ws["audio"]), feature_extractor=fe,
                  max_samples=int(AUDIO_SECONDS * 16000), sample_rate=16000)
        encoders["audio"] = audio_encoder
    segments = pd.read_csv(ws["segments"], dtype={"segment_id": str}).set_index("segment_id")
    wavs = [os.path.join(ws["root"], segments.loc[s, "wav_path"]) for s in task.frame["segment_id"]]
    return ws, task, Inputs(task, **kw), encoders, wavs


def _model(encoders, freeze_audio=False):
    """The toy workspace's model; the audio mask passed, as its extractor says."""
    return geometry.model("mm" if "audio" in encoders else "text", encoders,
                          {"freeze_audio": freeze_audio}, pass_audio_mask=True)


def _epoch(model, inputs, batches):
    return geometry.epoch_timer(model, inputs, batches, CPU, lr=1e-4)


def _summary(times: dict) -> tuple[dict, dict]:
    """Median and fastest time of each arm."""
    return ({k: float(np.median(v)) for k, v in times.items()},
            {k: float(np.min(v)) for k, v in times.items()})


def bench_text(tmp, n_segments: int, reps: int, batch_size: int = 64) -> dict:
    _, task, ours, encoders, _ = _setup(tmp, "train-text", n_segments, 16000)
    orig = OriginalText(ours, TEXT_PAD)
    n = len(task.frame)
    rows = np.arange(n)
    ours_model, orig_model = _model(encoders), _model(encoders)
    times = {k: [] for k in ("ours_train", "orig_train", "ours_eval", "orig_eval")}

    def eval_batched():
        predict(ours_model, ours, rows, "ce", 2 * batch_size, CPU)

    def eval_one_by_one():
        orig_model.eval()
        with torch.no_grad():
            for i in rows:
                orig_model(orig.collate([i]))

    for rep in range(reps):  # interleaved, so drift in machine load hits both loops alike
        grouped = length_grouped_batches(ours.lengths, batch_size, 0, rep)
        shuffled = random_batches(n, batch_size, 0, rep)
        times["ours_train"].append(timed(_epoch(ours_model, ours, grouped)))
        times["orig_train"].append(timed(_epoch(orig_model, orig, shuffled)))
        times["ours_eval"].append(timed(eval_batched))
        times["orig_eval"].append(timed(eval_one_by_one))
    med, best = _summary(times)
    tokens = np.array([len(t) for t in ours.token_ids])
    return {
        "segments": n, "batch_size": batch_size, "mean_tokens": float(tokens.mean()),
        "max_tokens": int(tokens.max()), "times_s": times,
        "train_samples_per_s": {"ours": n / med["ours_train"], "original": n / med["orig_train"]},
        "eval_samples_per_s": {"ours": n / med["ours_eval"], "original": n / med["orig_eval"]},
        "train_speedup": med["orig_train"] / med["ours_train"],
        "eval_speedup": med["orig_eval"] / med["ours_eval"],
        "train_speedup_of_fastest": best["orig_train"] / best["ours_train"],
        "eval_speedup_of_fastest": best["orig_eval"] / best["ours_eval"],
        "targets": {"train_speedup": 3.0, "eval_speedup": 10.0},
    }


def bench_audio(tmp, n_segments: int, reps: int, batch_size: int = 16,
                wav_rate: int = 16000) -> dict:
    _, task, ours, encoders, wavs = _setup(tmp, "train-audio", n_segments, wav_rate)
    n = len(task.frame)
    ids = task.frame["segment_id"].to_numpy()
    orig = OriginalAudio(ours, MM_TEXT_PAD, wavs, 16000)
    start = time.perf_counter()  # one-off: the frozen encoder's vectors, as the cache holds them
    emb = audio_embeddings(encoders["audio"], [ours.audio.waveform(s, ours.max_samples, 0) for s in ids],
                           ours.feature_extractor, 16000)
    cache_seconds = time.perf_counter() - start
    frozen = Inputs(task, token_ids=ours.token_ids, pad_id=ours.pad_id, audio_emb=emb)
    arms = {"original": (_model(encoders), orig), "ours": (_model(encoders), ours),
            "ours_frozen": (_model(encoders, freeze_audio=True), frozen)}
    times = {k: [] for k in arms}
    for rep in range(reps):  # interleaved
        for name, (model, inputs) in arms.items():
            batches = (random_batches(n, batch_size, 0, rep) if name == "original"
                       else length_grouped_batches(inputs.lengths, batch_size, 0, rep))
            times[name].append(timed(_epoch(model, inputs, batches)))
    med, best = _summary(times)
    seconds = np.array([ours.audio.span(s)[1] for s in ids]) / 16000
    return {
        "segments": n, "batch_size": batch_size, "wav_rate": wav_rate,
        "mean_audio_seconds_kept": float(seconds.mean()), "times_s": times,
        "epoch_seconds": med, "embedding_cache_build_seconds": cache_seconds,
        "speedup_cached_audio": med["original"] / med["ours"],
        "speedup_frozen_encoder": med["original"] / med["ours_frozen"],
        "speedup_cached_audio_of_fastest": best["original"] / best["ours"],
        "speedup_frozen_encoder_of_fastest": best["original"] / best["ours_frozen"],
        "targets": {"speedup_frozen_encoder": 5.0},
    }


def run(part: str, out_dir="results/bench", n_segments: int | None = None, reps: int = 3,
        wav_rate: int = 16000) -> dict:
    """Benchmark one part (train-text | train-audio); prints and writes <out_dir>/<part>.json."""
    info = machine()
    print(f"machine: {info['cores']} cores, torch threads {info['torch_threads']}, "
          f"device {info['device']}")
    with tempfile.TemporaryDirectory() as tmp:
        if part == "train-text":
            result = bench_text(tmp, n_segments or 256, reps)
            print(f"train: {result['train_samples_per_s']['ours']:.1f} vs "
                  f"{result['train_samples_per_s']['original']:.1f} samples/s "
                  f"-> {result['train_speedup']:.1f}x (target 3x; fastest repetitions "
                  f"{result['train_speedup_of_fastest']:.1f}x)")
            print(f"eval: {result['eval_samples_per_s']['ours']:.1f} vs "
                  f"{result['eval_samples_per_s']['original']:.1f} samples/s "
                  f"-> {result['eval_speedup']:.1f}x (target 10x; fastest repetitions "
                  f"{result['eval_speedup_of_fastest']:.1f}x)")
        elif part == "train-audio":
            result = bench_audio(tmp, n_segments or 96, reps, wav_rate=wav_rate)
            e = result["epoch_seconds"]
            print(f"multimodal epoch: original-style {e['original']:.2f} s, cached audio "
                  f"{e['ours']:.2f} s ({result['speedup_cached_audio']:.1f}x), frozen audio "
                  f"encoder {e['ours_frozen']:.2f} s ({result['speedup_frozen_encoder']:.1f}x, "
                  f"target 5x; one-off cache build "
                  f"{result['embedding_cache_build_seconds']:.2f} s); "
                  f"fastest repetitions {result['speedup_cached_audio_of_fastest']:.1f}x and "
                  f"{result['speedup_frozen_encoder_of_fastest']:.1f}x")
        else:
            raise ValueError(f"unknown part {part!r}: use train-text or train-audio")
    result = {"part": part, "machine": info, **result}
    write_result(out_dir, part, result)
    return result
