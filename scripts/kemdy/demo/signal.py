"""The look-alike's planted signal, shared by both releases' writers (lookalike.py lays it
out as KEMDy20, lookalike19.py as KEMDy19): hidden emotions and where they show, the ten
evaluators' votes and ratings, the session's speakers, and each segment's transcript line
and voice. Every draw comes from the caller's generator, in the order the writers ask."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.release.kemdy20 import N_EVALUATORS, clean_transcript
from kemdy.demo.script import compose_text, n_syllables
from kemdy.demo.voice import Speaker, make_speaker, speaking_rate, synth_voice

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


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8") -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
