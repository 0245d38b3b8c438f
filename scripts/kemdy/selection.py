"""A sweep's selection step: owns results/sweeps/{variant}/selection.csv (and each fold x
seed's part of it).

For one fold and seed, every candidate's validation macro-F1 is read from its history.csv
(validation_score: the score its best epoch was chosen by; its test predictions are never
opened), the best is chosen (select) and its run folder
and exported model are copied, byte for byte, to where a plain run's would be: everything
downstream (summary, report, predict) reads the chosen run as it reads any other.

selection.csv: `fold, seed, candidate, params, val_f1_macro, selected`, one row per
fold x seed x candidate, in fold, seed and grid order; `params` the candidate's values as
JSON (sorted keys), `selected` True for the one kept.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from kemdy import layout
from kemdy.atomic import atomic_dir, atomic_outputs, write_csv
from kemdy.errors import InputError
from kemdy.protocol import Candidate
from kemdy.runs import read_history, selectable_epochs
from kemdy.tables import read_table

SELECTION_COLUMNS = ["fold", "seed", "candidate", "params", "val_f1_macro", "selected"]

COPIED_FILES = (*layout.RUN_FILES, "config.json")  # a chosen run, copied where a plain run lies


def validation_score(history) -> float:
    """The validation macro-F1 a training job chose its best epoch by: the best over the
    epochs that could be chosen (`selectable`; text-only warm-up epochs are not). NaN where
    the job had no validation rows."""
    scores = selectable_epochs(history)["val_f1_macro"].to_numpy(dtype=float)
    return float(np.nanmax(scores)) if np.isfinite(scores).any() else math.nan


def select(scores: list[float]) -> int:
    """Index of the best validation score; ties go to the first in grid order."""
    if not scores:
        raise ValueError("no candidates to select from")
    if any(not math.isfinite(s) for s in scores):
        raise InputError("sweep", "a candidate has no validation macro-F1 (no validation "
                         "split?)", "keep folds.val_sessions at 1 or more for a sweep")
    return int(np.argmax(np.asarray(scores, dtype=float)))  # argmax: first of equal maxima


def selection_rows(fold: int, seed: int, candidates: list[Candidate],
                   scores: list[float]) -> list[dict]:
    """One row per candidate of one fold and seed, the chosen one marked."""
    chosen = select(scores)
    return [{"fold": fold, "seed": seed, "candidate": c.id, "params": c.params_json,
             "val_f1_macro": s, "selected": i == chosen}
            for i, (c, s) in enumerate(zip(candidates, scores))]


def copy_run(src, dst) -> None:
    """The files of run folder `src` into `dst`, all or none (config.json if present)."""
    src, dst = Path(src), Path(dst)
    names = [n for n in COPIED_FILES if (src / n).is_file()]
    with atomic_outputs(*(dst / n for n in names)) as temps:
        for name, tmp in zip(names, temps):
            shutil.copyfile(src / name, tmp)


def copy_model(src, dst) -> None:
    """An exported model folder, hard-linked where the file system allows (a real model is
    hundreds of MB; its files are only ever replaced whole, never written in place)."""
    def link_or_copy(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    with atomic_dir(dst) as tmp:
        # not Snakemake's marker: it is touched in place, which a hard link would share
        shutil.copytree(src, tmp, dirs_exist_ok=True, copy_function=link_or_copy,
                        ignore=shutil.ignore_patterns(".snakemake_timestamp"))


def choose(fold: int, seed: int, candidates: list[Candidate], dirs: list,
           out_dir, model_dir, selection) -> dict:
    """Score every candidate on validation, keep the best: copy its run and model, write this
    fold and seed's selection rows. Returns the chosen row."""
    if len(dirs) != len(candidates):
        raise InputError("--candidate-dirs", f"{len(dirs)} folders for {len(candidates)} "
                         "candidates", "pass one folder per candidate, in grid order")
    scores = [validation_score(read_history(Path(d) / "history.csv")) for d in dirs]
    rows = selection_rows(fold, seed, candidates, scores)
    chosen = next(i for i, r in enumerate(rows) if r["selected"])
    copy_run(dirs[chosen], out_dir)
    copy_model(Path(dirs[chosen]) / "model", model_dir)
    write_csv(selection, pd.DataFrame(rows, columns=SELECTION_COLUMNS))
    return rows[chosen]


def gather(parts: list, out) -> None:
    """The per fold x seed parts, concatenated in the order given, into selection.csv."""
    frames = [read_selection(p) for p in parts]
    write_csv(out, pd.concat(frames, ignore_index=True)[SELECTION_COLUMNS])


def read_selection(path) -> pd.DataFrame:
    table = read_table(path, SELECTION_COLUMNS, "re-run the sweep's select_candidate step",
                       dtype={"candidate": str, "params": str}, keep_default_na=False)
    table["selected"] = table["selected"].astype(str).map({"True": True, "False": False})
    if table["selected"].isna().any():
        raise InputError(path, "a `selected` cell is neither True nor False",
                         "re-run the sweep's select_candidate step")
    return table
