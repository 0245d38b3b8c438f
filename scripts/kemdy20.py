"""KEMDy20 facts shared by the look-alike generator, the reader and every later step.

Everything here is taken from ../shared/docs/kemdy20-format.md; nothing reads files.
"""

from __future__ import annotations

import re

# Class order used everywhere (score columns, label indices, report tables).
CLASSES = ["neutral", "happy", "surprise", "angry", "sad", "disgust", "fear"]
CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}
EMOTIONS = CLASSES[1:]  # the six non-neutral classes of a two-stage model's stage 2

# Annotation columns, in file order.
EVALUATORS = [
    "Eval01F", "Eval02M", "Eval03M", "Eval04F", "Eval05M",
    "Eval06F", "Eval07F", "Eval08M", "Eval09F", "Eval10M",
]  # fmt: skip
N_EVALUATORS = len(EVALUATORS)
N_COLUMNS = 7 + 3 * N_EVALUATORS  # 37
EVAL_PREFIXES = [f"e{j + 1:02d}" for j in range(N_EVALUATORS)]  # e01 .. e10

# The release spells disgust "disqust"; it is read as disgust in every column.
RAW_SPELLING = {"disqust": "disgust"}
RAW_LABELS = ["angry", "disqust", "fear", "happy", "neutral", "sad", "surprise"]

SEGMENT_ID = re.compile(r"^Sess(\d{2})_script(\d{2})_User(\d{3})([FM])_(\d{3})$")

# Transcription-guide markers: stripped for the model, kept in text_raw.
_MARKERS = re.compile(r"(?<!\S)(?:[cnNulb]/|/)|[*+]|\([^)]*\)")
_SPACES = re.compile(r"\s+")


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


def clean_transcript(raw: str) -> str:
    """Strip transcription markers (c/ n/ N/ u/ l/ b/ / * + and (asides)) from one line."""
    return _SPACES.sub(" ", _MARKERS.sub(" ", raw)).strip()


def session_of(segment_id: str) -> int:
    """Session number encoded in a Segment ID (which may be wrong in Sess12/Sess17)."""
    match = SEGMENT_ID.match(segment_id)
    if match is None:
        raise ValueError(segment_id)
    return int(match.group(1))


def with_session(segment_id: str, session: int) -> str:
    """Rewrite the `SessNN` prefix of a Segment ID to the given session."""
    return f"Sess{session:02d}" + segment_id[6:]
