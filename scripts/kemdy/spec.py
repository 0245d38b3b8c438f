"""Variants are data: one training spec per variant, resolved once, from the config.

A variant's spec is DEFAULTS (the original project's settings) <- the config's `train:` <-
the variant's own keys, checked across keys (`resolve`). The workflow resolves every
variant when it builds the DAG and hands each job its spec as JSON; train.py only fixes
the job's stage (`for_stage`). LOSSES and MODALITIES are the lists the config schema's
enums must equal (tests/test_spec.py). This module also owns results/config.json, the
effective config the report shows.
"""

from __future__ import annotations

import hashlib
import json

from kemdy.atomic import write_json
from kemdy.errors import InputError

MODALITIES = ("text", "audio", "text+audio")
LOSSES = ("ce", "soft_bce", "focal")

# The original project's settings (original-method.md section 3), plus the options it did
# not have, off by default.
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
REQUIRED = ("modality", "loss")


def resolve(config: dict, name: str, source: str = "config") -> dict:
    """The full, checked spec of variant `name`, with `name` filled in."""
    variants = config.get("variants", {})
    if name not in variants:
        raise InputError(
            source, f"unknown variant '{name}'", f"use one of {sorted(variants)}", key="variants"
        )
    spec = {**DEFAULTS, **config.get("train", {}), **variants[name], "name": name}
    return check(spec, source, prefix=f"variants.{name}.")


def check(spec: dict, source: str = "--spec", prefix: str = "") -> dict:
    """Cross-key checks of a complete spec (the schema checks each key alone)."""
    missing = [k for k in (*REQUIRED, *DEFAULTS) if k not in spec]
    if missing:
        raise InputError(source, f"the spec lacks {missing}",
                         "pass a spec resolved by kemdy.spec.resolve (the workflow does)")
    if spec["modality"] not in MODALITIES:
        raise InputError(source, f"modality {spec['modality']!r}", f"use one of {MODALITIES}",
                         key=f"{prefix}modality")
    if spec["loss"] not in LOSSES:
        raise InputError(source, f"loss {spec['loss']!r}", f"use one of {LOSSES}",
                         key=f"{prefix}loss")
    if int(spec["epochs"]) < 1:
        raise InputError(source, "epochs must be at least 1", "set epochs: 1 or more",
                         key=f"{prefix}epochs")
    warmup = int(spec["text_warmup_epochs"])
    if warmup and spec["modality"] != "text+audio":
        raise InputError(source, f"text_warmup_epochs {warmup} for a {spec['modality']} model",
                         "use it with modality text+audio only", key=f"{prefix}text_warmup_epochs")
    if warmup >= int(spec["epochs"]):
        raise InputError(source, f"text_warmup_epochs {warmup} leaves no fused epoch of "
                         f"{spec['epochs']}", "make it smaller than epochs",
                         key=f"{prefix}text_warmup_epochs")
    return spec


def for_stage(spec: dict, stage: int | None = None, max_epochs: int | None = None,
              source: str = "--spec") -> dict:
    """The spec of one training job: its stage set, its epochs capped at max_epochs."""
    spec = check(dict(spec), source)
    if spec["two_stage"] and stage is None:
        raise InputError(source, "a two-stage variant trains one stage per run",
                         "pass --stage 1 or --stage 2", key="two_stage")
    if stage is not None and not spec["two_stage"]:
        raise InputError(source, f"--stage {stage} given for a one-stage variant",
                         "drop --stage or set two_stage: true", key="two_stage")
    if max_epochs is not None:
        spec["epochs"] = min(int(spec["epochs"]), max_epochs)
        check(spec, source)
    spec["stage"] = stage
    return spec


def fingerprint(obj) -> str:
    """Short stable hash of a JSON-able object (checkpoint and cache keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- results/config.json


def write_config(path, config: dict) -> None:
    write_json(path, json.loads(json.dumps(config, sort_keys=True)))


def read_config(path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise InputError(path, "not found", "the workflow writes it before the report") from None
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err})", "re-run snapshot_config") from None
