"""The seven emotion classes, in the one order used everywhere (score columns, label
indices, report tables), and how the releases' label cells map onto them."""

from __future__ import annotations

CLASSES = ["neutral", "happy", "surprise", "angry", "sad", "disgust", "fear"]
CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}
EMOTIONS = CLASSES[1:]  # the six non-neutral classes of a two-stage model's stage 2
STAGE1_CLASSES = ["neutral", "not_neutral"]  # stage 1 of a two-stage model

# KEMDy20 spells disgust "disqust"; it is read as disgust in every column.
RAW_SPELLING = {"disqust": "disgust"}


def normalise_label(raw: str) -> str:
    """One release label -> our spelling (lower case, disgust); raises KeyError if unknown."""
    label = raw.strip().lower()
    label = RAW_SPELLING.get(label, label)
    if label not in CLASS_INDEX:
        raise KeyError(raw)
    return label


def normalise_total(raw: str) -> str:
    """A release total (`happy;neutral`, ties in any order) -> labels sorted by CLASSES."""
    labels = {normalise_label(part) for part in raw.split(";") if part.strip()}
    if not labels:
        raise KeyError(raw)
    return ";".join(sorted(labels, key=CLASS_INDEX.__getitem__))
