"""The look-alike reproduces KEMDy20's files and quirks, and plants a learnable signal."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from kemdy.classes import CLASSES
from kemdy.demo import lookalike as gl
from kemdy.demo import signal
from kemdy.demo.script import PHRASES, compose_text
from kemdy.demo.voice import make_speaker, synth_voice
from kemdy.errors import InputError
from kemdy.release.kemdy20 import EVALUATORS, N_COLUMNS, RAW_LABELS, SEGMENT_ID, clean_transcript
from workflow_utils import tree_digest

REPO = Path(__file__).resolve().parents[1]


def read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"), newline="")))


def has_phrase(text: str, emotion: str) -> bool:
    """All words of one of the emotion's phrases occur (markers may sit between them)."""
    words = set(re.sub(r"[?.!]", " ", clean_transcript(text)).split())
    return any(set(re.sub(r"[?.!]", " ", p).split()) <= words for p in PHRASES[emotion])


def data_rows(root: Path, session: int) -> list[list[str]]:
    return read_rows(root / "annotation" / f"Sess{session:02d}_eval.csv")[2:]


# -- layout and file formats --------------------------------------------------------------


def test_layout_matches_release(tiny_root):
    root, truth = tiny_root
    assert sorted(p.name for p in root.iterdir()) == ["EDA", "IBI", "TEMP", "annotation", "wav"]
    assert sorted(p.name for p in (root / "annotation").iterdir()) == [
        f"Sess{s:02d}_eval.csv" for s in range(1, 5)]
    assert sorted(p.name for p in (root / "wav").iterdir()) == [f"Session{s:02d}" for s in range(1, 5)]
    for folder in ("EDA", "IBI", "TEMP"):
        assert not any((root / folder).iterdir())
    # The truth file lies beside the root, never inside it.
    assert truth.parent == root.parent and truth.exists()
    table = pd.read_csv(truth)
    assert list(table.columns) == ["segment_id", "session", "speaker", "true_emotion", "evidence"]
    assert len(table) == 4 * 12 and table["segment_id"].is_unique
    for seg_id, session in zip(table["segment_id"], table["session"]):
        folder = root / "wav" / f"Session{session:02d}"
        assert (folder / f"{seg_id}.wav").is_file() and (folder / f"{seg_id}.txt").is_file()
    assert len(list((root / "wav").rglob("*"))) == 4 + 2 * 48  # nothing else under wav/


def test_annotation_two_header_rows_37_columns_space_cells(tiny_root):
    root, _ = tiny_root
    path = root / "annotation" / "Sess01_eval.csv"
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert lines[0] == ("Numb,Wav, ,Segment ID,Total Evaluation, , ,"
                        + ",".join(f"{e}, , " for e in EVALUATORS))
    assert lines[1] == " ,start,end, ,Emotion,Valence,Arousal" + ",Emotion,Valence,Arousal" * 10
    assert all(len(row) == N_COLUMNS for row in read_rows(path))
    # pandas sees the release's fragile names: ' ', ' .1', ...
    columns = list(pd.read_csv(path, nrows=1).columns)
    assert len(columns) == N_COLUMNS
    assert columns[:7] == ["Numb", "Wav", " ", "Segment ID", "Total Evaluation", " .1", " .2"]
    assert columns[7] == "Eval01F" and columns[-1] == " .22"


def test_data_rows(tiny_root):
    root, truth = tiny_root
    table = pd.read_csv(truth)
    for session in range(1, 5):
        rows = data_rows(root, session)
        assert [int(r[0]) for r in rows] == list(range(1, 13))
        starts, ends = np.array([float(r[1]) for r in rows]), np.array([float(r[2]) for r in rows])
        assert np.all(ends > starts) and np.all(starts[1:] >= ends[:-1])  # cumulative in the session
        for row in rows:
            votes = [(row[7 + 3 * j], row[8 + 3 * j], row[9 + 3 * j]) for j in range(10)]
            cast = [v for v in votes if v[0]]
            assert all(v == ("", "", "") for v in votes if not v[0])  # a missing vote is all empty
            assert all(e in RAW_LABELS and 1 <= int(a) <= 5 and 1 <= int(b) <= 5 for e, a, b in cast)
            assert re.fullmatch(r"\d\.\d", row[5]) and re.fullmatch(r"\d\.\d", row[6])
            assert float(row[5]) == pytest.approx(np.mean([int(v[1]) for v in cast]), abs=0.051)
            assert float(row[6]) == pytest.approx(np.mean([int(v[2]) for v in cast]), abs=0.051)
            labels = [v[0] for v in cast]
            counts = {lab: labels.count(lab) for lab in labels}
            top = {lab for lab, c in counts.items() if c == max(counts.values())}
            assert set(row[4].split(";")) == top
    speakers = table.groupby("session")["speaker"].unique()
    for session, users in speakers.items():
        assert sorted(users) == [f"User{2 * session - 1:03d}", f"User{2 * session:03d}"]


def test_segment_ids_and_turn_counters(tiny_root):
    _, truth = tiny_root
    table = pd.read_csv(truth)
    parts = table["segment_id"].str.extract(SEGMENT_ID.pattern)
    assert parts.notna().all().all()
    assert (parts[0].astype(int) == table["session"]).all()
    assert set(parts[1].astype(int)) <= set(range(1, 7))
    # KKK counts a speaker's turns within a script: 1, 2, ... per (script, speaker).
    for _, group in parts.groupby([0, 1, 2]):
        assert list(group[4].astype(int)) == list(range(1, len(group) + 1))
    assert (parts.groupby(2)[3].nunique() == 1).all()  # one gender per user


def test_disqust_spelling(tiny_root):
    root, _ = tiny_root
    cells = [c for s in range(1, 5) for row in data_rows(root, s)
             for c in [row[4]] + row[7::3]]
    assert any("disqust" in c for c in cells)
    assert not any("disgust" in c for c in cells)


def test_ties_are_joined_in_random_order():
    votes = np.array([1, 1, 0, 0, 3, -1, 2, 5, 6, 4])  # happy and neutral tie at 2 votes
    rng = np.random.default_rng(0)
    seen = {gl.total_of(rng, votes) for _ in range(40)}
    assert seen == {"happy;neutral", "neutral;happy"}
    assert gl.total_of(rng, np.array([5, 5, 0, -1, -1, -1, -1, -1, -1, -1])) == "disqust"


def test_wrong_prefix_session(tiny_root):
    root, _ = tiny_root
    wrong = [row[3] for row in data_rows(root, 3)]
    assert wrong and all(s.startswith("Sess04_") for s in wrong)  # every ID in the file
    for session in (1, 2, 4):
        assert all(row[3].startswith(f"Sess{session:02d}_") for row in data_rows(root, session))
    # wav/txt files use the right session
    names = {p.stem for p in (root / "wav" / "Session03").iterdir()}
    assert names == {"Sess03" + s[6:] for s in wrong}


def test_wavs_are_16k_16bit_mono(tiny_root):
    root, _ = tiny_root
    wavs = sorted((root / "wav").rglob("*.wav"))
    assert len(wavs) == 48
    for path in wavs:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert signal.MIN_SECONDS - 0.01 <= info.duration <= signal.MAX_SECONDS + 0.01
        assert np.abs(sf.read(str(path))[0]).max() > 0.01  # not silence


def test_transcripts_cp949_one_line_with_markers(tiny_root):
    root, _ = tiny_root
    texts = []
    for path in sorted((root / "wav").rglob("*.txt")):
        data = path.read_bytes()
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # Korean in cp949 is not valid UTF-8
        line = data.decode("cp949")
        assert line.count("\n") == 1 and line.endswith("\r\n") and line.strip()
        texts.append(line.strip())
    with_markers = [t for t in texts if clean_transcript(t) != t]
    assert len(with_markers) >= 5
    for text in texts:
        clean = clean_transcript(text)
        assert clean and not re.search(r"(^|\s)[cnNulb]?/|[*+()]", clean), text


def test_compose_text_markers_are_all_stripped():
    rng = np.random.default_rng(1)
    for emotion in [None, *PHRASES]:
        for _ in range(200):
            line = compose_text(rng, emotion)
            clean = clean_transcript(line)
            assert not re.search(r"(^|\s)[cnNulb]?/|[*+()]", clean), line
            if emotion is not None:
                assert has_phrase(line, emotion), line
            line.encode("cp949")


# -- determinism and arguments ------------------------------------------------------------


def test_deterministic_per_seed(tmp_path):
    small = dict(n_sessions=2, segments_per_session=6, wrong_prefix_sessions=[2])
    hashes = []
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        root, truth = tmp_path / name / "root", tmp_path / name / "truth.csv"
        gl.generate(root, truth, seed=seed, **small)
        hashes.append((tree_digest(root), truth.read_bytes()))
    assert hashes[0] == hashes[1]
    assert hashes[0][0] != hashes[2][0] and hashes[0][1] != hashes[2][1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(wrong_prefix_sessions=[3]), "--wrong-prefix-sessions"),
    (dict(wrong_prefix_sessions=[0]), "--wrong-prefix-sessions"),
    (dict(prior="uniform"), "--prior"),
    (dict(single_modality_share=1.5), "--single-modality-share"),
    (dict(n_sessions=0), "--n-sessions"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    args = dict(n_sessions=2, segments_per_session=4) | kwargs
    with pytest.raises(InputError, match=re.escape(message)) as err:
        gl.generate(tmp_path / "root", tmp_path / "truth.csv", **args)
    assert "Fix:" in str(err.value)
    assert not (tmp_path / "root").exists() and not (tmp_path / "truth.csv").exists()


def test_truth_inside_root_is_refused(tmp_path):
    with pytest.raises(InputError, match="inside the dataset root"):
        gl.generate(tmp_path / "root", tmp_path / "root" / "truth.csv", n_sessions=1,
                    segments_per_session=2)
    assert not (tmp_path / "root").exists()


def test_existing_root_with_files_is_refused_empty_folders_are_not(tmp_path):
    root = tmp_path / "root"
    (root / "annotation").mkdir(parents=True)  # what Snakemake leaves before the rule runs
    gl.generate(root, tmp_path / "truth.csv", n_sessions=1, segments_per_session=2)
    assert len(list((root / "annotation").iterdir())) == 1
    with pytest.raises(InputError, match="already holds files"):
        gl.generate(root, tmp_path / "truth.csv", n_sessions=1, segments_per_session=2)
    assert not list(tmp_path.glob(".root.tmp-*"))


def test_cli(tmp_path):
    root, truth = tmp_path / "r", tmp_path / "t.csv"
    cmd = [sys.executable, str(REPO / "scripts" / "generate_lookalike.py"), "--root", str(root),
           "--truth", str(truth), "--seed", "1", "--n-sessions", "2", "--segments-per-session", "3",
           "--prior", "kemdy20", "--single-modality-share", "0.5", "--wrong-prefix-sessions", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(truth)) == 6
    bad = subprocess.run(cmd[:-1] + ["5"], capture_output=True, text=True)
    assert bad.returncode == 2 and "ERROR: --wrong-prefix-sessions" in bad.stderr


# -- the planted signal -------------------------------------------------------------------


def test_kemdy20_prior_matches_release():
    share = np.bincount(signal.sample_emotions(np.random.default_rng(0), 200_000, "kemdy20"),
                        minlength=7) / 200_000
    shares = dict(zip(CLASSES, share))
    assert 0.81 < shares["neutral"] < 0.85  # release: 11,120 / 13,462 = 82.6 %
    assert 0.075 < shares["happy"] < 0.10  # release: 8.8 %
    assert 0 < shares["fear"] < 0.01 and 0 < shares["disgust"] < 0.01
    assert shares["fear"] < shares["disgust"] < shares["sad"]


def test_demo_prior_is_milder():
    share = np.bincount(signal.sample_emotions(np.random.default_rng(0), 100_000, "demo"),
                        minlength=7) / 100_000
    assert 0.40 < share[0] < 0.50
    assert share[CLASSES.index("fear")] > 0.03 and share[CLASSES.index("disgust")] > 0.03


def test_single_modality_share():
    rng = np.random.default_rng(0)
    emotions = signal.sample_emotions(rng, 50_000, "demo")
    evidence = signal.sample_evidence(rng, emotions, 0.4)
    assert set(evidence[emotions == 0]) == {"none"}
    emotional = evidence[emotions != 0]
    single = np.isin(emotional, ["text", "audio"]).mean()
    assert 0.38 < single < 0.42
    assert abs((emotional == "text").mean() - (emotional == "audio").mean()) < 0.02


def test_truth_text_evidence(tiny_root):
    root, truth = tiny_root
    table = pd.read_csv(truth)
    assert set(table["evidence"]) <= {"none", "both", "text", "audio"}
    assert (table["evidence"] == "none").eq(table["true_emotion"] == "neutral").all()
    for seg_id, session, emotion, evidence in table[["segment_id", "session", "true_emotion",
                                                     "evidence"]].itertuples(index=False):
        if evidence in ("both", "text"):
            text = (root / "wav" / f"Session{session:02d}" / f"{seg_id}.txt").read_bytes().decode("cp949")
            assert has_phrase(text, emotion), (seg_id, text)


def test_prosody_tracks_emotion():
    rng = np.random.default_rng(0)
    speaker = make_speaker(rng, 1)

    def rms(emotion):
        return np.mean([np.sqrt(np.mean(synth_voice(rng, emotion, speaker, 2.0) ** 2))
                        for _ in range(20)])

    assert rms("angry") > 1.4 * rms("neutral") > 1.4 * rms("sad")
    wave = synth_voice(rng, "neutral", speaker, 2.5)
    assert wave.dtype == np.float32 and len(wave) == 40000 and np.abs(wave).max() < 1


def test_evaluator_reliability_and_missing_votes():
    rng = np.random.default_rng(0)
    emotions = signal.sample_emotions(rng, 20_000, "demo")
    evidence = signal.sample_evidence(rng, emotions, 0.0)
    votes, valence, arousal = signal.cast_votes(rng, emotions, evidence)
    cast = votes >= 0
    assert 0.003 < 1 - cast.mean() < 0.007  # about 0.5 % missing
    accuracy = [(votes[cast[:, j], j] == emotions[cast[:, j]]).mean() for j in range(10)]
    assert np.argsort(accuracy).tolist() == np.argsort(signal.RELIABILITY).tolist()
    assert min(accuracy) < 0.5 < max(accuracy)
    # Valence follows the voted emotion: angry votes are rated lower than happy ones.
    assert valence[votes == CLASSES.index("angry")].mean() < 2.5 < valence[votes == 1].mean()
    assert valence.min() >= 1 and arousal.max() <= 5


def test_arousal_ratings_follow_the_voice(tmp_path):
    # Within one hidden emotion, the louder the voice (against its speaker's usual level),
    # the higher the evaluators rate its arousal: arousal is learnable from the audio.
    root, truth = tmp_path / "root", tmp_path / "truth.csv"
    gl.generate(root, truth, seed=3, n_sessions=3, segments_per_session=40)
    truth_table = {row[0]: row for row in csv.reader(io.StringIO(truth.read_text()))}
    levels, arousal = [], []
    for path in sorted((root / "annotation").glob("*.csv")):
        session = int(path.name[4:6])
        for row in list(csv.reader(io.StringIO(path.read_text())))[2:]:
            seg_id = f"Sess{session:02d}" + row[3][6:]
            if truth_table[seg_id][3] != "neutral":
                continue
            wave, _ = sf.read(root / "wav" / f"Session{session:02d}" / f"{seg_id}.wav")
            levels.append(np.log(np.sqrt(np.mean(wave ** 2))))
            arousal.append(np.mean([float(row[9 + 3 * j]) for j in range(10) if row[9 + 3 * j]]))
    assert np.corrcoef(levels, arousal)[0, 1] > 0.2


def test_a_users_file_copied_over_a_generated_one_is_never_overwritten(tmp_path):
    """Ownership is by content: the name of a generated wav is not enough."""
    from generate_lookalike import write_one

    from kemdy.demo.owned import check_owned

    root, truth = tmp_path / "root", tmp_path / "truth.csv"
    settings = dict(n_sessions=1, segments_per_session=3, prior="demo",
                    single_modality_share=0.4, wrong_prefix_sessions=[])
    write_one("kemdy20", root, truth, 1, settings)
    write_one("kemdy20", root, truth, 2, settings)  # as written: ours to replace
    wav = sorted(root.glob("wav/*/*.wav"))[1]
    recording = 0.1 * np.random.default_rng(3).standard_normal(16000)
    sf.write(wav, recording, 16000, subtype="PCM_16")  # the user's, under our name
    users = wav.read_bytes()
    for cache in (None, tmp_path / "state.json", tmp_path / "state.json"):
        with pytest.raises(InputError) as err:
            check_owned(root, cache=cache)
        assert wav.relative_to(root).as_posix() in str(err.value)
    with pytest.raises(InputError, match=r"key 'dataset.root'.*content is not what it wrote"):
        write_one("kemdy20", root, truth, 3, settings)  # synthetic.seed changed
    assert wav.read_bytes() == users
