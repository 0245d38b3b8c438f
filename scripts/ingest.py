"""Read a KEMDy20 root (the release or the look-alike) into one checked table, segments.csv.

    python scripts/ingest.py --root results/lookalike/KEMDy20_v1_1 \
        --out results/data/segments.csv --report results/data/ingest.json \
        --skipped results/data/skipped.csv [--skip-missing] [--sample-rate 16000]

Reads annotation/SessNN_eval.csv by column position (docs/kemdy20-format.md): the two header
rows are checked, then skipped; encodings tried: utf-8-sig, then cp949. Cells may carry
spaces and integers may be written `3.0`. Labels are normalised (`disqust` -> disgust, ties
sorted by class order); a Segment ID whose session prefix disagrees with its file's name is
rewritten to the file's session (the file name is the truth, as for Sess12/Sess17 of the
release). Every annotated segment needs wav/SessionNN/<id>.wav (readable, --sample-rate,
mono, 16-bit PCM, not truncated) and a non-empty one-line <id>.txt (cp949 in the release; a
file that decodes as UTF-8 with Hangul in it is read as UTF-8, because UTF-8 Korean usually
decodes as cp949 too, into nonsense).

Outputs (written atomically, only when everything passed; nothing is ever written under
--root):
- segments.csv: `segment_id, session, script, speaker, gender, wav_path, text, text_raw,
  total_emotion, total_valence, total_arousal, e01_emotion, e01_valence, e01_arousal, ...,
  e10_arousal, sample_rate, duration`. session and script are integers, speaker is `User002`
  and gender `M`; wav_path is relative to the dataset root; text is text_raw without the
  transcription markers; an evaluator's missing vote stays empty.
- ingest.json: counts (files, segments, prefix fixes per file, `disqust` cells, multi-label
  totals, unannotated wavs, skipped segments by reason, ...).
- skipped.csv: `segment_id, file, reason`, one row per segment left out by --skip-missing
  (header only otherwise).

Bad input stops with an error naming the file, the row (line number in the file) and the
fix. Missing or unreadable wav/txt files are collected over the whole root and reported
together; --skip-missing (dataset.skip_missing: true) skips those segments instead.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import soundfile as sf

from errors import InputError, run_cli
from kemdy20 import (
    CLASSES, EVAL_PREFIXES, EVALUATORS, N_COLUMNS, SEGMENT_ID,
    clean_transcript, normalise_label, normalise_total, session_of, with_session,
)  # fmt: skip

log = logging.getLogger("ingest")

ANNOTATION_FILE = re.compile(r"^Sess(\d{2})_eval\.csv$")
SESSION_FOLDER = re.compile(r"^Session(\d{2})$")
CSV_ENCODINGS = ("utf-8-sig", "cp949")
LABEL_FIX = "use one of angry, disgust (or the release's disqust), fear, happy, neutral, sad, surprise"
MAX_LISTED = 10  # problems named in one error message

VOTE_COLUMNS = [f"{p}_{k}" for p in EVAL_PREFIXES for k in ("emotion", "valence", "arousal")]
COLUMNS = (
    ["segment_id", "session", "script", "speaker", "gender", "wav_path", "text", "text_raw",
     "total_emotion", "total_valence", "total_arousal"]
    + VOTE_COLUMNS + ["sample_rate", "duration"]
)  # fmt: skip
SKIPPED_COLUMNS = ["segment_id", "file", "reason"]


@dataclass
class Row:
    """One annotated segment as read from its annotation file."""

    segment_id: str
    session: int
    file: str  # annotation file, relative to the root
    line: int
    values: dict = field(default_factory=dict)


# -- annotation files ---------------------------------------------------------------------


def decode_csv(path: Path) -> str:
    data = path.read_bytes()
    for encoding in CSV_ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(path, "not readable as UTF-8 or CP949 text",
                     "save the annotation file as UTF-8 (or restore it from the release)")


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


def parse_row(cells: list[str], path, line: int, stats: dict) -> dict:
    """Columns 4-36 of one data row -> normalised values (None for an empty cell)."""
    values = {}
    total = cells[4].strip()
    if total:
        try:
            values["total_emotion"] = normalise_total(total)
        except KeyError:
            raise InputError(path, f"unknown total emotion '{total}'", LABEL_FIX, row=line) from None
        stats["multi_label_totals"] += ";" in values["total_emotion"]
    else:
        values["total_emotion"] = None
        stats["empty_totals"] += 1
    stats["disqust_normalised"] += "disqust" in total.lower()
    values["total_valence"] = parse_total_scale(cells[5], path, line, "total valence")
    values["total_arousal"] = parse_total_scale(cells[6], path, line, "total arousal")
    for j, (prefix, name) in enumerate(zip(EVAL_PREFIXES, EVALUATORS)):
        emotion, valence, arousal = cells[7 + 3 * j: 10 + 3 * j]
        emotion = emotion.strip()
        if emotion:
            try:
                values[f"{prefix}_emotion"] = normalise_label(emotion)
            except KeyError:
                raise InputError(path, f"unknown emotion '{emotion}' of {name} (column {8 + 3 * j})",
                                 LABEL_FIX, row=line) from None
            stats["disqust_normalised"] += emotion.lower() == "disqust"
        else:
            values[f"{prefix}_emotion"] = None
            stats["missing_votes"] += 1
        values[f"{prefix}_valence"] = parse_vote_scale(valence, path, line, f"{name} valence")
        values[f"{prefix}_arousal"] = parse_vote_scale(arousal, path, line, f"{name} arousal")
    return values


def read_annotation(path: Path, session: int, root: Path, stats: dict) -> list[Row]:
    """One SessNN_eval.csv -> its rows, Segment IDs rewritten to the file's session."""
    text = decode_csv(path)
    if not text.strip():
        raise InputError(path, "the annotation file is empty",
                         "restore it from the release (two header rows, then one row per segment)")
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = [(reader.line_num, cells) for cells in reader if any(c.strip() for c in cells)]
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
        if not SEGMENT_ID.match(seg_id):
            raise InputError(path, f"Segment ID '{seg_id}' does not look like "
                             "SessNN_scriptSS_UserUUUG_KKK", "correct the Segment ID", row=line)
        if session_of(seg_id) != session:
            wrong.add(session_of(seg_id))
            seg_id, fixed = with_session(seg_id, session), fixed + 1
        out.append(Row(seg_id, session, rel, line, parse_row(cells, path, line, stats)))
    if not out:
        raise InputError(path, "the annotation file has header rows but no segments",
                         "restore it from the release")
    if fixed:
        stats["prefix_fixes"][path.name] = fixed
        log.warning("%s: %d of %d Segment IDs named session %s; rewritten to Sess%02d "
                    "(the file name is the truth)", rel, fixed, len(out),
                    ", ".join(f"{s:02d}" for s in sorted(wrong)), session)
    return out


# -- wav and txt files --------------------------------------------------------------------


WAV_FORMATS = {1: "PCM", 3: "FLOAT", 6: "ALAW", 7: "ULAW"}  # RIFF format tags


def read_wav_header(path: Path) -> dict | None:
    """The fmt and data chunks of a RIFF/WAVE file, or None if it is not a plain one.

    Cheaper than soundfile.info (about 3x) and it also sees truncation: a truncated wav
    declares a data chunk longer than the file holds, which libsndfile reads silently.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None  # RF64, other containers, garbage: soundfile decides
        header, pos = {"file_size": size}, 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, length = chunk[:4], int.from_bytes(chunk[4:], "little")
            if cid == b"fmt ":
                fmt = f.read(min(length, 40))
                if len(fmt) < 16:
                    return None
                tag = int.from_bytes(fmt[0:2], "little")
                if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: tag of the subformat
                    tag = int.from_bytes(fmt[24:26], "little")
                header.update(tag=tag, channels=int.from_bytes(fmt[2:4], "little"),
                              sample_rate=int.from_bytes(fmt[4:8], "little"),
                              block_align=int.from_bytes(fmt[12:14], "little"),
                              bits=int.from_bytes(fmt[14:16], "little"))
            elif cid == b"data":
                header.update(data_offset=pos + 8, data_size=length)
                break
            pos += 8 + length + (length & 1)
    return header if "tag" in header and header.get("block_align") else None


MIN_SECONDS = 0.05


def check_wav(path: Path, sample_rate: int) -> tuple[dict, tuple[str, str] | None]:
    """(sample_rate, duration) of one wav, or (kind, message) of what makes it unusable."""
    try:
        header = read_wav_header(path)
    except OSError as err:
        return {}, ("unreadable", f"unreadable wav ({err.strerror})")
    if header is None:  # not a plain RIFF/WAVE: let libsndfile judge it
        try:
            info = sf.info(str(path))
        except Exception as err:  # soundfile raises RuntimeError / LibsndfileError / others
            return {}, ("unreadable", f"unreadable wav ({str(err).strip() or type(err).__name__})")
        rate, channels, frames, subtype = info.samplerate, info.channels, info.frames, info.subtype
    else:
        if "data_size" not in header:
            return {}, ("truncated", "truncated wav: no data chunk")
        held = header["file_size"] - header["data_offset"]
        if header["data_size"] > held:
            return {}, ("truncated", f"truncated wav: the data chunk declares {header['data_size']} "
                                     f"bytes, the file holds {held}")
        rate, channels = header["sample_rate"], header["channels"]
        frames = header["data_size"] // header["block_align"]
        tag, bits = header["tag"], header["bits"]
        subtype = WAV_FORMATS.get(tag, f"format tag {tag}")
        if tag == 1:
            subtype = f"PCM_{bits}"  # soundfile's names: PCM_16, PCM_24, ...
        elif tag == 3:
            subtype = "FLOAT" if bits == 32 else "DOUBLE"
    facts = {"sample_rate": rate, "duration": round(frames / rate, 4) if rate else 0.0}
    if rate != sample_rate:
        return facts, ("sample_rate", f"sample rate {rate} Hz, expected {sample_rate} Hz")
    if channels != 1:
        return facts, ("channels", f"{channels} channels, expected mono")
    if subtype != "PCM_16":
        return facts, ("sample_format", f"sample format {subtype}, expected 16-bit PCM (PCM_16)")
    if frames < MIN_SECONDS * rate:  # a cut-off recording; the audio encoders need >= 25 ms
        return facts, ("empty", f"wav holds {frames} samples, under {MIN_SECONDS} s: no speech")
    return facts, None


def decode_transcript(data: bytes) -> tuple[str, str]:
    """(text, encoding). cp949 is the release's; UTF-8 with Hangul wins when both decode."""
    candidates = {}
    for encoding in ("utf-8-sig", "cp949"):
        try:
            candidates[encoding] = data.decode(encoding)
        except UnicodeDecodeError:
            pass
    utf8 = candidates.get("utf-8-sig")
    if utf8 is not None and (utf8.isascii() or re.search("[\uac00-\ud7a3]", utf8)
                             or "cp949" not in candidates):
        return utf8, "cp949" if utf8.isascii() else "utf-8"
    if "cp949" in candidates:
        return candidates["cp949"], "cp949"
    raise UnicodeDecodeError("cp949", data, 0, len(data), "neither cp949 nor UTF-8")


def read_transcript(path: Path) -> tuple[str | None, str | None, tuple[str, str] | None]:
    """(text_raw, encoding, problem) of one transcript: its lines joined into one."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return None, None, ("unreadable", f"unreadable transcript ({err.strerror})")
    try:
        text, encoding = decode_transcript(data)
    except UnicodeDecodeError:
        return None, None, ("encoding", "transcript is neither cp949 nor UTF-8 text")
    raw = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if not raw:
        return None, None, ("empty", "empty transcript")
    return raw, encoding, None


def check_files(root: Path, row: Row, sample_rate: int) -> tuple[dict, list[tuple]]:
    """Audio facts and transcript of one segment, plus its (file, kind, message) list."""
    folder = Path("wav") / f"Session{row.session:02d}"
    wav, txt = folder / f"{row.segment_id}.wav", folder / f"{row.segment_id}.txt"
    found, problems = {"wav_path": wav.as_posix()}, []
    audio, problem = check_wav(root / wav, sample_rate)
    found.update(audio)
    if problem:
        problems.append((wav.as_posix(), *problem))
    text_raw, encoding, problem = read_transcript(root / txt)
    if problem:
        problems.append((txt.as_posix(), *problem))
    else:
        found.update(text_raw=text_raw, text=clean_transcript(text_raw), encoding=encoding)
    return found, problems


# -- the root -----------------------------------------------------------------------------


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


def _new_stats() -> dict:
    return {"prefix_fixes": {}, "disqust_normalised": 0, "multi_label_totals": 0,
            "empty_totals": 0, "missing_votes": 0}


def _file_problem_error(root: Path, problems: list[dict]) -> InputError:
    listed = [f"{p['file']}: {p['reason']} (segment of {p['annotation']} row {p['row']})"
              for p in problems[:MAX_LISTED]]
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return InputError(
        root / problems[0]["file"],
        f"{len(problems)} segment file(s) missing or unusable: " + "; ".join(listed) + more,
        "restore these files from the release (16 kHz 16-bit mono wav, one-line cp949 txt), or "
        "set dataset.skip_missing: true (ingest.py --skip-missing) to skip their segments, "
        "listed in skipped.csv",
    )


def ingest(root, sample_rate: int = 16000, skip_missing: bool = False,
           workers: int = 8) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """A dataset root -> (segments, report, skipped) as written by main(); reads only."""
    root = Path(root)
    annotations, listing = list_root(root)
    stats = _new_stats()
    rows: list[Row] = []
    for session, path in annotations.items():
        rows += read_annotation(path, session, root, stats)

    first_seen: dict[str, Row] = {}
    for row in rows:
        if row.segment_id in first_seen:
            prev = first_seen[row.segment_id]
            raise InputError(root / row.file, f"duplicate Segment ID {row.segment_id}, already on "
                             f"{prev.file} row {prev.line}", "remove or correct one of the two rows",
                             row=row.line)
        first_seen[row.segment_id] = row

    # Missing files: a set look-up per segment; the rest are opened in a thread pool.
    problems, present = [], []
    for row in rows:
        names = listing.get(row.session, set())
        missing = [f"{row.segment_id}{ext}" for ext in (".wav", ".txt") if f"{row.segment_id}{ext}" not in names]
        for name in missing:
            problems.append({"segment_id": row.segment_id, "file": f"wav/Session{row.session:02d}/{name}",
                             "kind": "missing", "reason": "missing",
                             "annotation": row.file, "row": row.line})
        if not missing:
            present.append(row)
    # Threads overlap the file system's latency (large on network storage); batches keep
    # the pool's own overhead small.
    batches = [present[i: i + 256] for i in range(0, len(present), 256)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checked = [done for batch in pool.map(
            lambda rs: [check_files(root, r, sample_rate) for r in rs], batches) for done in batch]
    found = {}
    for row, (facts, file_problems) in zip(present, checked):
        for file, kind, reason in file_problems:
            problems.append({"segment_id": row.segment_id, "file": file, "kind": kind, "reason": reason,
                             "annotation": row.file, "row": row.line})
        if not file_problems:
            found[row.segment_id] = facts
    problems.sort(key=lambda p: (p["annotation"], p["row"], p["file"]))
    if problems and not skip_missing:
        raise _file_problem_error(root, problems)
    for p in problems:
        log.warning("skipped %s: %s %s", p["segment_id"], p["file"], p["reason"])

    annotated = {row.segment_id for row in rows}
    unannotated = sorted(
        f"wav/Session{s:02d}/{name}" for s, names in listing.items() for name in names
        if name.endswith(".wav") and name[:-4] not in annotated and s in annotations
    )
    if unannotated:
        log.warning("%d wavs have no annotation row (ignored), e.g. %s", len(unannotated),
                    ", ".join(unannotated[:MAX_LISTED]))

    records = []
    for row in rows:
        facts = found.get(row.segment_id)
        if facts is None:
            continue
        match = SEGMENT_ID.match(row.segment_id)
        records.append({
            "segment_id": row.segment_id, "session": row.session, "script": int(match.group(2)),
            "speaker": f"User{match.group(3)}", "gender": match.group(4),
            "wav_path": facts["wav_path"], "text": facts["text"], "text_raw": facts["text_raw"],
            **row.values, "sample_rate": facts["sample_rate"], "duration": facts["duration"],
        })
    segments = pd.DataFrame.from_records(records, columns=COLUMNS)
    for column in VOTE_COLUMNS + ["total_valence", "total_arousal"]:
        if not column.endswith("emotion"):
            dtype = "Float64" if column.startswith("total") else "Int64"
            segments[column] = pd.array(segments[column].tolist(), dtype=dtype)
    skipped = pd.DataFrame([{k: p[k] for k in SKIPPED_COLUMNS} for p in problems],
                           columns=SKIPPED_COLUMNS)

    reasons: dict[str, int] = {}
    for p in problems:
        reasons[p["kind"]] = reasons.get(p["kind"], 0) + 1
    encodings = pd.Series([f["encoding"] for f in found.values()]).value_counts()
    report = {
        "root": str(root),
        "annotation_files": len(annotations),
        "sessions": sorted(annotations),
        "annotated_segments": len(rows),
        "segments": len(segments),
        "prefix_fixes": stats["prefix_fixes"],
        "prefix_fixes_total": sum(stats["prefix_fixes"].values()),
        "disqust_normalised": stats["disqust_normalised"],
        "multi_label_totals": stats["multi_label_totals"],
        "empty_totals": stats["empty_totals"],
        "missing_votes": stats["missing_votes"],
        "total_counts": {c: int((segments["total_emotion"] == c).sum()) for c in CLASSES},
        "unannotated_wavs": len(unannotated),
        "skipped_segments": skipped["segment_id"].nunique(),
        "skipped_by_reason": dict(sorted(reasons.items())),
        "transcripts_utf8": int(encodings.get("utf-8", 0)),
        "empty_clean_text": int((segments["text"] == "").sum()),
        "sample_rate": sample_rate,
        "duration_seconds": {
            "total": round(float(segments["duration"].sum()), 2),
            "min": float(segments["duration"].min()) if len(segments) else None,
            "max": float(segments["duration"].max()) if len(segments) else None,
        },
    }
    return segments, report, skipped


# -- outputs ------------------------------------------------------------------------------


def _inside(path: Path, root: Path) -> bool:
    path, root = path.resolve(), root.resolve()
    return path == root or root in path.parents


def write_outputs(outputs: dict[Path, callable]) -> None:
    """Write every output to a temp file beside it, then move them all into place."""
    temps = {}
    try:
        for path, write in outputs.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temps[path] = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            write(temps[path])
        for path, temp in temps.items():
            os.replace(temp, path)
    finally:
        for temp in temps.values():
            if temp.exists():
                temp.unlink()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, type=Path, help="KEMDy20 folder (read only)")
    ap.add_argument("--out", required=True, type=Path, help="segments.csv")
    ap.add_argument("--report", required=True, type=Path, help="ingest.json")
    ap.add_argument("--skipped", required=True, type=Path, help="skipped.csv")
    ap.add_argument("--skip-missing", action="store_true",
                    help="skip segments whose wav/txt is missing or unusable instead of failing")
    ap.add_argument("--sample-rate", type=int, default=16000, help="required wav sample rate")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for flag, path in (("--out", args.out), ("--report", args.report), ("--skipped", args.skipped)):
        if _inside(path, args.root):
            raise InputError(path, f"{flag} is inside the dataset root",
                             "write outputs elsewhere (e.g. results/data); the root stays read-only")
    started = time.perf_counter()
    segments, report, skipped = ingest(args.root, args.sample_rate, args.skip_missing)
    write_outputs({
        args.out: lambda p: segments.to_csv(p, index=False),
        args.report: lambda p: p.write_text(json.dumps(report, indent=2) + "\n"),
        args.skipped: lambda p: skipped.to_csv(p, index=False),
    })
    log.info("%d segments from %d annotation files (%d Segment IDs given their file's session, "
             "%d disqust cells, %d multi-label totals, %d skipped) in %.1f s",
             report["segments"], report["annotation_files"], report["prefix_fixes_total"],
             report["disqust_normalised"], report["multi_label_totals"],
             report["skipped_segments"], time.perf_counter() - started)


if __name__ == "__main__":
    run_cli(main)
