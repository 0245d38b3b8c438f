"""Tiny KEMDy20-shaped corpora for tests and benchmarks: Korean text and short wavs with a
planted signal, the tables the training step reads, tiny demo encoders, and the train.py
command line over them."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import soundfile as sf

from kemdy.classes import CLASSES
from kemdy.demo.encoders import build
from kemdy.release.audio import decode_all
from kemdy.spec import resolve

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


# Mean (valence, arousal) of each class on the 1-5 scales; the toy audio's pitch follows the
# class, so arousal is heard as well as read.
_RATINGS = dict(zip(CLASSES, [(3.0, 3.0), (4.2, 3.6), (3.4, 4.2), (1.6, 4.3), (1.7, 2.0),
                              (1.8, 3.2), (1.7, 3.8)]))


def toy_ratings(label: str, k: int) -> dict[str, float]:
    """Valence and arousal targets of row k: its class's, moved a little (no RNG draw, so
    the corpus's other contents do not depend on them)."""
    jitter = ((37 * k) % 11 - 5) / 10
    valence, arousal = _RATINGS[label]
    return {"valence": valence + 0.3 * jitter, "arousal": arousal - 0.2 * jitter}


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
            rows.append({"dataset": "KEMDy20", "segment_id": sid, "session": s,
                         "script": "script01", "turn": k + 1, "speaker": sid.split("_")[2],
                         "text": text, "wav_path": rel, "label": label,
                         **dict(zip(CLASSES, scores)), "max_score": scores.max(),
                         "total_emotion": label, "n_votes": 10,
                         **toy_ratings(label, len(rows))})
    data = pd.DataFrame(rows)
    fold = (data["session"] - 1) % n_sessions
    folds = data[["dataset", "segment_id", "session", "speaker"]].assign(
        fold=fold, val_fold=(fold - 1) % n_sessions)
    paths = {"root": root, "segments": os.path.join(out_dir, "segments.csv"),
             "data": os.path.join(out_dir, "new_data.csv"),
             "folds": os.path.join(out_dir, "folds.csv")}
    data[["dataset", "segment_id", "session", "script", "turn", "speaker", "wav_path", "text",
          "total_emotion"]].to_csv(paths["segments"], index=False)
    data.drop(columns=["script", "turn"]).to_csv(paths["data"], index=False)
    folds.to_csv(paths["folds"], index=False)
    return paths


def toy_workspace(out_dir, hidden: int = 32, layers: int = 1, heads: int = 2, vocab: int = 400,
                  max_seconds: float = 1.0, conv_dim: int = 16, **corpus) -> dict:
    """make_toy_corpus plus tiny demo encoders and the decoded audio cache: everything
    train.py reads. Returns the paths (root, segments, data, folds, text, audio_encoder,
    audio)."""
    paths = make_toy_corpus(out_dir, **corpus)
    texts = pd.read_csv(paths["segments"])["text"]
    paths["text"] = os.path.join(out_dir, "encoders", "text")
    paths["audio_encoder"] = os.path.join(out_dir, "encoders", "audio")
    build(texts, paths["text"], paths["audio_encoder"], hidden, layers, heads, vocab, seed=0,
          conv_dim=conv_dim)
    segments = pd.read_csv(paths["segments"], dtype={"segment_id": str})
    paths["audio"] = os.path.join(out_dir, "audio")
    wavs = [os.path.join(paths["root"], p) for p in segments["wav_path"]]
    decode_all(wavs, 16000, max_seconds, paths["audio"], segments["segment_id"])
    return paths


def train_args(paths: dict, run_dir, variant: str, spec: dict | None = None, fold: int = 0,
               stage: int | None = None, cache_dir=None, threads: int = 1) -> list[str]:
    """The train.py command line for a toy workspace: `spec` (the variant's own keys) is
    resolved as the workflow resolves it and given as JSON."""
    resolved = resolve({"variants": {variant: spec or {}}}, variant)
    argv = ["--variant", variant, "--fold", str(fold), "--spec", json.dumps(resolved),
            "--data", paths["data"], "--folds", paths["folds"], "--audio", paths["audio"],
            "--text-encoder", paths["text"], "--audio-encoder", paths["audio_encoder"],
            "--out-dir", os.path.join(run_dir, "out"),
            "--model-dir", os.path.join(run_dir, "model"),
            "--checkpoint-dir", os.path.join(run_dir, "ckpt"),
            "--cache-dir", str(cache_dir or os.path.join(run_dir, "cache")),
            "--threads", str(threads), "--checkpoint-minutes", "0"]  # every epoch
    if stage is not None:
        argv += ["--stage", str(stage)]
    if resolved["context_turns"]:
        argv += ["--segments", paths["segments"]]
    return argv
