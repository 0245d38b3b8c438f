"""A run's exported model, results/models/{variant}/fold{k}[/stage{s}]/: what training
changed (the trainable weights of the best validation epoch, as safetensors) and what is
needed to rebuild the rest (model.json: the spec, the classes, the encoders, the model's
shape). An encoder is not copied (a trained one's weights are, with the head's): predict
loads it again, from the absolute folder or the hub name model.json records, so it works
from any directory, and checks its fingerprint, so another encoder at that place is refused.
This module writes it and reads it back (scripts/predict.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kemdy.atomic import atomic_dir
from kemdy.errors import InputError
from kemdy.spec import ENCODERS, encoders
from kemdy.tables import read_json

WEIGHTS, CARD = "model.safetensors", "model.json"
FORMAT = 2  # 2: encoders as {name, path, fingerprint}
KEYS = ("variant", "fold", "stage", "spec", "classes", "shape", "encoders")  # what predict reads


def write_export(folder, weights: dict[str, torch.Tensor], card: dict) -> None:
    """model.safetensors + model.json, appearing together or not at all."""
    with atomic_dir(folder) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()},
                  str(Path(tmp) / WEIGHTS))
        (Path(tmp) / CARD).write_text(json.dumps({"format": FORMAT, **card}, indent=2,
                                                 sort_keys=True) + "\n", encoding="utf-8")


def encoder_entry(given: str, fingerprint: str) -> dict:
    """How model.json names an encoder: as given (a hub name or a folder), the folder made
    absolute against the training job's directory (None for a hub name: the Hugging Face
    cache holds it), and the fingerprint of what was loaded."""
    path = os.path.abspath(given) if os.path.isdir(given) else None
    return {"name": given, "path": path, "fingerprint": fingerprint}


def card(metrics: dict, spec: dict, task, args, shape: dict, fingerprints: dict) -> dict:
    """model.json of a training job: what predict needs to rebuild the model around the
    exported weights. `fingerprints`: the encoders' (kemdy/train/inputs.py)."""
    return {"variant": metrics["variant"], "fold": metrics["fold"], "stage": task.stage,
            "spec": spec, "classes": task.classes, "shape": shape,
            "encoders": {m: encoder_entry(getattr(args, f"{m}_encoder"), fingerprints[m])
                         if m in encoders(spec) else None for m in ENCODERS},
            "best_epoch": metrics["best_epoch"],
            "layer_weights": metrics.get("layer_weights")}


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


def read_weights(folder) -> dict[str, torch.Tensor]:
    """model.safetensors; a truncated or damaged file is the project's error, not a
    traceback."""
    path = Path(folder) / WEIGHTS
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise InputError(path, f"unreadable, truncated or damaged ({err})",
                         rerun_fix(folder)) from None
