"""The transfer matrix. Owns results/transfer/matrix.csv (scripts/summarize_transfer.py writes
it; the report recomputes every cell from the runs' predictions.csv and compares).

One row per variant x trained on x tested on, with datasets A and B (config order):

    trained on A        the A-to-B run: on A's held-out test sessions, on every session of B
    trained on B        the B-to-A run: likewise
    trained on both     the in-corpus cross-validation folds: out-of-fold, every session
    A then B            the A-then-B run (A-to-B's model fine-tuned on B): on the held-out
                        test sessions of each

Label differences are handled, never merged: a cell's figures count the classes present in
its test labels only (macro-F1: scikit-learn's f1_score with labels = those classes; UA:
balanced accuracy, which counts them only anyway), and the classes absent from its test
labels and from its training labels are columns of their own. A prediction of an absent
class is a miss of the true class. Every figure has a 95 % percentile interval from
resampling whole sessions (kemdy/report/bootstrap.py's draws); each draw's macro-F1 averages
over the whole cell's classes (a draw that drops a rare class's sessions counts it 0, not
fewer classes). With few sessions the draws are few: n sessions give C(2n-1, n) distinct
resamples (3 for 2), so the report marks a cell of under FEW_SESSIONS as rough. Besides its figures a cell
has the in-corpus folds' figure on the same segments and the drop to it (in-corpus - cell,
paired: the same draws), and a sequential cell on its first release the source-only model's
figure on the same segments ("before"), what fine-tuning lost (before - after) and the
share that survives (after / before).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kemdy.atomic import write_csv
from kemdy.classes import CLASSES
from kemdy.metrics import balanced_accuracy_of, macro_f1_of
from kemdy.report.bootstrap import encode, group_confusions
from kemdy.tables import read_table
from kemdy.transfer.plan import Direction, TransferPlan
from kemdy.transfer.split import roles

MEASURES = ("f1_macro", "balanced_accuracy")
BOTH, FOLDS = "both", "folds"  # the in-corpus row and its run
TEXT_COLUMNS = ["variant", "trained_on", "tested_on", "run", "sessions_tested",
                "absent_from_test", "absent_from_training"]
NUMBER_COLUMNS = (["n_segments", "n_sessions"]
                  + [f"{m}{s}" for m in MEASURES for s in ("", "_lo", "_hi")]
                  + [f"in_corpus_{m}" for m in MEASURES]
                  + [f"drop_{m}{s}" for m in MEASURES for s in ("", "_lo", "_hi")]
                  + [f"before_{m}" for m in MEASURES]
                  + [f"lost_{m}{s}" for m in MEASURES for s in ("", "_lo", "_hi")]
                  + [f"kept_{m}" for m in MEASURES])
COLUMNS = TEXT_COLUMNS + NUMBER_COLUMNS


FEW_SESSIONS = 5  # a cell tested on fewer has a rough interval (the report says so)


def present_macro_f1(cm: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Macro-F1 of confusion matrices (..., k, k) over the classes `present` (default: those
    in cm's labels), f1_score(labels=those classes, average="macro", zero_division=0); NaN
    without any. A bootstrap passes its whole cell's classes into every draw."""
    return macro_f1_of(cm, cm.sum(-1) > 0 if present is None else present)


def resamples(n_sessions: int) -> int:
    """How many distinct session resamples (multisets of n from n) a bootstrap can draw."""
    return math.comb(2 * n_sessions - 1, n_sessions) if n_sessions > 0 else 0


def session_figures(label, pred, groups, n_boot: int, seed: int, reference=None) -> dict:
    """Each measure of `pred` with its session-bootstrap interval; with `reference` (another
    model's predictions of the same segments) also its figure and reference - pred with an
    interval from the same draws."""
    k = len(CLASSES)
    _, g = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
    n = int(g.max()) + 1
    draws = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_boot)
    cms = [group_confusions(encode(label), encode(p), g, n, k)
           for p in ([pred] if reference is None else [pred, reference])]
    totals = [cm.sum(0).reshape(k, k) for cm in cms]
    boots = [(draws @ cm).reshape(-1, k, k) for cm in cms]
    present = totals[0].sum(-1) > 0  # the cell's classes, the same in every draw
    figures = {"f1_macro": lambda cm: present_macro_f1(cm, present),
               "balanced_accuracy": balanced_accuracy_of}
    out = {}
    for m, f in figures.items():
        out[m] = float(f(totals[0]))
        out[f"{m}_lo"], out[f"{m}_hi"] = map(float, np.nanpercentile(f(boots[0]), [2.5, 97.5]))
        if reference is not None:
            out[f"ref_{m}"] = float(f(totals[1]))
            out[f"delta_{m}"] = out[f"ref_{m}"] - out[m]
            lo, hi = np.nanpercentile(f(boots[1]) - f(boots[0]), [2.5, 97.5])
            out[f"delta_{m}_lo"], out[f"delta_{m}_hi"] = float(lo), float(hi)
    return out


def absent(labels) -> str:
    """The classes not among `labels`, in class order, space-separated ('' for none)."""
    seen = set(labels)
    return " ".join(c for c in CLASSES if c not in seen)


def aligned(predictions: pd.DataFrame | None, ids: pd.Series) -> np.ndarray | None:
    """Another run's predictions of exactly these segments, in their order (None if it lacks
    any)."""
    if predictions is None:
        return None
    by_id = predictions.drop_duplicates("segment_id").set_index("segment_id")["pred"]
    if not ids.isin(by_id.index).all():
        return None
    return by_id.loc[ids].to_numpy(dtype=str)


def cell(rows: pd.DataFrame, n_boot: int, seed: int, in_corpus=None, before=None) -> dict:
    """The figures of one cell from its prediction rows (segment_id, label, pred, group)."""
    label, pred = rows["label"].to_numpy(dtype=str), rows["pred"].to_numpy(dtype=str)
    out = {"n_segments": len(rows), "n_sessions": int(rows["group"].nunique()),
           "absent_from_test": absent(label)}
    ids = rows["segment_id"]
    main = session_figures(label, pred, rows["group"], n_boot, seed)
    out.update(main)
    for prefix, ref_name, other in (("drop", "in_corpus", in_corpus), ("lost", "before", before)):
        ref = aligned(other, ids)
        if ref is None:
            continue
        paired = session_figures(label, pred, rows["group"], n_boot, seed, reference=ref)
        for m in MEASURES:
            out[f"{ref_name}_{m}"] = paired[f"ref_{m}"]
            for s in ("", "_lo", "_hi"):
                out[f"{prefix}_{m}{s}"] = paired[f"delta_{m}{s}"]
            if prefix == "lost":
                out[f"kept_{m}"] = paired[m] / paired[f"ref_{m}"] if paired[f"ref_{m}"] else np.nan
    return out


def training_labels(frame: pd.DataFrame, d: Direction | None) -> pd.Series:
    """The labels a row's models learnt from: the train sessions of the source (and, for a
    sequential run, of the target); in-corpus, every label (each fold trains on the others,
    so a class anywhere is learnt by some fold)."""
    if d is None:
        return frame["label"]
    learned = [d.source, d.target] if d.sequential else [d.source]
    return frame.loc[frame["dataset"].isin(learned) & (frame["role"] == "train"), "label"]


def matrix(plan: TransferPlan, frame: pd.DataFrame, sessions: pd.DataFrame,
           runs: dict[tuple[str, str], pd.DataFrame | None],
           in_corpus: dict[str, pd.DataFrame | None], n_boot: int, seed: int) -> pd.DataFrame:
    """Every cell (see the module docstring). frame: new_data.csv (dataset, segment_id,
    session, label); runs: each (variant, direction name)'s predictions (None: missing);
    in_corpus: each variant's out-of-fold predictions (None: missing)."""
    frame = frame.assign(role=roles(frame, sessions), segment_id=frame["segment_id"].astype(str))
    meta = frame.set_index("segment_id")
    group = meta["dataset"] + "/" + meta["session"].astype(str)
    a, b = plan.datasets
    order = [Direction(a, b), Direction(b, a), None]  # None: the in-corpus folds
    order += [Direction(a, b, True), Direction(b, a, True)] if plan.sequential else []
    rows = []
    for variant in plan.variants:
        for d in order:
            preds = in_corpus.get(variant) if d is None else runs.get((variant, d.name))
            for tested in (a, b):
                row = {"variant": variant, "trained_on": d.trained_on if d else BOTH,
                       "tested_on": tested, "run": d.name if d else FOLDS,
                       "sessions_tested": "all" if d is None or (
                           not d.sequential and tested == d.target) else "held-out test",
                       "absent_from_training": absent(training_labels(frame, d))}
                ids = None if preds is None else preds["segment_id"].astype(str)
                mine = None if ids is None else preds[ids.map(meta["dataset"]) == tested]
                if mine is not None and len(mine):
                    mine = mine.assign(group=mine["segment_id"].astype(str).map(group))
                    first = d is not None and d.sequential and tested == d.source
                    row.update(cell(mine, n_boot, seed,
                                    in_corpus=in_corpus.get(variant) if d else None,
                                    before=runs.get((variant, d.init.name)) if first else None))
                rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    # a missing cell's text columns read back from matrix.csv as "": the same here
    table[TEXT_COLUMNS] = table[TEXT_COLUMNS].fillna("")
    return table


def read_matrix(path) -> pd.DataFrame:
    return read_table(path, COLUMNS, "rerun the summarize_transfer step",
                      dtype={c: str for c in TEXT_COLUMNS}, keep_default_na=False,
                      na_values={c: ["", "NaN", "nan"] for c in NUMBER_COLUMNS})


def write(table: pd.DataFrame, path) -> None:
    write_csv(path, table)
