"""Sequential training (transfer: trained on one release, then fine-tuned on the other):
train.py --init-from MODEL_DIR starts a job from an exported model's trainable weights
instead of a fresh head (and, for an encoder that trains, instead of its pre-trained
weights). Everything else starts afresh: the optimiser, the schedule, the epochs, early
stopping on this job's own validation sessions.

The model must be one this job would build: the same spec, classes, model shape and
encoders (by fingerprint), and its weights the model's trainable ones; anything else is
refused, naming what differs, before any epoch."""

from __future__ import annotations

import json
from pathlib import Path

from kemdy.errors import InputError
from kemdy.spec import encoders
from kemdy.train.checkpoints import load_trainable
from kemdy.train.distributed import log
from kemdy.train.export import WEIGHTS, check_digest, read_card, read_weights

FIX = ("start from a model of the same variant, trained on the same encoders (the "
       "workflow's transfer runs pass the source-only run's model)")


def mismatch(card: dict, spec: dict, classes: list[str], shape: dict, fps: dict) -> str | None:
    """What makes the exported model another model than this job's, or None."""
    spec = json.loads(json.dumps(spec))  # as model.json holds it
    keys = sorted(k for k in set(card["spec"]) | set(spec) if card["spec"].get(k) != spec.get(k))
    if keys:
        return "its spec differs in " + ", ".join(
            f"{k} ({card['spec'].get(k)!r}, this job {spec.get(k)!r})" for k in keys)
    if card["classes"] != classes:
        return f"its classes are {card['classes']}, this job's {classes}"
    if card["shape"] != shape:
        return f"its shape is {card['shape']}, this job's {shape}"
    for m in encoders(spec):
        theirs = (card["encoders"].get(m) or {}).get("fingerprint")
        if theirs != fps.get(m):
            return f"its {m} encoder is another one (fingerprint {theirs}, this job {fps.get(m)})"
    return None


def with_dataset(sessions: list[str]) -> bool:
    """Whether sessions are named "KEMDy20/3" (Task.sessions), not "3"."""
    return any("/" in s for s in sessions)


def check_held_out(folder, card: dict, task, dist) -> None:
    """Refuse a model trained or validated on one of this job's test sessions (its own or,
    through its --init-from, its starting model's): its test figures would not be held
    out. A model.json from before `trained_on`, or naming sessions without their dataset
    where this job names them with it (or the reverse), cannot be checked: said in the log."""
    seen, tested = card.get("trained_on"), task.sessions("test")
    if seen is None or (seen and tested and with_dataset(seen) != with_dataset(tested)):
        log(f"WARNING: --init-from {folder}: its model.json does not say which sessions it "
            "was trained on in this job's terms, so this job cannot check that its test "
            "sessions are new to it", dist)
        return
    shared = sorted(set(seen) & set(tested))
    if shared:
        raise InputError(Path(folder), f"--init-from: the model was trained or validated on "
                         f"{len(shared)} of this job's test sessions ({', '.join(shared[:5])}"
                         f"{', ...' if len(shared) > 5 else ''}): its test figures would not "
                         "be held out", "start from a model that never saw this job's test "
                         "sessions (transfer: the source-only run of the other release)",
                         key="--init-from")


def load(model, folder, spec: dict, task, shape: dict, fps: dict, dist) -> list[str]:
    """Put the exported model's weights into `model` (nothing without a folder). Returns the
    files a resume state must have been trained from too (train.py's checkpoint fingerprint
    hashes them): the starting weights, if any. In place: the optimiser keeps its tensors."""
    if folder is None:
        return []
    card = read_card(folder)
    check_digest(folder, card)
    check_held_out(folder, card, task, dist)
    why = mismatch(card, spec, task.classes, shape, fps)
    if why is None and not load_trainable(model, read_weights(folder)):
        why = "its weights are not this model's trainable ones"
    if why:
        raise InputError(Path(folder), f"--init-from: another model than this job's: {why}",
                         FIX, key="--init-from")
    log(f"initialised from {folder} (variant {card['variant']}, best epoch "
        f"{card.get('best_epoch')})", dist)
    return [str(Path(folder) / WEIGHTS)]
