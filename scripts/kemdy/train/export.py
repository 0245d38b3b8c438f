"""A run's exported model, results/models/{variant}/fold{k}[/stage{s}]/: what training
changed (the trainable weights of the best validation epoch, as safetensors) and what is
needed to rebuild the rest (model.json: the spec, the classes, the encoders' names, the
model's shape). A frozen encoder is not copied: it is loaded again from its own name.
This module writes it and reads it back (scripts/predict.py)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from kemdy.atomic import atomic_dir
from kemdy.errors import InputError
from kemdy.spec import ENCODERS, encoders
from kemdy.tables import read_json

WEIGHTS, CARD = "model.safetensors", "model.json"
FORMAT = 1


def write_export(folder, weights: dict[str, torch.Tensor], card: dict) -> None:
    """model.safetensors + model.json, appearing together or not at all."""
    with atomic_dir(folder) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()},
                  str(Path(tmp) / WEIGHTS))
        (Path(tmp) / CARD).write_text(json.dumps({"format": FORMAT, **card}, indent=2,
                                                 sort_keys=True) + "\n", encoding="utf-8")


def card(metrics: dict, spec: dict, task, args, shape: dict) -> dict:
    """model.json of a training job: what predict needs to rebuild the model around the
    exported weights."""
    return {"variant": metrics["variant"], "fold": metrics["fold"], "stage": task.stage,
            "spec": spec, "classes": task.classes, "shape": shape,
            "encoders": {m: getattr(args, f"{m}_encoder") if m in encoders(spec) else None
                         for m in ENCODERS},
            "best_epoch": metrics["best_epoch"],
            "layer_weights": metrics.get("layer_weights")}


def read_card(folder) -> dict:
    """model.json of an exported model, with a clear error for anything else."""
    folder = Path(folder)
    fix = ("pass a folder the workflow wrote under results/models/<variant>/fold<k> (or its "
           "stage1/stage2 for a two-stage variant)")
    if not (folder / CARD).is_file() or not (folder / WEIGHTS).is_file():
        raise InputError(folder, f"not an exported model (no {CARD} and {WEIGHTS})", fix)
    card = read_json(folder / CARD, fix)
    found = card.get("format") if isinstance(card, dict) else None
    if found != FORMAT:
        raise InputError(folder / CARD, f"export format {found!r}, expected {FORMAT}",
                         "re-run the training step with this version of the workflow")
    return card


def read_weights(folder) -> dict[str, torch.Tensor]:
    return load_file(str(Path(folder) / WEIGHTS))
