"""Batches: tokenised text, normalised waveforms and where each clip is cut, length-grouped
batch order (capped in the audio the encoder processes), and the collate step that pads
each batch only to its own longest item. Collation runs on the CPU (in DataLoader workers); kemdy.train.loop moves
the batch to the device."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from kemdy.errors import InputError
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
    if "input_features" in feature_extractor.model_input_names:
        return spectrogram_batch(waves, feature_extractor, sample_rate)
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


def alone_spans(sample_mask: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Samples each clip of an audio_batch spans when batched alone (its own, or the floor
    for a short one): what scoring reproduces in a padded batch (kemdy.train.alone)."""
    return sample_mask.sum(-1).clamp(min=int(MIN_BATCH_SECONDS * sample_rate))


def encoder_window(feature_extractor) -> int | None:
    """Samples the audio encoder processes per clip whatever the clip's length: Whisper's
    window (its feature extractor pads every clip alone to n_samples, 30 s); None for an
    encoder that reads the clip as it is (padded only to its batch's longest)."""
    names = getattr(feature_extractor, "model_input_names", ())
    return int(feature_extractor.n_samples) if "input_features" in names else None


def spectrogram_batch(waves: list[np.ndarray], feature_extractor, sample_rate: int):
    """Whisper's input: (log-mel features (batch, mel bins, 3000), mask over the 3000 mel
    frames). Every clip is padded alone to the 30-s window the encoder requires (a longer
    one is cut there); the mask marks the clip's own frames, over which the encoder's
    output is pooled (kemdy.train.models.frame_mask)."""
    feats = feature_extractor(waves, sampling_rate=sample_rate, return_attention_mask=True,
                              return_tensors="np")
    return (torch.from_numpy(feats["input_features"].astype(np.float32)),
            torch.from_numpy(feats["attention_mask"].astype(np.int64)))


def pad_tokens(seqs: list[np.ndarray], pad_id: int, width: int | None = None):
    """(input_ids, attention_mask) padded to the longest sequence (or to `width`)."""
    width = width or max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, s in enumerate(seqs):
        ids[row, : len(s)], mask[row, : len(s)] = s, 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def crop_offset(length: int, window: int, mode: str, seed: int = 0, epoch: int = 0,
                row: int = 0) -> int:
    """Where a clip longer than the window is cut: at its start, its centre, or a random
    place drawn from (seed, epoch, row), so every epoch sees another part, reproducibly."""
    if length <= window or mode == "start":
        return 0
    if mode == "centre":
        return (length - window) // 2
    return int(np.random.default_rng([seed, epoch, row]).integers(0, length - window + 1))


def window_offsets(length: int, window: int) -> list[int]:
    """Windows that cover a whole clip: back to back, the last one ending at the clip's end."""
    n = max(1, math.ceil(length / window))
    return [min(k * window, max(length - window, 0)) for k in range(n)]


@dataclass
class Inputs:
    """Everything a batch is built from, row-aligned with a Task's frame.

    Exactly one source per modality is set: token ids (text encoder trained) or cached
    text embeddings (frozen); the audio store (audio encoder trained) or cached embeddings
    (`audio_emb`, one row per segment; `window_emb` holds a frozen encoder's vector of
    every scoring window, keyed by (row, offset)). Audio clips are cut to max_samples
    (`crop` decides where, in training).
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
    window_emb: dict | None = None
    crop: str = "start"
    seed: int = 0
    lengths: np.ndarray = field(default=None)
    clip_lengths: np.ndarray = field(default=None)
    costs: np.ndarray = field(default=None)

    def __post_init__(self):
        n = len(self.task.frame)
        if self.audio is not None:
            ids = self.task.frame["segment_id"]
            self.clip_lengths = np.array([self.audio.span(s)[1] for s in ids], dtype=np.int64)
        # Batches group rows of similar length in what the model pads: the waveform while
        # the audio encoder trains, else the tokens.
        live = self.audio is not None and self.audio_emb is None and self.window_emb is None
        if live:
            self.lengths = np.minimum(self.clip_lengths, self.max_samples)
        elif self.token_ids is not None:
            self.lengths = np.array([len(t) for t in self.token_ids])
        else:
            self.lengths = np.zeros(n, dtype=np.int64)
        # What max_batch_seconds counts: the samples the audio encoder processes per row in
        # a batch (none where its vectors come from the cache). Whisper encodes every clip as
        # its whole window; other encoders the cut clip, a batch padded to at least 1 s.
        window = encoder_window(self.feature_extractor) if live else None
        if not live:
            self.costs = np.zeros(n, dtype=np.int64)
        elif window:
            self.costs = np.full(n, window, dtype=np.int64)
        else:
            self.costs = np.maximum(self.lengths, int(MIN_BATCH_SECONDS * self.sample_rate))

    def batch_cap(self, max_batch_seconds) -> int | None:
        """max_batch_seconds as samples the audio encoder processes per batch (None: no cap,
        or no audio). Refused when a single row already costs more: no batch could keep it."""
        if not max_batch_seconds or self.audio is None:
            return None
        cap = int(float(max_batch_seconds) * self.sample_rate)
        worst = int(self.costs.max()) if len(self.costs) else 0
        if worst > cap:
            seconds = worst / self.sample_rate
            if encoder_window(self.feature_extractor):
                why = (f"Whisper's encoder processes every clip as its whole {seconds:g}-s "
                       "window, however short the clip")
                fix = (f"set max_batch_seconds to {seconds:g} per clip a batch may hold (e.g. "
                       f"{8 * seconds:g} for 8), or leave it unset (null)")
            else:
                why = (f"the audio encoder processes {seconds:g} s of the longest clip "
                       f"(audio_seconds {self.max_samples / self.sample_rate:g}, a batch "
                       f"padded to at least {MIN_BATCH_SECONDS:g} s)")
                fix = (f"set max_batch_seconds to {seconds:g} or more, or lower audio_seconds")
            raise InputError("config", f"max_batch_seconds {max_batch_seconds} is less than "
                             f"one clip costs: {why}", fix, key="max_batch_seconds")
        return cap

    def offsets(self, idx: np.ndarray, epoch: int, scoring: bool = False) -> list[int]:
        """Where each row's clip is cut; a model is scored on the centre, not a random cut."""
        mode = "centre" if scoring and self.crop == "random" else self.crop
        return [crop_offset(int(self.clip_lengths[i]), self.max_samples, mode, self.seed,
                            epoch, int(i)) for i in idx]

    def collate(self, idx: np.ndarray, epoch: int = 0, offsets=None) -> dict[str, torch.Tensor]:
        """One batch on the CPU, padded only to its own longest item. `offsets` (one per row)
        cut the audio at given places (scoring windows); else the crop rule does."""
        idx = np.asarray(idx)
        batch = {"y": torch.from_numpy(self.task.y[idx]),
                 "soft": torch.from_numpy(self.task.soft[idx]),
                 "va": torch.from_numpy(self.task.va[idx])}
        if self.token_ids is not None:
            batch["input_ids"], batch["attention_mask"] = pad_tokens(
                [self.token_ids[i] for i in idx], self.pad_id)
        if self.text_emb is not None:
            batch["text_emb"] = self.text_emb[idx]
        if self.audio is not None and self.audio_emb is None and self.window_emb is None:
            ids = self.task.frame["segment_id"].to_numpy()[idx]
            cut = offsets if offsets is not None else self.offsets(idx, epoch)
            waves = [self.audio.waveform(s, self.max_samples, o) for s, o in zip(ids, cut)]
            batch["input_values"], batch["audio_mask"] = audio_batch(
                waves, self.feature_extractor, self.sample_rate)
            if encoder_window(self.feature_extractor) is None:  # Whisper: clips never share
                batch["audio_alone"] = alone_spans(batch["audio_mask"], self.sample_rate)
        elif offsets is not None and self.window_emb is not None:
            batch["audio_emb"] = torch.stack([self.window_emb[(int(i), int(o))]
                                              for i, o in zip(idx, offsets)])
        elif self.audio_emb is not None:
            batch["audio_emb"] = self.audio_emb[idx]
        return batch


def capped(order: np.ndarray, lengths: np.ndarray, batch_size: int,
           max_samples: int | None, costs: np.ndarray | None = None) -> list[np.ndarray]:
    """Consecutive batches of `order` (sorted by length), at most batch_size items and, with
    max_samples, at most that many samples processed (items x costliest item) each. `costs`
    (default: the lengths) is what the encoder processes per item (Inputs.costs)."""
    if not max_samples:
        return [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    costs = lengths if costs is None else np.asarray(costs)
    batches, start = [], 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < batch_size and \
                (end - start + 1) * costs[order[start: end + 1]].max() <= max_samples:
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def length_grouped_batches(lengths, batch_size: int, seed: int, epoch: int, group: int = 50,
                           max_samples: int | None = None, costs=None) -> list[np.ndarray]:
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
        batches += capped(chunk, lengths, batch_size, max_samples, costs)
    return [batches[i] for i in rng.permutation(len(batches))]


def training_batches(inputs: Inputs, rows: np.ndarray, batch_size: int, seed: int,
                     cap: int | None, dist):
    """epoch -> this process's training batches (rows of the task) of that epoch."""
    def batches(epoch: int) -> list[np.ndarray]:
        order = length_grouped_batches(inputs.lengths[rows], batch_size, seed, epoch,
                                       max_samples=cap, costs=inputs.costs[rows])
        return shard_batches([rows[b] for b in order], dist.rank, dist.world)

    return batches


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


def eval_batches(lengths, indices, batch_size: int, max_samples: int | None = None,
                 unpadded: bool = False, costs=None) -> list[np.ndarray]:
    """Inference batches sorted by length (least padding); order is restored by index.
    unpadded: only items of one length share a batch (an encoder whose vectors padding
    would change, e.g. wav2vec2-base; clips cut to audio_seconds mostly share a length).
    `costs`: as capped()."""
    indices, lengths = np.asarray(indices), np.asarray(lengths)
    order = indices[np.argsort(lengths[indices], kind="stable")]
    if not unpadded:
        return capped(order, lengths, batch_size, max_samples, costs)
    cuts = np.flatnonzero(np.diff(lengths[order])) + 1
    return [b for same in np.split(order, cuts) if len(same)
            for b in capped(same, lengths, batch_size, max_samples, costs)]
