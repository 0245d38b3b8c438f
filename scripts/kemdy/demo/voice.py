"""The look-alike's synthetic voice: speakers with their own pitch, loudness, rate and timbre,
and emotions that move pitch level and range, loudness, speaking rate and voice quality
(pressed and bright vs. lax and dark)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
CONTROL_STEP = 32  # samples between updates of pitch and loudness (2 ms)


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
