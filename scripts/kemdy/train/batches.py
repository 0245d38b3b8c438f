"""Batches: tokenised text, normalised waveforms, length-grouped batch order, and the collate
step that pads each batch only to its own longest item."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from kemdy.release.audio import AudioStore
from kemdy.train.data import Task

MIN_AUDIO_SAMPLES = 400  # wav2vec2's receptive field: a shorter clip yields no frame at all
MIN_BATCH_SECONDS = 1.0  # SpecAugment needs more frames than its mask span (10) per batch


def tokenize(tokenizer, texts, max_len: int) -> list[np.ndarray]:
    """Token ids of every text once, truncated to max_len, unpadded (batches pad later)."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_len, add_special_tokens=True)
    return [np.asarray(ids, dtype=np.int64) for ids in enc["input_ids"]]


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
