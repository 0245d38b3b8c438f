"""Variants are data: a variant is `train:` defaults overridden by its own keys."""

from __future__ import annotations

import hashlib
import json

from errors import InputError

MODALITIES = ("text", "audio", "text+audio")
LOSSES = ("ce", "soft_bce", "focal")


def resolve(config: dict, name: str, source: str = "config") -> dict:
    """The full spec of variant `name`: every training setting, with `name` filled in."""
    variants = config.get("variants", {})
    if name not in variants:
        raise InputError(
            source, f"unknown variant '{name}'", f"use one of {sorted(variants)}", key="variants"
        )
    spec = {"two_stage": False, **config.get("train", {}), **variants[name], "name": name}
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
