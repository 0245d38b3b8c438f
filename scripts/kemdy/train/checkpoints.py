"""Resumable training: seeds and RNG states, the checkpoint files and their fingerprint.

A checkpoint is a safetensors file: tensors plus JSON metadata, so reading one back runs no
code (nothing here is unpickled; a crafted file in a shared results/ is only data). It holds
what training changes and nothing else: the trainable weights (a frozen encoder or front
end is rebuilt from its own files), the optimiser's moments, the schedule and the RNG
states. train.py writes them at the end of an epoch at most every --checkpoint-minutes
(and whenever a stop is asked for): last.safetensors whole, best.safetensors only when the
best epoch has changed since; both go once the job has succeeded (the best model is
exported as the run's artefact first). A checkpoint carries a fingerprint of everything that decides the run
(spec, fold, data and audio contents, encoders, world size): one written under anything
else, or cut short, is reported and ignored, so a rerun either resumes exactly or starts
afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from kemdy.atomic import atomic_output
from kemdy.train.distributed import log

LAST, BEST = "last.safetensors", "best.safetensors"


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def file_hash(*paths) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights training changes: every parameter that requires a gradient."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def load_trainable(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    """Put trainable weights back; False (and nothing loaded) if they are another model's."""
    wanted = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(state) != set(wanted) or any(state[n].shape != p.shape for n, p in wanted.items()):
        return False
    model.load_state_dict(state, strict=False)
    return True


# ---------------------------------------------------------------- states as tensors + JSON


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors = {"rng.torch": torch.get_rng_state(),
               "rng.numpy": torch.from_numpy(keys.astype(np.int64))}
    if torch.cuda.is_available():
        tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    version, internal, python_gauss = random.getstate()
    meta = {"python": [version, list(internal), python_gauss],
            "numpy": [kind, pos, has_gauss, gauss]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict) -> None:
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss,
                         cached))
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")),
                                       key=lambda k: int(k.rsplit(".", 1)[1]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def optimizer_state(optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors = {f"optim.{i}.{k}": v for i, s in state["state"].items() for k, v in s.items()
               if torch.is_tensor(v)}
    return tensors, {"param_groups": state["param_groups"],
                     "scalars": {str(i): {k: v for k, v in s.items() if not torch.is_tensor(v)}
                                 for i, s in state["state"].items()}}


def load_optimizer(optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state = {int(i): dict(scalars) for i, scalars in meta["scalars"].items()}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


# ---------------------------------------------------------------- files


def write(path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """A safetensors file, written whole under a temporary name and renamed (no fsync: a file
    torn by a power cut fails to load and is ignored like any foreign one)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_output(path) as tmp:
        save_file(tensors, tmp, metadata={"kemdy": json.dumps(meta)})


def read(path, fp: str) -> tuple[dict, dict] | None:
    """(tensors, metadata) of a checkpoint with fingerprint `fp`, or None (reported) if the
    file is unreadable, not ours or another run's."""
    if not os.path.exists(path):
        return None
    try:
        with safe_open(path, framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})["kemdy"])
        tensors = load_file(path)
    except Exception as err:  # truncated, garbage, another format: never trusted
        log(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); ignoring it")
        return None
    if meta.get("fingerprint") != fp:
        log(f"checkpoint {path} belongs to another spec, data or fold; ignoring it")
        return None
    return tensors, meta


def clear_partial_writes(folder) -> None:
    """Temporary files of a checkpoint write cut short by a kill."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith((f".{LAST}.", f".{BEST}.")) and name.endswith(".tmp"):
                os.remove(os.path.join(folder, name))


def remove(folder) -> None:
    """The resume state of a job that has succeeded (its best model is exported), and the
    folders above it that this leaves empty (up to two: variant/fold of a stage)."""
    shutil.rmtree(folder, ignore_errors=True)
    parent = os.path.dirname(os.path.normpath(folder))
    for _ in range(2):
        try:
            os.rmdir(parent)  # only if empty: another job may still be using it
        except OSError:
            return
        parent = os.path.dirname(parent)


def save_epoch(folder, fp: str, state: dict, model, optimizer, scheduler, scaler,
               best_state: dict | None, write_best: bool) -> None:
    """best first: a kill between the two writes is caught on resume (epochs differ)."""
    if write_best:
        # the best epoch, not this one: with --checkpoint-minutes they may differ
        write(os.path.join(folder, BEST), best_state,
              {"fingerprint": fp, "epoch": state["best_epoch"]})
    optim_tensors, optim_meta = optimizer_state(optimizer)
    rng_tensors, rng_meta = rng_state()
    weights = {f"model.{k}": v for k, v in trainable_state(model).items()}
    write(os.path.join(folder, LAST), {**weights, **optim_tensors, **rng_tensors},
          {"fingerprint": fp, "state": state, "optimizer": optim_meta, "rng": rng_meta,
           "scheduler": scheduler.state_dict(),
           "scaler": scaler.state_dict() if scaler is not None else None})


class Saver:
    """Writes the resume state at the end of an epoch at most every `minutes` (0: every
    epoch), at once when a stop is asked for (`now`), and never after the last epoch (the job
    then exports its model and removes the state); the best weights only when they are not
    on disk yet. Rank 0 writes; under DDP rank 0's clock decides for every rank."""

    def __init__(self, folder, fp: str, parts: tuple, dist, minutes: float, epochs: int,
                 best_epoch: int):
        self.folder, self.fp, self.parts, self.dist = folder, fp, parts, dist
        self.minutes, self.epochs = float(minutes), int(epochs)
        self.at, self.best_epoch = time.monotonic(), best_epoch

    def __call__(self, state: dict, best_state: dict | None, now: bool = False) -> None:
        last = state["done"] or state["epoch"] >= self.epochs
        due = now or time.monotonic() - self.at >= 60 * self.minutes
        if self.dist.world > 1:
            due = self.dist.gather(due)[0]
        if not due or (last and not now):
            return
        if self.dist.main:
            save_epoch(self.folder, self.fp, state, *self.parts, best_state,
                       state["best_epoch"] != self.best_epoch)
        self.at, self.best_epoch = time.monotonic(), state["best_epoch"]
        self.dist.barrier()


def fresh_state() -> dict:
    return {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [],
            "done": False}


def resume(model, optimizer, scheduler, scaler, folder, fp: str, dist) -> tuple[dict, dict | None]:
    """Load this run's last checkpoint into model, optimiser, schedule, scaler and RNGs;
    returns (its training state, the best epoch's weights), or a fresh state to start."""
    if dist.main:
        clear_partial_writes(folder)
    state, best = _resume(model, optimizer, scheduler, scaler, folder, fp, dist)
    return (state, best) if state is not None else (fresh_state(), None)


def _resume(model, optimizer, scheduler, scaler, folder, fp, dist):
    last_path, best_path = os.path.join(folder, LAST), os.path.join(folder, BEST)
    found = read(last_path, fp)
    if found is None:
        return None, None
    tensors, meta = found
    best_state = None
    if meta["state"]["best_epoch"]:
        best = read(best_path, fp)
        if best is None or best[1]["epoch"] != meta["state"]["best_epoch"]:
            log(f"{best_path} does not match {last_path}; training from scratch", dist)
            return None, None
        best_state = best[0]
    saved = [len(g["params"]) for g in meta["optimizer"]["param_groups"]]
    if saved != [len(g["params"]) for g in optimizer.param_groups]:  # before any weight moves
        log(f"checkpoint {last_path} holds another grouping of the optimiser ({saved} "
            "parameters per group); training from scratch", dist)
        return None, None
    weights = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    if not load_trainable(model, weights):
        log(f"checkpoint {last_path} holds another model's weights; ignoring it", dist)
        return None, None
    load_optimizer(optimizer, tensors, meta["optimizer"])
    scheduler.load_state_dict(meta["scheduler"])
    if scaler is not None and meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    set_rng_state(tensors, meta["rng"])
    log(f"resuming after epoch {meta['state']['epoch']} from {last_path}", dist)
    return meta["state"], best_state
