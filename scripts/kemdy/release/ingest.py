"""Ingest: one or more dataset roots (KEMDy20, KEMDy19, or their look-alikes) -> one checked
table of segments (kemdy.release.segments owns its files).

Every annotated segment needs its wav (readable, the expected sample rate, mono, 16-bit
PCM, not truncated) and a one-line transcript beside it that is text (no NUL or other
control bytes) and holds a word besides the transcription markers. Missing or unusable
files are collected over every root and reported together; with skip_missing their
segments are skipped instead and listed in skipped.csv (so are, always, the files a
release is known to lack). Losing everything, a whole session, or more than max_skipped_share of
the segments stops ingest all the same, naming the cause. Nothing is written under a root.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from kemdy.errors import InputError
from kemdy.release import kemdy19, kemdy20
from kemdy.release.annotation import MAX_LISTED, Row, new_stats
from kemdy.release.files import check_wav, read_transcript
from kemdy.release.kinds import check_kind
from kemdy.release.report import lost_data_error, report
from kemdy.release.segments import (MAX_SKIPPED_SHARE, NAMES, SKIPPED_COLUMNS, records, slot,
                                    table)

log = logging.getLogger("ingest")

READERS = {"kemdy20": kemdy20, "kemdy19": kemdy19}  # release format -> its reader module


def check_files(root: Path, row: Row, sample_rate: int, clean) -> tuple[dict, list[tuple]]:
    """Audio facts and transcript of one segment, plus its (file, kind, message) list."""
    wav = Path(row.wav)
    txt = wav.with_suffix(".txt")
    found, problems = {"wav_path": wav.as_posix()}, []
    audio, problem = check_wav(root / wav, sample_rate)
    found.update(audio)
    if problem:
        problems.append((wav.as_posix(), *problem))
    text_raw, encoding, problem = read_transcript(root / txt)
    text = clean(text_raw) if not problem else ""
    if not problem and not text:  # what the model reads would be empty
        problem = ("empty", f"transcript holds only transcription markers ({text_raw!r}), "
                            "no word")
    if problem:
        problems.append((txt.as_posix(), *problem))
    else:
        found.update(text_raw=text_raw, text=text, encoding=encoding)
    return found, problems


def _problem(name: str, row: Row, file: str, kind: str, reason: str) -> dict:
    return {"dataset": name, "segment_id": row.segment_id, "file": file, "kind": kind,
            "reason": reason, "annotation": row.file, "row": row.line, "session": row.session,
            "written_as": row.written_as}


def _missing(path: Path) -> str:
    if path.is_symlink():  # the readers list only what opens: a dangling link is missing
        return f"missing (a symlink to {os.readlink(path)}, which does not exist)"
    return "missing"


def find_files(name: str, root: Path, release, sample_rate: int, clean,
               workers: int = 8) -> tuple[dict[str, dict], list[dict]]:
    """Facts of every segment whose files are usable, and the problems of the others."""
    problems, present = [], []
    for row in release.rows:  # missing files: a set look-up per segment
        missing = [f for f in (row.wav, row.wav[:-4] + ".txt") if f not in release.files]
        for f in missing:
            known = release.known_missing.get(f)
            problems.append(_problem(name, row, f, "known" if known else "missing",
                                     f"missing ({known})" if known else _missing(root / f)))
        if not missing:
            present.append(row)
    # The rest are opened in a thread pool: threads overlap the file system's latency (large
    # on network storage); batches keep the pool's own overhead small.
    batches = [present[i: i + 256] for i in range(0, len(present), 256)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checked = [done for batch in pool.map(
            lambda rs: [check_files(root, r, sample_rate, clean) for r in rs], batches)
            for done in batch]
    found = {}
    for row, (facts, file_problems) in zip(present, checked):
        problems += [_problem(name, row, *p) for p in file_problems]
        if not file_problems:
            found[row.segment_id] = facts
    problems.sort(key=lambda p: (p["annotation"], p["row"], p["file"]))
    return found, problems


def _file_problem_error(root: Path, problems: list[dict]) -> InputError:
    listed = [f"{p['file']}: {p['reason']} (segment of {p['annotation']} row {p['row']}"
              + (f", whose Segment ID {p['written_as']} was given the file's session"
                 if p.get("written_as") else "") + ")"
              for p in problems[:MAX_LISTED]]
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return InputError(
        root / problems[0]["file"],
        f"{len(problems)} segment file(s) missing or unusable: " + "; ".join(listed) + more,
        "restore these files from the release (16 kHz 16-bit mono wav, one-line transcript), "
        "or set dataset.skip_missing: true (ingest.py --skip-missing) to skip their segments, "
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


def ingest(datasets, sample_rate: int = 16000, skip_missing: bool = False,
           max_skipped_share: float = MAX_SKIPPED_SHARE,
           workers: int = 8) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """[(kind, root), ...] -> (segments, report, skipped) as written by write(); reads only."""
    kinds = [kind for kind, _ in datasets]
    if len(set(kinds)) < len(kinds):
        raise InputError("datasets", f"two roots of the same release ({kinds})",
                         "name each release once", key="datasets")
    rows, problems, slots, parts = [], [], {}, []
    for kind, root in datasets:
        name, root, reader = NAMES[kind], Path(root), READERS[kind]
        stats = new_stats()
        check_kind(kind, root)
        release = reader.read(root, stats)
        _check_unique(root, release.rows)
        found, found_problems = find_files(name, root, release, sample_rate,
                                           reader.clean_transcript, workers)
        blocking = [p for p in found_problems if p["kind"] != "known"]
        if blocking and not skip_missing:
            raise _file_problem_error(root, blocking)
        qualify = len(datasets) > 1  # the same header name in two releases: two people
        for evaluator in release.evaluators:
            slots.setdefault(f"{name} {evaluator}" if qualify else evaluator, len(slots))
        if qualify:
            for row in release.rows:
                row.votes = {f"{name} {e}": v for e, v in row.votes.items()}
        rows += records(name, release, found, slots)
        problems += found_problems
        parts.append((name, root, stats, release, found, found_problems))
    for p in problems:
        log.warning("skipped %s: %s %s", p["segment_id"], p["file"], p["reason"])
    segments = table(rows, len(slots))
    error = lost_data_error(parts, problems, len(segments), max_skipped_share)
    if error is not None:
        raise error
    skipped = pd.DataFrame([{k: p[k] for k in SKIPPED_COLUMNS} for p in problems],
                           columns=SKIPPED_COLUMNS)
    evaluators = {slot(j): name for name, j in slots.items()}
    return segments, report(parts, segments, skipped, problems, evaluators, sample_rate), skipped
