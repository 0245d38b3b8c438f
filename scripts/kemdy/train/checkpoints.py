"""Resumable training: seeds and RNG states, the checkpoint files and their fingerprint.

A checkpoint carries a fingerprint of everything that decides the run (spec, fold, data
files, encoders, world size); one written under anything else, or cut short, is reported
and ignored, so a rerun either resumes exactly or starts afresh.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np
import torch

from kemdy.atomic import atomic_output
from kemdy.train.distributed import log


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def file_hash(*paths) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def save_checkpoint(obj: dict, path) -> None:
    """torch.save to a temporary file, fsync, then rename: a kill never leaves half a file."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())


def load_checkpoint(path, fp: str) -> dict | None:
    """The checkpoint at `path` if it is readable and carries fingerprint `fp`, else None."""
    if not os.path.exists(path):
        return None
    try:
        # Our own file (RNG states hold numpy arrays): the full unpickler is needed.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        log(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); ignoring it")
        return None
    if not isinstance(ckpt, dict) or ckpt.get("fingerprint") != fp:
        log(f"checkpoint {path} belongs to another spec, data or fold; ignoring it")
        return None
    return ckpt


def clear_partial_writes(folder) -> None:
    """Temporary files of a checkpoint write cut short by a kill."""
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith((".last.pt.", ".best.pt.")) and name.endswith(".tmp"):
                os.remove(os.path.join(folder, name))


def resume(model, optimizer, scheduler, folder, fp: str, dist) -> tuple[dict | None, dict | None]:
    """Load the last checkpoint of this run into model, optimizer and scheduler, with the
    RNG states; returns (its training state, the best weights), or (None, None) to start."""
    last_path, best_path = os.path.join(folder, "last.pt"), os.path.join(folder, "best.pt")
    ckpt = load_checkpoint(last_path, fp)
    best_state = None
    if ckpt is not None and ckpt["best_epoch"]:
        best = load_checkpoint(best_path, fp)
        if best is None or best["epoch"] != ckpt["best_epoch"]:
            log(f"{best_path} does not match {last_path}; training from scratch", dist)
            return None, None
        best_state = best["model"]
    if ckpt is None:
        return None, None
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    set_rng_state(ckpt["rng"])
    log(f"resuming after epoch {ckpt['epoch']} from {last_path}", dist)
    return ckpt, best_state


def save_epoch(folder, fp: str, state: dict, model, optimizer, scheduler, best_state,
               improved: bool) -> None:
    """best.pt first: a kill between the two writes is caught on resume."""
    if improved:
        save_checkpoint({"fingerprint": fp, "epoch": state["epoch"], "model": best_state},
                        os.path.join(folder, "best.pt"))
    save_checkpoint({"fingerprint": fp, **state, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "rng": rng_state()}, os.path.join(folder, "last.pt"))
