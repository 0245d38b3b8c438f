"""Broken datasets and configs: each stops with a clear message.

The session's small look-alike (conftest.py: 4 sessions x 8 segments, Sess03_eval.csv with
the wrong session prefix, as Sess12/Sess17 of the release) is copied by each case, which breaks
the copy, points a scratch workflow at it (`dataset.kind: kemdy20`) and asks Snakemake for the
step that must detect the fault. Every case checks: non-zero exit; the message (Snakemake's
output plus the rule's log) names the file and the row or config key and says what to do;
no output that looks complete is left; the broken copy's bytes are unchanged.

The faults ingest finds run its script in-process with the rule's arguments instead, but
for THROUGH_WORKFLOW: the message is the same ERROR line, and a workflow run per case costs
seconds of Snakemake's start each; those few show how a failed rule surfaces it.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from ingest import main as ingest_main
from kemdy.errors import run_cli
from kemdy.release.kemdy20 import with_session
from workflow_utils import copy_workflow, snakemake, tiny_config, tree_digest

pytestmark = pytest.mark.workflow

SEGMENTS = "results/data/segments.csv"
FOLDS = "results/data/folds.csv"


# -- reading and breaking a copy ----------------------------------------------------------


def annotation(root: Path, session: int) -> Path:
    return root / "annotation" / f"Sess{session:02d}_eval.csv"


def read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def segment(root: Path, session: int, k: int) -> tuple[str, int]:
    """(Segment ID as its files are named, line number in the annotation file) of data row k."""
    seg_id = read_rows(annotation(root, session))[2 + k][3]
    return with_session(seg_id, session), k + 3  # two header lines, then rows from line 3


def segment_file(root: Path, session: int, k: int, ext: str) -> tuple[str, int]:
    """('wav/SessionNN/<id>.<ext>', annotation line) of data row k."""
    seg_id, line = segment(root, session, k)
    return f"wav/Session{session:02d}/{seg_id}.{ext}", line


def set_cell(root: Path, session: int, k: int, column: int, value: str) -> int:
    path = annotation(root, session)
    rows = read_rows(path)
    rows[2 + k][column] = value
    write_rows(path, rows)
    return k + 3


@dataclass
class Case:
    """A fault: breaks(root) edits the copy and returns the strings the message must hold
    (a config fault leaves the data alone and lists them in `expect`)."""

    name: str
    breaks: Callable[[Path], list[str]] | None = None
    expect: tuple[str, ...] = ()
    target: str = SEGMENTS
    config: dict = field(default_factory=dict)
    fails_in: str | None = "ingest"  # the rule whose log holds the message; None: config check


def truncated_wav(root):
    wav, line = segment_file(root, 1, 2, "wav")
    data = (root / wav).read_bytes()
    (root / wav).write_bytes(data[: len(data) // 2])
    return [wav, "truncated", f"annotation/Sess01_eval.csv row {line}"]


def wav_other_rate(root):
    wav, line = segment_file(root, 2, 0, "wav")
    data, _ = sf.read(root / wav, dtype="int16")
    sf.write(root / wav, data, 22050, subtype="PCM_16")
    return [wav, "sample rate 22050 Hz, expected 16000 Hz", f"annotation/Sess02_eval.csv row {line}"]


def wav_stereo(root):
    wav, line = segment_file(root, 4, 1, "wav")
    data, rate = sf.read(root / wav, dtype="int16")
    sf.write(root / wav, np.stack([data, data], axis=1), rate, subtype="PCM_16")
    return [wav, "2 channels, expected mono", f"annotation/Sess04_eval.csv row {line}"]


def empty_transcript(root):
    txt, line = segment_file(root, 1, 5, "txt")
    (root / txt).write_bytes(b"")
    return [txt, "empty transcript", f"annotation/Sess01_eval.csv row {line}"]


def undecodable_transcript(root):
    txt, line = segment_file(root, 2, 3, "txt")
    (root / txt).write_bytes(b"\xff\xfe\x80 \xc8\xff\r\n")  # 0xFF is no cp949 lead byte, nor UTF-8
    return [txt, "neither cp949 nor UTF-8", f"annotation/Sess02_eval.csv row {line}"]


def wav_without_samples(root):
    wav, line = segment_file(root, 2, 6, "wav")
    sf.write(root / wav, np.zeros(0, dtype=np.int16), 16000, subtype="PCM_16")  # a valid, empty wav
    return [wav, f"annotation/Sess02_eval.csv row {line}"]


def missing_wav(root):
    wav, line = segment_file(root, 3, 0, "wav")  # the wrong-prefix session: named by its fixed ID
    (root / wav).unlink()
    return [wav, "missing", f"annotation/Sess03_eval.csv row {line}"]


def missing_annotation(root):
    annotation(root, 2).unlink()
    return ["Sess02_eval.csv", "missing, but wav/Session02 holds 8 wavs", "annotation file"]


def empty_annotation(root):
    annotation(root, 4).write_bytes(b"")
    return ["Sess04_eval.csv", "the annotation file is empty", "restore it"]


def header_column_missing(root):
    path = annotation(root, 1)
    write_rows(path, [row[:2] + row[3:] for row in read_rows(path)])  # drop `wav end` everywhere
    return ["Sess01_eval.csv, row 1", "36 columns, expected 37", "header rows"]


def header_row_missing(root):
    path = annotation(root, 4)
    rows = read_rows(path)
    write_rows(path, rows[:1] + rows[2:])
    return ["Sess04_eval.csv, row 2", "missing header row 2", "header rows"]


def unknown_emotion(root):
    line = set_cell(root, 3, 4, 7 + 3 * 2, "joy")  # Eval03M's emotion
    return [f"Sess03_eval.csv, row {line}", "unknown emotion 'joy' of Eval03M", "use one of"]


def duplicate_segment_id(root):
    path = annotation(root, 2)
    rows = read_rows(path)
    rows[2 + 5][3] = rows[2 + 1][3]
    write_rows(path, rows)
    return ["Sess02_eval.csv, row 8", f"duplicate Segment ID {rows[3][3]}",
            "already on annotation/Sess02_eval.csv row 4", "remove or correct one of the two rows"]


def row_of_another_session(root):
    """A Sess01 row pasted into Sess02's file: its prefix and its speaker are session 1's, so
    it is not the Sess12/Sess17 defect (rewriting it would report Sess02 files missing)."""
    pasted = read_rows(annotation(root, 1))[2 + 3]
    path = annotation(root, 2)
    rows = read_rows(path)
    write_rows(path, rows + [pasted])
    line = len(rows) + 1
    return [f"Sess02_eval.csv, row {line}", f"Segment ID {pasted[3]} is a segment of session 01",
            "the row looks pasted from Sess01_eval.csv",
            f"remove row {line} from Sess02_eval.csv"]


def valence_out_of_range(root):
    line = set_cell(root, 1, 6, 8, "7")  # Eval01F's valence
    return [f"Sess01_eval.csv, row {line}", "Eval01F valence '7' is not an integer from 1 to 5"]


CASES = [
    Case("truncated_wav", truncated_wav),
    Case("wav_other_sample_rate", wav_other_rate),
    Case("wav_two_channels", wav_stereo),
    Case("empty_transcript", empty_transcript),
    Case("undecodable_transcript", undecodable_transcript),
    Case("missing_wav", missing_wav),
    Case("wav_without_samples", wav_without_samples),
    Case("missing_annotation_file", missing_annotation),
    Case("empty_annotation_file", empty_annotation),
    Case("header_column_missing", header_column_missing),
    Case("header_row_missing", header_row_missing),
    Case("unknown_emotion_label", unknown_emotion),
    Case("duplicate_segment_id", duplicate_segment_id),
    Case("row_of_another_session", row_of_another_session),
    Case("valence_out_of_range", valence_out_of_range),
    # Config faults: the schema stops Snakemake before any job.
    Case("config_key_of_wrong_type", config={"audio.sample_rate": "16k"}, fails_in=None,
         expect=("instance['audio']['sample_rate']", "'16k' is not of type 'integer'")),
    Case("config_unknown_variant_field", config={"variants.text_ce.learning_rate": 1e-4}, fails_in=None,
         expect=("instance['variants']['text_ce']", "Additional properties are not allowed "
                 "('learning_rate' was unexpected)")),
    # Real-kind data: the session count is only known once the data is read, by make_folds.
    Case("more_folds_than_sessions", target=FOLDS, config={"folds.n_folds": 5}, fails_in="make_folds",
         expect=("results/data/new_data.csv, key 'folds.n_folds'", "n_folds 5 is more than the 4 sessions",
                 "set folds.n_folds to at most 4")),
]

# What a run that stopped in a rule may legitimately leave: the outputs of the rules before it.
UPSTREAM = {
    "ingest": set(),
    None: set(),
    "make_folds": {f"results/data/{name}" for name in (
        "segments.csv", "ingest.json", "skipped.csv", "new_data.csv", "evaluators.csv", "agreement.json")},
}


THROUGH_WORKFLOW = {"truncated_wav", "missing_wav", "missing_annotation_file",
                    "unknown_emotion_label"}


def run_ingest(tmp_path: Path, root: Path, capsys) -> tuple[int, str, Path]:
    """(exit status, stderr, output folder) of the ingest rule's command, in-process."""
    out = tmp_path / "workflow" / "results" / "data"
    argv = ["--dataset", "kemdy20", str(root), "--out", str(out / "segments.csv"),
            "--report", str(out / "ingest.json"), "--skipped", str(out / "skipped.csv"),
            "--max-skipped-share", str(tiny_config()["dataset"]["max_skipped_share"])]
    try:
        run_cli(ingest_main, argv)
        code = 0
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err, out.parent.parent


def run_workflow(tmp_path: Path, root: Path, target: str, **overrides):
    config = tiny_config(**{"dataset.kind": "kemdy20", "dataset.root": str(root), **overrides})
    work = copy_workflow(tmp_path / "workflow", config)
    return work, snakemake(work, target, check=False)


def files_under(folder: Path) -> set[str]:
    """Every file below folder (temporary ones included), relative to its parent."""
    return {str(p.relative_to(folder.parent)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input_stops_with_a_clear_message(case, lookalike, tmp_path, capsys):
    root = tmp_path / "KEMDy20_v1_1"
    shutil.copytree(lookalike, root)
    expected = case.breaks(root) if case.breaks else list(case.expect)
    before = tree_digest(root)

    if case.fails_in == "ingest" and case.name not in THROUGH_WORKFLOW and not case.config:
        code, err, work = run_ingest(tmp_path, root, capsys)
        assert code not in (0, None), f"{case.name}: ingest did not stop\n{err[-3000:]}"
        errors = [line for line in err.splitlines() if line.startswith("ERROR: ")]
        assert len(errors) == 1 and "Fix: " in errors[0], err[-3000:]
        for part in expected:
            assert part in errors[0], f"{case.name}: {part!r} not in the message:\n{errors[0]}"
        assert not files_under(work / "results"), "ingest left output"
        assert tree_digest(root) == before, "the dataset was changed"
        return
    work, proc = run_workflow(tmp_path, root, case.target, **case.config)

    shown = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"{case.name}: the workflow did not stop\n{shown[-3000:]}"
    if case.fails_in is None:
        message = shown
        assert "Error validating config file" in message
    else:
        log = work / "logs" / f"{case.fails_in}.log"
        # Snakemake names the failed rule and its log; the log holds the script's one ERROR line.
        assert f"Error in rule {case.fails_in}" in shown, shown[-3000:]
        assert f"logs/{case.fails_in}.log" in shown
        errors = [line for line in log.read_text().splitlines() if line.startswith("ERROR: ")]
        assert len(errors) == 1, log.read_text()[-3000:]
        message = errors[0]
        assert "Fix: " in message, message  # what to do
    for part in expected:
        assert part in message, f"{case.name}: {part!r} not in the message:\n{message[-3000:]}"

    left = files_under(work / "results")
    assert not left - UPSTREAM[case.fails_in], f"{case.name} left {sorted(left - UPSTREAM[case.fails_in])}"
    assert not (work / case.target).exists()
    assert tree_digest(root) == before, "the dataset was changed"


def test_a_clean_copy_passes(lookalike, tmp_path):
    """The control: the same copy unbroken goes through, so each failure above is its fault's."""
    root = tmp_path / "KEMDy20_v1_1"
    shutil.copytree(lookalike, root)
    work, proc = run_workflow(tmp_path, root, SEGMENTS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    segments = pd.read_csv(work / SEGMENTS)
    assert len(segments) == 4 * 8


def test_skip_missing_lists_what_it_skipped(lookalike, tmp_path):
    root = tmp_path / "KEMDy20_v1_1"
    shutil.copytree(lookalike, root)
    wav, _ = segment_file(root, 2, 2, "wav")
    txt, _ = segment_file(root, 4, 3, "txt")
    (root / wav).unlink()
    (root / txt).write_bytes(b"\xff\xfe\x80 \xc8\xff\r\n")
    gone = {Path(wav).stem, Path(txt).stem}
    before = tree_digest(root)

    work, proc = run_workflow(tmp_path, root, SEGMENTS, **{"dataset.skip_missing": True,
                                                           "dataset.max_skipped_share": 0.1})

    assert proc.returncode == 0, proc.stderr[-3000:]
    skipped = pd.read_csv(work / "results/data/skipped.csv")
    assert set(skipped["segment_id"]) == gone
    assert set(skipped["file"]) == {wav, txt}
    assert skipped.loc[skipped["file"] == wav, "reason"].item() == "missing"
    assert "cp949" in skipped.loc[skipped["file"] == txt, "reason"].item()
    log = (work / "logs/ingest.log").read_text()
    for seg_id, file in ((Path(wav).stem, wav), (Path(txt).stem, txt)):
        assert re.search(rf"skipped {seg_id}: {re.escape(file)} ", log), log
    segments = pd.read_csv(work / SEGMENTS)
    assert len(segments) == 4 * 8 - 2 and not gone & set(segments["segment_id"])
    assert tree_digest(root) == before
