"""A run's exported model, results/models/{variant}/fold{k}[/stage{s}]/: what training
changed (the trainable weights of the best validation epoch, as safetensors) and what is
needed to rebuild the rest (model.json: the spec, the classes, the encoders, the model's
shape). An encoder is not copied (a trained one's weights are, with the head's): predict
loads it again, from the absolute folder or the hub name model.json records, so it works
from any directory, and checks its fingerprint, so another encoder at that place is refused.
model.safetensors' metadata holds a digest of what in model.json rebuilds the model (the
spec above all), so a model.json edited after export is refused, not silently believed.
This module writes it and reads it back (scripts/predict.py)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from kemdy.atomic import atomic_dir
from kemdy.errors import InputError
from kemdy.spec import ENCODERS, encoders
from kemdy.tables import read_json

WEIGHTS, CARD = "model.safetensors", "model.json"
FORMAT = 2  # 2: encoders as {name, path, fingerprint}
KEYS = ("variant", "fold", "stage", "spec", "classes", "shape", "encoders")  # what predict reads
DIGEST = "card_digest"  # model.safetensors' metadata key


def card_digest(card: dict) -> str:
    """sha256 of what in model.json decides the model predict rebuilds: the spec, stage,
    classes, shape, variant, `varies`, a calibrated model's temperature (its probabilities)
    and the encoders' fingerprints (not their name or path: where an encoder is found may
    change, --text-encoder/--audio-encoder; nor the informative best_epoch and
    layer_weights). JSON-normalised, so the card as written and as read back give the same
    digest; a card without a temperature gives the digest it gave before there was one."""
    signed = {k: card.get(k) for k in ("variant", "stage", "spec", "classes", "shape")}
    if card.get("temperature") is not None:  # calibrate: temperature; older cards have none
        signed["temperature"] = card["temperature"]
    signed["varies"] = sorted(card.get("varies") or [])
    signed["encoders"] = {m: e and e.get("fingerprint") for m, e in
                          (card.get("encoders") or {}).items()}
    text = json.dumps(json.loads(json.dumps(signed)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_export(folder, weights: dict[str, torch.Tensor], card: dict) -> None:
    """model.safetensors (with the card's digest) + model.json, appearing together or not
    at all."""
    with atomic_dir(folder) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()},
                  str(Path(tmp) / WEIGHTS), metadata={DIGEST: card_digest(card)})
        (Path(tmp) / CARD).write_text(json.dumps({"format": FORMAT, **card}, indent=2,
                                                 sort_keys=True) + "\n", encoding="utf-8")


def encoder_entry(given: str, fingerprint: str) -> dict:
    """How model.json names an encoder: as given (a hub name or a folder), the folder made
    absolute against the training job's directory (None for a hub name: the Hugging Face
    cache holds it), and the fingerprint of what was loaded."""
    path = os.path.abspath(given) if os.path.isdir(given) else None
    return {"name": given, "path": path, "fingerprint": fingerprint}


def check_varies(varies, spec: dict) -> list[str]:
    """train.py --varies, checked before training: spec keys (the workflow passes seed and a
    sweep's keys), each once."""
    unknown = [k for k in varies if k not in spec]
    if unknown:
        raise InputError("--varies", f"{', '.join(unknown)}: not a spec key", "give the keys "
                         "the variant's models may differ in: seed (several seeds) and the "
                         "sweep's keys (e.g. lr)")
    return list(dict.fromkeys(varies))


def card(metrics: dict, spec: dict, task, args, shape: dict, fingerprints: dict) -> dict:
    """model.json of a training job: what predict needs to rebuild the model around the
    exported weights. `fingerprints`: the encoders' (kemdy/train/inputs.py). `varies`: the
    spec keys in which the variant's exported models legitimately differ (its seeds, its
    sweep's choices per fold), so predict averages them without being told. `temperature`
    (calibrate: temperature only): predict's probabilities are softmax(log p / T).
    `trained_on`: the sessions its weights were trained or selected on (informative, like
    best_epoch: --init-from refuses a job that would test on one of them)."""
    return {"variant": metrics["variant"], "fold": metrics["fold"], "stage": task.stage,
            "spec": spec, "classes": task.classes, "shape": shape,
            "varies": list(getattr(args, "varies", None) or []),
            "encoders": {m: encoder_entry(getattr(args, f"{m}_encoder"), fingerprints[m])
                         if m in encoders(spec) else None for m in ENCODERS},
            "best_epoch": metrics["best_epoch"],
            "layer_weights": metrics.get("layer_weights"),
            "trained_on": seen_sessions(task, getattr(args, "init_from", None)),
            **({"temperature": metrics["temperature"]} if "temperature" in metrics else {})}


def seen_sessions(task, init_from) -> list[str] | None:
    """The sessions the exported weights were trained or selected on: this job's training
    and validation sessions and, with --init-from, those its starting model saw (None:
    unknown, the starting model.json predates trained_on)."""
    own = set(task.sessions("train", "val"))
    if not init_from:
        return sorted(own)
    before = read_card(init_from).get("trained_on")
    return None if before is None else sorted(own | set(before))


def rerun_fix(folder) -> str:
    return (f"re-run the training job that exports it, from the run directory: "
            f"snakemake --cores 2 -f {folder}")


def read_card(folder) -> dict:
    """model.json of an exported model, with a clear error for anything else."""
    folder = Path(folder)
    fix = ("pass a folder the workflow wrote, results/models/<variant>/fold<k> (a two-stage "
           "variant's too: the fold folder holds both stages)")
    if not (folder / CARD).is_file() or not (folder / WEIGHTS).is_file():
        raise InputError(folder, f"not an exported model (no {CARD} and {WEIGHTS})", fix)
    card = read_json(folder / CARD, fix)
    found = card.get("format") if isinstance(card, dict) else None
    if found != FORMAT:
        raise InputError(folder / CARD, f"export format {found!r}, expected {FORMAT}",
                         rerun_fix(folder) + " (this version of the workflow)")
    missing = [k for k in KEYS if k not in card]
    if missing:
        raise InputError(folder / CARD, f"missing {missing}", rerun_fix(folder))
    return card


def damaged(folder, err) -> InputError:
    return InputError(Path(folder) / WEIGHTS, f"unreadable, truncated or damaged ({err})",
                      rerun_fix(folder))


def check_digest(folder, card: dict) -> bool:
    """Whether model.json is the one exported with these weights: True when the digest in
    model.safetensors matches, False for an export older than the digest (nothing to check);
    an edited model.json is refused. Reads the file's header only (no tensors; safetensors
    holds data, never code)."""
    try:
        with safe_open(str(Path(folder) / WEIGHTS), framework="pt") as handle:
            recorded = (handle.metadata() or {}).get(DIGEST)
    except (SafetensorError, OSError) as err:
        raise damaged(folder, err) from None
    if recorded is None:
        return False
    if recorded != card_digest(card):
        raise InputError(Path(folder) / CARD, f"edited after export: it no longer matches the "
                         f"digest its {WEIGHTS} records (its spec, stage, classes, shape, "
                         "variant, varies, temperature or encoders changed), so the weights "
                         "would be read as another model",
                         "restore the model.json exported with these weights, or "
                         + rerun_fix(folder))
    return True


def read_weights(folder) -> dict[str, torch.Tensor]:
    """model.safetensors; a truncated or damaged file is the project's error, not a
    traceback."""
    try:
        return load_file(str(Path(folder) / WEIGHTS))
    except (SafetensorError, OSError) as err:
        raise damaged(folder, err) from None
