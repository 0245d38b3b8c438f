"""What predict.py refuses before it scores anything: a folder that is not one whole model
(a stage of a two-stage variant alone, half a two-stage model, a fold folder holding a model
and seed folders both), a model.json edited after export, models that must not be averaged
(other variants, specs or encoders; the keys a variant's models legitimately differ in,
seeds and a sweep's choices, are those their model.json records as `varies`, or --vary), an
encoder other than the one a model was trained with, a transcript that is not text, and a
wav that ingest would refuse (the same check, kemdy/release/files.py, and the same reader,
kemdy/release/audio.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from kemdy.classes import CLASSES, EMOTIONS, STAGE1_CLASSES
from kemdy.errors import InputError
from kemdy.release.audio import read_wave
from kemdy.release.files import check_wav
from kemdy.spec import SWEEPABLE
from kemdy.train.export import CARD, check_digest, read_card, rerun_fix
from kemdy.train.encoders import encoder_fingerprint, load_audio_encoder, load_text_encoder

WAV_FIX = "give a 16-bit PCM mono wav at the encoder's sample rate (as the release's are)"
STAGES = {"stage1": (1, STAGE1_CLASSES), "stage2": (2, EMOTIONS)}
ENSEMBLE_FIX = ("pass the folds of one variant as the workflow exported them "
                "(results/models/<variant>/fold*)")
VARYING = ("seed", *SWEEPABLE)  # what --vary may name: seeds and the keys a sweep may vary


# ---------------------------------------------------------------- inputs


def check_text(text, option: str = "--text") -> str:
    """A transcript the tokenizer can read: not empty, and text (argv bytes that were not
    UTF-8 arrive as surrogate escapes, which no tokenizer takes)."""
    if not str(text).strip():
        raise InputError(option, "empty transcript", "give the words spoken in the recording")
    try:
        str(text).encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(option, f"not UTF-8 text (undecodable bytes from character "
                         f"{err.start})", "pass the transcript as UTF-8 (convert a cp949 "
                         "one first, e.g. iconv -f cp949 -t utf-8)") from None
    return str(text)


def read_wav(path, rate: int) -> np.ndarray:
    """A wav as float samples, refused by ingest's rules (rate, mono, 16-bit PCM, not
    truncated, not empty) and read by its reader, so predict sees what training saw."""
    _, problem = check_wav(Path(path), rate)
    if problem:
        raise InputError(path, problem[1], WAV_FIX)
    try:
        return read_wave(str(path), rate)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise InputError(path, f"not a readable wav ({str(err).strip()})", WAV_FIX) from None


# ---------------------------------------------------------------- what a folder holds


def holds_model(folder: Path, pattern: str) -> bool:
    """Whether subfolders `pattern` of `folder` hold an exported model (or its stages)."""
    return any(folder.glob(f"{pattern}/{CARD}")) or any(folder.glob(f"{pattern}/stage1"))


def seed_folders(folder: Path) -> list[Path]:
    """A several-seed variant's fold folder: its seed{s} models, by seed."""
    found = [f for f in folder.glob("seed*") if re.fullmatch(r"seed\d+", f.name)
             and holds_model(folder, f.name)]
    return sorted(found, key=lambda f: int(f.name[4:]))


def expand_seeds(folders: list[Path]) -> list[Path]:
    """Each --model folder, a several-seed fold folder as its seeds' models (the fold's
    ensemble, averaged with the rest). A fold folder holding a model of its own and seed
    folders besides is left from another `seeds` setting: which one is meant is the user's
    call, not a guess."""
    out = []
    for folder in folders:
        seeds = seed_folders(folder)
        if seeds and ((folder / CARD).exists() or (folder / "stage1").is_dir()):
            raise InputError(folder, f"holds a model and the models of seeds "
                             f"{', '.join(s.name for s in seeds)} (one layout is left from "
                             "an earlier `seeds` setting)", f"name the ones you mean: {folder} "
                             f"(its own model) or {folder}/seed*; the workflow's predict rule "
                             "retrains what the config asks for")
        out += seeds or [folder]
    return out


def model_parts(folder: Path) -> dict[str, tuple[Path, dict]]:
    """{"single": (folder, card)} or {"stage1": ..., "stage2": ...}: one whole model."""
    stages = [s for s in STAGES if (folder / s).is_dir()]
    if stages:
        if len(stages) == 1:
            missing = next(s for s in STAGES if s not in stages)
            raise InputError(folder, f"a two-stage model without its {missing}",
                             rerun_fix(folder / missing))
        parts = {s: (folder / s, read_card(folder / s)) for s in STAGES}
        for s, (path, card) in parts.items():
            if (card.get("stage"), card.get("classes")) != STAGES[s]:
                raise InputError(path / CARD, f"stage {card.get('stage')} with classes "
                                 f"{card.get('classes')}, not {s}", rerun_fix(path))
        one, two = (parts[s][1] for s in STAGES)
        if (one["variant"], one["fold"]) != (two["variant"], two["fold"]):
            raise InputError(folder, f"stage1 is {one['variant']} fold {one['fold']}, stage2 "
                             f"{two['variant']} fold {two['fold']}", rerun_fix(folder / "stage2"))
        return parts
    folds = holds_model(folder, "fold*") or holds_model(folder, "fold*/seed*")
    if folds and not (folder / CARD).exists():
        raise InputError(folder, "a variant's folder, not one model", f"pass its folds: "
                         f"{folder}/fold*")
    card = read_card(folder)
    if card.get("stage") is not None:
        raise InputError(folder, f"stage {card['stage']} of the two-stage variant "
                         f"{card['variant']} alone: it does not predict the seven classes",
                         f"pass the folder that holds both stages: {folder.parent}")
    if card.get("classes") != CLASSES:
        raise InputError(folder / CARD, f"classes {card.get('classes')}, not the seven "
                         f"{CLASSES}", rerun_fix(folder))
    return {"single": (folder, card)}


def check_vary(vary) -> list[str]:
    """--vary: keys a variant's models may differ in, not anything at all (a typo would
    otherwise pass silently, and --vary modality would average unlike models)."""
    unknown = [k for k in vary if k not in VARYING]
    if unknown:
        raise InputError("--vary", f"{', '.join(unknown)}: not a key a variant's models may "
                         "differ in", f"give seed (several seeds) or a sweep's keys: "
                         f"{', '.join(VARYING)}; models exported by this workflow record "
                         "theirs in model.json (`varies`), so --vary is rarely needed")
    return list(vary)


def recorded_varies(members: list[dict]) -> set[str]:
    """The keys every member's model.json records as varying (older exports: none)."""
    each = [set(parts[part][1].get("varies") or []) for parts in members for part in parts]
    return set.intersection(*each) if each else set()


def signature(parts: dict, vary=()) -> dict:
    """What members of one ensemble share: the folds of one variant have it all alike (but
    the spec keys in `vary`: the seeds of a variant, the values its sweep chose per fold)."""
    card = next(iter(parts.values()))[1]
    return {"kind": "two-stage" if "stage1" in parts else "one-stage",
            "variant": card["variant"],
            "spec": {k: v for k, v in card["spec"].items() if k != "stage" and k not in vary},
            "encoders": {m: e and e.get("fingerprint") for m, e in card["encoders"].items()}}


def difference(a: dict, b: dict) -> str | None:
    if a["kind"] != b["kind"]:
        return f"a {b['kind']} model and a {a['kind']} one"
    if a["variant"] != b["variant"]:
        return f"variant {b['variant']}, not {a['variant']}"
    for key in sorted(set(a["spec"]) | set(b["spec"])):
        if a["spec"].get(key) != b["spec"].get(key):
            return f"spec key {key} is {b['spec'].get(key)!r}, not {a['spec'].get(key)!r}"
    if a["encoders"] != b["encoders"]:
        return "trained with other encoders"
    return None


def check_members(folders: list[Path], members: list[dict]) -> list[Path]:
    """Each member's model.json against the digest exported with its weights (an edited one
    is refused); returns the folders too old to hold a digest (nothing to check)."""
    return [path for parts in members for path, card in parts.values()
            if not check_digest(path, card)]


def check_ensemble(folders: list[Path], members: list[dict], vary=()) -> None:
    """Averaging is only for models of one variant: anything else is refused, by name. The
    spec keys the members may differ in: `vary` and those every member's card records."""
    vary = set(check_vary(vary)) | recorded_varies(members)
    seen = {}
    for folder in folders:
        key = os.path.realpath(folder)
        if key in seen:
            raise InputError(folder, f"given twice (also as {seen[key]})", "pass each fold once")
        seen[key] = folder
    first = signature(members[0], vary)
    for folder, parts in zip(folders[1:], members[1:]):
        differs = difference(first, signature(parts, vary))
        if differs:
            key = re.match(r"spec key (\w+) ", differs)
            hint = (f"; if they are one variant's {key.group(1)} choices exported before "
                    f"model.json recorded them, add --vary {key.group(1)}"
                    if key and key.group(1) in VARYING else "")
            raise InputError(folder, f"cannot be averaged with {folders[0]}: {differs}",
                             ENSEMBLE_FIX + hint)


# ---------------------------------------------------------------- encoders


def load_encoder(folder, card: dict, modality: str, override: str | None, memo: dict):
    """(preprocessor, encoder) a model was trained with, from the folder or hub name its
    model.json records (or `override`), refused unless its fingerprint is the recorded one.
    `memo`: fingerprints already computed in this process, by source."""
    entry = card["encoders"].get(modality)
    flag = f"--{modality}-encoder"
    if not isinstance(entry, dict) or not entry.get("fingerprint"):
        raise InputError(Path(folder) / CARD, f"no {modality} encoder recorded",
                         rerun_fix(folder))
    source = override or entry["path"] or entry["name"]
    if override is None and entry["path"] and not os.path.isdir(entry["path"]):
        raise InputError(folder, f"its {modality} encoder {entry['path']} is missing (moved "
                         "or deleted)", f"put it back, or pass {flag} FOLDER with the encoder "
                         "it was trained with (its fingerprint is checked)")
    loader = load_text_encoder if modality == "text" else load_audio_encoder
    try:
        preprocessor, encoder = loader(source)
    except (OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(folder, f"cannot load its {modality} encoder {source} ({reason})",
                         f"pass {flag} FOLDER with the encoder it was trained with, or put "
                         "that hub model in the Hugging Face cache (HF_HUB_OFFLINE=0 lets "
                         "predict.py download it)") from None
    if source not in memo:
        memo[source] = encoder_fingerprint(source, encoder, preprocessor)
    if memo[source] != entry["fingerprint"]:
        raise InputError(folder, f"its {modality} encoder {source} is not the one it was "
                         f"trained with (fingerprint {memo[source][:12]}, model.json records "
                         f"{entry['fingerprint'][:12]})", f"pass {flag} FOLDER with the "
                         f"encoder it was trained with, or retrain it on this one: "
                         f"{rerun_fix(folder)}")
    return preprocessor, encoder
