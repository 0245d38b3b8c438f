"""A KEMDy20 (or KEMDy19) look-alike: the release's files and quirks, plus a planted,
learnable signal. This module draws the signal and writes KEMDy20; lookalike19.py lays the
same signal out as KEMDy19 (generate(..., release="kemdy19"), described there).

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

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from kemdy.atomic import atomic_dir, atomic_output
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.release.kemdy20 import EVALUATORS, N_COLUMNS, N_EVALUATORS, clean_transcript
from kemdy.demo.script import compose_text, n_syllables
from kemdy.demo.voice import SAMPLE_RATE, Speaker, make_speaker, speaking_rate, synth_voice

log = logging.getLogger("generate_lookalike")

N_SCRIPTS = 6
RELEASES = {"kemdy20": ("annotation", "wav", "EDA", "IBI", "TEMP"),
            "kemdy19": ("annotation", "wav", "ECG", "EDA", "TEMP")}  # release -> top folders
MIN_SECONDS, MAX_SECONDS = 1.5, 4.0
# A neutral voice's log level relative to its speaker's loudness (measured on the voice
# model), and the arousal points one unit of log level is worth.
NEUTRAL_LOG_LEVEL, AROUSAL_PER_LOG_LEVEL = -1.0, 1.5

# Hidden-emotion priors in CLASSES order (neutral, happy, surprise, angry, sad, disgust, fear).
# kemdy20: the release's single-label counts over its 13,462 segments (neutral 11,120 -> 82.6 %,
# happy 1,183 -> 8.8 %), with the 4.7 % multi-label share given to the rarer classes, since a
# split vote usually hides a non-neutral emotion; fear and disgust stay under 1 %.
PRIORS = {
    "demo": np.array([0.45, 0.14, 0.10, 0.10, 0.12, 0.045, 0.045]),
    "kemdy20": np.array([0.826, 0.088, 0.026, 0.024, 0.022, 0.008, 0.006]),
}
# Per evaluator (EVALUATORS order): chance of voting the hidden emotion. Eval06F is near random.
RELIABILITY = np.array([0.90, 0.60, 0.80, 0.55, 0.85, 0.15, 0.70, 0.50, 0.75, 0.65])
SINGLE_MODALITY_FACTOR = 0.75  # evidence in one modality only is harder to judge
MISS_TO_NEUTRAL = 0.6  # a vote that misses the hidden emotion says neutral this often
MISSING_VOTE_SHARE = 0.005  # evaluator (emotion, valence, arousal) triples left empty

# Mean (valence, arousal) an evaluator gives with each emotion vote, on the 1-5 scales.
VALENCE_AROUSAL = np.array(
    [[3.0, 3.0], [4.2, 3.6], [3.4, 4.2], [1.6, 4.3], [1.7, 2.0], [1.8, 3.2], [1.7, 3.8]]
)


def sample_emotions(rng: np.random.Generator, n: int, prior: str = "demo") -> np.ndarray:
    """Hidden emotions of n segments as CLASSES indices, drawn from a named prior."""
    if prior not in PRIORS:
        raise InputError("--prior", f"unknown prior '{prior}'", f"use one of {', '.join(PRIORS)}")
    return rng.choice(len(CLASSES), size=n, p=PRIORS[prior])


def sample_evidence(rng: np.random.Generator, emotions: np.ndarray, single_share: float) -> np.ndarray:
    """Where a segment's emotion shows: none (neutral), both, or text / audio only."""
    single = rng.random(len(emotions)) < single_share
    which = np.where(rng.random(len(emotions)) < 0.5, "text", "audio")
    evidence = np.where(single, which, "both").astype(object)
    evidence[emotions == 0] = "none"
    return evidence


def cast_votes(rng: np.random.Generator, emotions: np.ndarray, evidence: np.ndarray):
    """Votes (CLASSES index, -1 = missing), valence and arousal, each (n, 10)."""
    n = len(emotions)
    reliability = RELIABILITY[None, :] * np.where(np.isin(evidence, ["text", "audio"]),
                                                  SINGLE_MODALITY_FACTOR, 1.0)[:, None]
    hit = rng.random((n, N_EVALUATORS)) < reliability
    to_neutral = rng.random((n, N_EVALUATORS)) < MISS_TO_NEUTRAL
    anything = rng.integers(0, len(CLASSES), (n, N_EVALUATORS))
    votes = np.where(hit, emotions[:, None], np.where(to_neutral, 0, anything))
    va = VALENCE_AROUSAL[votes] + rng.normal(0, 0.6, (n, N_EVALUATORS, 2))
    va = np.clip(np.rint(va), 1, 5).astype(int)
    missing = rng.random((n, N_EVALUATORS)) < MISSING_VOTE_SHARE
    missing[missing.all(axis=1), 0] = False  # every segment keeps at least one vote
    votes = np.where(missing, -1, votes)
    return votes, va[..., 0], va[..., 1]


@dataclass
class Signal:
    """What one session's segments carry, in plan order (CLASSES indices; votes as cast_votes)."""

    emotions: np.ndarray
    evidence: np.ndarray
    votes: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray


def session_speakers(rng: np.random.Generator, session: int, genders=None) -> list[Speaker]:
    """The session's two speakers (users 2s-1 and 2s). With `genders` (KEMDy19's one woman
    and one man), a speaker of the other gender is drawn again."""
    speakers = []
    for k, user in enumerate((2 * session - 1, 2 * session)):
        speaker = make_speaker(rng, user)
        while genders is not None and speaker.gender != genders[k]:
            speaker = make_speaker(rng, user)
        speakers.append(speaker)
    return speakers


def draw_signal(rng: np.random.Generator, n: int, prior: str, single_share: float) -> Signal:
    """Hidden emotions, their evidence and the ten evaluators' votes of n segments."""
    emotions = sample_emotions(rng, n, prior)
    evidence = sample_evidence(rng, emotions, single_share)
    return Signal(emotions, evidence, *cast_votes(rng, emotions, evidence))


def heard_arousal(wave: np.ndarray, speaker: Speaker) -> float:
    """How much more (or less) aroused a voice sounds than the speaker's neutral voice: its
    level against the speaker's usual one, in arousal points (about +0.9 for an angry voice,
    -0.6 for a sad one, 0 +- 0.2 for a neutral one)."""
    level = np.log(np.sqrt(np.mean(np.square(wave, dtype=np.float64))) / (0.08 * speaker.loudness))
    return AROUSAL_PER_LOG_LEVEL * (level - NEUTRAL_LOG_LEVEL)


def utterances(rng: np.random.Generator, signal: Signal,
               speakers: list[Speaker]) -> Iterator[tuple[str, np.ndarray]]:
    """Each segment's transcript line and synthetic voice, drawn when the writer asks for
    the segment, so that the writer's own draws for it come before the next segment's. The
    evaluators' arousal ratings of the segment then follow what the voice sounds like (their
    valence follows the emotion they voted), so valence and arousal are learnable from the
    words and the voice."""
    for i, spk in enumerate(speakers):
        emotion = CLASSES[signal.emotions[i]]
        text_emotion = emotion if signal.evidence[i] in ("both", "text") else None
        voice_emotion = emotion if signal.evidence[i] in ("both", "audio") else "neutral"
        line = compose_text(rng, text_emotion)
        rate = speaking_rate(rng, voice_emotion, spk)
        seconds = n_syllables(clean_transcript(line)) / rate + rng.uniform(0.3, 0.8)
        seconds = float(np.clip(seconds, MIN_SECONDS, MAX_SECONDS))
        wave = synth_voice(rng, voice_emotion, spk, seconds, rate=rate)
        signal.arousal[i] = np.clip(np.rint(signal.arousal[i] + heard_arousal(wave, spk)), 1, 5)
        yield line, wave


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


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8") -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


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
        from kemdy.demo import lookalike19  # it builds on this module: imported when used

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
