"""Speed of the training loop against the original project's way of doing it.

    python scripts/bench_train.py train-text    # -> results/bench/train-text.json
    python scripts/bench_train.py train-audio   # -> results/bench/train-audio.json

train-text: training and evaluation samples/s of our loop (length-grouped batches padded
to their own longest text, batched evaluation) against an original-style loop (every text
padded to 256 tokens, evaluation one segment at a time), same small model and data,
repetitions interleaved. train-audio: one epoch of the multimodal model with original-style
audio (decode and resample the wav at every access, repeat-pad to 4 s, text padded to
196), with the decode_audio cache and dynamic padding, and with a frozen audio encoder
whose vectors come from the embedding cache. Targets: training >= 3x, evaluation >= 10x,
frozen-encoder multimodal epoch >= 5x. Speed-ups are ratios of median times (and, as a
check on a busy machine, of the fastest repetitions).

Also home of make_toy_corpus(), the small synthetic corpus the benchmarks and the tests
train on (Korean text and short wavs with a planted signal).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from errors import run_cli
from kemdy20 import CLASSES

# ---------------------------------------------------------------- toy corpus

_WORDS = {
    "neutral": ["회의", "자료", "내일", "보고서", "시간", "정리", "점심", "버스"],
    "happy": ["기뻐요", "좋아요", "신나요", "행복해", "최고야"],
    "surprise": ["깜짝", "놀랐어", "정말요", "세상에", "어머"],
    "angry": ["화가", "짜증나", "그만해", "열받아", "왜그래"],
    "sad": ["슬퍼요", "눈물", "우울해", "힘들어", "외로워"],
    "disgust": ["역겨워", "싫어", "더러워", "끔찍해"],
    "fear": ["무서워", "겁나", "떨려", "불안해"],
}
_FILLER = ["그러니까", "오늘", "나는", "우리", "그냥", "이제", "말이야", "아니", "근데", "음"]
_PITCH = dict(zip(CLASSES, [140.0, 320.0, 420.0, 230.0, 110.0, 180.0, 520.0]))
_PRIOR = np.array([0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])


def make_toy_corpus(out_dir, n_sessions: int = 4, per_session: int = 15, seed: int = 0,
                    sample_rate: int = 16000, seconds=(0.3, 1.2), odd_rate: int | None = None,
                    long_text: bool = False) -> dict:
    """A tiny KEMDy20-shaped corpus: wavs under <out_dir>/root/wav, plus segments.csv,
    new_data.csv and folds.csv (fold k tests session k+1 and validates on the next one).

    Text carries emotion words, audio a class-dependent pitch. odd_rate: every third wav
    is written at this rate instead (exercises resampling); long_text: varied made-up
    words instead of a few fillers (the benchmarks). Returns the paths.
    """
    rng = np.random.default_rng(seed)
    root = os.path.join(out_dir, "root")
    rows = []
    for s in range(1, n_sessions + 1):
        os.makedirs(os.path.join(root, "wav", f"Session{s:02d}"), exist_ok=True)
        for k in range(per_session):
            label = CLASSES[rng.choice(len(CLASSES), p=_PRIOR)]
            gender = "FM"[k % 2]
            sid = f"Sess{s:02d}_script01_User{2 * s - 1 + k % 2:03d}{gender}_{k + 1:03d}"
            if long_text:  # varied made-up words: lengths like real transcripts (~10-60 tokens)
                n_words = int(rng.integers(2, 14))
                syllables = [rng.integers(0, 2000, rng.integers(1, 4)) for _ in range(n_words)]
                words = ["".join(chr(0xAC00 + int(c)) for c in word) for word in syllables]
            else:
                words = list(rng.choice(_FILLER, size=int(rng.integers(2, 7))))
            if rng.random() < 0.8:  # some segments carry no textual cue
                words.insert(int(rng.integers(0, len(words) + 1)), rng.choice(_WORDS[label]))
            text = " ".join(words) + rng.choice([".", "?", "!", ""])
            rate = odd_rate if odd_rate and len(rows) % 3 == 2 else sample_rate
            n = int(rng.uniform(*seconds) * rate)
            t = np.arange(n) / rate
            wave = 0.3 * np.sin(2 * np.pi * _PITCH[label] * t) + 0.05 * rng.standard_normal(n)
            rel = f"wav/Session{s:02d}/{sid}.wav"
            sf.write(os.path.join(root, rel), wave.astype(np.float32), rate, subtype="PCM_16")
            others = rng.dirichlet(np.ones(len(CLASSES)))
            scores = (1 - (top := rng.uniform(0.5, 0.9))) * others
            scores[CLASSES.index(label)] += top
            rows.append({"segment_id": sid, "session": s, "speaker": sid.split("_")[2],
                         "text": text, "wav_path": rel, "label": label,
                         **dict(zip(CLASSES, scores)), "max_score": scores.max(),
                         "total_emotion": label, "n_votes": 10})
    data = pd.DataFrame(rows)
    fold = (data["session"] - 1) % n_sessions
    folds = data[["segment_id", "session", "speaker"]].assign(
        fold=fold, val_fold=(fold - 1) % n_sessions)
    paths = {"root": root, "segments": os.path.join(out_dir, "segments.csv"),
             "data": os.path.join(out_dir, "new_data.csv"),
             "folds": os.path.join(out_dir, "folds.csv")}
    data[["segment_id", "session", "speaker", "wav_path", "text", "total_emotion"]].to_csv(
        paths["segments"], index=False)
    data.to_csv(paths["data"], index=False)
    folds.to_csv(paths["folds"], index=False)
    return paths


def toy_workspace(out_dir, hidden: int = 32, layers: int = 1, heads: int = 2, vocab: int = 400,
                  max_seconds: float = 1.0, conv_dim: int = 16, **corpus) -> dict:
    """make_toy_corpus plus tiny demo encoders and the decoded audio cache: everything
    train.py reads. Returns the paths (root, segments, data, folds, text, audio_encoder,
    audio)."""
    import build_demo_encoders
    import decode_audio

    paths = make_toy_corpus(out_dir, **corpus)
    texts = pd.read_csv(paths["segments"])["text"]
    paths["text"] = os.path.join(out_dir, "encoders", "text")
    paths["audio_encoder"] = os.path.join(out_dir, "encoders", "audio")
    build_demo_encoders.build(texts, paths["text"], paths["audio_encoder"], hidden, layers,
                              heads, vocab, seed=0, conv_dim=conv_dim)
    segments = pd.read_csv(paths["segments"], dtype={"segment_id": str})
    paths["audio"] = os.path.join(out_dir, "audio")
    wavs = [os.path.join(paths["root"], p) for p in segments["wav_path"]]
    decode_audio.decode_all(wavs, 16000, max_seconds, paths["audio"], segments["segment_id"])
    return paths


def train_args(paths: dict, run_dir, variant: str, spec: dict | None = None, fold: int = 0,
               stage: int | None = None, cache_dir=None, threads: int = 1) -> list[str]:
    """The train.py command line for a toy workspace (spec given as JSON)."""
    argv = ["--variant", variant, "--fold", str(fold), "--spec", json.dumps(spec or {}),
            "--data", paths["data"], "--folds", paths["folds"], "--audio", paths["audio"],
            "--text-encoder", paths["text"], "--audio-encoder", paths["audio_encoder"],
            "--out-dir", os.path.join(run_dir, "out"),
            "--checkpoint-dir", os.path.join(run_dir, "ckpt"),
            "--cache-dir", str(cache_dir or os.path.join(run_dir, "cache")),
            "--threads", str(threads)]
    if stage is not None:
        argv += ["--stage", str(stage)]
    return argv


# ---------------------------------------------------------------- benchmarks

TEXT_PAD = 256  # the original padded every text to max_len 256 (196 in the multimodal model)
MM_TEXT_PAD = 196
AUDIO_SECONDS = 4.0


def machine() -> dict:
    info = {"cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "torch": torch.__version__, "device": "cpu"}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


class OriginalText:
    """Original-style text batches: every text padded to a fixed width."""

    def __init__(self, inputs, width: int):
        self.inputs, self.width = inputs, width
        self.lengths = inputs.lengths
        self.task = inputs.task

    def collate(self, idx, device="cpu"):
        from datasets import pad_tokens

        idx = np.asarray(idx)
        seqs = [self.inputs.token_ids[i] for i in idx]
        ids, mask = pad_tokens(seqs, self.inputs.pad_id, self.width)
        return {"y": torch.from_numpy(self.task.y[idx]).to(device),
                "soft": torch.from_numpy(self.task.soft[idx]).to(device),
                "input_ids": ids.to(device), "attention_mask": mask.to(device)}


class OriginalAudio(OriginalText):
    """...and audio decoded (and resampled if needed) from the wav at every access, then
    cut or repeat-padded to 4 s."""

    def __init__(self, inputs, width: int, wav_paths, sample_rate: int):
        super().__init__(inputs, width)
        self.wav_paths, self.sample_rate = wav_paths, sample_rate

    def collate(self, idx, device="cpu"):
        from decode_audio import read_wave

        batch = super().collate(idx, device)
        n = int(AUDIO_SECONDS * self.sample_rate)
        waves = []
        for i in idx:
            w = read_wave(self.wav_paths[i], self.sample_rate)
            waves.append(np.tile(w, -(-n // max(len(w), 1)))[:n])
        fe = self.inputs.feature_extractor
        values = fe(waves, sampling_rate=self.sample_rate, return_tensors="pt")["input_values"]
        batch["input_values"] = values.to(device)
        batch["audio_mask"] = torch.ones(values.shape, dtype=torch.long, device=device)
        return batch


def random_batches(n: int, batch_size: int, seed: int, epoch: int):
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i: i + batch_size] for i in range(0, n, batch_size)]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _setup(tmp, part: str, n_segments: int, wav_rate: int):
    import datasets
    import models

    per_session = max(4, n_segments // 4)
    audio = part == "train-audio"
    ws = toy_workspace(tmp, hidden=64, layers=2, heads=2, vocab=2000, conv_dim=32,
                       max_seconds=AUDIO_SECONDS, n_sessions=4, per_session=per_session,
                       seconds=(1.0, 6.0) if audio else (0.3, 0.6), sample_rate=wav_rate,
                       long_text=True)
    split = datasets.load_split(ws["data"], ws["folds"], 0)
    task = datasets.make_task(split.assign(part="train"))
    tokenizer, text_encoder = models.load_text_encoder(ws["text"])
    token_ids = datasets.tokenize(tokenizer, task.frame["text"], TEXT_PAD)
    kw = {"token_ids": token_ids, "pad_id": tokenizer.pad_token_id}
    encoders = {"text": text_encoder}
    if audio:
        fe, audio_encoder = models.load_audio_encoder(ws["audio_encoder"])
        kw.update(audio=datasets.AudioStore(ws["audio"]), feature_extractor=fe,
                  max_samples=int(AUDIO_SECONDS * 16000), sample_rate=16000)
        encoders["audio"] = audio_encoder
    segments = pd.read_csv(ws["segments"], dtype={"segment_id": str}).set_index("segment_id")
    wavs = [os.path.join(ws["root"], segments.loc[s, "wav_path"]) for s in task.frame["segment_id"]]
    return ws, task, datasets.Inputs(task, **kw), encoders, wavs


def _model(encoders, n_classes, freeze_audio=False):
    import copy

    import models

    text = copy.deepcopy(encoders["text"])
    audio = None if "audio" not in encoders or freeze_audio else copy.deepcopy(encoders["audio"])
    models.apply_freezing(text, audio, {"freeze_feature_encoder": True})
    audio_dim = encoders["audio"].config.hidden_size if "audio" in encoders else 0
    torch.manual_seed(0)
    return models.EmotionModel(n_classes, text.config.hidden_size, audio_dim, text, audio)


def _epoch(model, inputs, batches):
    import losses
    import train

    crit = losses.Criterion("ce")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    sched = train.cosine_with_warmup(opt, 1, len(batches))
    return lambda: train.run_epoch(model, inputs, batches, crit, opt, sched, 1.0, "cpu", show=False)


def _summary(times: dict) -> tuple[dict, dict]:
    """Median and fastest time of each arm."""
    return ({k: float(np.median(v)) for k, v in times.items()},
            {k: float(np.min(v)) for k, v in times.items()})


def bench_text(tmp, n_segments: int, reps: int, batch_size: int = 64) -> dict:
    import train
    from datasets import length_grouped_batches

    _, task, ours, encoders, _ = _setup(tmp, "train-text", n_segments, 16000)
    orig = OriginalText(ours, TEXT_PAD)
    n = len(task.frame)
    rows = np.arange(n)
    ours_model, orig_model = _model(encoders, 7), _model(encoders, 7)
    times = {k: [] for k in ("ours_train", "orig_train", "ours_eval", "orig_eval")}

    def eval_batched():
        train.predict(ours_model, ours, rows, "ce", 2 * batch_size, "cpu")

    def eval_one_by_one():
        orig_model.eval()
        with torch.no_grad():
            for i in rows:
                orig_model(orig.collate([i]))

    for rep in range(reps):  # interleaved, so drift in machine load hits both loops alike
        grouped = length_grouped_batches(ours.lengths, batch_size, 0, rep)
        shuffled = random_batches(n, batch_size, 0, rep)
        times["ours_train"].append(_timed(_epoch(ours_model, ours, grouped)))
        times["orig_train"].append(_timed(_epoch(orig_model, orig, shuffled)))
        times["ours_eval"].append(_timed(eval_batched))
        times["orig_eval"].append(_timed(eval_one_by_one))
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
    import embedding_cache
    from datasets import Inputs, length_grouped_batches

    _, task, ours, encoders, wavs = _setup(tmp, "train-audio", n_segments, wav_rate)
    n = len(task.frame)
    ids = task.frame["segment_id"].to_numpy()
    orig = OriginalAudio(ours, MM_TEXT_PAD, wavs, 16000)
    start = time.perf_counter()  # one-off: the frozen encoder's vectors, as the cache holds them
    emb = embedding_cache.audio_embeddings(encoders["audio"], ours.audio, ids,
                                           ours.feature_extractor, ours.max_samples, 16000,
                                           np.arange(n))
    cache_seconds = time.perf_counter() - start
    frozen = Inputs(task, token_ids=ours.token_ids, pad_id=ours.pad_id, audio_emb=emb)
    arms = {"original": (_model(encoders, 7), orig), "ours": (_model(encoders, 7), ours),
            "ours_frozen": (_model(encoders, 7, freeze_audio=True), frozen)}
    times = {k: [] for k in arms}
    for rep in range(reps):  # interleaved
        for name, (model, inputs) in arms.items():
            batches = (random_batches(n, batch_size, 0, rep) if name == "original"
                       else length_grouped_batches(inputs.lengths, batch_size, 0, rep))
            times[name].append(_timed(_epoch(model, inputs, batches)))
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
    print(f"machine: {info['cpu_cores']} cores, torch threads {info['torch_threads']}, "
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
    os.makedirs(out_dir, exist_ok=True)
    from datasets import write_text

    write_text(json.dumps(result, indent=2) + "\n", os.path.join(out_dir, f"{part}.json"))
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("part", choices=["train-text", "train-audio"])
    p.add_argument("--out-dir", default="results/bench")
    p.add_argument("--segments", type=int, help="corpus size (default 256 text, 96 audio)")
    p.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    p.add_argument("--wav-rate", type=int, default=16000, help="rate of the benchmark's wavs")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run(args.part, args.out_dir, args.segments, args.reps, args.wav_rate)


if __name__ == "__main__":
    run_cli(main)
