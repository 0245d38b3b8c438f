"""ingest reads the release's quirks, refuses bad input clearly, and never writes in the root."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import ingest
from kemdy.classes import CLASS_INDEX, CLASSES
from kemdy.errors import InputError
from kemdy.release.kemdy20 import EVALUATORS, N_COLUMNS, clean_transcript
from kemdy.release.segments import COLUMNS
from kemdy.release.state import root_state
from workflow_utils import tree_digest

REPO = Path(__file__).resolve().parents[1]


# -- helpers ------------------------------------------------------------------------------


def copy_sessions(src: Path, dest: Path, sessions=(1,)) -> Path:
    """A smaller root holding only some sessions of the fixture (cheap to break)."""
    (dest / "annotation").mkdir(parents=True)
    (dest / "wav").mkdir()
    for s in sessions:
        shutil.copy(src / "annotation" / f"Sess{s:02d}_eval.csv", dest / "annotation")
        shutil.copytree(src / "wav" / f"Session{s:02d}", dest / "wav" / f"Session{s:02d}")
    return dest


def run(root: Path, out: Path, *extra: str) -> dict[str, Path]:
    paths = {"out": out / "segments.csv", "report": out / "ingest.json", "skipped": out / "skipped.csv"}
    ingest.main(["--root", str(root), "--out", str(paths["out"]), "--report", str(paths["report"]),
                 "--skipped", str(paths["skipped"]), *extra])
    return paths


def fails(root: Path, out: Path, *extra: str) -> str:
    """Run ingest expecting an InputError; no output may exist afterwards."""
    with pytest.raises(InputError) as err:
        run(root, out, *extra)
    assert not out.exists() or not any(out.iterdir()), "a failed ingest left files behind"
    message = str(err.value)
    assert "Fix:" in message
    return message


def edit_rows(path: Path, change) -> None:
    """Rewrite an annotation file through change(rows) (a list of lists of cells)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    rows = change(rows)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")


@pytest.fixture
def one(tiny_root, tmp_path) -> Path:
    """Session 1 of the fixture alone, in a scratch root."""
    return copy_sessions(tiny_root[0], tmp_path / "root", (1,))


def sess01(root: Path) -> Path:
    return root / "annotation" / "Sess01_eval.csv"


def first_wav(root: Path) -> Path:
    return sorted((root / "wav" / "Session01").glob("*.wav"))[0]


# -- the fixture as released --------------------------------------------------------------


def test_segments_table(tiny_root, tiny_segments):
    root, truth = tiny_root
    seg = pd.read_csv(tiny_segments, keep_default_na=False, dtype=str)
    assert list(seg.columns) == COLUMNS
    assert seg.columns[-2:].tolist() == ["sample_rate", "duration"]
    assert sorted(seg["segment_id"]) == sorted(pd.read_csv(truth)["segment_id"])
    assert (seg["wav_path"] == "wav/Session" + seg["session"].str.zfill(2) + "/"
            + seg["segment_id"] + ".wav").all()
    assert all((root / p).is_file() for p in seg["wav_path"])
    assert set(seg["speaker"].str[:4]) == {"User"} and set(seg["gender"]) <= {"F", "M"}
    assert (seg["speaker"] + seg["gender"] == seg["segment_id"].str.split("_").str[2]).all()
    assert (seg["sample_rate"] == "16000").all()
    for sid, wav, duration in seg[["segment_id", "wav_path", "duration"]].itertuples(index=False):
        assert float(duration) == pytest.approx(sf.info(str(root / wav)).duration, abs=1e-3)


def test_wrong_prefixes_fixed_and_counted(tiny_root, tiny_segments):
    seg = pd.read_csv(tiny_segments)
    report = json.loads(tiny_segments.with_name("ingest.json").read_text())
    assert report["prefix_fixes"] == {"Sess03_eval.csv": 12}
    assert report["prefix_fixes_total"] == 12
    assert (seg["segment_id"].str[4:6].astype(int) == seg["session"]).all()
    assert (seg["session"] == 3).sum() == 12


def test_a_row_pasted_from_another_session_is_named_with_its_session(tiny_root, tmp_path):
    """The Sess12/Sess17 defect (every prefix wrong, the speakers the file's own) is rewritten;
    a row whose prefix and speaker are another session's is that session's segment, even in
    a file with the defect: refused, naming the row and its session, not reported as its
    rewritten ID's missing files."""
    root = copy_sessions(tiny_root[0], tmp_path / "root", (1, 3))
    pasted = list(csv.reader(io.StringIO(sess01(root).read_text(encoding="utf-8"))))[4]
    lines = []
    edit_rows(root / "annotation" / "Sess03_eval.csv",
              lambda rows: lines.append(len(rows) + 1) or rows + [pasted])
    message = fails(root, tmp_path / "out")
    assert f"Sess03_eval.csv, row {lines[0]}" in message
    assert f"Segment ID {pasted[3]} is a segment of session 01 (speaker User00" in message
    assert "not of this file's session 03 (users 005 and 006)" in message
    assert f"Fix: remove row {lines[0]} from Sess03_eval.csv (the segment belongs in " \
        "Sess01_eval.csv" in message and "missing" not in message


def test_a_rewritten_segment_id_is_named_as_written_when_its_files_are_missing(one, tmp_path):
    """A prefix rewritten to the file's session (speaker the file's own) whose files do not
    exist: the missing-file error says which Segment ID the row wrote."""
    written = {}

    def change(rows):
        written["id"] = "Sess09" + rows[3][3][6:-3] + "999"
        rows[3][3] = written["id"]
        return rows

    edit_rows(sess01(one), change)
    message = fails(one, tmp_path / "out")
    assert f"Sess01_eval.csv row 4, whose Segment ID {written['id']} was given the file's " \
        "session" in message
    assert f"wav/Session01/Sess01{written['id'][6:]}.wav: missing" in message


def test_labels_normalised(tiny_root, tiny_segments):
    root, _ = tiny_root
    seg = pd.read_csv(tiny_segments, keep_default_na=False, dtype=str)
    report = json.loads(tiny_segments.with_name("ingest.json").read_text())
    emotion_cols = [c for c in seg.columns if c.endswith("_emotion")]
    assert not seg[emotion_cols].apply(lambda c: c.str.contains("disqust")).any().any()
    for col in emotion_cols[1:]:
        assert set(seg[col]) <= set(CLASSES) | {""}
    raw = "".join((root / "annotation" / f"Sess{s:02d}_eval.csv").read_text() for s in range(1, 5))
    n_disqust = raw.count("disqust")
    assert n_disqust > 0 and report["disqust_normalised"] == n_disqust
    for total in seg["total_emotion"]:
        parts = total.split(";")
        assert parts == sorted(parts, key=CLASS_INDEX.__getitem__)
    assert report["multi_label_totals"] == seg["total_emotion"].str.contains(";").sum()


def test_empty_votes_stay_empty(tiny_root, tiny_segments):
    root, _ = tiny_root
    seg = pd.read_csv(tiny_segments, keep_default_na=False, dtype=str)
    missing = 0
    for s in range(1, 5):
        rows = list(csv.reader((root / "annotation" / f"Sess{s:02d}_eval.csv").open()))[2:]
        missing += sum(row[7 + 3 * j] == "" for row in rows for j in range(10))
    vote_emotions = seg[[f"e{j:02d}_emotion" for j in range(1, 11)]]
    assert (vote_emotions == "").sum().sum() == missing
    report = json.loads(tiny_segments.with_name("ingest.json").read_text())
    assert report["missing_votes"] == missing
    ints = seg[[f"e{j:02d}_valence" for j in range(1, 11)]].to_numpy().ravel()
    assert set(ints) <= {"", "1", "2", "3", "4", "5"}  # integers, not 3.0


def test_transcripts_cp949_and_markers(tiny_root, tiny_segments):
    root, _ = tiny_root
    seg = pd.read_csv(tiny_segments, keep_default_na=False, dtype=str)
    for sid, wav, text, raw in seg[["segment_id", "wav_path", "text", "text_raw"]].itertuples(index=False):
        line = (root / wav).with_suffix(".txt").read_bytes().decode("cp949")
        assert raw == line.strip()
        assert text == clean_transcript(raw)
    stripped = seg[seg["text"] != seg["text_raw"]]
    assert len(stripped) > 0
    assert not stripped["text"].str.contains(r"[*+()]|(?:^|\s)[cnNulb]?/").any()


def test_root_is_never_written(tiny_root, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(tiny_root[0], root)
    before = tree_digest(root)
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    try:
        paths = run(root, tmp_path / "out")
        assert paths["out"].exists() and paths["report"].exists() and paths["skipped"].exists()
        assert tree_digest(root) == before
        with pytest.raises(InputError, match="inside the dataset root"):
            run(root, root / "results")
        assert tree_digest(root) == before
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
    assert pd.read_csv(paths["skipped"]).columns.tolist() == ["dataset", "segment_id", "file", "reason"]
    assert len(pd.read_csv(paths["skipped"])) == 0


def test_cli_exit_code(one, tmp_path):
    sess01(one).write_text("")
    cmd = [sys.executable, str(REPO / "scripts" / "ingest.py"), "--root", str(one),
           "--out", str(tmp_path / "o" / "s.csv"), "--report", str(tmp_path / "o" / "r.json"),
           "--skipped", str(tmp_path / "o" / "k.csv")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"ERROR: {sess01(one)}")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


# -- a root written by another program ----------------------------------------------------


def write_hand_root(root: Path) -> list[str]:
    """One session written without the generator: BOM, spaces, 3.0, blank line, strays."""
    ids = ["Sess01_script01_User001F_001", "Sess01_script01_User002M_001",
           "Sess01_script02_User001F_001"]
    folder = root / "wav" / "Session01"
    folder.mkdir(parents=True)
    for extra in ("EDA", "IBI", "TEMP", "annotation"):
        (root / extra).mkdir()
    (root / "annotation" / "README.txt").write_text("notes")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    (folder / "notes.md").write_text("stray")
    rng = np.random.default_rng(0)
    for i, sid in enumerate(ids):
        sf.write(folder / f"{sid}.wav", 0.1 * rng.standard_normal(16000 + 800 * i), 16000,
                 subtype="PCM_16")
    (folder / f"{ids[0]}.txt").write_bytes("아 진짜 짜증나. b/".encode("cp949"))
    (folder / f"{ids[1]}.txt").write_bytes("(웃음) 좋아 l/ 그러니까\n".encode("cp949"))
    (folder / f"{ids[2]}.txt").write_bytes("무서워 진짜\n".encode("utf-8"))  # a UTF-8 copy
    header1 = ["Numb", "Wav", " ", "Segment ID", "Total Evaluation", " ", " "]
    header2 = [" ", "start", "end", " ", "Emotion", "Valence", "Arousal"]
    for name in EVALUATORS:
        header1 += [name, " ", " "]
        header2 += ["Emotion", "Valence", "Arousal"]
    rows = [header1, header2]
    votes = [["angry", "2.0", "4.0"]] * 6 + [["disqust", "1", "4"]] * 3 + [["", "", ""]]
    rows.append(["1", "0.5", "1.5", f" {ids[0]} ", " angry ", "1.8", "4.0"] + sum(votes, []))
    votes = [[" happy ", " 4 ", "3"]] * 5 + [["Neutral", "3.0", "3"]] * 5
    rows.append(["2", "1.7", "2.75", ids[1], "neutral;happy", "3.5", "3.0"] + sum(votes, []))
    votes = [["fear", "2", "4"]] * 10
    rows.append(["3", "3.0", "4.1", ids[2], "fear", "2", "4"] + sum(votes, []))
    rows.append([""] * N_COLUMNS)  # a trailing empty row, as spreadsheets leave
    with open(root / "annotation" / "Sess01_eval.csv", "w", newline="", encoding="utf-8-sig") as f:
        csv.writer(f).writerows(rows)
    return ids


def test_hand_written_root_is_accepted(tmp_path):
    root = tmp_path / "KEMDy20"
    ids = write_hand_root(root)
    paths = run(root, tmp_path / "out")
    seg = pd.read_csv(paths["out"], keep_default_na=False, dtype=str)
    assert seg["segment_id"].tolist() == ids
    assert seg["total_emotion"].tolist() == ["angry", "neutral;happy", "fear"]
    assert seg.loc[0, "e07_emotion"] == "disgust" and seg.loc[0, "e10_emotion"] == ""
    assert seg.loc[0, "e01_valence"] == "2" and seg.loc[1, "e06_emotion"] == "neutral"
    assert seg.loc[1, "e01_emotion"] == "happy" and seg.loc[1, "e01_valence"] == "4"
    assert seg["text"].tolist() == ["아 진짜 짜증나.", "좋아 그러니까", "무서워 진짜"]
    assert seg.loc[0, "text_raw"] == "아 진짜 짜증나. b/"
    assert seg["duration"].astype(float).tolist() == [1.0, 1.05, 1.1]
    report = json.loads(paths["report"].read_text())
    assert report["disqust_normalised"] == 3 and report["multi_label_totals"] == 1
    assert report["transcripts_utf8"] == 1 and report["prefix_fixes"] == {}


def test_ties_sorted_by_class_order(tmp_path):
    root = tmp_path / "KEMDy20"
    write_hand_root(root)
    edit_rows(root / "annotation" / "Sess01_eval.csv",
              lambda rows: [r[:4] + ["fear;angry;Disqust;neutral"] + r[5:] if i == 2 else r
                            for i, r in enumerate(rows)])
    seg = pd.read_csv(run(root, tmp_path / "out")["out"])
    assert seg.loc[0, "total_emotion"] == "neutral;angry;disgust;fear"


def test_read_by_position_not_by_header_names(one, tmp_path):
    edit_rows(sess01(one), lambda rows: [[c if c.strip() in ("Numb", "Segment ID") else "x"
                                          for c in rows[0]]] + rows[1:])
    seg = pd.read_csv(run(one, tmp_path / "out")["out"])
    assert len(seg) == 12


def test_unannotated_wavs_are_counted(one, tmp_path):
    wav = first_wav(one)
    shutil.copy(wav, wav.with_name("Sess01_script06_User001F_099.wav"))
    report = json.loads(run(one, tmp_path / "out")["report"].read_text())
    assert report["unannotated_wavs"] == 1 and report["segments"] == 12


# -- bad annotation files -----------------------------------------------------------------


def test_wrong_column_count(one, tmp_path):
    edit_rows(sess01(one), lambda rows: rows[:5] + [rows[5][:-1]] + rows[6:])
    message = fails(one, tmp_path / "out")
    assert f"{sess01(one)}, row 6: 36 columns, expected 37" in message


def test_missing_header_rows(one, tmp_path):
    edit_rows(sess01(one), lambda rows: rows[2:])
    message = fails(one, tmp_path / "out")
    assert f"{sess01(one)}, row 1: missing header row 1" in message and "two header rows" in message


def test_missing_second_header_row(one, tmp_path):
    edit_rows(sess01(one), lambda rows: rows[:1] + rows[2:])
    assert f"{sess01(one)}, row 2: missing header row 2" in fails(one, tmp_path / "out")


def test_unknown_emotion_label(one, tmp_path):
    edit_rows(sess01(one), lambda rows: rows[:4] + [rows[4][:10] + ["happpy"] + rows[4][11:]]
              + rows[5:])
    message = fails(one, tmp_path / "out")
    assert f"{sess01(one)}, row 5: unknown emotion 'happpy' of Eval02M" in message
    assert "disqust" in message.split("Fix:")[1]


def test_unknown_total_label(one, tmp_path):
    edit_rows(sess01(one), lambda rows: rows[:3] + [rows[3][:4] + ["neutral;joy"] + rows[3][5:]]
              + rows[4:])
    assert f"{sess01(one)}, row 4: unknown total emotion 'neutral;joy'" in fails(one, tmp_path / "out")


@pytest.mark.parametrize("column, value, problem", [
    (8, "7", "Eval01F valence '7' is not an integer from 1 to 5"),
    (12, "2.5", "Eval02M arousal '2.5' is not an integer from 1 to 5"),
    (9, "0", "Eval01F arousal '0' is not an integer from 1 to 5"),
    (6, "5.5", "total arousal '5.5' is outside [1, 5]"),
    (5, "abc", "total valence 'abc' is not a number"),
])
def test_scale_out_of_range(one, tmp_path, column, value, problem):
    edit_rows(sess01(one), lambda rows: rows[:6] + [rows[6][:column] + [value] + rows[6][column + 1:]]
              + rows[7:])
    assert f"{sess01(one)}, row 7: {problem}" in fails(one, tmp_path / "out")


def test_duplicate_segment_id_names_both_rows(tiny_root, tmp_path):
    root = copy_sessions(tiny_root[0], tmp_path / "root", (1, 3))
    # Sess03's IDs carry the wrong prefix (Sess04); a duplicate is found after fixing them.
    edit_rows(root / "annotation" / "Sess03_eval.csv",
              lambda rows: rows + [[str(len(rows) - 1)] + rows[4][1:]])
    message = fails(root, tmp_path / "out")
    ann = root / "annotation" / "Sess03_eval.csv"
    seg_id = "Sess03" + list(csv.reader(ann.open()))[4][3][6:]
    assert f"{ann}, row 15: duplicate Segment ID {seg_id}, already on annotation/Sess03_eval.csv row 5" in message


def test_malformed_segment_id(one, tmp_path):
    edit_rows(sess01(one), lambda rows: rows[:2] + [rows[2][:3] + ["Sess01_User1"] + rows[2][4:]]
              + rows[3:])
    assert f"{sess01(one)}, row 3: Segment ID 'Sess01_User1'" in fails(one, tmp_path / "out")


def test_empty_annotation_file(one, tmp_path):
    sess01(one).write_text("")
    assert f"{sess01(one)}: the annotation file is empty" in fails(one, tmp_path / "out")


def test_header_only_annotation_file(one, tmp_path):
    edit_rows(sess01(one), lambda rows: rows[:2])
    assert f"{sess01(one)}: the annotation file has header rows but no segments" in fails(one, tmp_path / "out")


def test_missing_annotation_file_for_session_with_wavs(tiny_root, tmp_path):
    root = copy_sessions(tiny_root[0], tmp_path / "root", (1, 2))
    (root / "annotation" / "Sess02_eval.csv").unlink()
    message = fails(root, tmp_path / "out")
    assert f"{root / 'annotation' / 'Sess02_eval.csv'}: missing, but wav/Session02 holds 12 wavs" in message


def test_no_annotation_folder(one, tmp_path):
    shutil.rmtree(one / "annotation")
    assert f"{one / 'annotation'}: no annotation folder" in fails(one, tmp_path / "out")


def test_no_wav_folder(one, tmp_path):
    shutil.rmtree(one / "wav")
    assert f"{one / 'wav'}: no wav folder" in fails(one, tmp_path / "out")


def test_undecodable_annotation(one, tmp_path):
    sess01(one).write_bytes(sess01(one).read_bytes() + b"\xff\xff\xff\n")
    assert "not readable as UTF-8 or CP949" in fails(one, tmp_path / "out")


def test_cp949_annotation_is_read(one, tmp_path):
    text = sess01(one).read_text(encoding="utf-8")
    lines = text.split("\r\n")
    lines[0] = lines[0].replace("Wav", "음성")  # a non-ASCII header cell, saved as cp949
    sess01(one).write_bytes("\r\n".join(lines).encode("cp949"))
    assert len(pd.read_csv(run(one, tmp_path / "out")["out"])) == 12


# -- bad wav / txt files ------------------------------------------------------------------


def wav_of(root, k=0):
    return sorted((root / "wav" / "Session01").glob("*.wav"))[k]


def row_of(root: Path, seg_id: str) -> int:
    """Line number of a segment in Sess01_eval.csv."""
    rows = list(csv.reader(sess01(root).open()))
    return next(i for i, r in enumerate(rows, start=1) if r[3] == seg_id)


@pytest.mark.parametrize("breakage, problem", [
    ("missing_wav", "missing"),
    ("missing_txt", "missing"),
    ("garbage_wav", "unreadable wav"),
    ("rate", "sample rate 22050 Hz, expected 16000 Hz"),
    ("stereo", "2 channels, expected mono"),
    ("float", "sample format FLOAT, expected 16-bit PCM"),
    ("truncated", "truncated wav: the data chunk declares"),
    ("undecodable_txt", "transcript is neither cp949 nor UTF-8 text"),
    ("empty_txt", "empty transcript"),
    ("nul_txt", "transcript holds control byte 0x00 (at character 1): not text"),
    ("markers_txt", "transcript holds only transcription markers ('c/ n/ (웃음) b/ *'), no word"),
])
def test_bad_segment_file(one, tmp_path, breakage, problem):
    wav = wav_of(one, 4)
    txt = wav.with_suffix(".txt")
    noise = 0.1 * np.random.default_rng(0).standard_normal(16000)
    bad = txt if breakage.endswith("txt") else wav
    if breakage.startswith("missing"):
        bad.unlink()
    elif breakage == "garbage_wav":
        wav.write_bytes(b"not a wav at all" * 10)
    elif breakage == "rate":
        sf.write(wav, noise, 22050, subtype="PCM_16")
    elif breakage == "stereo":
        sf.write(wav, np.stack([noise, noise], 1), 16000, subtype="PCM_16")
    elif breakage == "float":
        sf.write(wav, noise, 16000, subtype="FLOAT")
    elif breakage == "truncated":
        data = wav.read_bytes()
        wav.write_bytes(data[: len(data) // 2])
    elif breakage == "undecodable_txt":
        txt.write_bytes(b"\xff\xfe\xff\xfa\x80")
    elif breakage == "empty_txt":
        txt.write_bytes(b"  \r\n")
    elif breakage == "nul_txt":  # decodes as UTF-8: it was the segment's text
        txt.write_bytes(b"\x00" * 64)
    elif breakage == "markers_txt":  # cleaned to nothing: it was an empty text
        txt.write_bytes("c/ n/ (웃음) b/ *\r\n".encode("cp949"))
    message = fails(one, tmp_path / "out")
    rel = bad.relative_to(one).as_posix()
    assert message.startswith(f"{one / rel}: 1 segment file(s) missing or unusable: {rel}: {problem}")
    assert f"annotation/Sess01_eval.csv row {row_of(one, wav.stem)})" in message
    assert "dataset.skip_missing: true" in message


def test_file_problems_are_collected(one, tmp_path):
    wavs = sorted((one / "wav" / "Session01").glob("*.wav"))
    for wav in wavs[1:]:
        wav.unlink()
    wavs[0].with_suffix(".txt").write_bytes(b"")
    message = fails(one, tmp_path / "out")
    assert "12 segment file(s) missing or unusable" in message
    assert message.count("(segment of annotation/Sess01_eval.csv row") == 10
    assert message.count(": missing (") + message.count(": empty transcript (") == 10
    assert "; and 2 more" in message


def test_skip_missing(one, tmp_path):
    wavs = sorted((one / "wav" / "Session01").glob("*.wav"))
    wavs[0].unlink()
    wavs[1].with_suffix(".txt").write_bytes(b"")
    data = wavs[2].read_bytes()
    wavs[2].write_bytes(data[: len(data) - 1000])
    # 3 of 12 lost: more than the default share of 5 %, so that share is raised here.
    paths = run(one, tmp_path / "out", "--skip-missing", "--max-skipped-share", "0.3")
    seg = pd.read_csv(paths["out"])
    skipped = pd.read_csv(paths["skipped"])
    assert len(seg) == 9
    assert skipped.columns.tolist() == ["dataset", "segment_id", "file", "reason"]
    assert sorted(skipped["segment_id"]) == sorted(w.stem for w in wavs[:3])
    assert not set(skipped["segment_id"]) & set(seg["segment_id"])
    report = json.loads(paths["report"].read_text())
    assert report["skipped_by_reason"] == {"empty": 1, "missing": 1, "truncated": 1}
    assert report["skipped_segments"] == 3 and report["segments"] == 9
    assert report["skipped_by_session"] == {"KEMDy20 Sess01": 3}


def test_skip_missing_skips_transcripts_without_words(one, tmp_path):
    wavs = sorted((one / "wav" / "Session01").glob("*.wav"))
    wavs[0].with_suffix(".txt").write_bytes(b"\x00" * 64)
    wavs[1].with_suffix(".txt").write_bytes("l/ (한숨)".encode("cp949"))
    paths = run(one, tmp_path / "out", "--skip-missing", "--max-skipped-share", "0.3")
    seg = pd.read_csv(paths["out"], keep_default_na=False, dtype=str)
    skipped = pd.read_csv(paths["skipped"])
    assert sorted(skipped["segment_id"]) == [wavs[0].stem, wavs[1].stem]
    assert len(seg) == 10 and (seg["text"].str.strip() != "").all()
    assert not seg["text"].str.contains("\x00").any()
    assert json.loads(paths["report"].read_text())["skipped_by_reason"] == {"empty": 1,
                                                                            "encoding": 1}


def test_dangling_symlink_for_a_wav_is_a_missing_file(one, tmp_path):
    intact = root_state(one)
    wav = wav_of(one, 2)
    wav.unlink()
    wav.symlink_to(tmp_path / "gone.wav")
    state = root_state(one, tmp_path / "cache.json")  # the DAG's dataset state: no traceback
    assert state != intact and root_state(one, tmp_path / "cache.json") == state
    message = fails(one, tmp_path / "out")
    rel = wav.relative_to(one).as_posix()
    assert f"{rel}: missing (a symlink to {tmp_path / 'gone.wav'}, which does not exist)" in message
    paths = run(one, tmp_path / "out2", "--skip-missing", "--max-skipped-share", "0.3")
    assert pd.read_csv(paths["skipped"])["segment_id"].tolist() == [wav.stem]


@pytest.mark.parametrize("lose, share, message", [
    ("all", 1.0, "no segment left: 24 of 24 skipped"),
    ("session", 1.0, "every segment of KEMDy20 Sess01 was skipped (12 segments)"),
    ("three", 0.05, "3 of 24 segments skipped (12.5 %, more than dataset.max_skipped_share 5 %)"),
])
def test_skipping_too_much_stops_naming_the_cause(tiny_root, tmp_path, lose, share, message):
    root = copy_sessions(tiny_root[0], tmp_path / "root", (1, 2))
    wavs = sorted((root / "wav").glob("*/*.wav"))
    if lose == "session":
        wavs = [w for w in wavs if w.parent.name == "Session01"]
    for wav in wavs[: 3 if lose == "three" else None]:
        wav.unlink()
    text = fails(root, tmp_path / "out", "--skip-missing", "--max-skipped-share", str(share))
    assert message in text and "the commonest reason: missing" in text


def test_other_sample_rate_option(one, tmp_path):
    message = fails(one, tmp_path / "out", "--sample-rate", "8000")
    assert "sample rate 16000 Hz, expected 8000 Hz" in message and "and 2 more" in message


def test_wav_too_short_to_hold_speech_is_unusable(tmp_path):
    import numpy as np
    import soundfile as sf

    from kemdy.release.files import check_wav

    path = tmp_path / "x.wav"
    sf.write(path, np.zeros(100, dtype=np.int16), 16000, subtype="PCM_16")
    facts, problem = check_wav(path, 16000)
    assert problem[0] == "empty" and "100 samples" in problem[1]
    sf.write(path, np.zeros(16000, dtype=np.int16), 16000, subtype="PCM_16")
    assert check_wav(path, 16000)[1] is None
