"""Ingest: a dataset root (the release or the look-alike) -> one checked table of segments.
Owns results/data/segments.csv, ingest.json and skipped.csv.

Every annotated segment needs its wav (readable, the expected sample rate, mono, 16-bit
PCM, not truncated) and a non-empty one-line transcript beside it. Missing or unreadable
files are collected over the whole root and reported together; with skip_missing their
segments are skipped instead and listed in skipped.csv. Nothing is written under the root.

segments.csv: `segment_id, session, script, speaker, gender, wav_path, text, text_raw,
total_emotion, total_valence, total_arousal, e01_emotion, e01_valence, e01_arousal, ...,
e10_arousal, sample_rate, duration`. wav_path is relative to the dataset root; text is
text_raw without the transcription markers; an evaluator's missing vote stays empty.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from kemdy.atomic import atomic_outputs
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.release import kemdy20
from kemdy.release.annotation import MAX_LISTED, Row, new_stats
from kemdy.release.files import check_wav, read_transcript
from kemdy.release.kemdy20 import EVAL_PREFIXES, clean_transcript
from kemdy.tables import read_table

log = logging.getLogger("ingest")

VOTE_COLUMNS = [f"{p}_{k}" for p in EVAL_PREFIXES for k in ("emotion", "valence", "arousal")]
COLUMNS = (
    ["segment_id", "session", "script", "speaker", "gender", "wav_path", "text", "text_raw",
     "total_emotion", "total_valence", "total_arousal"]
    + VOTE_COLUMNS + ["sample_rate", "duration"]
)  # fmt: skip
SKIPPED_COLUMNS = ["segment_id", "file", "reason"]


def check_files(root: Path, row: Row, sample_rate: int) -> tuple[dict, list[tuple]]:
    """Audio facts and transcript of one segment, plus its (file, kind, message) list."""
    wav = Path(row.wav)
    txt = wav.with_suffix(".txt")
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


def _check_unique(root: Path, rows: list[Row]) -> None:
    first_seen: dict[str, Row] = {}
    for row in rows:
        if row.segment_id in first_seen:
            prev = first_seen[row.segment_id]
            raise InputError(root / row.file, f"duplicate Segment ID {row.segment_id}, already on "
                             f"{prev.file} row {prev.line}", "remove or correct one of the two rows",
                             row=row.line)
        first_seen[row.segment_id] = row


def _problem(row: Row, file: str, kind: str, reason: str) -> dict:
    return {"segment_id": row.segment_id, "file": file, "kind": kind, "reason": reason,
            "annotation": row.file, "row": row.line}


def find_files(root: Path, rows: list[Row], files: set[str], sample_rate: int,
               workers: int = 8) -> tuple[dict[str, dict], list[dict]]:
    """Facts of every segment whose files are usable, and the problems of the others."""
    problems, present = [], []
    for row in rows:  # missing files: a set look-up per segment
        wanted = (row.wav, row.wav[:-4] + ".txt")
        missing = [f for f in wanted if f not in files]
        problems += [_problem(row, f, "missing", "missing") for f in missing]
        if not missing:
            present.append(row)
    # The rest are opened in a thread pool: threads overlap the file system's latency (large
    # on network storage); batches keep the pool's own overhead small.
    batches = [present[i: i + 256] for i in range(0, len(present), 256)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checked = [done for batch in pool.map(
            lambda rs: [check_files(root, r, sample_rate) for r in rs], batches) for done in batch]
    found = {}
    for row, (facts, file_problems) in zip(present, checked):
        problems += [_problem(row, *p) for p in file_problems]
        if not file_problems:
            found[row.segment_id] = facts
    problems.sort(key=lambda p: (p["annotation"], p["row"], p["file"]))
    return found, problems


def segments_table(rows: list[Row], found: dict[str, dict]) -> pd.DataFrame:
    records = []
    for row in rows:
        facts = found.get(row.segment_id)
        if facts is None:
            continue
        records.append({
            "segment_id": row.segment_id, "session": row.session, **row.facts,
            "wav_path": facts["wav_path"], "text": facts["text"], "text_raw": facts["text_raw"],
            **row.values, "sample_rate": facts["sample_rate"], "duration": facts["duration"],
        })
    segments = pd.DataFrame.from_records(records, columns=COLUMNS)
    for column in VOTE_COLUMNS + ["total_valence", "total_arousal"]:
        if not column.endswith("emotion"):
            dtype = "Float64" if column.startswith("total") else "Int64"
            segments[column] = pd.array(segments[column].tolist(), dtype=dtype)
    return segments


def ingest(root, sample_rate: int = 16000, skip_missing: bool = False,
           workers: int = 8) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """A dataset root -> (segments, report, skipped) as written by write(); reads only."""
    root = Path(root)
    stats = new_stats()
    rows, files = kemdy20.read(root, stats)
    _check_unique(root, rows)
    found, problems = find_files(root, rows, files, sample_rate, workers)
    if problems and not skip_missing:
        raise _file_problem_error(root, problems)
    for p in problems:
        log.warning("skipped %s: %s %s", p["segment_id"], p["file"], p["reason"])

    annotated = {row.wav for row in rows}
    unannotated = sorted(f for f in files if f.endswith(".wav") and f not in annotated)
    if unannotated:
        log.warning("%d wavs have no annotation row (ignored), e.g. %s", len(unannotated),
                    ", ".join(unannotated[:MAX_LISTED]))
    segments = segments_table(rows, found)
    skipped = pd.DataFrame([{k: p[k] for k in SKIPPED_COLUMNS} for p in problems],
                           columns=SKIPPED_COLUMNS)
    return segments, report(root, stats, rows, segments, skipped, problems, found,
                            len(unannotated), sample_rate), skipped


def report(root, stats, rows, segments, skipped, problems, found, unannotated,
           sample_rate) -> dict:
    """ingest.json: counts of what was read, fixed and skipped."""
    reasons: dict[str, int] = {}
    for p in problems:
        reasons[p["kind"]] = reasons.get(p["kind"], 0) + 1
    encodings = pd.Series([f["encoding"] for f in found.values()]).value_counts()
    return {
        "root": str(root),
        "annotation_files": stats["annotation_files"],
        "sessions": stats["sessions"],
        "annotated_segments": len(rows),
        "segments": len(segments),
        "prefix_fixes": stats["prefix_fixes"],
        "prefix_fixes_total": sum(stats["prefix_fixes"].values()),
        "disqust_normalised": stats["disqust_normalised"],
        "multi_label_totals": stats["multi_label_totals"],
        "empty_totals": stats["empty_totals"],
        "missing_votes": stats["missing_votes"],
        "total_counts": {c: int((segments["total_emotion"] == c).sum()) for c in CLASSES},
        "unannotated_wavs": unannotated,
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


def inside(path: Path, root: Path) -> bool:
    path, root = Path(path).resolve(), Path(root).resolve()
    return path == root or root in path.parents


def write(segments: pd.DataFrame, report: dict, skipped: pd.DataFrame, out, report_path,
          skipped_path) -> None:
    """The three outputs, all or none."""
    with atomic_outputs(out, report_path, skipped_path) as (t_out, t_report, t_skipped):
        segments.to_csv(t_out, index=False)
        Path(t_report).write_text(json.dumps(report, indent=2) + "\n")
        skipped.to_csv(t_skipped, index=False)


def read_segments(path, columns=(), **read_csv) -> pd.DataFrame:
    """segments.csv (or the `columns` of it)."""
    return read_table(path, columns, "run the ingest step first (or re-run it)", **read_csv)


def read_skipped(path, **read_csv) -> pd.DataFrame:
    return read_table(path, SKIPPED_COLUMNS, "re-run the ingest step", **read_csv)


def read_ingest_report(path) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError) as err:
        raise InputError(path, f"unreadable ({err})", "re-run the ingest step") from None
