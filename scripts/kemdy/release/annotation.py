"""What the KEMDy20 and KEMDy19 readers share: the annotated-segment record, decoding of an
annotation CSV and the checked parsing of its label and rating cells. Errors name the file
and row (the line number in the file)."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

from kemdy.classes import normalise_label, normalise_total
from kemdy.errors import InputError

CSV_ENCODINGS = ("utf-8-sig", "cp949")
MAX_LISTED = 10  # problems named in one error message


@dataclass
class Row:
    """One annotated segment as a dataset reader returns it."""

    segment_id: str
    session: int
    file: str  # annotation file, relative to the root
    line: int
    wav: str  # the segment's wav, relative to the root (its transcript: .txt beside it)
    totals: dict = field(default_factory=dict)  # total_emotion, total_valence, total_arousal
    votes: dict = field(default_factory=dict)  # evaluator header name -> (emotion, valence, arousal)
    facts: dict = field(default_factory=dict)  # script, speaker, gender: from the Segment ID
    turn: int | None = None  # the release's Numb: the segment's place in its session's dialogues
    written_as: str | None = None  # the Segment ID as the file wrote it, where it was rewritten


@dataclass
class Release:
    """What a dataset reader found under its root."""

    rows: list[Row]  # every annotated segment, in file order
    files: set[str]  # the files of its wav folders, relative to the root
    evaluators: list[str]  # evaluator header names, in order of first appearance
    known_missing: dict[str, str] = field(default_factory=dict)  # file -> why the release lacks it


def new_stats() -> dict:
    """Counters a reader fills while parsing."""
    return {"prefix_fixes": {}, "disqust_normalised": 0, "multi_label_totals": 0,
            "empty_totals": 0, "missing_votes": 0}
LABEL_FIX = ("use one of angry, disgust (or the release's disqust), fear, happy, neutral, sad, "
             "surprise")


def decode_csv(path: Path) -> str:
    data = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(path, "not readable as UTF-8 or CP949 text",
                     "save the annotation file as UTF-8 (or restore it from the release)")


def read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every row that is not blank."""
    text = decode_csv(path)
    if not text.strip():
        raise InputError(path, "the annotation file is empty",
                         "restore it from the release (two header rows, then one row per segment)")
    reader = csv.reader(io.StringIO(text, newline=""))
    return [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]


def _number(cell: str, path, line: int, what: str) -> float | None:
    cell = cell.strip()
    if not cell:
        return None
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InputError(path, f"{what} '{cell}' is not a number", "write a number from 1 to 5",
                         row=line)
    return value


def parse_numb(cell: str) -> int | None:
    """The release's own running number of a row (column Numb, `12` or `12.0`); None where
    it is not a whole number: only dialogue context needs it, and refuses a dialogue without
    it (kemdy.train.context)."""
    try:
        value = float(cell.strip())
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value == int(value) else None


def parse_vote_scale(cell: str, path, line: int, what: str) -> int | None:
    """An evaluator's valence or arousal: an integer 1-5 (`3.0` accepted), or empty."""
    value = _number(cell, path, line, what)
    if value is None:
        return None
    if value != int(value) or not 1 <= value <= 5:
        raise InputError(path, f"{what} '{cell.strip()}' is not an integer from 1 to 5",
                         "evaluator valence and arousal are integers 1-5", row=line)
    return int(value)


def parse_total_scale(cell: str, path, line: int, what: str) -> float | None:
    """A total valence or arousal: a mean of votes, within [1, 5], or empty."""
    value = _number(cell, path, line, what)
    if value is not None and not 1 <= value <= 5:
        raise InputError(path, f"{what} '{cell.strip()}' is outside [1, 5]",
                         "total valence and arousal are means of 1-5 votes", row=line)
    return value


def parse_totals(cells: list[str], at: int, path, line: int, stats: dict) -> dict:
    """A data row's total emotion, valence and arousal (columns at, at+1, at+2)."""
    totals = {}
    total = cells[at].strip()
    if total:
        try:
            totals["total_emotion"] = normalise_total(total)
        except KeyError:
            raise InputError(path, f"unknown total emotion '{total}'", LABEL_FIX, row=line) from None
        stats["multi_label_totals"] += ";" in totals["total_emotion"]
    else:
        totals["total_emotion"] = None
        stats["empty_totals"] += 1
    stats["disqust_normalised"] += "disqust" in total.lower()
    totals["total_valence"] = parse_total_scale(cells[at + 1], path, line, "total valence")
    totals["total_arousal"] = parse_total_scale(cells[at + 2], path, line, "total arousal")
    return totals


def parse_votes(cells: list[str], first_at: int, names: list[str], path, line: int,
                stats: dict) -> dict[str, tuple]:
    """Each evaluator's (emotion, valence, arousal) of a data row, evaluator j's triple from
    column first_at + 3j, keyed by its header name; None for an empty cell."""
    votes = {}
    for j, name in enumerate(names):
        at = first_at + 3 * j
        emotion, valence, arousal = cells[at: at + 3]
        emotion = emotion.strip()
        if emotion:
            try:
                label = normalise_label(emotion)
            except KeyError:
                raise InputError(path, f"unknown emotion '{emotion}' of {name} (column {at + 1})",
                                 LABEL_FIX, row=line) from None
            stats["disqust_normalised"] += emotion.lower() == "disqust"
        else:
            label = None
            stats["missing_votes"] += 1
        votes[name] = (label, parse_vote_scale(valence, path, line, f"{name} valence"),
                       parse_vote_scale(arousal, path, line, f"{name} arousal"))
    return votes
