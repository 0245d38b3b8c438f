"""Classify new recordings with the models a run exported.

    python scripts/predict.py --model results/models/mm_ce/fold0 --wav A.wav --text "transcript"
    python scripts/predict.py --model results/models/mm_ce/fold* --csv new.csv --out preds.csv

One item: prints JSON, {"emotion": ..., "probabilities": {the seven classes, summing to 1}}
plus "valence" and "arousal" from a model trained for them (an audio-only model needs no
--text, a text-only one no --wav). --csv: a table with `wav` and `text` columns (only those
the models read; wav paths relative to the table's folder) gives one row per item: the
columns in, then `emotion`, one `prob_<class>` per class (and `valence`, `arousal`).
Several --model folders (`--model A B` or `--model A --model B`), the folds of one variant,
average their probabilities (other variants, or a two-stage and a one-stage model, are
refused); a several-seed variant's fold folder averages its seed{s} models; the keys a
variant's models may differ in (seed, a sweep's choices) are those model.json records as
`varies` (--vary: more, for older exports). A two-stage variant's fold folder predicts
through both stages (a stage1 or stage2 folder alone is refused). A model.json edited after
export is refused (a digest of it travels in model.safetensors). The encoders are loaded
from where model.json records them, from any directory, and must be the ones the model was
trained with (--text-encoder / --audio-encoder: found elsewhere). How:
scripts/kemdy/predict.py. The rule `predict` runs it on predict/<name>.csv with every fold
(and seed) of a variant.

Dialogue context (a variant trained with context_turns): `--context "..."`, repeated, oldest
first, gives the turns before the one recording; a table's optional `context` column holds
them as a JSON list of strings (`["first turn", "second turn"]`, oldest first; empty: none).
A model trained with context and given none scores each item as a dialogue's first turn (a
warning says so); more turns than it reads: the last ones are read (a note says so); context
given to models trained without it is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd
import torch

from kemdy.atomic import write_csv
from kemdy.classes import CLASSES
from kemdy.cpus import available_cpus
from kemdy.errors import InputError, run_cli
from kemdy.predict import (context_turns, load_models, modalities, predict_one,
                           read_models)
from kemdy.tables import read_table


def context_cell(cell: str) -> list[str]:
    """A table's `context` cell: a JSON list of transcripts, oldest first (empty: none)."""
    if not cell.strip():
        return []
    try:
        turns = json.loads(cell)
    except json.JSONDecodeError:
        turns = None
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise InputError("context", f"{cell[:60]!r} is not a JSON list of strings",
                         'write the previous turns as ["first turn", "second turn"], oldest '
                         "first, or leave the cell empty")
    return turns


def warn_without_context(models, given: bool) -> None:
    turns = context_turns(models)
    if turns and not given:
        print(f"warning: these models read up to {turns} previous turns of dialogue context "
              "and none was given (--context, or a context column): each item is scored as "
              "the first turn of a dialogue", file=sys.stderr)


def note_unread_turns(models, given: list[int], rows: bool = False) -> None:
    """Say so when items give more previous turns than the models read (the last ones are
    read, as in training). `given`: the turns of each item; `rows`: a table's."""
    turns = context_turns(models)
    over = [n for n in given if n > turns]
    if not turns or not over:
        return
    what = (f"{len(over)} of {len(given)} rows give more (up to {max(over)}): their older "
            "turns are" if rows else f"{over[0]} were given: the oldest {over[0] - turns} "
            f"{'is' if over[0] - turns == 1 else 'are'}")
    print(f"note: these models read the last {turns} previous turns; {what} not read",
          file=sys.stderr)


def predict_table(models, reads: set[str], table: Path, device) -> pd.DataFrame:
    """`reads`: what the models read of an item (modalities): only those columns are needed."""
    needs = sorted({"text": "text", "audio": "wav"}[m] for m in reads)
    frame = read_table(table, needs, f"give a CSV with the column(s) {', '.join(needs)}",
                       dtype=str, keep_default_na=False)
    warn_without_context(models, "context" in frame.columns)
    rows, given = [], []
    for line, item in enumerate(frame.itertuples(index=False), start=2):
        cells = item._asdict()
        wav = cells.get("wav")
        if wav is not None and not os.path.isabs(wav):
            wav = table.parent / wav
        try:
            context = context_cell(cells["context"]) if "context" in cells else None
            given.append(len([t for t in context or [] if t.strip()]))
            out = predict_one(models, cells.get("text"), wav, device, context)
        except InputError as err:
            raise InputError(table, f"{err.path}: {err.problem}", err.fix, row=line) from None
        rows.append({**cells, "emotion": out["emotion"],
                     **{f"prob_{c}": out["probabilities"][c] for c in CLASSES},
                     **{k: out[k] for k in ("valence", "arousal") if k in out}})
    note_unread_turns(models, given, rows=True)
    return pd.DataFrame(rows)


def check_item_args(members, args) -> None:
    """One recording: what the models read of it must be given (from model.json, before
    any encoder loads)."""
    reads = modalities(members)
    if "audio" in reads and args.wav is None:
        raise InputError("--wav", "this model listens to the recording", "give --wav A.wav")
    if "text" in reads and args.text is None:
        raise InputError("--text", "this model reads the transcript",
                         'give --text "the words spoken"')


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # extend: `--model A --model B` is A and B (not B alone), checked as one ensemble
    ap.add_argument("--model", nargs="+", action="extend", required=True,
                    help="exported model folder(s): the folds (and seeds) of one variant")
    ap.add_argument("--wav", type=Path, help="one recording (16 kHz mono 16-bit PCM)")
    ap.add_argument("--text", help="its transcript (not for an audio-only model)")
    ap.add_argument("--context", action="append", help="a previous turn's transcript, for a "
                    "model trained with context_turns; repeat it, oldest first")
    ap.add_argument("--csv", type=Path, help="a table of many: columns wav, text")
    ap.add_argument("--out", type=Path, help="--csv: write the predictions here (else stdout)")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--vary", nargs="+", action="extend", default=[], metavar="KEY",
                    help="spec keys the models may differ in beyond those their model.json "
                    "records (older exports): seed, a sweep's keys")
    for m in ("text", "audio"):
        ap.add_argument(f"--{m}-encoder", help=f"the {m} encoder the model was trained with, "
                        "if no longer where its model.json says (its fingerprint is checked)")
    args = ap.parse_args(argv)
    one = args.wav is not None or args.text is not None
    if (args.csv is None) != one:
        ap.error("give --wav and/or --text for one recording, or --csv for a table")
    if args.csv is not None and args.context:
        ap.error("--context is for one recording; a table gives it in a context column")
    members, unsigned = read_models(args.model, args.vary)
    if unsigned:
        print(f"note: {len(unsigned)} of these models ({unsigned[0]} ...) were exported "
              "before model.json's digest: their model.json cannot be checked against their "
              "weights (re-run their training to add it)", file=sys.stderr)
    if args.csv is None:
        check_item_args(members, args)
    torch.set_num_threads(max(1, min(args.threads, available_cpus())))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    models = load_models(members, device, {"text": args.text_encoder,
                                           "audio": args.audio_encoder})
    if args.csv is None:
        warn_without_context(models, bool(args.context))
        note_unread_turns(models, [len([t for t in args.context or [] if t.strip()])])
        print(json.dumps(predict_one(models, args.text, args.wav, device, args.context),
                         indent=2))
        return
    table = predict_table(models, modalities(members), args.csv, device)
    if args.out:
        write_csv(args.out, table)
    else:
        print(table.to_csv(index=False), end="")


if __name__ == "__main__":
    # A hub encoder comes from the local cache, as in training: one missing there is an
    # error at once, not minutes of download retries (HF_HUB_OFFLINE=0 allows a download).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    run_cli(main)
