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
from kemdy.fusion_spec import (DEFAULT_SIZES, FUSIONS, HEAD_KEYS, SIZE_KEYS,
                                     needs_sequences, size_problem)
from kemdy.fusion_spec import options as fusion_options
from kemdy.tables import read_json

MODALITIES = ("text", "audio", "text+audio")
ENCODERS = ("text", "audio")
LOSSES = ("ce", "soft_bce", "focal", "soft_focal")
AUDIO_CROPS = ("start", "random", "centre")
AUDIO_EVALS = ("crop", "windows")
AUDIO_LAYERS = ("last", "weighted")
# Optimiser groups and targets (TMN's recipe): the losses that train on the soft targets
# (the only ones a sharpening can change), the sharpenings and the valence/arousal losses.
SOFT_LOSSES = ("soft_bce", "soft_focal")
SHARPENINGS = ("none", "peakl")
VA_LOSSES = ("ccc", "mse")
# Post-hoc calibration of the class probabilities (kemdy/train/calibration.py).
CALIBRATIONS = ("none", "temperature")

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
    # Beyond the original (all off by default):
    "accumulate": 1,  # micro-batches per batch: the same effective batch in less memory
    "gradient_checkpointing": False,  # recompute the encoders' activations: less memory
    "audio_crop": "start",  # where training cuts a clip longer than audio_seconds
    "audio_eval": "crop",  # scoring: the same cut (random -> centre) | windows (whole clip)
    "max_batch_seconds": None,  # cap on the audio seconds a batch's encoder processes
    "audio_layers": "last",  # last | weighted: a learnt softmax-weighted sum of every layer
    "va_weight": 0.0,  # > 0: also predict valence and arousal (a CCC loss of this weight)
    # Optimiser groups and targets (TMN's recipe; all off by default):
    "lr_encoders": None,  # the trained encoders' rate (None: lr, one group as before)
    "target_sharpening": "none",  # none | peakl: sharpen the soft training targets
    "va_loss": "ccc",  # ccc | mse: the valence/arousal loss (va_weight > 0)
    # Dialogue context (kemdy/train/context.py): the text encoder also reads the transcripts
    # of this many previous turns of the segment's dialogue (0: the segment's own only).
    "context_turns": 0,
    # none | temperature: one temperature per training job, fitted on its validation rows
    # after training (the weights and predictions are unchanged; the probabilities are not)
    "calibrate": "none",
    # Fusion of text+audio (kemdy/train/fusion.py): concat (the original) | tensor_mixer |
    # cross_attention | co_attention | gated | gmu, their sizes, and the head (mlp: the original).
    "fusion": "concat",
    **DEFAULT_SIZES,
}
# A training job's identity (its Snakemake params) is its spec. These are the keys every job
# carried when that rule was made; a key added to DEFAULTS since joins a job's identity only
# once set off its default (`identity`), so an upgrade that adds a key reruns no finished
# job: on a real grid, GPU-hours for the same numbers.
IDENTITY_KEYS = frozenset({
    "two_stage", "seed", "epochs", "patience", "lr", "batch_size", "max_len", "audio_seconds",
    "weight_decay", "warmup_ratio", "grad_clip", "dropout", "text_warmup_epochs",
    "text_pooling", "freeze_text", "freeze_audio", "freeze_feature_encoder", "focal_gamma",
    "neutral_threshold", "gpus", "accumulate", "gradient_checkpointing", "audio_crop",
    "audio_eval", "max_batch_seconds", "audio_layers", "va_weight", "lr_encoders",
    "target_sharpening", "va_loss", "context_turns", "fusion", "mixer_projection",
    "mixer_patch", "mixer_depth", "mixer_width", "attention_dim", "attention_heads",
    "attention_layers",
})
REQUIRED = ("modality", "loss")
# Keys without a default: absent, a variant's jobs load encoders.text / encoders.audio. Not in
# DEFAULTS, so that a spec (a training job's parameter) changes only where they are set.
OPTIONAL = ("text_encoder", "audio_encoder")
# Research protocol (seeds, sweeps; kemdy/protocol.py): how a variant fans out into jobs, not
# what one job trains, so never part of a job's spec (a plain variant's jobs keep their bytes).
PROTOCOL_KEYS = ("seeds", "sweep")
# Not hyper-parameters: what a variant is (modality, stages, encoders), the protocol itself,
# and how a job runs (gpus: a resource, the same for every candidate).
STRUCTURAL = ("modality", "two_stage", "name", "seed", "gpus", "text_encoder", "audio_encoder",
              *PROTOCOL_KEYS)
SWEEPABLE = tuple(k for k in ("loss", *DEFAULTS) if k not in STRUCTURAL)  # a sweep may vary


def encoders(spec: dict) -> list[str]:
    """The encoders a spec's modality uses, text first: a job loads, waits for and is
    parameterised by these only."""
    return [m for m in ENCODERS if m in spec["modality"]]


def encoder_of(config: dict, spec: dict, modality: str, variant: str | None = None
               ) -> tuple[str, str]:
    """(name, config key) of the `modality` encoder a variant's jobs load: its own
    `text_encoder` / `audio_encoder`, else `encoders.text` / `encoders.audio`. One grid can
    so compare encoder families (and the pre-run check names the key that chose each)."""
    own = spec.get(f"{modality}_encoder")
    if own:
        return own, f"variants.{variant or spec.get('name', '?')}.{modality}_encoder"
    return config["encoders"][modality], f"encoders.{modality}"


def resolve(config: dict, name: str, source: str = "config") -> dict:
    """The full, checked spec of variant `name`, with `name` filled in."""
    variants = config.get("variants", {})
    if name not in variants:
        raise InputError(
            source, f"unknown variant '{name}'", f"use one of {sorted(variants)}", key="variants"
        )
    spec = {**DEFAULTS, **config.get("train", {}), **variants[name], "name": name}
    spec = {k: v for k, v in spec.items() if k not in PROTOCOL_KEYS}
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
    check_fusion(spec, source, prefix)
    if spec["freeze_audio"] and spec["audio_crop"] == "random" and "audio" in spec["modality"] \
            and not needs_sequences(spec):  # a sequence fusion runs a frozen encoder live
        raise InputError(source, "audio_crop random with freeze_audio: a frozen encoder's "
                         "vectors are computed once, but a random cut changes every epoch",
                         "use audio_crop start or centre, or let the audio encoder train",
                         key=f"{prefix}audio_crop")
    if spec["audio_layers"] != "last" and "audio" not in spec["modality"]:
        raise InputError(source, f"audio_layers {spec['audio_layers']} for a "
                         f"{spec['modality']} model", "use it with an audio modality",
                         key=f"{prefix}audio_layers")
    turns = int(spec["context_turns"])
    if turns < 0:
        raise InputError(source, f"context_turns {turns}", "use 0 (no context) or more",
                         key=f"{prefix}context_turns")
    if turns and "text" not in spec["modality"]:
        raise InputError(source, f"context_turns {turns} for a {spec['modality']} model: "
                         "context is the previous turns' transcripts, read by the text encoder",
                         "set context_turns: 0, or use modality text or text+audio",
                         key=f"{prefix}context_turns")
    if int(spec["accumulate"]) > int(spec["batch_size"]):
        raise InputError(source, f"accumulate {spec['accumulate']} is more than batch_size "
                         f"{spec['batch_size']}", "use at most one micro-batch per item",
                         key=f"{prefix}accumulate")
    check_optim_targets(spec, source, prefix)
    check_calibrate(spec, source, prefix)
    return spec


def check_calibrate(spec: dict, source: str, prefix: str) -> None:
    """calibrate: temperature fits one temperature per model; a two-stage variant's
    combined probabilities come from two models and a threshold, so it is refused there."""
    if spec["calibrate"] not in CALIBRATIONS:
        raise InputError(source, f"calibrate {spec['calibrate']!r}", f"use one of "
                         f"{CALIBRATIONS}", key=f"{prefix}calibrate")
    if spec["calibrate"] != "none" and spec["two_stage"]:
        raise InputError(source, f"calibrate {spec['calibrate']} with two_stage true: a "
                         "two-stage prediction combines two models' probabilities through "
                         "neutral_threshold, which one temperature per stage would move",
                         "set calibrate: none for this variant, or two_stage: false",
                         key=f"{prefix}calibrate")


def check_optim_targets(spec: dict, source: str, prefix: str) -> None:
    """lr_encoders, target_sharpening and va_loss are refused where they would change
    nothing (a typo'd variant then fails before any job instead of repeating another)."""
    frozen = all(spec[f"freeze_{m}"] for m in encoders(spec))
    if spec["lr_encoders"] is not None and frozen:
        keys = " and ".join(f"freeze_{m}" for m in encoders(spec))
        raise InputError(source, f"lr_encoders {spec['lr_encoders']} with {keys} true: no "
                         "encoder trains", "drop lr_encoders, or let an encoder train",
                         key=f"{prefix}lr_encoders")
    if spec["target_sharpening"] not in SHARPENINGS:
        raise InputError(source, f"target_sharpening {spec['target_sharpening']!r}",
                         f"use one of {SHARPENINGS}", key=f"{prefix}target_sharpening")
    if spec["target_sharpening"] != "none" and spec["loss"] not in SOFT_LOSSES:
        raise InputError(source, f"target_sharpening {spec['target_sharpening']} with loss "
                         f"{spec['loss']}: that loss trains on the hard label, not the soft "
                         "targets", f"use a loss of {SOFT_LOSSES}, or target_sharpening: none",
                         key=f"{prefix}target_sharpening")
    if spec["va_loss"] not in VA_LOSSES:
        raise InputError(source, f"va_loss {spec['va_loss']!r}", f"use one of {VA_LOSSES}",
                         key=f"{prefix}va_loss")
    if spec["va_loss"] != "ccc" and not float(spec["va_weight"]):
        raise InputError(source, f"va_loss {spec['va_loss']} with va_weight 0: the model "
                         "predicts no valence or arousal", "set va_weight > 0, or drop va_loss",
                         key=f"{prefix}va_loss")


def unread_keys(spec: dict) -> dict[str, str]:
    """{key: why} of the training keys that this spec's model never reads, so that a value
    of theirs changes nothing (a sweep over one would train the same model twice)."""
    modality, loss = spec["modality"], spec["loss"]
    trained = [m for m in encoders(spec) if not spec[f"freeze_{m}"]]
    out = {}
    if loss not in ("focal", "soft_focal"):
        out["focal_gamma"] = f"loss {loss} has no focusing term"
    if not spec["two_stage"]:
        out["neutral_threshold"] = "a one-stage variant has no stage-1 threshold"
    fusion = spec.get("fusion", "concat")
    read = SIZE_KEYS.get(fusion, ())
    out.update({k: f"fusion {fusion} has no such size" for keys in SIZE_KEYS.values()
                for k in keys if k not in read})
    head = spec.get("head", "mlp")
    out.update({k: f"head {head} has no such size" for keys in HEAD_KEYS.values()
                for k in keys if k not in HEAD_KEYS.get(head, ())})
    if "text" not in modality:
        for key in ("max_len", "freeze_text", "text_pooling", "context_turns"):
            out[key] = f"a {modality} model has no text"
    elif needs_sequences(spec):
        out["text_pooling"] = f"fusion {fusion} reads the token states, not a pooled vector"
    if "audio" not in modality:
        for key in ("audio_seconds", "audio_crop", "audio_eval", "max_batch_seconds",
                    "freeze_audio", "freeze_feature_encoder", "audio_layers"):
            out[key] = f"a {modality} model has no audio"
    elif spec["freeze_audio"]:
        out["freeze_feature_encoder"] = "the whole audio encoder is frozen"
    if modality != "text+audio":
        out["text_warmup_epochs"] = out["fusion"] = f"a {modality} model fuses nothing"
    if not trained:
        out["lr_encoders"] = out["gradient_checkpointing"] = "no encoder trains"
    if loss not in SOFT_LOSSES:
        out["target_sharpening"] = f"loss {loss} trains on the hard label"
    if not float(spec["va_weight"]):
        out["va_loss"] = "va_weight 0: no valence/arousal output"
    # fitted after training: the same weights, predictions and validation macro-F1
    out["calibrate"] = "a temperature is fitted after training and changes no prediction"
    return out


def check_fusion(spec: dict, source: str, prefix: str) -> None:
    """A fusion other than concat needs both modalities, and sizes that fit together."""
    opts = fusion_options(spec)
    if opts["fusion"] not in FUSIONS:
        raise InputError(source, f"fusion {opts['fusion']!r}", f"use one of {FUSIONS}",
                         key=f"{prefix}fusion")
    if opts["fusion"] != "concat" and spec["modality"] != "text+audio":
        raise InputError(source, f"fusion {opts['fusion']} for a {spec['modality']} model: "
                         "there is nothing to fuse", "use fusion: concat, or modality "
                         "text+audio", key=f"{prefix}fusion")
    problem = size_problem(opts)
    if problem:
        raise InputError(source, problem[1], problem[2], key=f"{prefix}{problem[0]}")
    if opts["fusion"] == "tensor_mixer" and int(spec["text_warmup_epochs"]):
        # The outer product of the text with a muted (zero) audio vector is only the audio
        # projection's bias times the text: on the demo, validation macro-F1 stayed at the
        # majority class's through all 8 warm-up epochs, which trained nothing.
        raise InputError(source, "text_warmup_epochs with fusion tensor_mixer: muting the "
                         "audio leaves the outer product with almost nothing of the text, so "
                         "the warm-up epochs train nothing", "set text_warmup_epochs: 0 for "
                         "this variant, or use another fusion", key=f"{prefix}text_warmup_epochs")


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


def job_spec(spec_json: str | None, config_path: str | None, variant: str,
             stage: int | None = None, max_epochs: int | None = None) -> dict:
    """A training job's spec: the resolved JSON the workflow passes, or resolved here from a
    config file (by hand); then its stage and epoch cap."""
    if spec_json is not None:
        try:
            spec, source = json.loads(spec_json), "--spec"
        except json.JSONDecodeError as err:
            raise InputError("--spec", f"not valid JSON ({err})",
                             "pass the resolved spec as JSON") from None
        if isinstance(spec, dict):  # the workflow passes the job's identity: keys at default left out
            spec = {**{k: v for k, v in DEFAULTS.items() if k not in IDENTITY_KEYS}, **spec}
            spec.pop(REVISION_KEY, None)  # part of the job's identity, not of what it trains
    else:
        import yaml

        with open(config_path, encoding="utf-8") as handle:
            spec, source = resolve(yaml.safe_load(handle), variant, config_path), config_path
    spec.setdefault("name", variant)
    return for_stage(spec, stage, max_epochs, source)


# What training does differently, for the same spec, since IDENTITY_KEYS was set: a job
# whose spec sets the key reruns once (identity names the change). lr_encoders: the weights a
# checkpoint lacks (klue/roberta's pooler) learn at lr, not at the encoders' rate;
# max_batch_seconds: a batch counts what the encoder processes (a Whisper clip: 30 s).
REVISIONS = {"lr_encoders": "new weights at lr", "max_batch_seconds": "encoder seconds"}
REVISION_KEY = "revised"


def identity(spec: dict) -> dict:
    """A job's spec as its identity: a key added since IDENTITY_KEYS is left out while it
    holds its default (train.py fills it back in, `job_spec`). The options of the fusion and
    the head a spec uses stay in: `cross_attention` became MulT's transformer when its
    options were added, so a job trained as the former co-attention must not pass for it.
    REVISIONS that apply are named, so that such a job is not taken for one trained before."""
    read = (*SIZE_KEYS.get(spec.get("fusion", "concat"), ()),
            *HEAD_KEYS.get(spec.get("head", "mlp"), ()))
    out = {k: v for k, v in spec.items() if k in IDENTITY_KEYS or k not in DEFAULTS
           or k in read or v != DEFAULTS[k]}
    revised = sorted(why for key, why in REVISIONS.items() if spec.get(key) is not None)
    return {**out, REVISION_KEY: revised} if revised else out


def fingerprint(obj) -> str:
    """Short stable hash of a JSON-able object (checkpoint and cache keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- results/config.json


def write_config(path, config: dict) -> None:
    write_json(path, json.loads(json.dumps(config, sort_keys=True)))


def read_config(path) -> dict:
    return read_json(path, "re-run snapshot_config (the workflow writes it before the report)")
