"""KEMDy19: the look-alike writes the release's layout and defects, and the reader takes each
segment's labels from its own speaker's file, tolerates the release's defects and refuses
bad input naming the file and row."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import ingest
from kemdy.classes import normalise_label, normalise_total
from kemdy.demo import lookalike19 as gl19
from kemdy.demo.lookalike import generate
from kemdy.errors import InputError
from kemdy.release import ingest as ingesting
from kemdy.release import kemdy19, kinds, segments
from kemdy.release.annotation import new_stats
from workflow_utils import tree_digest

REPO = Path(__file__).resolve().parents[1]
K19 = dict(seed=5, n_sessions=9, segments_per_session=10, release="kemdy19")
D2 = set(kemdy19.NO_TRANSCRIPT)


def read_csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def annotation(root: Path, session: int, letter: str) -> Path:
    return root / "annotation" / f"Session{session:02d}_{letter}_res.csv"


def data_rows(root: Path, session: int, letter: str) -> list[list[str]]:
    return read_csv_rows(annotation(root, session, letter))[2:]


def copy_sessions(src: Path, dest: Path, sessions=(1,)) -> Path:
    """A smaller root holding only some sessions (cheap to break)."""
    (dest / "annotation").mkdir(parents=True)
    (dest / "wav").mkdir()
    for s in sessions:
        for letter in "FM":
            shutil.copy(annotation(src, s, letter), dest / "annotation")
        shutil.copytree(src / "wav" / f"Session{s:02d}", dest / "wav" / f"Session{s:02d}")
    return dest


def edit_rows(path: Path, change) -> None:
    rows = change(read_csv_rows(path))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))


def run(root: Path, out: Path, *extra: str, kind: str = "kemdy19") -> dict[str, Path]:
    paths = {"out": out / "segments.csv", "report": out / "ingest.json",
             "skipped": out / "skipped.csv"}
    ingest.main(["--dataset", kind, str(root), "--out", str(paths["out"]), "--report",
                 str(paths["report"]), "--skipped", str(paths["skipped"]), *extra])
    return paths


@pytest.fixture(scope="module")
def root19(tmp_path_factory) -> tuple[Path, Path]:
    """(root, truth.csv) of a 9-session KEMDy19 look-alike: it holds every documented defect."""
    base = tmp_path_factory.mktemp("lookalike19")
    root, truth = base / "KEMDy19", base / "truth.csv"
    generate(root, truth, **K19)
    return root, truth


@pytest.fixture(scope="module")
def ingested(root19, tmp_path_factory) -> dict:
    """segments.csv, ingest.json, skipped.csv of root19, and the root's digests around it."""
    root, _ = root19
    before = tree_digest(root)
    paths = run(root, tmp_path_factory.mktemp("data19"))
    return {"segments": pd.read_csv(paths["out"], keep_default_na=False, dtype=str),
            "report": json.loads(paths["report"].read_text()),
            "skipped": pd.read_csv(paths["skipped"]), "before": before, "after": tree_digest(root)}


# -- the look-alike -------------------------------------------------------------------------


def test_layout_headers_and_files(root19):
    root, truth = root19
    assert sorted(p.name for p in root.iterdir()) == ["ECG", "EDA", "TEMP", "annotation", "wav"]
    assert sorted(p.name for p in (root / "annotation").iterdir()) == [
        f"Session{s:02d}_{g}_res.csv" for s in range(1, 10) for g in "FM"]
    lines = annotation(root, 1, "F").read_bytes().decode("utf-8").splitlines()
    assert lines[0] == ("Numb,Wav,,ECG,,E4-EDA,,E4-TEMP,,Segment ID,Total Evaluation,,,"
                        + ",".join(f"{e},," for e in kemdy19.SESSION01_EVALUATORS))
    assert lines[1] == ",Start,End" * 4 + "," + ",Emotion,Valence,Arousal" * 11
    table = pd.read_csv(truth)
    assert list(table.columns) == ["segment_id", "session", "speaker", "true_emotion", "evidence"]
    assert (table["speaker"] == "Sess" + table["session"].map("{:02d}".format)
            + table["segment_id"].str[-4]).all()
    for dialogue in (root / "wav").glob("Session*/Sess*"):
        assert (dialogue / "converted").is_dir() and not any((dialogue / "converted").iterdir())
    for seg_id in table["segment_id"]:
        wav = root / kemdy19.segment_path(seg_id)
        assert wav.is_file() and wav.with_suffix(".csv").is_file()
        assert wav.with_suffix(".txt").is_file() == (seg_id not in D2)
    assert D2 <= set(table["segment_id"])  # every D2 segment exists, its wav without .txt
    for seg_id in kemdy19.NO_RECORDING:  # D3: no recording at all
        assert not (root / kemdy19.segment_path(seg_id)).exists()


def test_both_files_list_every_segment_in_order(root19):
    root, truth = root19
    for s in range(1, 10):
        f_rows, m_rows = data_rows(root, s, "F"), data_rows(root, s, "M")
        assert all(len(r) == kemdy19.N_COLUMNS for r in f_rows + m_rows)
        assert [r[0] for r in f_rows] == [r[0] for r in m_rows] == [
            str(n) for n in range(1, len(f_rows) + 1)]
        assert [r[1:3] for r in f_rows] == [r[1:3] for r in m_rows]  # wav start/end
        differ = [(f[9], m[9]) for f, m in zip(f_rows, m_rows) if f[9] != m[9]]
        want = {3: [("Sess03_impro02_M001", "Sess03_impro02_F001")],  # D4
                4: [("Sess04_impro03_M031", "Sess04_impro03_F031")],  # D5
                9: [("Sess09_script06_M001", "Sess09_script06_F001"),
                    ("Sess09_impro01_M001", "Sess09_impro01_F001")]}.get(s, [])
        assert differ == want
        for row in f_rows:  # a mean of 10 integer votes, in shortest form
            assert re.fullmatch(r"[1-5](\.\d)?", row[11]) and not row[11].endswith(".0")
    rows = [r for s in range(1, 10) for g in "FM" for r in data_rows(root, s, g)]
    d1 = [r[9][:14] in ("Sess01_impro03", "Sess01_impro04") for r in rows]
    assert all(r[5:9] == [""] * 4 for r, no_bio in zip(rows, d1) if no_bio)  # D1
    assert np.mean([all(r[3:9]) for r, no_bio in zip(rows, d1) if not no_bio]) > 0.9


def test_two_rater_groups_and_gap():
    assert gl19.evaluators(5, 9) == kemdy19.SESSION01_EVALUATORS
    assert gl19.evaluators(6, 9) == gl19.GROUPS[1]
    assert not set(gl19.GROUPS[0]) & set(gl19.GROUPS[1])
    assert gl19.total_of(np.array([1, 1, 0, 0, 4, 4, 3, 2, 5, 6])) == "neutral;happy;sad"


def test_transcripts_utf8_one_line_and_clean(ingested, root19):
    root, _ = root19
    seg = ingested["segments"]
    marked = 0
    for wav, text, raw in seg[["wav_path", "text", "text_raw"]].itertuples(index=False):
        line = (root / wav).with_suffix(".txt").read_bytes().decode("utf-8")
        assert line.endswith("\n") and line.count("\n") == 1 and raw == line.strip()
        assert text == kemdy19.clean_transcript(raw)
        assert not re.search(r"(^|\s)[bonluNcs]?/|[*+()]", text), raw
        marked += bool(re.search(r"(^|\s)[os]/|\(", raw))
    assert marked >= 5  # KEMDy19's own markup occurs


def test_clean_transcript_strips_kemdy19_markup():
    clean = kemdy19.clean_transcript
    assert clean("b/ 몰라. o/ b/ 아 몰라 어떡해. o/ ") == "몰라. 아 몰라 어떡해."
    assert clean("o/ N/ s/ 오빠 어 어떡해 u/.") == "오빠 어 어떡해 ."
    assert clean("(중국집 주인+됐고) o/ 오빠는 내 꿈 안 궁금해?") == "오빠는 내 꿈 안 궁금해?"
    assert clean("(그러면 + u/ 찔리시죠?) 그러면 직접") == "그러면 직접"
    assert clean("구분 못 할 정돈 (아니잖아)") == "구분 못 할 정돈 아니잖아"  # own words kept
    assert clean("o/ N/아이 그거야 c/ 그+ 그러니까 /아 진짜* l/") == "아이 그거야 그 그러니까 아 진짜"


# -- reading it -----------------------------------------------------------------------------


def test_reads_and_skips_only_the_known_defects(ingested, root19):
    _, truth = root19
    seg, skipped, report = ingested["segments"], ingested["skipped"], ingested["report"]
    truth_ids = set(pd.read_csv(truth)["segment_id"])
    assert set(seg["segment_id"]) == truth_ids - D2 and seg["segment_id"].is_unique
    assert set(skipped["segment_id"]) == D2 and len(skipped) == len(D2)
    assert (skipped["reason"] == "missing (known defect of the release: no transcript (D2))").all()
    assert set(skipped["file"]) == {kemdy19.segment_path(s, ".txt") for s in D2}
    assert report["skipped_by_reason"] == {"known": 5} and report["unannotated_wavs"] == 0
    assert (seg["dataset"] == "KEMDy19").all()
    assert (seg["speaker"] == "Sess" + seg["session"].str.zfill(2) + seg["gender"]).all()
    assert (seg["script"] == seg["segment_id"].str.split("_").str[1]).all()
    assert (seg["wav_path"] == seg["segment_id"].map(kemdy19.segment_path)).all()


def test_labels_come_from_the_own_speakers_file(ingested, root19):
    root, truth = root19
    seg = ingested["segments"].set_index("segment_id")
    hidden = pd.read_csv(truth).set_index("segment_id")["true_emotion"]
    rows = {g: {r[9]: r for s in range(1, 10) for r in data_rows(root, s, g)} for g in "FM"}
    own_hits = other_hits = other_differs = 0
    for seg_id, record in seg.iterrows():
        letter = seg_id[-4]
        own, other = rows[letter][seg_id], rows["FM".replace(letter, "")][seg_id]
        assert record["total_emotion"] == normalise_total(own[10])
        assert float(record["total_valence"]) == float(own[11])
        session = int(seg_id[4:6])
        first = 1 if session <= 5 else 11  # the session's rater group: slots e01-e10 or e11-e20
        for j in range(10):
            votes = [record[f"e{first + j:02d}_{k}"] for k in ("emotion", "valence", "arousal")]
            assert votes == [normalise_label(own[13 + 3 * j]), own[14 + 3 * j], own[15 + 3 * j]]
        own_hits += own[10] == hidden[seg_id]
        other_hits += other[10] == hidden[seg_id]
        other_differs += other[10:] != own[10:]
    # A reader taking the other file's row would get other labels, far less often the truth.
    assert other_differs == len(seg)
    assert own_hits > 0.6 * len(seg) and other_hits < own_hits - 0.15 * len(seg)


def test_two_rater_groups_give_20_slots(ingested):
    seg, report = ingested["segments"], ingested["report"]
    assert list(seg.columns) == segments.HEAD + segments.vote_columns(20) + segments.TAIL
    names = kemdy19.SESSION01_EVALUATORS + gl19.GROUPS[1]
    assert report["evaluators"] == {f"e{j + 1:02d}": n for j, n in enumerate(names)}
    first = seg["session"].astype(int) <= 5
    for rated, unrated, sessions in (("e01", "e11", first), ("e20", "e01", ~first)):
        assert (seg.loc[sessions, f"{rated}_emotion"] != "").all()
        assert (seg.loc[sessions, f"{unrated}_emotion"] == "").all()


def test_d4_d5_rows_are_tolerated(ingested, root19):
    root, _ = root19
    ids = set(ingested["segments"]["segment_id"])
    f_ids = Counter(r[9] for r in data_rows(root, 3, "F"))
    assert f_ids["Sess03_impro02_M001"] == 2  # D4: a duplicate among the F file's other rows
    assert not ids & {*kemdy19.F001_AS_M001, *kemdy19.PHANTOM.values()}
    assert "Sess03_impro02_M001" in ids  # the real M001, from the M file


def test_root_bytes_unchanged(ingested):
    assert ingested["after"] == ingested["before"]


def test_kemdy20_and_kemdy19_together(tiny_root, root19):
    root20, root19_ = tiny_root[0], root19[0]
    before = tree_digest(root19_)
    seg, report, skipped = ingesting.ingest([("kemdy20", root20), ("kemdy19", root19_)])
    assert set(seg["dataset"]) == {"KEMDy20", "KEMDy19"} and seg["segment_id"].is_unique
    assert list(seg.columns) == segments.HEAD + segments.vote_columns(30) + segments.TAIL
    names = list(report["evaluators"].values())
    assert len(names) == 30 and names[0] == "KEMDy20 Eval01F" and names[10] == "KEMDy19 Eval01F"
    assert names[20:] == [f"KEMDy19 {n}" for n in gl19.GROUPS[1]]
    assert set(skipped["segment_id"]) == D2 and set(skipped["dataset"]) == {"KEMDy19"}
    assert tree_digest(root19_) == before


# -- known and unknown missing files --------------------------------------------------------


def test_unknown_missing_wav_is_an_error_unless_skipped(root19, tmp_path):
    root = copy_sessions(root19[0], tmp_path / "root", (3,))
    lost = "Sess03_script04_M001"  # the D2 dialogue: it has 15 M turns
    (root / kemdy19.segment_path(lost)).unlink()
    with pytest.raises(InputError) as err:
        ingesting.ingest([("kemdy19", root)])
    message = str(err.value)
    assert "1 segment file(s) missing or unusable" in message and "skip_missing" in message
    where = "(segment of annotation/Session03_M_res.csv row"
    assert f"{kemdy19.segment_path(lost)}: missing {where}" in message
    seg, _, skipped = ingesting.ingest([("kemdy19", root)], skip_missing=True, max_skipped_share=0.2)
    assert dict(zip(skipped["segment_id"], skipped["reason"])) == {
        lost: "missing", "Sess03_script04_M016": "missing (known defect of the release: no "
                                                 "transcript (D2))"}
    assert lost not in set(seg["segment_id"])


def test_a_corrected_d4_row_is_skipped_as_known_d3(root19, tmp_path):
    """A release whose F file names F001 rightly: the segment has no recording (D3)."""
    root = copy_sessions(root19[0], tmp_path / "root", (3,))
    path, m_ids = annotation(root, 3, "F"), [r[9] for r in data_rows(root, 3, "M")]
    edit_rows(path, lambda rows: rows[:2] + [r[:9] + [m_ids[k]] + r[10:]
                                             for k, r in enumerate(rows[2:])])
    _, _, skipped = ingesting.ingest([("kemdy19", root)], max_skipped_share=0.2)
    reason = "missing (known defect of the release: numbering gap without a recording (D3))"
    assert (skipped.set_index(["segment_id", "file"]).loc[
        ("Sess03_impro02_F001", kemdy19.segment_path("Sess03_impro02_F001")), "reason"] == reason)


# -- bad annotation files -------------------------------------------------------------------


@pytest.fixture
def one(root19, tmp_path) -> Path:
    """Session 1 of the look-alike alone, in a scratch root."""
    return copy_sessions(root19[0], tmp_path / "root", (1,))


def own_line(root: Path, letter: str = "F", k: int = 0) -> int:
    """File line of the k-th row of the letter's file that is its own speaker's."""
    rows = read_csv_rows(annotation(root, 1, letter))
    return [i for i, r in enumerate(rows, start=1) if i > 2 and r[9][-4] == letter][k]


def fails(root: Path) -> str:
    with pytest.raises(InputError) as err:
        kemdy19.read(root, new_stats())
    assert "Fix:" in str(err.value)
    return str(err.value)


def set_cell(path: Path, line: int, column: int, value: str) -> None:
    edit_rows(path, lambda rows: [r[:column] + [value] + r[column + 1:] if i == line else r
                                  for i, r in enumerate(rows, start=1)])


def test_duplicate_own_row(one):
    path, line = annotation(one, 1, "F"), own_line(one)
    edit_rows(path, lambda rows: rows + [[str(len(rows) - 1)] + rows[line - 1][1:]])
    seg_id = read_csv_rows(path)[line - 1][9]
    n = len(read_csv_rows(path))
    assert f"{path}, row {n}: duplicate Segment ID {seg_id}, already on row {line}" in fails(one)


def test_wrong_column_count(one):
    path = annotation(one, 1, "M")
    edit_rows(path, lambda rows: rows[:4] + [rows[4][:-1]] + rows[5:])
    assert f"{path}, row 5: 42 columns, expected 43" in fails(one)


@pytest.mark.parametrize("column, value, problem", [
    (13, "happpy", "unknown emotion 'happpy' of Eval01F (column 14)"),
    (10, "neutral;joy", "unknown total emotion 'neutral;joy'"),
    (14, "7", "Eval01F valence '7' is not an integer from 1 to 5"),
    (12, "0.5", "total arousal '0.5' is outside [1, 5]"),
    (9, "Sess01_script01_X001", "Segment ID 'Sess01_script01_X001' does not look like"),
])
def test_bad_cell_in_own_row(one, column, value, problem):
    path, line = annotation(one, 1, "F"), own_line(one, "F", 1)
    set_cell(path, line, column, value)
    assert f"{path}, row {line}: {problem}" in fails(one)


def test_other_rows_are_read_for_shape_only(one):
    line = own_line(one, "M")  # an M segment: the F file's row of it is a listener's
    set_cell(annotation(one, 1, "F"), line, 13, "happpy")
    assert kemdy19.read(one, new_stats()).rows


@pytest.mark.parametrize("drop, problem", [((0, 2), "row 1: missing header row 1"),
                                           ((1, 2), "row 2: missing header row 2")])
def test_missing_header_row(one, drop, problem):
    path = annotation(one, 1, "M")
    edit_rows(path, lambda rows: rows[:drop[0]] + rows[drop[1]:])
    message = fails(one)
    assert f"{path}, {problem}" in message and "two header rows" in message


def test_missing_annotation_file(one):
    annotation(one, 1, "M").unlink()
    message = fails(one)
    assert f"{annotation(one, 1, 'M')}: missing, but wav/Session01 holds" in message


def test_deterministic_per_seed(tmp_path):
    small = dict(n_sessions=2, segments_per_session=10, release="kemdy19")
    digests = []
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        generate(tmp_path / name / "root", tmp_path / name / "truth.csv", seed=seed, **small)
        digests.append((tree_digest(tmp_path / name / "root"),
                        (tmp_path / name / "truth.csv").read_bytes()))
    assert digests[0] == digests[1] and digests[0][0] != digests[2][0]


def test_kemdy19_refuses_wrong_prefix_sessions(tmp_path):
    with pytest.raises(InputError, match="KEMDy19 has no wrong-prefix defect"):
        generate(tmp_path / "r", tmp_path / "t.csv", n_sessions=2, segments_per_session=4,
                 wrong_prefix_sessions=[1], release="kemdy19")
    with pytest.raises(InputError, match="unknown release"):
        generate(tmp_path / "r", tmp_path / "t.csv", release="kemdy18")


@pytest.mark.workflow
def test_kemdy19_and_kemdy20_look_alikes_end_to_end(tmp_path):
    # configs/demo-kemdy19-20.yaml through the real Snakefile, cut down to a few minutes'
    # worth: both look-alikes generated, read together, folded per dataset, reported per
    # dataset and overall.
    from workflow_utils import copy_workflow, snakemake

    config = yaml.safe_load((REPO / "configs" / "demo-kemdy19-20.yaml").read_text())
    config["synthetic"].update(n_sessions=9, segments_per_session=6)
    config["folds"]["n_folds"] = 2
    config["train"].update(epochs=2, patience=2)
    config["encoders"]["demo_size"].update(hidden=32, layers=1, vocab=400,
                                           audio_pretrain_epochs=1)
    config["variants"] = {"text_ce": config["variants"]["text_ce"],
                          "mm_ce": {**config["variants"]["mm_ce"], "text_warmup_epochs": 1}}
    config["report"]["bootstrap"] = 100
    config["resources"]["train"]["threads"] = 1
    # transfer between releases (issue 33.2): four text_ce jobs more, two epochs each
    config["transfer"] = {"variants": ["text_ce"], "sequential": True, "val_sessions": 1,
                          "test_sessions": 2}
    work = copy_workflow(tmp_path, config)
    snakemake(work)
    segments = pd.read_csv(work / "results/data/segments.csv")
    assert set(segments["dataset"]) == {"KEMDy19", "KEMDy20"} and segments["segment_id"].is_unique
    folds = pd.read_csv(work / "results/data/folds.csv")
    for (_, _), part in folds.groupby(["dataset", "session"]):
        assert part["fold"].nunique() == 1  # every session of each dataset whole
    for _, part in folds.groupby(["dataset", "speaker"]):
        assert part["fold"].nunique() == 1  # never a speaker on two sides
    assert set(folds.groupby("fold")["dataset"].nunique()) == {2}  # each fold tests on both
    skipped = pd.read_csv(work / "results/data/skipped.csv")
    assert set(skipped["dataset"]) == {"KEMDy19"} and skipped["reason"].str.contains("known").all()
    html = (work / "reports/summary.html").read_text()
    assert 'id="breakdown-dataset"' in html and 'data-group="KEMDy19"' in html
    assert 'data-group="KEMDy20"' in html
    # the transfer matrix: each direction trained, recomputed by the report without a note
    matrix = pd.read_csv(work / "results/transfer/matrix.csv", keep_default_na=False)
    assert list(dict.fromkeys(matrix["trained_on"])) == [
        "KEMDy19", "KEMDy20", "both", "KEMDy19 then KEMDy20", "KEMDy20 then KEMDy19"]
    assert len(matrix) == 10 and len(set(zip(matrix["trained_on"], matrix["tested_on"]))) == 10
    assert pd.to_numeric(matrix["f1_macro"]).between(0, 1).all()
    seq = matrix[(matrix["trained_on"] == "KEMDy19 then KEMDy20") & (matrix["tested_on"] == "KEMDy19")]
    assert pd.to_numeric(seq["kept_f1_macro"]).notna().all()
    log = (work / "logs/transfer/text_ce/KEMDy19-then-KEMDy20/fold0.log").read_text()
    assert "initialised from results/transfer/models/text_ce/KEMDy19-to-KEMDy20/fold0" in log
    assert 'id="transfer"' in html and 'data-trained-on="KEMDy20 then KEMDy19"' in html
    assert "rerun summarize_transfer" not in html  # no consistency note on the matrix


@pytest.mark.parametrize("kind, looks_like, shape", [
    ("kemdy19", "KEMDy20", "SessNN_eval.csv"),
    ("kemdy20", "KEMDy19", "SessionNN_F_res.csv, _M_res.csv"),
])
def test_a_root_of_the_other_release_names_dataset_kind(tiny_root, root19, kind, looks_like,
                                                        shape):
    root = tiny_root[0] if kind == "kemdy19" else root19[0]
    with pytest.raises(InputError) as err:
        ingesting.ingest([(kind, root)])
    message = str(err.value)
    assert f"this root looks like {looks_like} (annotation/ holds" in message
    assert f"{shape} files" in message and f"but dataset.kind is {kind}" in message
    assert f"Fix: set dataset.kind: {looks_like.lower()}" in message
    assert "copy the release" not in message
    # the workflow's pre-run check names the key of the dataset it checks
    with pytest.raises(InputError, match=r"key 'datasets\[1\].kind'.*but datasets\[1\].kind"):
        kinds.check_kind(kind, root, key="datasets[1].kind")
