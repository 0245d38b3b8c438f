"""Variants are data: a variant is `train:` defaults overridden by its own keys."""

from __future__ import annotations

import hashlib
import json

from errors import InputError

# The original project's settings (original-method.md section 3). A variant is
# DEFAULTS <- config `train:` <- the variant's own keys.
DEFAULTS = {
    "two_stage": False,
    "seed": 42,
    "epochs": 30,
    "patience": 5,
    "lr": 1e-4,
    "batch_size": 64,
    "max_len": 256,
    "audio_seconds": 4.0,
    "weight_decay": 0.01,
    "warmup_ratio": 0.1,
    "grad_clip": 1.0,
    "dropout": 0.1,
    "text_warmup_epochs": 0,  # not in the original: first epochs with the audio vector muted
    "text_pooling": "pooled",
    "freeze_text": False,
    "freeze_audio": False,
    "freeze_feature_encoder": True,
    "focal_gamma": 2.0,
    "neutral_threshold": 0.5,
    "gpus": 1,
}

MODALITIES = ("text", "audio", "text+audio")
LOSSES = ("ce", "soft_bce", "focal")


def resolve(config: dict, name: str, source: str = "config") -> dict:
    """The full spec of variant `name`: every training setting, with `name` filled in."""
    variants = config.get("variants", {})
    if name not in variants:
        raise InputError(
            source, f"unknown variant '{name}'", f"use one of {sorted(variants)}", key="variants"
        )
    spec = {**DEFAULTS, **config.get("train", {}), **variants[name], "name": name}
    if spec.get("modality") not in MODALITIES:
        raise InputError(source, f"modality {spec.get('modality')!r}", f"use one of {MODALITIES}",
                         key=f"variants.{name}.modality")
    if spec.get("loss") not in LOSSES:
        raise InputError(source, f"loss {spec.get('loss')!r}", f"use one of {LOSSES}",
                         key=f"variants.{name}.loss")
    return spec


def fingerprint(obj) -> str:
    """Short stable hash of a JSON-able object (checkpoint and cache keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]
