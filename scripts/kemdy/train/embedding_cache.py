"""On-disk cache of a frozen encoder's pooled vectors, shared by epochs, folds and variants.

A frozen encoder gives each segment the same vector in every epoch of every run, so it is
computed once: the cache file is named by a fingerprint of the encoder (config, weights,
tokenizer or feature extractor files) and of the settings that change its input, its
pooling or its precision (max_len, audio_seconds, sample rate, text_pooling, audio layers,
autocast dtype); inside, each vector is keyed by a hash of the exact model input (token ids
or waveform samples), so a changed transcript or clip is recomputed and identical inputs
are computed once. Each vector is computed from its input alone (see text_embeddings and
audio_embeddings), so the file's bytes do not depend on which job filled it first.

Jobs that start together take turns through an advisory lock beside the file (the first
computes, the others then read); writes are atomic (temporary file + os.replace), so a
reader never sees a partial file even where locks do not work, and an unreadable file is
ignored and rewritten (an entry of zeros or NaN, too: no encoder gives one).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kemdy.atomic import atomic_output
from kemdy.spec import fingerprint
from kemdy.train.batches import audio_batch, pad_tokens
from kemdy.train.models import audio_vector, text_vector


def cache_path(cache_dir, kind: str, encoder_fp: str, settings: dict) -> str:
    key = fingerprint({"kind": kind, "encoder": encoder_fp, **settings})
    return os.path.join(cache_dir, f"{kind}-{key}.safetensors")


def input_key(array: np.ndarray) -> str:
    """Hash of one model input (dtype and shape included)."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def read_cache(path, shape: tuple | None = None) -> dict[str, torch.Tensor]:
    """The cached vectors by input key: a safetensors file (data only, never code).
    `shape`: what one vector must look like (None in a place: any size there); a file of
    other vectors is foreign and is recomputed, like a truncated one."""
    if not os.path.exists(path):
        return {}
    try:
        with safe_open(path, framework="pt") as handle:
            keys = json.loads(handle.metadata()["keys"])
            emb = handle.get_tensor("emb")
        if len(keys) != len(emb):
            raise ValueError("keys and vectors differ in number")
        got = tuple(emb.shape[1:])
        if shape is not None and (len(got) != len(shape) or any(
                want is not None and g != want for g, want in zip(got, shape))):
            raise ValueError(f"vectors of shape {got}, the encoder gives {tuple(shape)}")
    except Exception as err:  # a truncated or foreign file: recompute, never trust it
        print(f"embedding cache {path} unreadable ({err!r}); recomputing", file=sys.stderr)
        return {}
    # An encoder's pooled vector is never all zeros nor holds NaN/inf: such an entry is
    # damage (zeroed bytes, a bad write), unreadable like a truncated file, so recomputed.
    flat = emb.reshape(len(emb), -1)
    good = (torch.isfinite(flat).all(1) & (flat != 0).any(1)).tolist()
    if not all(good):
        print(f"embedding cache {path}: {good.count(False)} of {len(good)} vectors are all "
              "zero or not finite (damaged); recomputing them", file=sys.stderr)
    return {k: v for k, v, ok in zip(keys, emb, good) if ok}


def _write(path, table: dict[str, torch.Tensor]) -> None:
    keys = sorted(table)  # the file's bytes depend on its contents only, not on fill order
    with atomic_output(path) as tmp:
        save_file({"emb": torch.stack([table[k] for k in keys]).contiguous()}, tmp,
                  metadata={"keys": json.dumps(keys)})


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


def lookup(path, keys: list[str], compute, write: bool = True,
           shape: tuple | None = None) -> torch.Tensor:
    """Vectors for `keys` (row order), computing only the missing ones.

    compute(positions) -> (len(positions), *shape) tensor for those rows of `keys`.
    """
    with _locked(path) if write else contextlib.nullcontext():
        table = read_cache(path, shape)
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
                    positions, device="cpu", amp=None) -> torch.Tensor:
    """Pooled text vectors of the given rows, in that order (eval mode, float32).

    One text at a time: in a batch, padding and the batch's shape move the last bits of a
    vector, and the cache must hold what the input alone gives, whichever job fills it.
    """
    encoder.eval()
    out = torch.empty(len(positions), encoder.config.hidden_size)
    for k, i in enumerate(positions):
        ids, mask = pad_tokens([token_ids[i]], pad_id)
        with _autocast(device, amp):
            out[k] = text_vector(encoder, ids.to(device), mask.to(device), pooling)[0].float().cpu()
    return out


@torch.no_grad()
def audio_embeddings(encoder, clips, feature_extractor, sample_rate: int, device="cpu",
                     pass_mask: bool = True, layers: str = "last", amp=None) -> torch.Tensor:
    """Mean-pooled audio vectors of the given clips (float waveforms), in that order: (n, d),
    or (n, layers + 1, d) with layers="weighted" (eval mode, float32).

    One clip at a time: a group-norm wav2vec2 (wav2vec2-base, no attention mask) gives a
    clip another vector next to a longer one (its padding enters the normalisation), and
    the cache must hold what the clip alone gives, whichever job fills it first.
    """
    encoder.eval()
    vectors = []
    for wave in clips:
        values, mask = audio_batch([wave], feature_extractor, sample_rate)
        with _autocast(device, amp):
            vec = audio_vector(encoder, values.to(device), mask.to(device), pass_mask, layers)
        vectors.append(vec[0].float().cpu())
    return torch.stack(vectors) if vectors else torch.empty(0)


def _autocast(device, amp):
    if amp is None:
        return torch.autocast("cpu", enabled=False)
    return torch.autocast(torch.device(device).type, dtype=amp)
