"""The optimiser: AdamW over every trainable parameter, one group per learning rate.

With lr_encoders set, the trained encoders' pre-trained weights (model.text_encoder,
model.audio_encoder) learn at lr_encoders and everything else at lr: the head, the
valence/arousal output, the layer weights, any module EmotionModel gains later (a fusion
layer), and every encoder weight the checkpoint lacked, which the loader initialised
(`new_parameters`, kemdy.train.encoders): klue/roberta-* are masked-LM checkpoints without
pooler weights, and a fresh pooler at an encoder's 1e-5 would hardly train. The `lr` group is built as
the complement of the encoders' parameters, never from a list of module names, so a new
module cannot be left out of the optimiser: TMN (1pha/MulitmodalERC-TensorMixerNetwork)
listed its groups by name and its projection layers never trained. check_partition says
so, naming the parameters, if a grouping ever misses one or holds one twice.

Without lr_encoders (the default) there is one group, built as before, so a run's bytes
are unchanged. Weight decay is the same for every parameter, biases and LayerNorm included,
as before. The cosine schedule (kemdy.train.loop.cosine_with_warmup) scales every group's
rate by the same factor, and a checkpoint holds every group (kemdy.train.checkpoints).
"""

from __future__ import annotations

from collections import Counter

import torch

ENCODER_MODULES = ("text_encoder", "audio_encoder")


def trainable(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, parameter) of every parameter that requires a gradient, in model order."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def param_groups(model: torch.nn.Module, spec: dict) -> list[dict]:
    """AdamW's parameter groups for a spec: [all] at lr, or [encoders at lr_encoders, the
    rest at lr] (a group left empty, e.g. a frozen encoder's, is dropped)."""
    params, lr = trainable(model), float(spec["lr"])
    if spec.get("lr_encoders") is None:
        groups = [{"params": [p for _, p in params], "lr": lr}]
    else:
        encoder = {id(p) for p in pretrained(model).values()}
        groups = [{"params": [p for _, p in params if id(p) in encoder],
                   "lr": float(spec["lr_encoders"])},
                  {"params": [p for _, p in params if id(p) not in encoder], "lr": lr}]
        groups = [g for g in groups if g["params"]]
    check_partition(model, groups)
    return groups


def new_encoder_parameters(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """{model name: parameter} of the encoder weights the loader initialised (the checkpoint
    lacked them)."""
    out = {}
    for name in ENCODER_MODULES:
        encoder = getattr(model, name, None)
        if encoder is not None:
            own = dict(encoder.named_parameters())
            out.update({f"{name}.{n}": own[n] for n in getattr(encoder, "new_parameters", ())
                        if n in own})
    return out


def pretrained(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """{model name: parameter} of the encoders' pre-trained weights (lr_encoders' group)."""
    new = {id(p) for p in new_encoder_parameters(model).values()}
    return {f"{name}.{n}": p for name in ENCODER_MODULES
            if getattr(model, name, None) is not None
            for n, p in getattr(model, name).named_parameters() if id(p) not in new}


def describe(model: torch.nn.Module, groups: list[dict]) -> list[str]:
    """One log line per optimiser group (rate, parameter count, what it holds), and where
    the encoders' newly initialised weights went."""
    names = {id(p): n for n, p in model.named_parameters()}
    encoder = {id(p) for p in pretrained(model).values()}
    lines = []
    for i, g in enumerate(groups):
        held = sum(p.numel() for p in g["params"])
        what = ("pre-trained encoder weights" if all(id(p) in encoder for p in g["params"])
                else "head, fusion and new weights" if len(groups) > 1 else "every parameter")
        lines.append(f"optimiser group {i}: lr {g['lr']:g}, {held:,} parameters "
                     f"({len(g['params'])} tensors): {what}")
    group_of = {id(p): i for i, g in enumerate(groups) for p in g["params"]}
    for name, p in new_encoder_parameters(model).items():
        where = (f"group {group_of[id(p)]} (lr {groups[group_of[id(p)]]['lr']:g})"
                 if id(p) in group_of else "no group (frozen)")
        lines.append(f"optimiser: new (initialised) weight {names.get(id(p), name)} -> {where}")
    return lines


def check_partition(model: torch.nn.Module, groups: list[dict]) -> None:
    """Every trainable parameter of the model in exactly one group, and nothing else in any;
    else a RuntimeError naming the parameters (a bug, not a user's error)."""
    wanted = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    seen = Counter(id(p) for g in groups for p in g["params"])
    problems = {
        "in no optimiser group": [n for i, n in wanted.items() if i not in seen],
        "in several groups": [wanted.get(i, "?") for i, k in seen.items() if k > 1],
        "frozen or not the model's, yet in a group": [str(i) for i in seen if i not in wanted],
    }
    found = [f"{what} ({len(names)}): {', '.join(names[:8])}{' ...' * (len(names) > 8)}"
             for what, names in problems.items() if names]
    if found:
        raise RuntimeError("optimiser groups do not cover the trainable parameters once each: "
                           + "; ".join(found))


def make_optimizer(model: torch.nn.Module, spec: dict, report=None) -> torch.optim.AdamW:
    """AdamW over param_groups; `report(line)` is given describe()'s lines (the job's log)."""
    groups = param_groups(model, spec)
    for line in describe(model, groups) if report is not None else ():
        report(line)
    return torch.optim.AdamW(groups, lr=float(spec["lr"]),
                             weight_decay=float(spec["weight_decay"]))
