"""Classifying new recordings with exported models (results/models/{variant}/fold{k}).

A model is rebuilt from its export: the encoders are loaded again from where its model.json
records them (and checked against their fingerprints), the trainable weights from
model.safetensors. Several folds' (and seeds') models of one variant are an ensemble: their
class probabilities (and valence/arousal) are averaged; anything else is refused
(kemdy/predict_checks.py). A two-stage model predicts through both stages: neutral when
stage 1's P(neutral) reaches the threshold, else stage 2's emotion; the seven probabilities
are P(neutral) and (1 - P(neutral)) x stage 2's. A model trained with dialogue context
(spec context_turns K) reads the transcripts of the turns before the item (oldest first; the
last K are used) as training did (kemdy.train.context); without them it scores the item as
a dialogue's first turn, which training also saw. A model trained with calibrate: temperature
gives its calibrated probabilities, softmax(log p / T) with the T its model.json records (the
same most likely class; each fold's own T before the folds are averaged).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kemdy.classes import CLASSES, EMOTIONS
from kemdy.errors import InputError
from kemdy.metrics import temperature_scaled
from kemdy.predict_checks import (check_ensemble, check_members, check_text, expand_seeds,
                                  load_encoder, model_parts, read_wav)
from kemdy.train.batches import audio_batch, crop_offset, pad_tokens, window_offsets
from kemdy.train.context import encode_pairs, last_turns
from kemdy.train.export import read_weights, rerun_fix
from kemdy.fusion_spec import upgraded
from kemdy.train.losses import probabilities
from kemdy.train.models import EmotionModel


@dataclass
class Stage:
    """One exported model, ready to score."""

    card: dict
    model: EmotionModel
    tokenizer: object = None
    extractor: object = None


def load_stage(folder, card: dict, device="cpu", encoders: dict | None = None,
               memo: dict | None = None) -> Stage:
    """One exported model; `encoders`: {"text"/"audio": folder} overriding model.json's."""
    spec, shape = upgraded(card["spec"]), card["shape"]  # issue 30: cross_attention renamed
    encoders, memo = encoders or {}, {} if memo is None else memo
    tokenizer = text = extractor = audio = None
    if shape["text_dim"]:
        tokenizer, text = load_encoder(folder, card, "text", encoders.get("text"), memo)
    if shape["audio_dim"]:
        extractor, audio = load_encoder(folder, card, "audio", encoders.get("audio"), memo)
    model = EmotionModel(len(card["classes"]), shape["text_dim"], shape["audio_dim"], text, audio,
                         spec["text_pooling"], shape.get("pass_audio_mask", True), 0.0,
                         spec["audio_layers"], shape["n_audio_layers"],
                         regress=float(spec["va_weight"]) > 0 and card["stage"] != 2,
                         fusion=spec)
    weights = read_weights(folder)
    unknown = set(weights) - set(model.state_dict())
    try:
        if unknown:
            raise RuntimeError(f"unknown weights {sorted(unknown)[:3]} ...")
        model.load_state_dict(weights, strict=False)  # the rest: the encoders as loaded
    except RuntimeError as err:
        raise InputError(folder, "its weights do not fit the model its model.json describes "
                         f"({str(err).strip().splitlines()[0]})", rerun_fix(folder)) from None
    check_temperature(folder, card)
    return Stage(card, model.to(device).eval(), tokenizer, extractor)


def check_temperature(folder, card: dict) -> None:
    """A calibrated model's temperature: a positive number (the digest guards an edit; this
    an export made without one)."""
    t = card.get("temperature")
    if t is not None and not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise InputError(Path(folder) / "model.json", f"temperature {t!r} is not a positive "
                         "number", rerun_fix(folder), key="temperature")


def read_models(folders, vary=()) -> tuple[list[dict], list[Path]]:
    """Each --model folder (a several-seed fold folder: its seeds') as {"single": (folder,
    card)} or {"stage1": ..., "stage2": ...}, once every folder is known to be one whole
    model as exported and all of them one variant's (alike but for the spec keys their cards
    record as varying, and `vary`). Also returns the folders exported before model.json's
    digest (not checkable). Reads model.json and the weights' header only: fast."""
    folders = expand_seeds([Path(f) for f in folders])
    members = [model_parts(folder) for folder in folders]
    unsigned = check_members(folders, members)
    check_ensemble(folders, members, vary)
    return members, unsigned


def modalities(members: list[dict]) -> set[str]:
    """What the models read of an item: "text" (the transcript) and/or "audio" (the wav)."""
    shapes = [card["shape"] for parts in members for _, card in parts.values()]
    return {m for m in ("text", "audio") if any(shape[f"{m}_dim"] for shape in shapes)}


def load_models(members: list[dict], device="cpu", encoders: dict | None = None
                ) -> list[dict[str, Stage]]:
    """read_models' members as Stages, ready to score (their encoders loaded and checked)."""
    memo = {}  # encoder fingerprints: computed once per encoder, not once per fold
    return [{part: load_stage(path, card, device, encoders, memo)
             for part, (path, card) in parts.items()} for parts in members]


def context_turns(models: list[dict[str, Stage]]) -> int:
    """The most previous turns any of the models reads (0: none; older cards have no key)."""
    return max(int(s.card["spec"].get("context_turns", 0)) for parts in models
               for s in parts.values())


def batch_for(stage: Stage, text: str, wave: np.ndarray | None, device,
              context=None) -> list[dict]:
    """The model inputs of one item: one batch per scoring window of the clip."""
    spec, base = stage.card["spec"], {}
    if stage.tokenizer is not None:
        turns = last_turns(context, int(spec.get("context_turns", 0)))  # none: the text alone
        ids = encode_pairs(stage.tokenizer, [turns], [text], int(spec["max_len"]))
        base["input_ids"], base["attention_mask"] = pad_tokens([np.asarray(ids[0])],
                                                               stage.tokenizer.pad_token_id)
    if stage.extractor is None:
        return [{k: v.to(device) for k, v in base.items()}]
    rate = int(stage.extractor.sampling_rate)
    window = int(round(float(spec["audio_seconds"]) * rate))
    offsets = (window_offsets(len(wave), window) if spec["audio_eval"] == "windows" else
               [crop_offset(len(wave), window, spec["audio_crop"].replace("random", "centre"))])
    batches = []
    for o in offsets:
        values, mask = audio_batch([wave[o: o + window]], stage.extractor, rate)
        batches.append({**base, "input_values": values, "audio_mask": mask})
    return [{k: v.to(device) for k, v in b.items()} for b in batches]


@torch.no_grad()
def score(stage: Stage, text: str, wave, device, context=None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """(class probabilities, valence/arousal or None) of one stage on one item: the mean
    over the clip's windows, calibrated with the model's temperature if it has one (as
    training scored it: kemdy.metrics.temperature_scaled of that mean)."""
    probs, vas = [], []
    for batch in batch_for(stage, text, wave, device, context):
        logits, va = stage.model(batch)
        probs.append(probabilities(stage.card["spec"]["loss"], logits)[0].cpu().numpy())
        if va is not None:
            vas.append(va[0].float().cpu().numpy())
    p = np.mean(probs, 0)
    if stage.card.get("temperature") is not None:
        p = temperature_scaled(p, float(stage.card["temperature"]))
    return p, (np.mean(vas, 0) if vas else None)


def check_context(models: list[dict[str, Stage]], context) -> list[str]:
    """The previous turns' transcripts (oldest first), refused for models that read none."""
    context = [check_text(t, "--context") for t in (context or []) if str(t).strip()]
    if context and not context_turns(models):
        raise InputError("--context", "these models were trained without dialogue context "
                         "(context_turns 0): they would ignore it", "drop the context, or use "
                         "a variant trained with context_turns")
    return context


def predict_one(models: list[dict[str, Stage]], text: str, wav_path, device="cpu",
                context=None) -> dict:
    """{"emotion", "probabilities" (the seven classes, summing to 1)[, "valence", "arousal"]}.
    `context`: the transcripts of the turns before this one, oldest first."""
    reads_text = any(s.tokenizer is not None for parts in models for s in parts.values())
    text = check_text(text) if reads_text else None  # an audio-only model needs no words
    context = check_context(models, context)
    waves = {}
    probs, vas, neutral = [], [], []
    two_stage = "stage1" in models[0]  # every member alike (check_ensemble)
    for parts in models:
        first = next(iter(parts.values()))
        wave = None
        if first.extractor is not None:
            rate = int(first.extractor.sampling_rate)
            if rate not in waves:
                waves[rate] = read_wav(wav_path, rate)
            wave = waves[rate]
        if two_stage:
            p1, va = score(parts["stage1"], text, wave, device, context)
            p2, _ = score(parts["stage2"], text, wave, device, context)
            p = np.concatenate([[p1[0]], (1.0 - p1[0]) * p2])
            neutral.append(p1[0])
        else:
            p, va = score(parts["single"], text, wave, device, context)
        probs.append(p)
        if va is not None:
            vas.append(va)
    mean = np.mean(probs, 0)
    mean = mean / mean.sum()
    if two_stage:  # its own rule
        threshold = float(models[0]["stage1"].card["spec"]["neutral_threshold"])
        emotion = "neutral" if np.mean(neutral) >= threshold else EMOTIONS[int(mean[1:].argmax())]
    else:
        emotion = CLASSES[int(mean.argmax())]
    out = {"emotion": emotion, "probabilities": dict(zip(CLASSES, map(float, mean)))}
    if vas:
        out["valence"], out["arousal"] = map(float, np.mean(vas, 0))
    return out
