"""Dialogue context (`context_turns: K`): the transcripts of the K turns before a segment,
oldest first, and the pair encoding that gives them to the text encoder with the segment's
own transcript.

- A dialogue is one (dataset, session, script) of segments.csv (KEMDy19's script01..06 and
  impro01..04 alike); its turns follow the release's own running number `turn` (the
  annotation files' Numb), both speakers interleaved. Segment IDs count each speaker's turns
  apart, so they cannot interleave them; Numb does, in KEMDy20's one file per session and
  KEMDy19's two (the same Numb in both). A session whose Segment IDs carry the wrong prefix
  (KEMDy20 Sess12, Sess17) is ordered like any other: ingest fixes the IDs, Numb is untouched.
- Every turn ingest kept is context, labelled or not (too few votes), in any fold: these are
  the words spoken before, known at test time as they would be in use. No label is: only the
  columns CONTEXT_COLUMNS of segments.csv are read, never a vote, total or score. Segments
  ingest skipped have no transcript and are no turn.
- Pair encoding: (context, utterance) as the tokenizer builds a pair (RoBERTa `<s> c </s></s>
  u </s>`, BERT `[CLS] c [SEP] u [SEP]`); inside the context, turns are separated by the
  tokenizer's sep token, so the encoder sees where one speaker's turn ends (joined by
  spaces, the turns would read as one run-on sentence). When it is too long, the context is
  cut from its start (its oldest tokens) and the utterance kept whole; an utterance longer
  than max_len on its own is cut from its end, with no context, as without context_turns. A
  segment without context (the first turn of a dialogue, or K = 0) is encoded exactly as
  kemdy.train.batches.tokenize encodes it.
- Token types are not passed (no job passes them: all type 0). klue/roberta-base and XLM-R
  take type 0 only; a BERT or ELECTRA encoder would mark the utterance with type 1, here it
  is marked by its place after the pair's separator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kemdy.errors import InputError
from kemdy.release.segments import read_segments

CONTEXT_COLUMNS = ["dataset", "segment_id", "session", "script", "turn", "text"]
DIALOGUE = ["dataset", "session", "script"]


def read_dialogues(path) -> pd.DataFrame:
    """The transcripts of segments.csv in dialogue order: CONTEXT_COLUMNS only (no label
    column is even parsed), sorted by dialogue and turn."""
    frame = read_segments(path, CONTEXT_COLUMNS, usecols=lambda c: c in CONTEXT_COLUMNS,
                          dtype={"dataset": str, "segment_id": str, "script": str, "text": str},
                          keep_default_na=False)
    turn = pd.to_numeric(frame["turn"], errors="coerce")
    if turn.isna().any():
        first = frame.loc[turn.isna(), "segment_id"].iloc[0]
        raise InputError(path, f"{int(turn.isna().sum())} segments have no turn number "
                         f"(first: {first}), so their dialogue's order is unknown",
                         "re-run ingest (segments.csv's turn is the annotation files' Numb), "
                         "or set context_turns: 0")
    frame = frame.assign(turn=turn.astype(np.int64))
    twice = frame.duplicated(DIALOGUE + ["turn"], keep=False)
    if twice.any():
        ids = frame.loc[twice, "segment_id"].tolist()[:4]
        raise InputError(path, f"segments {ids} share one turn number in one dialogue, so "
                         "their order is unknown", "correct the Numb cells of the annotation "
                         "file and re-run ingest, or set context_turns: 0")
    return frame.sort_values(DIALOGUE + ["turn"], kind="stable").reset_index(drop=True)


def previous_turns(dialogues: pd.DataFrame, segment_ids, k: int, path="segments.csv"
                   ) -> list[list[str]]:
    """For each segment id, the transcripts of the (at most) k turns before it in its
    dialogue, oldest first."""
    texts: dict[tuple, list[str]] = {}
    place: dict[str, tuple[tuple, int]] = {}
    for row in dialogues.itertuples(index=False):
        key = (row.dataset, row.session, row.script)
        turns = texts.setdefault(key, [])
        place[row.segment_id] = (key, len(turns))
        turns.append(row.text)
    out = []
    for sid in segment_ids:
        if sid not in place:
            raise InputError(path, f"segment {sid} is not in it", "re-run ingest and "
                             "aggregate_labels: new_data.csv and segments.csv must be one run's")
        key, at = place[sid]
        out.append(texts[key][max(0, at - k): at])
    return out


def last_turns(context, k: int) -> list[str]:
    """A context as given to predict (a list of transcripts, oldest first): its last k turns."""
    turns = [str(t) for t in (context or [])]
    return turns[-k:] if k > 0 else []


def encode_pairs(tokenizer, contexts: list[list[str]], texts, max_len: int) -> list[np.ndarray]:
    """Token ids of (context, utterance) pairs, unpadded: see the module's docstring. The
    turns are joined by the sep token's text, which the tokenizer splits out as that token
    (each turn is then tokenized as if alone)."""
    texts = [str(t) for t in texts]
    pair = tokenizer.num_special_tokens_to_add(pair=True)
    own = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    joiner = tokenizer.sep_token or " "
    out = []
    for turns, text, utt in zip(contexts, texts, own):
        turns = [str(t) for t in turns if str(t).strip()]  # an empty transcript: no turn
        if not turns or len(utt) + pair >= max_len:  # as tokenize(): cut from the end
            ids = tokenizer(text, truncation=True, max_length=max_len)["input_ids"]
        else:
            ids = _pair(tokenizer, joiner.join(turns), text, max_len)
        out.append(np.asarray(ids, dtype=np.int64))
    return out


def _pair(tokenizer, context: str, text: str, max_len: int) -> list[int]:
    """The pair's ids, the context losing its oldest tokens (only_first, from the left)."""
    side = tokenizer.truncation_side
    try:
        tokenizer.truncation_side = "left"
        return tokenizer(context, text, truncation="only_first", max_length=max_len)["input_ids"]
    finally:
        tokenizer.truncation_side = side
