"""A run folder, results/runs/{variant}/fold{k}[/stage{s}]/: the one module that writes and
reads it (training, the two-stage combine, the summary and the report all come here).

- metrics.json: the figures of kemdy.metrics.score_predictions (with the valence/arousal
  figures of a model that predicts them) plus variant, fold, best_epoch, train_seconds,
  device (and stage for a stage model, layer_weights for layer-weighted audio);
- predictions.csv: `segment_id, label, pred`, one `prob_<class>` column per class (and
  `valence, arousal, pred_valence, pred_arousal` for a valence/arousal model);
- history.csv: `epoch, train_loss, val_loss, val_f1_macro, val_accuracy, seconds, selectable`
  (`selectable`: whether the epoch could be chosen as the best one; text-only warm-up epochs
  cannot; a combined two-stage run adds `stage` first). Runs written before it was renamed
  call it `candidate`, the word a sweep's settings now own: read_history renames it;
- config.json: the job's resolved spec (training runs only).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from kemdy.atomic import atomic_outputs
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.tables import read_json

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_f1_macro", "val_accuracy", "seconds",
                   "selectable"]
LEGACY_HISTORY = {"candidate": "selectable"}  # an older run's (or resume state's) name
FIX = "re-run the training step"


def write_run(out_dir, metrics: dict, predictions: pd.DataFrame, history: pd.DataFrame,
              spec: dict | None = None) -> None:
    """Every file of the run, all or none (metrics.json last in meaning: it marks a run)."""
    out_dir = Path(out_dir)
    names = ["history.csv", "predictions.csv", "metrics.json"] + (["config.json"] if spec else [])
    with atomic_outputs(*(out_dir / n for n in names)) as temps:
        history.to_csv(temps[0], index=False)
        predictions.to_csv(temps[1], index=False)
        Path(temps[2]).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        if spec:
            Path(temps[3]).write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n",
                                      encoding="utf-8")


def history_frame(rows: list[dict]) -> pd.DataFrame:
    rows = [{LEGACY_HISTORY.get(k, k): v for k, v in row.items()} for row in rows]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def selectable_epochs(history: pd.DataFrame) -> pd.DataFrame:
    """The epochs a job could choose as its best (`selectable`: not text-only warm-up); an
    older history.csv without the column, or one without any such epoch: every epoch."""
    rows = history[history["selectable"].astype(bool)] if "selectable" in history else history
    return history if rows.empty else rows


def read_predictions(path, classes: list[str] = CLASSES, labels: list[str] | None = None,
                     probabilities: bool = False, fix: str = FIX) -> pd.DataFrame:
    """predictions.csv with its columns checked: `pred` among the model's `classes`, `label`
    among `labels` (default: the same; a stage-2 model predicts emotions for segments of
    every label), and the prob_<class> columns if `probabilities`."""
    try:
        df = pd.read_csv(path, dtype={"segment_id": str, "label": str, "pred": str},
                         keep_default_na=False)
    except FileNotFoundError:
        raise InputError(path, "file not found", fix) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"unreadable CSV ({err})", fix) from None
    wanted = ["segment_id", "label", "pred"] + ([f"prob_{c}" for c in classes] if probabilities
                                                 else [])
    absent = [c for c in wanted if c not in df.columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}",
                         "predictions.csv needs segment_id, label, pred, prob_<class>")
    if df.empty:
        raise InputError(path, "no predictions", fix)
    for col, allowed in (("label", labels or classes), ("pred", classes)):
        bad = ~df[col].isin(allowed)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(path, f"{col} '{df[col].iloc[row]}' is not one of {allowed}",
                             "labels must use the class names of scripts/kemdy/classes.py",
                             row=row + 2)
    dup = df["segment_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(path, f"segment {df['segment_id'].iloc[row]} appears twice",
                         "one prediction per test segment", row=row + 2)
    return df


def read_history(path, fix: str = FIX) -> pd.DataFrame:
    try:
        history = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(path, "file not found", fix) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"unreadable CSV ({err})", fix) from None
    absent = [c for c in ["epoch", "train_loss", "val_loss", "val_f1_macro"]
              if c not in history.columns]
    if absent:
        raise InputError(path, f"missing column(s) {absent}", fix)
    if history.empty:
        raise InputError(path, "no epochs", fix)
    legacy = {old: new for old, new in LEGACY_HISTORY.items() if new not in history}
    return history.rename(columns=legacy)


def read_metrics(path) -> dict:
    """metrics.json, or {} where there is none."""
    return read_json(path) if os.path.exists(path) else {}
