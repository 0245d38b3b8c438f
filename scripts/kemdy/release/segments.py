"""segments.csv, ingest.json and skipped.csv: their columns, writing and reading (this
module owns all three; kemdy.release.ingest fills them).

segments.csv: `dataset, segment_id, session, script, turn, speaker, gender, wav_path, text,
text_raw, total_emotion, total_valence, total_arousal`, then per evaluator slot
`e01_emotion, e01_valence, e01_arousal, ...`, then `sample_rate, duration`. Slots number the
evaluators of all datasets in order of first appearance (ingest.json's `evaluators` names
them); wav_path is relative to the segment's dataset root; text is text_raw without the
transcription markers; an evaluator's missing vote stays empty. `turn` is the release's
own running number of the segment in its session (the annotation files' Numb; both speakers
of a dialogue interleaved, the same number in KEMDy19's F and M files), empty where the
release gives none: (dataset, session, script) is a dialogue, `turn` its order.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from kemdy.atomic import atomic_outputs
from kemdy.release import kemdy20
from kemdy.tables import read_json, read_table

NAMES = {"kemdy20": "KEMDy20", "kemdy19": "KEMDy19"}
HEAD = ["dataset", "segment_id", "session", "script", "turn", "speaker", "gender", "wav_path",
        "text", "text_raw", "total_emotion", "total_valence", "total_arousal"]
TAIL = ["sample_rate", "duration"]
SKIPPED_COLUMNS = ["dataset", "segment_id", "file", "reason"]
MAX_SKIPPED_SHARE = 0.05


def slot(j: int) -> str:
    """Column prefix of evaluator slot j (0-based): e01, e02, ..."""
    return f"e{j + 1:02d}"


def vote_columns(n_slots: int) -> list[str]:
    return [f"{slot(j)}_{k}" for j in range(n_slots) for k in ("emotion", "valence", "arousal")]


COLUMNS = HEAD + vote_columns(kemdy20.N_EVALUATORS) + TAIL  # a KEMDy20-only table


def records(name: str, release, found: dict[str, dict], slots: dict[str, int]) -> list[dict]:
    """One segments.csv record per segment with usable files; votes in their slots."""
    out = []
    for row in release.rows:
        facts = found.get(row.segment_id)
        if facts is None:
            continue
        record = {"dataset": name, "segment_id": row.segment_id, "session": row.session,
                  **row.facts, "turn": row.turn, "wav_path": facts["wav_path"],
                  "text": facts["text"], "text_raw": facts["text_raw"], **row.totals,
                  "sample_rate": facts["sample_rate"], "duration": facts["duration"]}
        for evaluator, (emotion, valence, arousal) in row.votes.items():
            prefix = slot(slots[evaluator])
            record.update({f"{prefix}_emotion": emotion, f"{prefix}_valence": valence,
                           f"{prefix}_arousal": arousal})
        out.append(record)
    return out


def table(rows: list[dict], n_slots: int) -> pd.DataFrame:
    votes = vote_columns(n_slots)
    segments = pd.DataFrame.from_records(rows, columns=HEAD + votes + TAIL)
    for column in votes + ["total_valence", "total_arousal"]:
        if not column.endswith("emotion"):
            dtype = "Float64" if column.startswith("total") else "Int64"
            segments[column] = pd.array(segments[column].tolist(), dtype=dtype)
    segments["turn"] = pd.array(segments["turn"].tolist(), dtype="Int64")
    return segments


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
    return read_table(path, ["segment_id", "file", "reason"], "re-run the ingest step",
                      **read_csv)


def read_ingest_report(path) -> dict:
    return read_json(path, "re-run the ingest step")
