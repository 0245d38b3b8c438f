"""KEMDy20 as released: its facts (shared with the look-alike generator) and the reader of
its annotation files and folders.

Everything here is taken from ../shared/docs/kemdy20-format.md. Annotation files are read
by column position: the two header rows are checked, then skipped; encodings tried:
utf-8-sig, then cp949. A Segment ID whose session prefix disagrees with its file's name is
rewritten to the file's session (the file name is the truth, as for Sess12/Sess17), as long
as its speaker is one of that session's two: a row whose prefix and speaker both name
another session is that session's segment (pasted into the wrong file) and is refused.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from kemdy.errors import InputError
from kemdy.release.annotation import (MAX_LISTED, Release, Row, parse_numb, parse_totals,
                                      parse_votes, read_rows)

log = logging.getLogger("ingest")

# Annotation columns, in file order.
EVALUATORS = [
    "Eval01F", "Eval02M", "Eval03M", "Eval04F", "Eval05M",
    "Eval06F", "Eval07F", "Eval08M", "Eval09F", "Eval10M",
]  # fmt: skip
N_EVALUATORS = len(EVALUATORS)
N_COLUMNS = 7 + 3 * N_EVALUATORS  # 37

# Evaluator labels as the release spells them.
RAW_LABELS = ["angry", "disqust", "fear", "happy", "neutral", "sad", "surprise"]

ANNOTATION_FILE = re.compile(r"^Sess(\d{2})_eval\.csv$")
SESSION_FOLDER = re.compile(r"^Session(\d{2})$")
SEGMENT_ID = re.compile(r"^Sess(\d{2})_script(\d{2})_User(\d{3})([FM])_(\d{3})$")

# Transcription-guide markers: stripped for the model, kept in text_raw.
_MARKERS = re.compile(r"(?<!\S)(?:[cnNulb]/|/)|[*+]|\([^)]*\)")
_SPACES = re.compile(r"\s+")


def clean_transcript(raw: str) -> str:
    """Strip transcription markers (c/ n/ N/ u/ l/ b/ / * + and (asides)) from one line."""
    return _SPACES.sub(" ", _MARKERS.sub(" ", raw)).strip()


def session_of(segment_id: str) -> int:
    """Session number encoded in a Segment ID (which may be wrong in Sess12/Sess17)."""
    match = SEGMENT_ID.match(segment_id)
    if match is None:
        raise ValueError(segment_id)
    return int(match.group(1))


def speaker_session(user: int) -> int:
    """The session of a speaker: session k holds users 2k-1 and 2k."""
    return (user + 1) // 2


def with_session(segment_id: str, session: int) -> str:
    """Rewrite the `SessNN` prefix of a Segment ID to the given session."""
    return f"Sess{session:02d}" + segment_id[6:]


# ---------------------------------------------------------------- the reader


def _looks_like_data(row: list[str]) -> bool:
    return len(row) > 3 and SEGMENT_ID.match(row[3].strip()) is not None


def check_header(path: Path, rows: list[tuple[int, list[str]]]) -> None:
    """The two header rows of the release: group names, then sub-headers."""
    fix = ("the file must start with the release's two header rows "
           "('Numb,Wav, ,Segment ID,Total Evaluation, , ,Eval01F, , ,...' and "
           "' ,start,end, ,Emotion,Valence,Arousal,...'), see docs/kemdy20-format.md")
    for want, (line, row) in enumerate(rows[:2], start=1):
        if _looks_like_data(row):
            raise InputError(path, f"missing header row {want}: this line already holds segment "
                             f"{row[3].strip()}", fix, row=line)
        if len(row) != N_COLUMNS:
            raise InputError(path, f"header row {want} has {len(row)} columns, expected {N_COLUMNS}",
                             fix, row=line)
    if len(rows) < 2:
        raise InputError(path, "missing the second header row", fix, row=rows[0][0] + 1)
    (line1, row1), (line2, row2) = rows[0], rows[1]
    if row1[0].strip().lower() != "numb" or row1[3].strip().lower() != "segment id":
        raise InputError(path, "row 1 is not the KEMDy20 group header (expected Numb ... Segment ID)",
                         fix, row=line1)
    if [c.strip().lower() for c in row2[4:7]] != ["emotion", "valence", "arousal"]:
        raise InputError(path, "row 2 is not the KEMDy20 sub-header (expected Emotion, Valence, "
                         "Arousal after the Segment ID)", fix, row=line2)


def read_annotation(path: Path, session: int, root: Path, stats: dict) -> list[Row]:
    """One SessNN_eval.csv -> its rows, Segment IDs rewritten to the file's session."""
    rows = read_rows(path)
    check_header(path, rows)
    rel = str(path.relative_to(root))
    out, fixed, wrong = [], 0, set()
    for line, cells in rows[2:]:
        if len(cells) != N_COLUMNS:
            raise InputError(path, f"{len(cells)} columns, expected {N_COLUMNS}",
                             "every row needs Numb, wav start, wav end, Segment ID, 3 totals and "
                             "10 x (emotion, valence, arousal); check for stray or missing commas",
                             row=line)
        seg_id = cells[3].strip()
        match = SEGMENT_ID.match(seg_id)
        if not match:
            raise InputError(path, f"Segment ID '{seg_id}' does not look like "
                             "SessNN_scriptSS_UserUUUG_KKK", "correct the Segment ID", row=line)
        written = seg_id
        if session_of(seg_id) != session:
            check_speaker(path, line, seg_id, int(match.group(3)), session)
            wrong.add(session_of(seg_id))
            seg_id, fixed = with_session(seg_id, session), fixed + 1
        facts = {"script": f"script{match.group(2)}", "speaker": f"User{match.group(3)}",
                 "gender": match.group(4)}
        out.append(Row(seg_id, session, rel, line, f"wav/Session{session:02d}/{seg_id}.wav",
                       parse_totals(cells, 4, path, line, stats),
                       parse_votes(cells, 7, EVALUATORS, path, line, stats), facts,
                       parse_numb(cells[0]), written if written != seg_id else None))
    if not out:
        raise InputError(path, "the annotation file has header rows but no segments",
                         "restore it from the release")
    if fixed:
        stats["prefix_fixes"][path.name] = fixed
        log.warning("%s: %d of %d Segment IDs named session %s; rewritten to Sess%02d "
                    "(the file name is the truth)", rel, fixed, len(out),
                    ", ".join(f"{s:02d}" for s in sorted(wrong)), session)
    return out


def check_speaker(path: Path, line: int, seg_id: str, user: int, session: int) -> None:
    """A Segment ID naming another session is the Sess12/Sess17 defect when its speaker is
    the file's session's (only the prefix is wrong); when the speaker is another session's
    too, the row is that session's segment, and rewriting it would only report its files
    missing under the file's session."""
    real = speaker_session(user)
    if real == session:
        return
    raise InputError(path, f"Segment ID {seg_id} is a segment of session {real:02d} (speaker "
                     f"User{user:03d} is one of Sess{real:02d}'s, users {2 * real - 1:03d} and "
                     f"{2 * real:03d}), not of this file's session {session:02d} (users "
                     f"{2 * session - 1:03d} and {2 * session:03d}): the row looks pasted from "
                     f"Sess{real:02d}_eval.csv",
                     f"remove row {line} from {path.name} (the segment belongs in "
                     f"Sess{real:02d}_eval.csv, its files under wav/Session{real:02d}/)",
                     row=line)


def list_root(root: Path) -> tuple[dict[int, Path], dict[int, set[str]]]:
    """Annotation files and the file names in each wav/SessionNN folder, by session."""
    if not root.is_dir():
        raise InputError(root, "the dataset root does not exist or is not a folder",
                         "set dataset.root (--root) to the KEMDy20 folder holding annotation/ and wav/")
    ann_dir, wav_dir = root / "annotation", root / "wav"
    if not ann_dir.is_dir():
        raise InputError(ann_dir, "no annotation folder in the dataset root",
                         "set dataset.root (--root) to the KEMDy20 folder holding annotation/ and wav/")
    if not wav_dir.is_dir():
        raise InputError(wav_dir, "no wav folder in the dataset root",
                         "set dataset.root (--root) to the KEMDy20 folder holding annotation/ and wav/")
    annotations, ignored = {}, []
    for entry in sorted(os.scandir(ann_dir), key=lambda e: e.name):
        match = ANNOTATION_FILE.match(entry.name)
        if match and entry.is_file():
            annotations[int(match.group(1))] = Path(entry.path)
        else:
            ignored.append(entry.name)
    if ignored:
        log.info("annotation/: ignored %d entries that are not SessNN_eval.csv: %s",
                 len(ignored), ", ".join(ignored[:MAX_LISTED]))
    if not annotations:
        raise InputError(ann_dir, "no SessNN_eval.csv files in the annotation folder",
                         "copy the release's annotation/Sess01_eval.csv ... files there")
    listing = {}
    for entry in os.scandir(wav_dir):
        match = SESSION_FOLDER.match(entry.name)
        if match and entry.is_dir():
            listing[int(match.group(1))] = {e.name for e in os.scandir(entry.path) if e.is_file()}
        else:
            log.info("wav/: ignored %s (not a SessionNN folder)", entry.name)
    for session in sorted(listing):
        n_wavs = sum(name.endswith(".wav") for name in listing[session])
        if n_wavs and session not in annotations:
            raise InputError(ann_dir / f"Sess{session:02d}_eval.csv",
                             f"missing, but wav/Session{session:02d} holds {n_wavs} wavs",
                             "copy the session's annotation file from the release, or remove "
                             f"wav/Session{session:02d} to leave the session out")
    return annotations, listing


def read(root: Path, stats: dict) -> Release:
    """Every annotated segment of a KEMDy20 root, and the files of its wav folders (of the
    annotated sessions)."""
    annotations, listing = list_root(root)
    stats["annotation_files"], stats["sessions"] = len(annotations), sorted(annotations)
    rows = []
    for session, path in annotations.items():
        rows += read_annotation(path, session, root, stats)
    files = {f"wav/Session{s:02d}/{name}" for s, names in listing.items() if s in annotations
             for name in names}
    return Release(rows, files, list(EVALUATORS))
