"""KEMDy19 as released: its facts (shared with the look-alike generator) and the reader of
its annotation files and folders.

Everything here is taken from ../shared/docs/kemdy19-format.md (§ numbers refer to it).
Each session has two annotation files, SessionSS_F_res.csv and SessionSS_M_res.csv, and both
list every segment of the session: the F file holds the woman's emotion at each segment,
the M file the man's (a listener's emotion while the other one speaks, §3.1). A segment's
label is therefore the row of the file whose letter is the speaker letter of its Segment ID
(its "own" row); the other file's row is read only to check its shape. Files are read by
column position (§3.2): two header rows, 43 columns, empty filler cells.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path

from kemdy.errors import InputError
from kemdy.release.annotation import (MAX_LISTED, Release, Row, parse_numb, parse_totals,
                                      parse_votes, read_rows)

log = logging.getLogger("ingest")

# Annotation columns, by position (§3.2).
N_EVALUATORS = 10
SEGMENT_AT, TOTAL_AT, VOTES_AT = 9, 10, 13  # columns 3-8 are bio values, unused here
N_COLUMNS = VOTES_AT + 3 * N_EVALUATORS  # 43
GROUP_HEADER = ["Numb", "Wav", "", "ECG", "", "E4-EDA", "", "E4-TEMP", "", "Segment ID",
                "Total Evaluation", "", ""]  # then each evaluator's name and two empty cells
SUB_HEADER = ["", "Start", "End", "Start", "End", "Start", "End", "Start", "End", "",
              "Emotion", "Valence", "Arousal"]  # then Emotion, Valence, Arousal per evaluator
# The first rater group, as Session01's header prints it (§3.3); the second group's names
# are unknown, so the reader takes every file's names from its own header.
SESSION01_EVALUATORS = [
    "Eval01F", "Eval02M", "Eval03F", "Eval04F", "Eval05M",
    "Eval06M", "Eval07M", "Eval08F", "Eval09M", "Eval10F",
]  # fmt: skip
# Labels as the release spells them; ties join the top labels with ';' in this order (§3.4).
RAW_LABELS = ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"]

DIALOGUES = [f"script{i:02d}" for i in range(1, 7)] + [f"impro{i:02d}" for i in range(1, 5)]
ANNOTATION_FILE = re.compile(r"^Session(\d{2})_([FM])_res\.csv$")
SESSION_FOLDER = re.compile(r"^Session(\d{2})$")
DIALOGUE_FOLDER = re.compile(r"^Sess(\d{2})_((?:script|impro)\d{2})$")
SEGMENT_ID = re.compile(r"^Sess(\d{2})_((?:script|impro)\d{2})_([FM])(\d{3})$")

# Known defects of the release (§7), by Segment ID.
NO_TRANSCRIPT = ("Sess03_script04_M016", "Sess06_script02_M027", "Sess06_script02_M028",
                 "Sess07_script02_M026", "Sess07_script02_M027")  # D2: wav without .txt
NO_RECORDING = ("Sess03_script04_M015", "Sess03_impro02_F001", "Sess09_script06_F001",
                "Sess09_impro01_F001")  # D3: numbering gaps, neither wav nor .txt
F001_AS_M001 = ("Sess03_impro02_F001", "Sess09_script06_F001",
                "Sess09_impro01_F001")  # D4: the F file writes this segment's row as ..._M001
PHANTOM = {"F": "Sess04_impro03_M031", "M": "Sess04_impro03_F031"}  # D5: one row pair, no wav

_TAGS = re.compile(r"(?<!\S)(?:[bonluNcs]/|/)|[*+]")  # tag tokens, and KEMDy20's * + /
_OVERLAP = re.compile(r"\([^()]*\+[^()]*\)")  # (x+y): both speakers at once
_PARENS = re.compile(r"[()]")
_SPACES = re.compile(r"\s+")


def clean_transcript(raw: str) -> str:
    """Strip KEMDy19's markup from one line: the tags b/ o/ n/ l/ u/ N/ c/ s/, the overlap
    notation (x+y), and KEMDy20's * + / markers.

    An overlap group is dropped whole: which of its two parts is the speaker's own varies
    across the release, so neither part can be trusted as theirs. A plain (x) holds the
    speaker's own words said under the other's voice, so it keeps x.
    """
    text = _PARENS.sub(" ", _OVERLAP.sub(" ", raw))
    return _SPACES.sub(" ", _TAGS.sub(" ", text)).strip()


def segment_path(segment_id: str, suffix: str = ".wav") -> str:
    """Root-relative path of a segment's file: wav/SessionSS/SessSS_DLG/<ID><suffix>."""
    session, dialogue = segment_id[4:6], segment_id.rsplit("_", 1)[0]
    return f"wav/Session{session}/{dialogue}/{segment_id}{suffix}"


def known_missing() -> dict[str, str]:
    """The files the release is known to lack (§7 D2, D3) -> why."""
    missing = {segment_path(s, ".txt"): "known defect of the release: no transcript (D2)"
               for s in NO_TRANSCRIPT}
    for seg_id in NO_RECORDING:
        for suffix in (".wav", ".txt"):
            missing[segment_path(seg_id, suffix)] = ("known defect of the release: numbering "
                                                     "gap without a recording (D3)")
    return missing


# ---------------------------------------------------------------- the reader

HEADER_FIX = ("the file must start with the release's two header rows ('Numb,Wav,,ECG,,E4-EDA,,"
              "E4-TEMP,,Segment ID,Total Evaluation,,,Eval01F,,,...' and ',Start,End,...,,"
              "Emotion,Valence,Arousal,...'), see docs/kemdy19-format.md §3.2")
ROW_FIX = ("every row needs Numb, wav start/end, 6 bio cells (may be empty), Segment ID, "
           "3 totals and 10 x (emotion, valence, arousal); check for stray or missing commas")


def _looks_like_data(row: list[str]) -> bool:
    return len(row) > SEGMENT_AT and SEGMENT_ID.match(row[SEGMENT_AT].strip()) is not None


def check_header(path: Path, rows: list[tuple[int, list[str]]]) -> list[str]:
    """The two header rows (group names, then sub-headers) -> the evaluators' names."""
    for want, (line, row) in enumerate(rows[:2], start=1):
        if _looks_like_data(row):
            raise InputError(path, f"missing header row {want}: this line already holds segment "
                             f"{row[SEGMENT_AT].strip()}", HEADER_FIX, row=line)
        if len(row) != N_COLUMNS:
            raise InputError(path, f"header row {want} has {len(row)} columns, expected "
                             f"{N_COLUMNS}", HEADER_FIX, row=line)
    if len(rows) < 2:
        raise InputError(path, "missing the second header row", HEADER_FIX, row=rows[0][0] + 1)
    (line1, row1), (line2, row2) = rows[0], rows[1]
    group = [row1[i].strip().lower() for i in (0, SEGMENT_AT, TOTAL_AT)]
    if group != ["numb", "segment id", "total evaluation"]:
        raise InputError(path, "row 1 is not the KEMDy19 group header (expected Numb at column 1, "
                         "Segment ID at 10, Total Evaluation at 11)", HEADER_FIX, row=line1)
    if [c.strip().lower() for c in row2[TOTAL_AT:]] != ["emotion", "valence", "arousal"] * 11:
        raise InputError(path, "row 2 is not the KEMDy19 sub-header (expected Emotion, Valence, "
                         "Arousal from column 11 on)", HEADER_FIX, row=line2)
    names = [row1[VOTES_AT + 3 * j].strip() for j in range(N_EVALUATORS)]
    for j, name in enumerate(names):
        if not name or name in names[:j]:
            problem = "no evaluator name" if not name else f"a second evaluator named {name}"
            raise InputError(path, f"header row 1 has {problem} at column {VOTES_AT + 3 * j + 1}",
                             HEADER_FIX, row=line1)
    return names


def read_annotation(path: Path, session: int, letter: str, root: Path,
                    stats: dict) -> tuple[list[Row], list[str]]:
    """One SessionSS_G_res.csv -> its own-perspective rows (speaker letter == G) and its
    evaluators' names. The other rows are checked for shape only: their duplicate or
    phantom IDs (§7 D4, D5) are the release's and harmless."""
    rows = read_rows(path)
    names = check_header(path, rows)
    rel = path.relative_to(root).as_posix()
    own, first, others = [], {}, []
    for line, cells in rows[2:]:
        if len(cells) != N_COLUMNS:
            raise InputError(path, f"{len(cells)} columns, expected {N_COLUMNS}", ROW_FIX, row=line)
        seg_id = cells[SEGMENT_AT].strip()
        match = SEGMENT_ID.match(seg_id)
        if not match:
            raise InputError(path, f"Segment ID '{seg_id}' does not look like SessSS_DLG_GNNN "
                             "(e.g. Sess01_script01_M001)", "correct the Segment ID", row=line)
        if match.group(3) != letter:
            others.append(seg_id)
            continue
        if int(match.group(1)) != session:
            raise InputError(path, f"Segment ID {seg_id} names session {match.group(1)} in the "
                             f"file of Session{session:02d}",
                             "correct the Segment ID (or move the row to its session's file)",
                             row=line)
        if seg_id in first:
            raise InputError(path, f"duplicate Segment ID {seg_id}, already on row {first[seg_id]}",
                             "remove or correct one of the two rows", row=line)
        first[seg_id] = line
        facts = {"script": match.group(2), "speaker": f"Sess{session:02d}{letter}",
                 "gender": letter}
        own.append(Row(seg_id, session, rel, line, segment_path(seg_id),
                       parse_totals(cells, TOTAL_AT, path, line, stats),
                       parse_votes(cells, VOTES_AT, names, path, line, stats), facts,
                       parse_numb(cells[0])))
    if len(rows) == 2:
        raise InputError(path, "the annotation file has header rows but no segments",
                         "restore it from the release")
    if not own:
        raise InputError(path, f"no row of the {letter} speaker's own segments (IDs ending "
                         f"_{letter}NNN) among {len(rows) - 2} data rows",
                         "restore the file from the release; SessionSS_F_res.csv labels the F "
                         "speaker's segments, _M_res.csv the M speaker's")
    repeated = sorted(s for s, n in Counter(others).items() if n > 1)
    if repeated:
        log.info("%s: other-perspective rows repeat %s (the release's D4); ignored", rel,
                 ", ".join(repeated[:MAX_LISTED]))
    return own, names


def _list_annotations(ann_dir: Path) -> dict[int, dict[str, Path]]:
    """annotation/SessionSS_{F,M}_res.csv files by session and letter."""
    files, ignored = {}, []
    for entry in sorted(os.scandir(ann_dir), key=lambda e: e.name):
        match = ANNOTATION_FILE.match(entry.name)
        if match and entry.is_file():
            files.setdefault(int(match.group(1)), {})[match.group(2)] = Path(entry.path)
        else:
            ignored.append(entry.name)
    if ignored:
        log.info("annotation/: ignored %d entries that are not SessionSS_F_res.csv or "
                 "SessionSS_M_res.csv: %s", len(ignored), ", ".join(ignored[:MAX_LISTED]))
    if not files:
        raise InputError(ann_dir, "no SessionSS_F_res.csv / SessionSS_M_res.csv files in the "
                         "annotation folder",
                         "copy the release's annotation/Session01_F_res.csv ... files there")
    return files


def _list_wavs(wav_dir: Path) -> dict[int, set[str]]:
    """Root-relative paths of the files in each wav/SessionSS/SessSS_DLG/ folder, by session.
    Sub-folders (the release's empty converted/) and stray files are left out."""
    listing = {}
    for entry in os.scandir(wav_dir):
        match = SESSION_FOLDER.match(entry.name)
        if not (match and entry.is_dir()):
            log.info("wav/: ignored %s (not a SessionSS folder)", entry.name)
            continue
        files = listing.setdefault(int(match.group(1)), set())
        for dialogue in os.scandir(entry.path):
            if DIALOGUE_FOLDER.match(dialogue.name) and dialogue.is_dir():
                files.update(f"wav/{entry.name}/{dialogue.name}/{f.name}"
                             for f in os.scandir(dialogue.path) if f.is_file())
    return listing


def list_root(root: Path) -> tuple[dict[int, dict[str, Path]], dict[int, set[str]]]:
    """Annotation files by session and letter, and the files of the wav folders by session."""
    fix = ("set the KEMDy19 root (--dataset kemdy19 PATH) to the folder holding annotation/ "
           "and wav/")
    if not root.is_dir():
        raise InputError(root, "the dataset root does not exist or is not a folder", fix)
    ann_dir, wav_dir = root / "annotation", root / "wav"
    for folder, what in ((ann_dir, "annotation"), (wav_dir, "wav")):
        if not folder.is_dir():
            raise InputError(folder, f"no {what} folder in the dataset root", fix)
    annotations, listing = _list_annotations(ann_dir), _list_wavs(wav_dir)
    for session in sorted(set(annotations) | set(listing)):
        have = annotations.get(session, {})
        n_wavs = sum(f.endswith(".wav") for f in listing.get(session, ()))
        for letter in "FM":
            if letter in have or not (n_wavs or have):
                continue
            found = [f"wav/Session{session:02d} holds {n_wavs} wavs"] if n_wavs else []
            found += [f"{p.name} is there" for p in have.values()]
            raise InputError(ann_dir / f"Session{session:02d}_{letter}_res.csv",
                             f"missing, but {' and '.join(found)}",
                             "copy the session's two annotation files from the release, or "
                             f"remove wav/Session{session:02d} and its annotation files to "
                             "leave the session out")
    return annotations, listing


def read(root: Path, stats: dict) -> Release:
    """Every annotated segment of a KEMDy19 root (own-perspective rows), the files of its wav
    folders (of the annotated sessions) and the files the release is known to lack."""
    annotations, listing = list_root(root)
    stats["annotation_files"] = sum(len(files) for files in annotations.values())
    stats["sessions"] = sorted(annotations)
    rows, evaluators = [], []
    for session in sorted(annotations):
        for letter in "FM":
            own, names = read_annotation(annotations[session][letter], session, letter, root, stats)
            rows += own
            evaluators += [n for n in names if n not in evaluators]
    files = {f for s, paths in listing.items() if s in annotations for f in paths}
    return Release(rows, files, evaluators, known_missing())
