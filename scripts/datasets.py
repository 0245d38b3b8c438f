"""Training data: the fold split, each stage's targets, tokenised text, the decoded audio
cache, length-grouped batches and the collate step that pads each batch to its own length.

A library (no CLI): scripts/train.py and scripts/bench_train.py import it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from atomic import atomic_output  # noqa: F401  (re-exported: train.py and others import it from here)
from errors import InputError
from kemdy20 import CLASS_INDEX, CLASSES, EMOTIONS

STAGE1_CLASSES = ["neutral", "not_neutral"]
DATA_COLUMNS = ["segment_id", "session", "text", "label", *CLASSES]
FOLD_COLUMNS = ["segment_id", "fold", "val_fold"]
MIN_AUDIO_SAMPLES = 400  # wav2vec2's receptive field: a shorter clip yields no frame at all
MIN_BATCH_SECONDS = 1.0  # SpecAugment needs more frames than its mask span (10) per batch


# ---------------------------------------------------------------- atomic outputs


def write_csv(df: pd.DataFrame, path) -> None:
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False)


def write_text(text: str, path) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)


# ---------------------------------------------------------------- the fold split


def read_table(path, required: list[str], fix: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise InputError(path, "file not found", fix)
    df = pd.read_csv(path, dtype={"segment_id": str})
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(path, f"missing columns {missing}", fix)
    return df


def load_split(data_path, folds_path, fold: int) -> pd.DataFrame:
    """new_data.csv joined with folds.csv; `part` is train, val or test for this fold.

    For fold k: test = fold == k, validation = val_fold == k, training = the rest.
    """
    data = read_table(data_path, DATA_COLUMNS, "rerun the aggregate_labels step")
    folds = read_table(folds_path, FOLD_COLUMNS, "rerun the make_folds step")
    data["text"] = data["text"].fillna("").astype(str)
    bad = ~data["label"].isin(CLASSES)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(data_path, f"label {data['label'].iloc[row]!r} is not a class",
                         f"labels are one of {CLASSES}", row=row + 2)
    if data["segment_id"].duplicated().any():
        dup = data["segment_id"][data["segment_id"].duplicated()].iloc[0]
        raise InputError(data_path, f"segment {dup} appears twice", "rerun aggregate_labels")
    folds = folds[FOLD_COLUMNS].drop_duplicates("segment_id")
    df = data.merge(folds, on="segment_id", how="left", validate="one_to_one")
    lost = df["fold"].isna()
    if lost.any():
        raise InputError(folds_path, f"{int(lost.sum())} segments of {data_path} have no fold "
                         f"(first: {df.loc[lost, 'segment_id'].iloc[0]})",
                         "rerun make_folds on the current new_data.csv")
    if fold not in set(df["fold"].astype(int)):
        raise InputError(folds_path, f"no segment is in test fold {fold}",
                         f"use one of {sorted(set(df['fold'].astype(int)))}")
    val = pd.to_numeric(df["val_fold"], errors="coerce")
    df["part"] = np.where(df["fold"].astype(int) == fold, "test",
                          np.where(val == fold, "val", "train"))
    for part in ("train", "val"):
        if not (df["part"] == part).any():
            raise InputError(folds_path, f"fold {fold} has no {part} segments",
                             "hold out at least one validation session per fold")
    return df.reset_index(drop=True)


# ---------------------------------------------------------------- stage targets


@dataclass
class Task:
    """What one model learns: its classes, its rows and their targets.

    `frame` holds segment_id, part, label (the true 7-class label), text; `y` the target
    class index (-1 where the row has no target in this task); `soft` the soft targets.
    """

    classes: list[str]
    frame: pd.DataFrame
    y: np.ndarray
    soft: np.ndarray
    stage: int | None = None

    def rows(self, part: str) -> np.ndarray:
        return np.flatnonzero(self.frame["part"].to_numpy() == part)


def make_task(split: pd.DataFrame, stage: int | None = None) -> Task:
    """Targets of a one-stage model (None) or of stage 1 / stage 2 of a two-stage model.

    Stage 1: neutral vs not-neutral, soft targets [s_neutral, 1 - s_neutral].
    Stage 2: the six emotions, soft targets renormalised over them; trained and validated
    on non-neutral segments only, but every test segment gets a prediction.
    """
    scores = split[CLASSES].to_numpy(dtype=np.float64)
    label_idx = split["label"].map(CLASS_INDEX).to_numpy()
    if stage is None:
        return Task(list(CLASSES), split, label_idx.astype(np.int64), scores.astype(np.float32))
    if stage == 1:
        soft = np.stack([scores[:, 0], 1.0 - scores[:, 0]], axis=1)
        y = (label_idx != 0).astype(np.int64)
        return Task(list(STAGE1_CLASSES), split, y, soft.astype(np.float32), stage=1)
    if stage == 2:
        keep = (split["label"] != "neutral").to_numpy() | (split["part"] == "test").to_numpy()
        split = split[keep].reset_index(drop=True)
        scores, label_idx = scores[keep], label_idx[keep]
        emo = scores[:, 1:]
        total = emo.sum(axis=1, keepdims=True)
        soft = np.divide(emo, total, out=np.full_like(emo, 1.0 / len(EMOTIONS)), where=total > 0)
        y = np.where(label_idx > 0, label_idx - 1, -1).astype(np.int64)
        return Task(list(EMOTIONS), split, y, soft.astype(np.float32), stage=2)
    raise ValueError(f"stage must be None, 1 or 2, not {stage!r}")


# ---------------------------------------------------------------- inputs


def tokenize(tokenizer, texts, max_len: int) -> list[np.ndarray]:
    """Token ids of every text once, truncated to max_len, unpadded (batches pad later)."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_len, add_special_tokens=True)
    return [np.asarray(ids, dtype=np.int64) for ids in enc["input_ids"]]


class AudioStore:
    """The decode_audio cache: one flat int16 array (memory-mapped) plus its index."""

    def __init__(self, folder):
        index_path = os.path.join(folder, "audio_index.csv")
        wave_path = os.path.join(folder, "audio.npy")
        index = read_table(index_path, ["segment_id", "offset", "length"],
                           "rerun the decode_audio step")
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

    def raw(self, segment_id: str, max_samples: int) -> np.ndarray:
        """The stored int16 samples, cut to max_samples (a view of the memory map)."""
        offset, length = self.span(segment_id)
        return self.wave[offset: offset + min(length, max_samples)]

    def waveform(self, segment_id: str, max_samples: int) -> np.ndarray:
        return self.raw(segment_id, max_samples).astype(np.float32) / 32768.0


def audio_batch(waves: list[np.ndarray], feature_extractor, sample_rate: int):
    """Normalise and pad a batch of waveforms: (input_values, sample-level mask).

    Pads to the batch's longest clip (at least MIN_BATCH_SECONDS); a clip shorter than the
    encoder's receptive field is zero-extended and counted as valid so that it has a frame.
    """
    waves = [w if len(w) >= MIN_AUDIO_SAMPLES else np.pad(w, (0, MIN_AUDIO_SAMPLES - len(w)))
             for w in waves]
    feats = feature_extractor(waves, sampling_rate=sample_rate, padding="longest",
                              return_attention_mask=True, return_tensors="np")
    values, mask = feats["input_values"].astype(np.float32), feats["attention_mask"]
    floor = int(MIN_BATCH_SECONDS * sample_rate)
    if values.shape[1] < floor:
        extra = floor - values.shape[1]
        values = np.pad(values, ((0, 0), (0, extra)),
                        constant_values=feature_extractor.padding_value)
        mask = np.pad(mask, ((0, 0), (0, extra)))
    return torch.from_numpy(values), torch.from_numpy(mask.astype(np.int64))


def pad_tokens(seqs: list[np.ndarray], pad_id: int, width: int | None = None):
    """(input_ids, attention_mask) padded to the longest sequence (or to `width`)."""
    width = width or max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, s in enumerate(seqs):
        ids[row, : len(s)], mask[row, : len(s)] = s, 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


@dataclass
class Inputs:
    """Everything a batch is built from, row-aligned with a Task's frame.

    Exactly one source per modality is set: token ids (text encoder trained) or cached
    text embeddings (frozen); the audio store (audio encoder trained) or cached embeddings.
    """

    task: Task
    token_ids: list[np.ndarray] | None = None
    pad_id: int = 1
    text_emb: torch.Tensor | None = None
    audio: AudioStore | None = None
    feature_extractor: object = None
    max_samples: int = 64000
    sample_rate: int = 16000
    audio_emb: torch.Tensor | None = None
    lengths: np.ndarray = field(default=None)

    def __post_init__(self):
        n = len(self.task.frame)
        if self.audio is not None:
            ids = self.task.frame["segment_id"]
            self.lengths = np.array([min(self.audio.span(s)[1], self.max_samples) for s in ids])
        elif self.token_ids is not None:
            self.lengths = np.array([len(t) for t in self.token_ids])
        else:
            self.lengths = np.zeros(n, dtype=np.int64)

    def collate(self, idx: np.ndarray, device="cpu") -> dict[str, torch.Tensor]:
        """One batch, padded only to its own longest item."""
        idx = np.asarray(idx)
        batch = {"y": torch.from_numpy(self.task.y[idx]),
                 "soft": torch.from_numpy(self.task.soft[idx])}
        if self.token_ids is not None:
            batch["input_ids"], batch["attention_mask"] = pad_tokens(
                [self.token_ids[i] for i in idx], self.pad_id)
        if self.text_emb is not None:
            batch["text_emb"] = self.text_emb[idx]
        if self.audio is not None:
            ids = self.task.frame["segment_id"].to_numpy()[idx]
            waves = [self.audio.waveform(s, self.max_samples) for s in ids]
            batch["input_values"], batch["audio_mask"] = audio_batch(
                waves, self.feature_extractor, self.sample_rate)
        if self.audio_emb is not None:
            batch["audio_emb"] = self.audio_emb[idx]
        return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# ---------------------------------------------------------------- batching


def length_grouped_batches(lengths, batch_size: int, seed: int, epoch: int,
                           group: int = 50) -> list[np.ndarray]:
    """Training batches of similar length in a seeded random order.

    Shuffle, then sort by length within chunks of `group` batches and shuffle the batches,
    so padding is small but every epoch sees a new order. The generator is derived from
    (seed, epoch), so a resumed run draws exactly the batches the uninterrupted one drew.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * group):
        chunk = order[start: start + batch_size * group]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def shard_batches(batches: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """This rank's share of every global batch (DistributedSampler's role).

    Each global batch is split across the ranks, so the effective batch size and the
    number of optimiser steps do not depend on the number of GPUs; a batch too small to
    give every rank an item is merged into its neighbour.
    """
    if world == 1:
        return batches
    merged: list[np.ndarray] = []
    carry = None
    for b in batches:
        if carry is not None:
            b, carry = np.concatenate([carry, b]), None
        if len(b) >= world:
            merged.append(b)
        elif merged:
            merged[-1] = np.concatenate([merged[-1], b])
        else:
            carry = b
    if carry is not None:
        raise ValueError(f"fewer items ({len(carry)}) than processes ({world})")
    return [b[rank::world] for b in merged]


def eval_batches(lengths, indices, batch_size: int) -> list[np.ndarray]:
    """Inference batches sorted by length (least padding); order is restored by index."""
    indices = np.asarray(indices)
    order = indices[np.argsort(np.asarray(lengths)[indices], kind="stable")]
    return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
