"""A KEMDy20 (or KEMDy19) look-alike: the release's files and quirks, plus a planted,
learnable signal. signal.py draws the signal; this module writes it as KEMDy20 and
lookalike19.py as KEMDy19 (generate(..., release="kemdy19"), described there).

What is written for KEMDy20 (docs/kemdy20-format.md is the reference):
- annotation/SessNN_eval.csv: two header rows, 37 columns, single-space unnamed header cells,
  ten evaluators' (emotion, valence, arousal), totals with `disqust` and ties joined by `;`
  in random order, about 0.5 % of the votes missing. The sessions named by
  --wrong-prefix-sessions carry another session's number in every Segment ID, as
  Sess12/Sess17 do in the release; their wav/txt files use the right one.
- wav/SessionNN/<Segment ID>.wav (16 kHz, 16-bit PCM, mono, 1.5-4 s) and .txt (one cp949 line,
  sometimes with transcription markers); empty EDA/, IBI/, TEMP/ as in the release.
- TRUTH (beside the root, never inside): `segment_id, session, speaker, true_emotion, evidence`
  (one row per segment with a wav).

The signal: each segment has a hidden emotion drawn from --prior. Its text carries emotion
words inside neutral carrier sentences (plus distractors that share words with them); its
audio is a synthetic voice whose pitch level and range, loudness, speaking rate and voice
quality (pressed and bright vs. lax and dark) depend on the emotion, around per-speaker
baselines. A share (--single-modality-share) of the
non-neutral segments shows the emotion in one modality only (`evidence` text or audio), so
fusing both helps. Ten evaluators vote with reliabilities from 0.9 down to 0.5 plus one
near-random (0.15); a vote that misses is mostly `neutral`, else a random class, and
single-modality segments are harder to judge. Each evaluator rates valence and arousal
around the means of the emotion it voted, and its arousal moves with how loud the voice is
against the speaker's usual level (heard_arousal): valence follows the emotion, arousal the
emotion and the voice. Everything follows from --seed: per session,
the speakers, the turn plan, the hidden emotions, evidence and votes, then segment by segment
the transcript line and voice (the writer's own draws, wav times and tie order, in between).

The root is built in a temporary sibling folder and moved into place at the end, so a failed
run leaves no half-written dataset. An existing root may only hold empty folders (what
Snakemake leaves before the rule runs).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from kemdy.atomic import atomic_dir, atomic_output
from kemdy.classes import CLASSES
from kemdy.demo import lookalike19
from kemdy.demo.signal import PRIORS, draw_signal, session_speakers, utterances, write_csv
from kemdy.demo.voice import SAMPLE_RATE, Speaker
from kemdy.errors import InputError
from kemdy.release.kemdy20 import EVALUATORS, N_COLUMNS, N_EVALUATORS

log = logging.getLogger("generate_lookalike")

N_SCRIPTS = 6
RELEASES = {"kemdy20": ("annotation", "wav", "EDA", "IBI", "TEMP"),
            "kemdy19": ("annotation", "wav", "ECG", "EDA", "TEMP")}  # release -> top folders


def raw_label(index: int) -> str:
    """Label as the release spells it (disgust -> disqust)."""
    return "disqust" if CLASSES[index] == "disgust" else CLASSES[index]


def total_of(rng: np.random.Generator, votes: np.ndarray) -> str:
    """The release's total: majority label, ties joined by ';' in random order."""
    counts = np.bincount(votes[votes >= 0], minlength=len(CLASSES))
    tied = np.flatnonzero(counts == counts.max())
    return ";".join(raw_label(int(i)) for i in rng.permutation(tied))


def header_rows() -> list[list[str]]:
    row1 = ["Numb", "Wav", " ", "Segment ID", "Total Evaluation", " ", " "]
    row2 = [" ", "start", "end", " ", "Emotion", "Valence", "Arousal"]
    for name in EVALUATORS:
        row1 += [name, " ", " "]
        row2 += ["Emotion", "Valence", "Arousal"]
    assert len(row1) == len(row2) == N_COLUMNS
    return [row1, row2]


def plan_session(rng: np.random.Generator, session: int, n_segments: int,
                 speakers: list[Speaker]) -> list[tuple[str, int, Speaker]]:
    """(Segment ID, script, speaker) of every turn, in dialogue order."""
    n_scripts = min(N_SCRIPTS, n_segments)
    per_script = rng.multinomial(n_segments - n_scripts, [1 / n_scripts] * n_scripts) + 1
    plan = []
    for script, count in enumerate(per_script, start=1):
        turns = {s.user: 0 for s in speakers}
        who = int(rng.integers(0, 2))
        for _ in range(count):
            spk = speakers[who]
            turns[spk.user] += 1
            plan.append((f"Sess{session:02d}_script{script:02d}_{spk.name}_{turns[spk.user]:03d}",
                         script, spk))
            if rng.random() > 0.25:  # mostly alternate; sometimes a speaker goes on
                who = 1 - who
    return plan


def wrong_session(session: int, n_sessions: int) -> int:
    """The other session number a defective annotation file uses."""
    return session % n_sessions + 1 if n_sessions > 1 else session + 1


def _check_args(root: Path, truth: Path, n_sessions: int, segments_per_session: int,
                prior: str, single_modality_share: float, wrong_prefix_sessions,
                release: str = "kemdy20") -> None:
    if release not in RELEASES:
        raise InputError("release", f"unknown release '{release}'",
                         f"use one of {', '.join(RELEASES)}")
    if release == "kemdy19" and wrong_prefix_sessions:
        raise InputError("--wrong-prefix-sessions", "KEMDy19 has no wrong-prefix defect",
                         "leave --wrong-prefix-sessions empty for a KEMDy19 look-alike")
    if not 1 <= n_sessions <= 99:
        raise InputError("--n-sessions", f"{n_sessions} is out of range", "use 1-99 sessions")
    if not 1 <= segments_per_session <= 999:
        raise InputError("--segments-per-session", f"{segments_per_session} is out of range",
                         "use 1-999 segments per session")
    if prior not in PRIORS:
        raise InputError("--prior", f"unknown prior '{prior}'", f"use one of {', '.join(PRIORS)}")
    if not 0.0 <= single_modality_share <= 1.0:
        raise InputError("--single-modality-share", f"{single_modality_share} is not in [0, 1]",
                         "give a share between 0 and 1")
    bad = [s for s in wrong_prefix_sessions if not 1 <= s <= n_sessions]
    if bad:
        raise InputError("--wrong-prefix-sessions", f"session(s) {bad} not in 1-{n_sessions}",
                         "name sessions that exist, or raise --n-sessions")
    root_abs, truth_abs = root.resolve(), truth.resolve()
    if truth_abs == root_abs or root_abs in truth_abs.parents:
        raise InputError(truth, "the truth file is inside the dataset root",
                         "write it beside the root (the root must look like the release)")
    if root.exists():
        if not root.is_dir():
            raise InputError(root, "exists and is not a folder", "remove it or choose another root")
        stray = next((p for p in root.rglob("*") if not p.is_dir()), None)
        if stray is not None:
            raise InputError(root, f"already holds files (e.g. {stray.relative_to(root)})",
                             "delete the folder first; the look-alike is written from scratch")


def write_session(rng: np.random.Generator, build: Path, session: int, n_sessions: int,
                  segments_per_session: int, prior: str, single_modality_share: float,
                  wrong_prefix: bool) -> list[list]:
    """One session's annotation file, wavs and transcripts under `build`; its truth rows."""
    speakers = session_speakers(rng, session)
    plan = plan_session(rng, session, segments_per_session, speakers)
    signal = draw_signal(rng, len(plan), prior, single_modality_share)
    votes, valence, arousal = signal.votes, signal.valence, signal.arousal
    wav_dir = build / "wav" / f"Session{session:02d}"
    wav_dir.mkdir()
    prefix = wrong_session(session, n_sessions) if wrong_prefix else session
    rows, clock, truth_rows = header_rows(), 0.0, []
    spoken = utterances(rng, signal, [spk for _, _, spk in plan])
    for i, ((seg_id, _script, spk), (line, wave)) in enumerate(zip(plan, spoken)):
        sf.write(wav_dir / f"{seg_id}.wav", wave, SAMPLE_RATE, subtype="PCM_16")
        (wav_dir / f"{seg_id}.txt").write_bytes((line + "\r\n").encode("cp949"))
        start = clock + rng.uniform(0.2, 1.0)  # wav start/end run on through the session
        clock = start + len(wave) / SAMPLE_RATE
        v = votes[i] >= 0
        row = [i + 1, f"{start:.3f}", f"{clock:.3f}", f"Sess{prefix:02d}" + seg_id[6:],
               total_of(rng, votes[i]), f"{valence[i][v].mean():.1f}", f"{arousal[i][v].mean():.1f}"]
        for j in range(N_EVALUATORS):
            row += [raw_label(votes[i, j]), valence[i, j], arousal[i, j]] if v[j] else ["", "", ""]
        rows.append(row)
        truth_rows.append([seg_id, session, f"User{spk.user:03d}", CLASSES[signal.emotions[i]],
                           signal.evidence[i]])
    write_csv(build / "annotation" / f"Sess{session:02d}_eval.csv", rows)
    log.info("Sess%02d: %d segments%s", session, len(plan),
             f", Segment IDs written as Sess{prefix:02d} (planted defect)" if prefix != session
             else "")
    return truth_rows


def generate(root, truth, seed: int = 7, n_sessions: int = 20, segments_per_session: int = 60,
             prior: str = "demo", single_modality_share: float = 0.4,
             wrong_prefix_sessions=(), release: str = "kemdy20") -> dict:
    """Write the look-alike of `release` (kemdy20 or kemdy19) under root and the hidden labels
    to truth; returns counts."""
    root, truth = Path(root), Path(truth)
    wrong_prefix_sessions = sorted({int(s) for s in wrong_prefix_sessions})
    _check_args(root, truth, n_sessions, segments_per_session, prior, single_modality_share,
                wrong_prefix_sessions, release)
    rng = np.random.default_rng(seed)
    if release == "kemdy19":
        def write(build: Path, session: int) -> list[list]:
            return lookalike19.write_session(rng, build, session, n_sessions,
                                             segments_per_session, prior, single_modality_share)
    else:
        def write(build: Path, session: int) -> list[list]:
            return write_session(rng, build, session, n_sessions, segments_per_session, prior,
                                 single_modality_share, session in wrong_prefix_sessions)
    truth_rows = [["segment_id", "session", "speaker", "true_emotion", "evidence"]]
    with atomic_dir(root) as build, atomic_output(truth) as tmp_truth:
        for folder in RELEASES[release]:
            (build / folder).mkdir(parents=True)
        for session in range(1, n_sessions + 1):
            truth_rows += write(build, session)
        write_csv(Path(tmp_truth), truth_rows)
    return {"sessions": n_sessions, "segments": len(truth_rows) - 1}
