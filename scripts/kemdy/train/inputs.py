"""A model's inputs: encoders loaded, text tokenised, audio from the decoded cache, and a
frozen encoder's vectors from the embedding cache instead of the encoder itself."""

from __future__ import annotations

import os
import time

import torch

from kemdy.errors import InputError
from kemdy.release.audio import AudioStore
from kemdy.train.batches import Inputs, tokenize
from kemdy.train.checkpoints import file_hash
from kemdy.train.data import Task
from kemdy.train.distributed import Dist, log
from kemdy.train.embedding_cache import (audio_embeddings, cache_path, input_key, lookup,
                                         text_embeddings)
from kemdy.train.models import encoder_fingerprint, load_audio_encoder, load_text_encoder


def prepare_inputs(spec: dict, task: Task, paths, device, dist: Dist):
    """Inputs of every row of the task, the encoders that train, and their fingerprints.

    `paths` has text_encoder, audio_encoder (hub names or folders), audio (decode_audio's
    folder) and cache_dir (the embedding cache).
    """
    use_text, use_audio = "text" in spec["modality"], "audio" in spec["modality"]
    kw, encoders, fps, dims = {}, {}, {}, {"text": 0, "audio": 0}
    if use_text:
        tokenizer, encoder = load_text_encoder(paths.text_encoder)
        fps["text"] = encoder_fingerprint(paths.text_encoder, encoder, tokenizer)
        dims["text"] = encoder.config.hidden_size
        token_ids = tokenize(tokenizer, task.frame["text"], int(spec["max_len"]))
        kw["pad_id"] = tokenizer.pad_token_id
        if spec["freeze_text"]:
            path = cache_path(paths.cache_dir, "text", fps["text"], {
                "path": paths.text_encoder, "max_len": int(spec["max_len"]),
                "pooling": spec["text_pooling"]})
            encoder.to(device)
            keys = [input_key(t) for t in token_ids]
            kw["text_emb"] = cached(path, keys, lambda pos: text_embeddings(
                encoder, token_ids, kw["pad_id"], spec["text_pooling"], pos, device=device), dist)
        else:
            kw["token_ids"], encoders["text"] = token_ids, encoder
    if use_audio:
        extractor, encoder = load_audio_encoder(paths.audio_encoder)
        fps["audio"] = encoder_fingerprint(paths.audio_encoder, encoder, extractor)
        dims["audio"] = encoder.config.hidden_size
        store = AudioStore(paths.audio)
        rate = int(extractor.sampling_rate)
        if store.sample_rate is not None and store.sample_rate != rate:
            raise InputError(store.path, f"audio cached at {store.sample_rate} Hz, the encoder "
                             f"expects {rate} Hz", "set audio.sample_rate to the encoder's rate")
        max_samples = int(round(float(spec["audio_seconds"]) * rate))
        fps["audio_index"] = file_hash(store.path)
        pass_mask = bool(getattr(extractor, "return_attention_mask", True))
        kw.update(feature_extractor=extractor, max_samples=max_samples, sample_rate=rate)
        if spec["freeze_audio"]:
            ids = task.frame["segment_id"].to_numpy()
            path = cache_path(paths.cache_dir, "audio", fps["audio"], {
                "path": paths.audio_encoder, "audio_seconds": float(spec["audio_seconds"]),
                "sample_rate": rate, "pass_mask": pass_mask})
            keys = [input_key(store.raw(s, max_samples)) for s in ids]
            encoder.to(device)
            kw["audio_emb"] = cached(path, keys, lambda pos: audio_embeddings(
                encoder, store, ids, extractor, max_samples, rate, pos, device=device,
                pass_mask=pass_mask), dist)
        else:
            kw["audio"], encoders["audio"] = store, encoder
        encoders["pass_audio_mask"] = pass_mask
    return Inputs(task, **kw), encoders, fps, dims


def cached(path, keys, compute, dist: Dist) -> torch.Tensor:
    """Rank 0 fills the embedding cache; the other ranks read it once it is written."""
    if not dist.main:
        dist.barrier()
    start = time.time()
    emb = lookup(path, keys, compute, write=dist.main)
    log(f"embeddings {os.path.basename(path)}: {len(keys)} rows in {time.time() - start:.1f} s",
        dist)
    if dist.main:
        dist.barrier()
    return emb
