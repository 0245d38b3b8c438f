"""On-disk cache of a frozen encoder's pooled vectors, shared by epochs, folds and variants.

A frozen encoder gives each segment the same vector in every epoch of every run, so it is
computed once: the cache file is named by a fingerprint of the encoder (path, config,
weights, tokenizer or feature extractor) and of the settings that change its input or its
pooling (max_len, audio_seconds, sample rate, text_pooling); inside, each vector is keyed
by a hash of the exact model input (token ids or waveform samples), so a changed
transcript or clip is recomputed and identical inputs are computed once.

Jobs that start together take turns through an advisory lock beside the file (the first
computes, the others then read); writes are atomic (temporary file + os.replace), so a
reader never sees a partial file even where locks do not work, and an unreadable file is
ignored and rewritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys

import numpy as np
import torch

from kemdy.atomic import atomic_output
from kemdy.release.audio import AudioStore
from kemdy.spec import fingerprint
from kemdy.train.batches import audio_batch, eval_batches, pad_tokens
from kemdy.train.models import audio_vector, text_vector


def cache_path(cache_dir, kind: str, encoder_fp: str, settings: dict) -> str:
    key = fingerprint({"kind": kind, "encoder": encoder_fp, **settings})
    return os.path.join(cache_dir, f"{kind}-{key}.pt")


def input_key(array: np.ndarray) -> str:
    """Hash of one model input (dtype and shape included)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def _read(path) -> dict[str, torch.Tensor]:
    if not os.path.exists(path):
        return {}
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        keys, emb = blob["keys"], blob["emb"]
        if len(keys) != len(emb):
            raise ValueError("keys and vectors differ in number")
    except Exception as err:  # a truncated or foreign file: recompute, never trust it
        print(f"embedding cache {path} unreadable ({err!r}); recomputing", file=sys.stderr)
        return {}
    return dict(zip(keys, emb))


def _write(path, table: dict[str, torch.Tensor]) -> None:
    keys = sorted(table)
    with atomic_output(path) as tmp:
        torch.save({"keys": keys, "emb": torch.stack([table[k] for k in keys])}, tmp)


@contextlib.contextmanager
def _locked(path):
    """An advisory lock beside the cache file, so that jobs starting together compute the
    vectors once: the first computes, the others wait and then read. Where the file system
    has no locks the jobs simply all compute (the atomic write keeps that safe)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(f"{path}.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:
            pass
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)


def lookup(path, keys: list[str], compute, write: bool = True) -> torch.Tensor:
    """Vectors for `keys` (row order), computing only the missing ones.

    compute(positions) -> (len(positions), d) tensor for those rows of `keys`.
    """
    with _locked(path) if write else contextlib.nullcontext():
        table = _read(path)
        missing: dict[str, int] = {}
        for pos, key in enumerate(keys):
            if key not in table and key not in missing:
                missing[key] = pos
        if missing:
            fresh = compute(list(missing.values())).detach().float().cpu()
            table.update(zip(missing, fresh))
            if write:
                _write(path, table)
    return torch.stack([table[k] for k in keys])


@torch.no_grad()
def text_embeddings(encoder, token_ids: list[np.ndarray], pad_id: int, pooling: str,
                    positions, batch_size: int = 64, device="cpu") -> torch.Tensor:
    """Pooled text vectors of the given rows, in that order (eval mode, float32)."""
    encoder.eval()
    positions = np.asarray(positions)
    lengths = np.array([len(t) for t in token_ids])
    out = torch.empty(len(positions), encoder.config.hidden_size)
    where = {p: i for i, p in enumerate(positions)}
    for batch in eval_batches(lengths, positions, batch_size):
        ids, mask = pad_tokens([token_ids[i] for i in batch], pad_id)
        vec = text_vector(encoder, ids.to(device), mask.to(device), pooling)
        out[[where[i] for i in batch]] = vec.float().cpu()
    return out


@torch.no_grad()
def audio_embeddings(encoder, store: AudioStore, segment_ids, feature_extractor, max_samples: int,
                     sample_rate: int, positions, batch_size: int = 32, device="cpu",
                     pass_mask: bool = True) -> torch.Tensor:
    """Mean-pooled audio vectors of the given rows, in that order (eval mode, float32)."""
    encoder.eval()
    positions = np.asarray(positions)
    lengths = np.array([min(store.span(s)[1], max_samples) for s in segment_ids])
    out = torch.empty(len(positions), encoder.config.hidden_size)
    where = {p: i for i, p in enumerate(positions)}
    for batch in eval_batches(lengths, positions, batch_size):
        waves = [store.waveform(segment_ids[i], max_samples) for i in batch]
        values, mask = audio_batch(waves, feature_extractor, sample_rate)
        vec = audio_vector(encoder, values.to(device), mask.to(device), pass_mask)
        out[[where[i] for i in batch]] = vec.float().cpu()
    return out
