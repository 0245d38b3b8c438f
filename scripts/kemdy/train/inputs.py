"""A model's inputs: encoders loaded, text tokenised, audio from the decoded cache, and a
frozen encoder's vectors from the embedding cache instead of the encoder itself."""

from __future__ import annotations

import os
import time

import numpy as np
import torch

from kemdy.encoder_checks import max_text_positions
from kemdy.errors import InputError
from kemdy.release.audio import AudioStore
from kemdy.train.batches import Inputs, crop_offset, tokenize, window_offsets
from kemdy.train.checkpoints import file_hash
from kemdy.train.context import encode_pairs, previous_turns, read_dialogues
from kemdy.train.data import Task
from kemdy.train.distributed import Dist, log
from kemdy.train.embedding_cache import (audio_embeddings, cache_path, input_key, lookup,
                                         text_embeddings)
from kemdy.train.encoders import encoder_fingerprint, load_audio_encoder, load_line, load_text_encoder
from kemdy.fusion_spec import needs_sequences


def cached(path, keys, compute, dist: Dist, shape: tuple) -> torch.Tensor:
    """Rank 0 fills the embedding cache; the other ranks read it once it is written."""
    if not dist.main:
        dist.barrier()
    start = time.time()
    emb = lookup(path, keys, compute, write=dist.main, shape=shape)
    log(f"embeddings {os.path.basename(path)}: {len(keys)} rows in {time.time() - start:.1f} s",
        dist)
    if dist.main:
        dist.barrier()
    return emb


def text_tokens(spec: dict, task: Task, tokenizer, paths, dist: Dist) -> list[np.ndarray]:
    """Every row's token ids: its transcript, or with context_turns its dialogue's previous
    turns and its transcript as a pair (kemdy.train.context; transcripts of segments.csv
    only). A frozen encoder's cache keys these ids, so a vector is never reused for another
    context."""
    turns, max_len = int(spec["context_turns"]), int(spec["max_len"])
    if not turns:
        return tokenize(tokenizer, task.frame["text"], max_len)
    segments = getattr(paths, "segments", None)
    if not segments:
        raise InputError("--segments", f"context_turns {turns} reads the previous turns' "
                         "transcripts from segments.csv", "pass --segments "
                         "results/data/segments.csv (the workflow does)", key="context_turns")
    contexts = previous_turns(read_dialogues(segments), task.frame["segment_id"], turns,
                              segments)
    log(f"dialogue context: up to {turns} previous turns; "
        f"{sum(1 for c in contexts if c)} of {len(contexts)} rows have some", dist)
    return encode_pairs(tokenizer, contexts, task.frame["text"], max_len)


def text_inputs(spec: dict, task: Task, paths, device, amp, dist: Dist):
    """(Inputs keywords, trainable encoder or None, fingerprint, width) of the text side."""
    tokenizer, encoder = load_text_encoder(paths.text_encoder)
    log(load_line("text", paths.text_encoder, encoder, spec), dist)
    limit = max_text_positions(encoder.config.to_dict())
    if int(spec["max_len"]) > limit:
        raise InputError("--spec", f"max_len {spec['max_len']} is more than the {limit} tokens "
                         f"{paths.text_encoder} takes", f"set max_len to {limit} or less",
                         key="max_len")
    if spec["text_pooling"] == "pooled" and getattr(encoder, "pooler", None) is None \
            and not needs_sequences(spec):
        raise InputError("--spec", f"text_pooling is pooled, but {paths.text_encoder} "
                         f"({type(encoder).__name__}) has no pooler",
                         "set text_pooling: first_token", key="text_pooling")
    fp = encoder_fingerprint(paths.text_encoder, encoder, tokenizer)
    token_ids = text_tokens(spec, task, tokenizer, paths, dist)
    kw = {"pad_id": tokenizer.pad_token_id}
    if not spec["freeze_text"] or needs_sequences(spec):  # a sequence fusion: run it live
        return {**kw, "token_ids": token_ids}, encoder, fp, encoder.config.hidden_size
    path = cache_path(paths.cache_dir, "text", fp, {
        "max_len": int(spec["max_len"]), "pooling": spec["text_pooling"], "amp": str(amp)})
    encoder.to(device)
    kw["text_emb"] = cached(path, [input_key(t) for t in token_ids], lambda pos: text_embeddings(
        encoder, token_ids, kw["pad_id"], spec["text_pooling"], pos, device, amp), dist,
        (encoder.config.hidden_size,))
    kw["cached_parameters"] = sum(p.numel() for p in encoder.parameters())
    return kw, None, fp, encoder.config.hidden_size


def frozen_audio(spec, task, store, encoder, extractor, settings, paths, device, amp,
                 dist) -> dict:
    """A frozen audio encoder's vectors: of every row's cut (as scored), and with
    audio_eval=windows of every window of the validation and test clips."""
    rate, max_samples = settings["sample_rate"], settings["max_samples"]
    layers = spec["audio_layers"]
    path = cache_path(paths.cache_dir, "audio", settings["fp"], {
        "audio_seconds": float(spec["audio_seconds"]), "sample_rate": rate,
        "pass_mask": settings["pass_mask"], "layers": layers, "amp": str(amp)})
    ids = task.frame["segment_id"].to_numpy()
    views = []  # (row, offset): the scored cut of every row, then the scoring windows
    for row, sid in enumerate(ids):
        length = store.span(sid)[1]
        views.append((row, crop_offset(length, max_samples, spec["audio_crop"].replace(
            "random", "centre"))))
    if spec["audio_eval"] == "windows":
        scored = np.flatnonzero(task.frame["part"].to_numpy() != "train")
        views += [(r, o) for r in scored for o in window_offsets(store.span(ids[r])[1],
                                                                 max_samples)]
    clips = [store.raw(ids[r], max_samples, o) for r, o in views]
    emb = cached(path, [input_key(c) for c in clips], lambda pos: audio_embeddings(
        encoder, [clips[p].astype(np.float32) / 32768.0 for p in pos], extractor, rate,
        device, settings["pass_mask"], layers, amp), dist,
        (None, encoder.config.hidden_size) if layers == "weighted" else (encoder.config.hidden_size,))
    out = {"audio_emb": emb[: len(ids)]}
    if spec["audio_eval"] == "windows":
        out["window_emb"] = {view: emb[k] for k, view in enumerate(views)}
    return out


def audio_inputs(spec: dict, task: Task, paths, device, amp, dist: Dist):
    """(Inputs keywords, trainable encoder or None, fingerprint, width, layers) of the audio
    side."""
    extractor, encoder = load_audio_encoder(paths.audio_encoder)
    log(load_line("audio", paths.audio_encoder, encoder, spec), dist)
    store = AudioStore(paths.audio)
    rate = int(extractor.sampling_rate)
    if store.sample_rate is not None and store.sample_rate != rate:
        raise InputError(store.path, f"audio cached at {store.sample_rate} Hz, the encoder "
                         f"expects {rate} Hz", "set audio.sample_rate to the encoder's rate")
    settings = {"fp": encoder_fingerprint(paths.audio_encoder, encoder, extractor),
                "sample_rate": rate, "max_samples": int(round(float(spec["audio_seconds"]) * rate)),
                "pass_mask": bool(getattr(extractor, "return_attention_mask", True))}
    kw = {"feature_extractor": extractor, "max_samples": settings["max_samples"],
          "sample_rate": rate, "audio": store, "crop": spec["audio_crop"],
          "seed": int(spec["seed"])}
    n_layers = encoder.config.num_hidden_layers + 1
    width = encoder.config.hidden_size
    if not spec["freeze_audio"] or needs_sequences(spec):  # a sequence fusion: run it live
        return kw, encoder, settings, width, n_layers
    encoder.to(device)
    kw.update(frozen_audio(spec, task, store, encoder, extractor, settings, paths, device, amp,
                           dist))
    kw["cached_parameters"] = sum(p.numel() for p in encoder.parameters())
    return kw, None, settings, width, n_layers


def prepare_inputs(spec: dict, task: Task, paths, device, dist: Dist, amp=None):
    """Inputs of every row of the task, the encoders that train, the fingerprints of what
    the model reads, and the model's shape.

    `paths` has text_encoder, audio_encoder (hub names or folders), audio (decode_audio's
    folder) and cache_dir (the embedding cache).
    """
    kw, encoders, fps = {}, {}, {}
    shape = {"text_dim": 0, "audio_dim": 0, "n_audio_layers": 0}
    cached = 0  # parameters of the encoders read from the embedding cache (metrics.json)
    if "text" in spec["modality"]:
        text_kw, encoders["text"], fps["text"], shape["text_dim"] = text_inputs(
            spec, task, paths, device, amp, dist)
        cached += text_kw.pop("cached_parameters", 0)
        kw.update(text_kw)
    if "audio" in spec["modality"]:
        audio_kw, encoders["audio"], settings, shape["audio_dim"], shape["n_audio_layers"] = \
            audio_inputs(spec, task, paths, device, amp, dist)
        cached += audio_kw.pop("cached_parameters", 0)
        kw.update(audio_kw)
        fps["audio"], fps["audio_index"] = settings["fp"], file_hash(kw["audio"].path)
        shape["pass_audio_mask"] = settings["pass_mask"]
    inputs = Inputs(task, **kw)
    inputs.cached_parameters = cached
    return inputs, {k: v for k, v in encoders.items() if v is not None}, fps, shape
