"""Write a KEMDy20 look-alike: the release's files and quirks, plus a planted, learnable signal.

    python scripts/generate_lookalike.py --root results/lookalike/KEMDy20_v1_1 \
        --truth results/lookalike/truth.csv --seed 7 --n-sessions 20 --segments-per-session 60 \
        --prior demo --single-modality-share 0.4 --wrong-prefix-sessions 12 17

What is written (docs/kemdy20-format.md is the reference):
- annotation/SessNN_eval.csv: two header rows, 37 columns, single-space unnamed header cells,
  ten evaluators' (emotion, valence, arousal), totals with `disqust` and ties joined by `;`
  in random order, about 0.5 % of the votes missing. The sessions named by
  --wrong-prefix-sessions carry another session's number in every Segment ID, as
  Sess12/Sess17 do in the release; their wav/txt files use the right one.
- wav/SessionNN/<Segment ID>.wav (16 kHz, 16-bit PCM, mono, 1.5-4 s) and .txt (one cp949 line,
  sometimes with transcription markers); empty EDA/, IBI/, TEMP/ as in the release.
- TRUTH (beside the root, never inside): `segment_id, session, speaker, true_emotion, evidence`.

The signal: each segment has a hidden emotion drawn from --prior. Its text carries emotion
words inside neutral carrier sentences (plus distractors that share words with them); its
audio is a synthetic voice whose pitch level and range, loudness, speaking rate and voice
quality (pressed and bright vs. lax and dark) depend on the emotion, around per-speaker
baselines. A share (--single-modality-share) of the
non-neutral segments shows the emotion in one modality only (`evidence` text or audio), so
fusing both helps. Ten evaluators vote with reliabilities from 0.9 down to 0.5 plus one
near-random (0.15); a vote that misses is mostly `neutral`, else a random class, and
single-modality segments are harder to judge. Everything follows from --seed.

The root is built in a temporary sibling folder and moved into place at the end, so a failed
run leaves no half-written dataset. An existing root may only hold empty folders (what
Snakemake leaves before the rule runs).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from errors import InputError, run_cli
from kemdy20 import CLASSES, EVALUATORS, N_COLUMNS, N_EVALUATORS, clean_transcript

log = logging.getLogger("generate_lookalike")

SAMPLE_RATE = 16000
N_SCRIPTS = 6
MIN_SECONDS, MAX_SECONDS = 1.5, 4.0
CONTROL_STEP = 32  # samples between updates of pitch and loudness (2 ms)

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


@dataclass(frozen=True)
class Prosody:
    pitch: float  # times the speaker's base f0
    range_st: float  # pitch movement, semitones
    energy: float  # times the speaker's loudness
    rate: float  # times the speaker's syllables per second
    breath: float  # aspiration noise relative to the voiced part
    tremolo: float = 0.0  # semitones of 6 Hz pitch tremor
    tilt: float = 0.0  # voice quality: added harmonic slope (< 0 pressed and bright, > 0 lax and dark)


PROSODY = {
    "neutral": Prosody(1.00, 2.0, 1.00, 1.00, 0.05),
    "happy": Prosody(1.18, 5.0, 1.35, 1.12, 0.05, tilt=-0.3),
    "surprise": Prosody(1.30, 7.0, 1.45, 1.02, 0.05, tilt=-0.2),
    "angry": Prosody(1.12, 4.0, 2.00, 1.22, 0.12, tilt=-0.7),
    "sad": Prosody(0.87, 1.0, 0.55, 0.72, 0.08, tilt=0.8),
    "disgust": Prosody(0.93, 3.0, 0.85, 0.80, 0.18, tilt=0.4),
    "fear": Prosody(1.22, 1.5, 0.75, 1.30, 0.10, tremolo=0.6, tilt=0.5),
}

# Text: neutral carriers, emotion phrases, and distractor carriers that reuse emotion words
# in a neutral sense (a scary film, a painter 화가), so single words are not enough.
CARRIERS = [
    "오늘 회의 몇 시에 시작해", "어제 그 가게에 갔었는데", "그래서 내가 전화를 했거든",
    "내일 아침에 일찍 나가야 돼", "이번 주말에 뭐 할 거야", "버스가 아직 안 왔어",
    "점심은 뭐 먹었어", "그 책 다 읽었어", "엄마한테 말해 봤어", "회사 앞에서 만나자",
    "숙제는 내일까지야", "택시 타고 갈까", "비가 올 것 같아", "지금 집에 가는 길이야",
    "동생이 아까 전화했더라", "커피 한 잔 할래", "아까 그 사람 누구야", "주소 좀 다시 알려 줘",
    "다음 주에 시험이 있어", "그 얘기는 나중에 하자", "역 앞에 새 가게가 생겼대",
    "차가 많이 막히더라", "편의점에 잠깐 들를게", "강아지 산책시켜야 돼",
]  # fmt: skip
DISTRACTORS = [
    "무서운 영화 보러 갈래", "슬픈 노래 좀 틀어 봐", "화가 그린 그림이래",
    "좋아하는 음식이 뭐야", "진짜 이름이 뭐였지", "아픈 데는 없어",
]  # fmt: skip
PHRASES = {
    "happy": ["좋아", "신난다", "기뻐", "너무 좋다", "완전 행복해", "재밌겠다"],
    "surprise": ["깜짝이야", "진짜?", "헐 대박", "말도 안 돼", "어머 웬일이야", "정말이야?"],
    "angry": ["짜증나", "화가 나", "열받아", "어이가 없네", "진짜 짜증나게 하네", "왜 그래 진짜"],
    "sad": ["슬퍼", "우울해", "속상해", "눈물 나", "너무 서운해", "마음이 아파"],
    "disgust": ["역겨워", "징그러워", "더러워", "토 나와", "으 싫어", "끔찍해"],
    "fear": ["무서워", "겁나", "소름 돋아", "떨려", "어떡해 무서워", "불안해"],
}
FILLERS = ["음", "그러니까", "근데", "아니", "뭐", "그냥", "약간", "막", "이제", "어"]
# Transcription-guide markers; clean_transcript() must strip every one of them.
MARK_TOKENS = ["c/", "n/", "N/", "u/", "l/", "b/", "(웃음)", "(한숨)", "(기침)"]


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


def compose_text(rng: np.random.Generator, emotion: str | None) -> str:
    """One raw transcript line; emotion=None gives a neutral-sounding line."""
    pool = DISTRACTORS if rng.random() < 0.15 else CARRIERS
    parts = [str(rng.choice(pool))]
    if rng.random() < 0.35:
        parts.append(str(rng.choice(CARRIERS)))
    if emotion is not None:
        phrase = str(rng.choice(PHRASES[emotion]))
        parts.insert(int(rng.integers(0, len(parts) + 1)), phrase)
    if rng.random() < 0.3:
        parts.insert(0, str(rng.choice(FILLERS)))
    words = " ".join(parts).split(" ")
    if rng.random() < 0.35:  # transcription markers, as the annotators wrote them
        for _ in range(int(rng.integers(1, 3))):
            kind = rng.random()
            i = int(rng.integers(0, len(words)))
            if kind < 0.6:
                words.insert(i, str(rng.choice(MARK_TOKENS)))
            elif kind < 0.75:
                words[i] += "*"  # partly understood
            elif kind < 0.9:
                words.insert(i, words[i][0] + "+")  # repetition: 그+ 그러니까
            else:
                words.insert(i, "/" + str(rng.choice(["아", "어", "음"])))  # interjection
    line = " ".join(words)
    if not line.endswith("?"):
        line += str(rng.choice([".", ".", "?", ""]))
    return line


@dataclass(frozen=True)
class Speaker:
    user: int
    gender: str
    f0: float  # Hz
    loudness: float
    rate: float  # syllables per second
    tables: dict  # emotion -> one period of the speaker's voiced waveform in that voice quality

    @property
    def name(self) -> str:
        return f"User{self.user:03d}{self.gender}"


def make_speaker(rng: np.random.Generator, user: int) -> Speaker:
    gender = "F" if rng.random() < 0.5 else "M"
    f0 = rng.normal(215, 20) if gender == "F" else rng.normal(120, 12)
    # Timbre: harmonic amplitudes with a speaker-specific spectral tilt, which the emotion's
    # voice quality steepens (lax, dark) or flattens (pressed, bright).
    tilt = rng.uniform(0.7, 1.4)
    phase = np.linspace(0, 1, 2048, endpoint=False)
    k = np.arange(1, 9)[:, None]
    harmonics = np.sin(2 * np.pi * k * phase + rng.uniform(0, 2 * np.pi, (8, 1)))
    tables = {}
    for emotion, p in PROSODY.items():
        table = ((k ** -max(tilt + p.tilt, 0.2)) * harmonics).sum(0)
        tables[emotion] = (table / np.abs(table).max()).astype(np.float32)
    return Speaker(user, gender, float(f0), float(np.exp(rng.normal(0, 0.2))),
                   float(4.5 * np.exp(rng.normal(0, 0.08))), tables)


def speaking_rate(rng: np.random.Generator, emotion: str, speaker: Speaker) -> float:
    return speaker.rate * PROSODY[emotion].rate * float(np.exp(rng.normal(0, 0.08)))


def synth_voice(rng: np.random.Generator, emotion: str, speaker: Speaker, seconds: float,
                rate: float | None = None, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A synthetic utterance: harmonic voice on a pitch contour, syllable envelope, noise."""
    p = PROSODY[emotion]
    rate = speaking_rate(rng, emotion, speaker) if rate is None else rate
    n = int(round(seconds * sample_rate))
    # Slow controls (pitch, envelope) are computed every CONTROL_STEP samples and held: the
    # phase is still integrated per sample, so the waveform stays continuous, and it is ~5x
    # cheaper than per-sample control.
    n_ctrl = -(-n // CONTROL_STEP)
    t = np.arange(n_ctrl) * (CONTROL_STEP / sample_rate)
    rel = t / seconds
    # 1. Pitch: level, slow movement, declination (a terminal rise for surprise), tremor.
    span = p.range_st * float(np.exp(rng.normal(0, 0.2)))
    f1, f2 = rng.uniform(0.5, 1.2), rng.uniform(1.5, 3.0)
    ph1, ph2 = rng.uniform(0, 2 * np.pi, 2)
    semitones = span * (0.6 * np.sin(2 * np.pi * f1 * t + ph1) + 0.3 * np.sin(2 * np.pi * f2 * t + ph2))
    semitones += span * (1.5 * rel**3 if emotion == "surprise" else -0.5 * rel)
    semitones += p.tremolo * np.sin(2 * np.pi * 6.0 * t)
    f0 = speaker.f0 * p.pitch * float(np.exp(rng.normal(0, 0.04))) * 2 ** (semitones / 12)
    # 2. Syllable-rate envelope with a little rate wobble, and 30 ms fades.
    wobble = 1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 2 * np.pi))
    syllables = np.cumsum(rate * wobble) * (CONTROL_STEP / sample_rate)
    envelope = np.abs(np.sin(np.pi * syllables)) ** 0.8
    envelope *= np.clip(np.minimum(t, seconds - t) / 0.03, 0.0, 1.0)
    amp = 0.08 * speaker.loudness * p.energy * float(np.exp(rng.normal(0, 0.12)))
    # 3. Voiced waveform by table look-up on the running phase (no per-harmonic sin).
    cycles = np.cumsum(np.repeat(f0 / sample_rate, CONTROL_STEP)[:n])
    table = speaker.tables[emotion]
    voiced = table[((cycles % 1.0) * len(table)).astype(np.int64)]
    noise = rng.standard_normal(n, dtype=np.float32)
    gain = np.repeat((amp * envelope).astype(np.float32), CONTROL_STEP)[:n]
    wave = gain * (voiced.astype(np.float32) + p.breath * noise) + 0.002 * noise[::-1]
    return np.clip(wave, -0.99, 0.99)


def n_syllables(text: str) -> int:
    return sum("\uac00" <= ch <= "\ud7a3" for ch in text)


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
                prior: str, single_modality_share: float, wrong_prefix_sessions) -> None:
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


def _write_csv(path: Path, rows: list[list], encoding: str = "utf-8") -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def generate(root, truth, seed: int = 7, n_sessions: int = 20, segments_per_session: int = 60,
             prior: str = "demo", single_modality_share: float = 0.4,
             wrong_prefix_sessions=()) -> dict:
    """Write the look-alike under root and the hidden labels to truth; returns counts."""
    root, truth = Path(root), Path(truth)
    wrong_prefix_sessions = sorted({int(s) for s in wrong_prefix_sessions})
    _check_args(root, truth, n_sessions, segments_per_session, prior, single_modality_share,
                wrong_prefix_sessions)
    rng = np.random.default_rng(seed)
    root.parent.mkdir(parents=True, exist_ok=True)
    truth.parent.mkdir(parents=True, exist_ok=True)
    build = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(build, ignore_errors=True)
    truth_rows = [["segment_id", "session", "speaker", "true_emotion", "evidence"]]
    try:
        for folder in ("annotation", "wav", "EDA", "IBI", "TEMP"):
            (build / folder).mkdir(parents=True)
        for session in range(1, n_sessions + 1):
            speakers = [make_speaker(rng, 2 * session - 1), make_speaker(rng, 2 * session)]
            plan = plan_session(rng, session, segments_per_session, speakers)
            emotions = sample_emotions(rng, len(plan), prior)
            evidence = sample_evidence(rng, emotions, single_modality_share)
            votes, valence, arousal = cast_votes(rng, emotions, evidence)
            wav_dir = build / "wav" / f"Session{session:02d}"
            wav_dir.mkdir()
            prefix = wrong_session(session, n_sessions) if session in wrong_prefix_sessions else session
            rows, clock = header_rows(), 0.0
            for i, (seg_id, _script, spk) in enumerate(plan):
                emotion = CLASSES[emotions[i]]
                text_emotion = emotion if evidence[i] in ("both", "text") else None
                voice_emotion = emotion if evidence[i] in ("both", "audio") else "neutral"
                line = compose_text(rng, text_emotion)
                rate = speaking_rate(rng, voice_emotion, spk)
                seconds = n_syllables(clean_transcript(line)) / rate + rng.uniform(0.3, 0.8)
                seconds = float(np.clip(seconds, MIN_SECONDS, MAX_SECONDS))
                wave = synth_voice(rng, voice_emotion, spk, seconds, rate=rate)
                sf.write(wav_dir / f"{seg_id}.wav", wave, SAMPLE_RATE, subtype="PCM_16")
                (wav_dir / f"{seg_id}.txt").write_bytes((line + "\r\n").encode("cp949"))
                start = clock + rng.uniform(0.2, 1.0)  # wav start/end run on through the session
                clock = start + len(wave) / SAMPLE_RATE
                v = votes[i] >= 0
                row = [i + 1, f"{start:.3f}", f"{clock:.3f}", f"Sess{prefix:02d}" + seg_id[6:],
                       total_of(rng, votes[i]), f"{valence[i][v].mean():.1f}",
                       f"{arousal[i][v].mean():.1f}"]
                for j in range(N_EVALUATORS):
                    row += ([raw_label(votes[i, j]), valence[i, j], arousal[i, j]] if v[j]
                            else ["", "", ""])
                rows.append(row)
                truth_rows.append([seg_id, session, f"User{spk.user:03d}", emotion, evidence[i]])
            _write_csv(build / "annotation" / f"Sess{session:02d}_eval.csv", rows)
            log.info("Sess%02d: %d segments%s", session, len(plan),
                     f", Segment IDs written as Sess{prefix:02d} (planted defect)"
                     if prefix != session else "")
        tmp_truth = truth.with_name(f".{truth.name}.tmp-{os.getpid()}")
        _write_csv(tmp_truth, truth_rows)
        if root.exists():  # only empty folders (checked above)
            shutil.rmtree(root)
        os.replace(build, root)
        os.replace(tmp_truth, truth)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return {"sessions": n_sessions, "segments": len(truth_rows) - 1}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, type=Path, help="dataset root to create")
    ap.add_argument("--truth", required=True, type=Path, help="hidden labels CSV (outside root)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n-sessions", type=int, default=20)
    ap.add_argument("--segments-per-session", type=int, default=60)
    ap.add_argument("--prior", choices=sorted(PRIORS), default="demo")
    ap.add_argument("--single-modality-share", type=float, default=0.4)
    ap.add_argument("--wrong-prefix-sessions", type=int, nargs="*", default=[],
                    help="sessions whose annotation file names the wrong session (release: 12 17)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    started = time.perf_counter()
    counts = generate(args.root, args.truth, seed=args.seed, n_sessions=args.n_sessions,
                      segments_per_session=args.segments_per_session, prior=args.prior,
                      single_modality_share=args.single_modality_share,
                      wrong_prefix_sessions=args.wrong_prefix_sessions)
    log.info("wrote %d segments in %d sessions under %s (truth: %s) in %.1f s",
             counts["segments"], counts["sessions"], args.root, args.truth,
             time.perf_counter() - started)


if __name__ == "__main__":
    run_cli(main)
