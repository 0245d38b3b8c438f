"""The KEMDy19 writer of the look-alike: lookalike.py's signal laid out as KEMDy19.

What is written (docs/kemdy19-format.md is the reference; § numbers refer to it):
- annotation/SessionSS_F_res.csv and _M_res.csv (UTF-8): two header rows, 43 columns, empty
  filler cells. Both files list every segment of the session in the same order, with the
  same Numb (1..N) and wav start/end (seconds, restarting with each dialogue). A segment's
  row in its own speaker's file holds the ten evaluators' votes on its hidden emotion; its
  row in the other file holds the listener's emotion (mostly neutral) and other totals.
  Totals: the majority label, ties joined by ';' in the release's order; mean valence and
  arousal in shortest form (3.6, 4). ECG / EDA / TEMP cells hold the file's participant's
  values, a few of them empty (and all EDA/TEMP cells of Sess01_impro03/04, D1).
- wav/SessionSS/SessSS_DLG/<Segment ID>.wav, .txt (one UTF-8 line ending in \\n, KEMDy19
  markup sometimes) and a per-segment .csv of a few numbers (RMS per half second; the
  release's content is unknown and no reader uses it), plus an empty converted/ folder in
  each dialogue folder. Dialogues script01..06 then impro01..04 (fewer when a session has
  fewer segments); each speaker counts its own turns per dialogue.
- Evaluators: two rater groups of ten with different names, the first half of the sessions
  rated by Session01's group, the rest by an invented one (the release's is unknown, §3.3).
- The release's defects (§7) at their documented IDs, where the look-alike has the session
  and dialogue; a dialogue that holds one gets the turns it needs to reach its number:
  D2 wav without .txt; D3 numbering gaps (Sess03_script04_M015: no turn at all; the D4
  F001 turns: rows but neither wav nor .txt); D4 the F file's F001 row written as M001;
  D5 a phantom row pair (F file ..._M031, M file ..._F031) after Sess04_impro03's last row.
- ECG/, EDA/, TEMP/ are left empty.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from kemdy.classes import CLASS_INDEX, CLASSES
from kemdy.demo.signal import (Signal, cast_votes, draw_signal, session_speakers, utterances,
                               write_csv)
from kemdy.demo.script import FILLERS, n_syllables
from kemdy.demo.voice import SAMPLE_RATE, Speaker
from kemdy.release.kemdy19 import (DIALOGUES, F001_AS_M001, GROUP_HEADER, N_COLUMNS,
                                   NO_RECORDING, NO_TRANSCRIPT, PHANTOM, RAW_LABELS,
                                   SEGMENT_ID, SESSION01_EVALUATORS, SUB_HEADER, segment_path)

log = logging.getLogger("generate_lookalike")

GROUPS = (SESSION01_EVALUATORS, [
    "Eval11M", "Eval12F", "Eval13M", "Eval14F", "Eval15F",
    "Eval16M", "Eval17F", "Eval18M", "Eval19F", "Eval20M",
])  # fmt: skip
# The listener's emotion while the other one speaks, in CLASSES order: mostly neutral.
LISTENER_PRIOR = np.array([0.70, 0.06, 0.05, 0.06, 0.05, 0.04, 0.04])
EMPTY_BIO_SHARE = 0.02  # a segment's ECG, EDA or TEMP pair left empty (D1: scattered)
NO_EDA_TEMP = ("Sess01_impro03", "Sess01_impro04")  # D1: every EDA and TEMP cell empty
ASIDES = {"(웃음)": "l/", "(한숨)": "b/", "(기침)": "b/"}  # KEMDy20 asides as KEMDy19 tags
OVERLAP_WORDS = FILLERS + ["그래", "아니", "응", "왜", "진짜", "잠깐만"]

PHANTOM_DIALOGUE = PHANTOM["F"][:-5]  # Sess04_impro03
GAPS = tuple(s for s in NO_RECORDING if s not in F001_AS_M001)  # D3 turns that never happen
REQUIRED = NO_TRANSCRIPT + F001_AS_M001 + tuple(s[:-4] + "M001" for s in F001_AS_M001)


@dataclass(frozen=True)
class Turn:
    seg_id: str
    dialogue: str
    letter: str  # the speaker's gender, F or M: whose file holds the segment's own row
    speaker: Speaker


def _parse(seg_id: str) -> tuple[int, str, str, int]:
    match = SEGMENT_ID.match(seg_id)
    return int(match.group(1)), match.group(2), match.group(3), int(match.group(4))


def _needed(session: int, dialogue: str) -> dict[str, int]:
    """Turns each speaker needs in a dialogue for its documented defect IDs to exist."""
    need = {"F": 0, "M": 0}
    for seg_id in REQUIRED:
        s, dlg, letter, number = _parse(seg_id)
        if (s, dlg) == (session, dialogue):
            gaps = sum(_parse(g)[:3] == (s, dlg, letter) and _parse(g)[3] < number for g in GAPS)
            need[letter] = max(need[letter], number - gaps)
    return need


def _turn_letters(rng: np.random.Generator, count: int, session: int, dialogue: str) -> list[str]:
    """Who speaks each turn: mostly alternating; extra turns where a defect needs them."""
    letters, who = [], int(rng.integers(0, 2))
    for _ in range(count):
        letters.append("FM"[who])
        if rng.random() > 0.25:  # sometimes a speaker goes on
            who = 1 - who
    for letter, n in _needed(session, dialogue).items():
        while letters.count(letter) < n:
            letters.insert(int(rng.integers(0, len(letters) + 1)), letter)
    return letters


def plan_session(rng: np.random.Generator, session: int, n_segments: int,
                 speakers: dict[str, Speaker]) -> list[Turn]:
    """Every turn of a session, in dialogue order; numbers skip the D3 gaps."""
    n_dialogues = min(len(DIALOGUES), n_segments)
    counts = rng.multinomial(n_segments - n_dialogues, [1 / n_dialogues] * n_dialogues) + 1
    plan = []
    for dialogue, count in zip(DIALOGUES, counts):
        numbers = {"F": 0, "M": 0}
        for letter in _turn_letters(rng, int(count), session, dialogue):
            seg_id = None
            while seg_id is None or seg_id in GAPS:
                numbers[letter] += 1
                seg_id = f"Sess{session:02d}_{dialogue}_{letter}{numbers[letter]:03d}"
            plan.append(Turn(seg_id, dialogue, letter, speakers[letter]))
    return plan


def evaluators(session: int, n_sessions: int) -> list[str]:
    """The rater group of a session: the first half of the sessions, then the second."""
    return GROUPS[0] if session <= (n_sessions + 1) // 2 else GROUPS[1]


def header_rows(names: list[str]) -> list[list[str]]:
    row1, row2 = list(GROUP_HEADER), list(SUB_HEADER)
    for name in names:
        row1 += [name, "", ""]
        row2 += ["Emotion", "Valence", "Arousal"]
    assert len(row1) == len(row2) == N_COLUMNS
    return [row1, row2]


def shortest(value: float, decimals: int) -> str:
    """A number as the release writes it: at most `decimals` decimals, no trailing zeros."""
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def total_of(votes: np.ndarray) -> str:
    """The majority label; ties joined by ';' in the release's fixed order (§3.4)."""
    counts = np.bincount(votes, minlength=len(CLASSES))
    return ";".join(label for label in RAW_LABELS if counts[CLASS_INDEX[label]] == counts.max())


def vote_cells(votes: np.ndarray, valence: np.ndarray, arousal: np.ndarray) -> list:
    """Totals and the ten (emotion, valence, arousal) triples of one row. KEMDy19 has no
    empty evaluator cell: a vote the shared draw left missing is written as neutral."""
    votes = np.where(votes < 0, CLASS_INDEX["neutral"], votes)
    cells = [total_of(votes), shortest(valence.mean(), 1), shortest(arousal.mean(), 1)]
    for j in range(len(votes)):
        cells += [CLASSES[votes[j]], int(valence[j]), int(arousal[j])]
    return cells


def listener_votes(rng: np.random.Generator, n: int) -> Signal:
    """Votes on n listener rows: the other participant's emotion, mostly neutral."""
    emotions = rng.choice(len(CLASSES), size=n, p=LISTENER_PRIOR)
    evidence = np.where(emotions == 0, "none", "both").astype(object)
    return Signal(emotions, evidence, *cast_votes(rng, emotions, evidence))


def bio_cells(rng: np.random.Generator, base: tuple[float, float], no_eda_temp: bool) -> list:
    """ECG, EDA and TEMP at a segment's start and end for one participant; some empty."""
    eda, temp = base
    cells = ([f"{x:.8f}" for x in rng.normal(0, 0.03, 2)]
             + [f"{x:.6f}" for x in eda * np.exp(rng.normal(0, 0.05, 2))]
             + [f"{x:.2f}" for x in temp + rng.normal(0, 0.05, 2)])
    empty = rng.random(3) < EMPTY_BIO_SHARE
    empty[1:] |= no_eda_temp
    for k in np.flatnonzero(empty):
        cells[2 * k: 2 * k + 2] = ["", ""]
    return cells


def kemdy19_line(rng: np.random.Generator, line: str) -> str:
    """A look-alike line with KEMDy19's markup: its tags (o/ s/ N/), an overlap (x+y) at
    the start, the own words under an overlap in parentheses at the end."""
    for aside, tag in ASIDES.items():
        line = line.replace(aside, tag)
    words = line.split(" ")
    if rng.random() < 0.15:
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(["o/", "s/", "o/ N/"])))
    if rng.random() < 0.1:
        words.insert(0, "({}+{})".format(*rng.choice(OVERLAP_WORDS, 2)))
    if rng.random() < 0.08 and len(words) > 1 and n_syllables(words[-1]):  # a word, not a tag
        words[-1] = f"({words[-1]})"
    return " ".join(words)


def segment_csv(wave: np.ndarray) -> bytes:
    """A per-segment .csv: time and RMS of each half second."""
    step = SAMPLE_RATE // 2
    rms = [float(np.sqrt(np.mean(wave[k: k + step] ** 2))) for k in range(0, len(wave), step)]
    return "".join(f"{k * 0.5:.1f},{r:.6f}\n" for k, r in enumerate(rms)).encode("utf-8")


def write_files(rng: np.random.Generator, build: Path, turn: Turn, line: str,
                wave: np.ndarray) -> None:
    """A segment's wav, .txt (not for D2) and .csv; nothing for the D3/D4 F001 turns."""
    text = kemdy19_line(rng, line)
    if turn.seg_id in NO_RECORDING:
        return
    wav = build / segment_path(turn.seg_id)
    sf.write(wav, wave, SAMPLE_RATE, subtype="PCM_16")
    if turn.seg_id not in NO_TRANSCRIPT:
        wav.with_suffix(".txt").write_bytes((text + "\n").encode("utf-8"))
    wav.with_suffix(".csv").write_bytes(segment_csv(wave))


def row_pair(rng: np.random.Generator, ids: dict[str, str], times: tuple[float, float],
             cells: dict[str, list], bio: dict[str, tuple]) -> dict[str, list]:
    """One segment's row (after Numb) in the F file and in the M file."""
    no_eda_temp = ids["F"].rsplit("_", 1)[0] in NO_EDA_TEMP
    wav = [shortest(times[0], 3), shortest(times[1], 3)]
    return {g: wav + bio_cells(rng, bio[g], no_eda_temp) + [ids[g]] + cells[g] for g in "FM"}


def write_session(rng: np.random.Generator, build: Path, session: int, n_sessions: int,
                  segments_per_session: int, prior: str,
                  single_modality_share: float) -> list[list]:
    """One session's two annotation files and dialogue folders under `build`; its truth rows."""
    speakers = dict(zip("FM", session_speakers(rng, session, genders="FM")))
    plan = plan_session(rng, session, segments_per_session, speakers)
    signal = draw_signal(rng, len(plan), prior, single_modality_share)
    listener = listener_votes(rng, len(plan) + 2)  # the last two: the D5 phantom's rows
    bio = {g: (rng.uniform(0.2, 5.0), rng.uniform(30.0, 35.0)) for g in "FM"}
    for dialogue in dict.fromkeys(t.dialogue for t in plan):
        folder = build / "wav" / f"Session{session:02d}" / f"Sess{session:02d}_{dialogue}"
        (folder / "converted").mkdir(parents=True)
    phantom_at = max((i for i, t in enumerate(plan) if t.seg_id[:-5] == PHANTOM_DIALOGUE),
                     default=None)  # D5 follows the dialogue's last real row
    pairs, truth_rows, clock, dialogue = [], [], 0.0, None
    spoken = utterances(rng, signal, [t.speaker for t in plan])
    for i, (turn, (line, wave)) in enumerate(zip(plan, spoken)):
        if turn.dialogue != dialogue:  # wav times restart with each dialogue's recording
            clock, dialogue = rng.uniform(1.0, 8.0), turn.dialogue
        start = clock + (rng.uniform(0.1, 1.5) if rng.random() < 0.2 else 0.0)
        clock = start + len(wave) / SAMPLE_RATE
        write_files(rng, build, turn, line, wave)
        if turn.seg_id not in NO_RECORDING:
            truth_rows.append([turn.seg_id, session, f"Sess{session:02d}{turn.letter}",
                               CLASSES[signal.emotions[i]], signal.evidence[i]])
        own = vote_cells(signal.votes[i], signal.valence[i], signal.arousal[i])
        other = vote_cells(listener.votes[i], listener.valence[i], listener.arousal[i])
        ids = {"F": turn.seg_id[:-4] + "M001" if turn.seg_id in F001_AS_M001 else turn.seg_id,
               "M": turn.seg_id}  # D4: the F file names its F001 row M001
        cells = {g: own if g == turn.letter else other for g in "FM"}
        pairs.append(row_pair(rng, ids, (start, clock), cells, bio))
        if i == phantom_at:  # D5: a row pair without a segment, its ID differing per file
            phantom = {g: vote_cells(listener.votes[k], listener.valence[k], listener.arousal[k])
                       for g, k in (("F", len(plan)), ("M", len(plan) + 1))}
            pairs.append(row_pair(rng, PHANTOM, (clock, clock + 1.2), phantom, bio))
    for g in "FM":
        rows = header_rows(evaluators(session, n_sessions))
        rows += [[n, *pair[g]] for n, pair in enumerate(pairs, start=1)]
        write_csv(build / "annotation" / f"Session{session:02d}_{g}_res.csv", rows)
    log.info("Session%02d: %d segments with a wav, %d annotation rows per file", session,
             len(truth_rows), len(pairs))
    return truth_rows
