"""Combine the two stages of a two-stage variant into one 7-class prediction per segment.

    python scripts/combine_stages.py --stage1 results/runs/V/fold0/stage1 \
        --stage2 results/runs/V/fold0/stage2 --threshold 0.5 --variant V --fold 0 \
        --out-dir results/runs/V/fold0

A segment is neutral when stage 1's P(neutral) >= threshold, else stage 2's most likely
emotion, EMOTIONS[argmax] (the original mapped stage-2 outputs back with an off-by-one).
Probabilities: prob_neutral = p1, prob_<emotion> = (1 - p1) x p2(emotion). Writes
metrics.json, predictions.csv (all seven prob_ columns) and history.csv (both stages'
histories, with a `stage` column).
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pandas as pd

from datasets import STAGE1_CLASSES, read_table, write_csv, write_text
from errors import InputError, run_cli
from kemdy20 import CLASSES, EMOTIONS
from metrics import score_predictions

FIX = "rerun the train_stage{} step"


def combine(stage1: pd.DataFrame, stage2: pd.DataFrame, threshold: float,
            source: str = "stage predictions") -> pd.DataFrame:
    """7-class predictions from stage 1's and stage 2's prediction tables."""
    s1 = set(stage1["segment_id"])
    s2 = set(stage2["segment_id"])
    if s1 != s2:
        raise InputError(source, f"the stages predict different segments ({len(s1 ^ s2)} differ)",
                         "retrain both stages on the same folds.csv")
    df = stage1[["segment_id", "prob_neutral"]].merge(
        stage2[["segment_id", "label"]], on="segment_id", validate="one_to_one")
    p2 = stage2.set_index("segment_id").loc[df["segment_id"], [f"prob_{e}" for e in EMOTIONS]]
    p2 = p2.to_numpy(dtype=float)
    p1 = df["prob_neutral"].to_numpy(dtype=float)
    pred = np.where(p1 >= threshold, "neutral", np.asarray(EMOTIONS)[p2.argmax(axis=1)])
    out = pd.DataFrame({"segment_id": df["segment_id"], "label": df["label"], "pred": pred,
                        "prob_neutral": p1})
    for j, e in enumerate(EMOTIONS):
        out[f"prob_{e}"] = (1.0 - p1) * p2[:, j]
    return out


def read_stage(folder, stage: int, classes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A stage's predictions, history and (if present) metrics."""
    preds = read_table(os.path.join(folder, "predictions.csv"),
                       ["segment_id", "label", "pred", *[f"prob_{c}" for c in classes]],
                       FIX.format(stage))
    history = read_table(os.path.join(folder, "history.csv"), ["epoch"], FIX.format(stage))
    metrics_path = os.path.join(folder, "metrics.json")
    metrics = {}
    if os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as handle:
            metrics = json.load(handle)
    return preds, history, metrics


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stage1", required=True, help="stage 1's run folder")
    p.add_argument("--stage2", required=True, help="stage 2's run folder")
    p.add_argument("--threshold", type=float, default=0.5, help="neutral when P(neutral) >= this")
    p.add_argument("--variant", required=True)
    p.add_argument("--fold", type=int, required=True)
    p.add_argument("--out-dir", required=True)
    args = p.parse_args(argv)
    pred1, hist1, met1 = read_stage(args.stage1, 1, STAGE1_CLASSES)
    pred2, hist2, met2 = read_stage(args.stage2, 2, EMOTIONS)
    predictions = combine(pred1, pred2, args.threshold, f"{args.stage1} / {args.stage2}")
    metrics = {"variant": args.variant, "fold": args.fold,
               **score_predictions(predictions, CLASSES),
               "best_epoch": {"stage1": met1.get("best_epoch"), "stage2": met2.get("best_epoch")},
               "train_seconds": round(float(met1.get("train_seconds", 0.0))
                                      + float(met2.get("train_seconds", 0.0)), 3),
               "device": met1.get("device", met2.get("device")),
               "neutral_threshold": args.threshold}
    history = pd.concat([hist1.assign(stage=1), hist2.assign(stage=2)], ignore_index=True)
    history = history[["stage", *[c for c in history.columns if c != "stage"]]]
    os.makedirs(args.out_dir, exist_ok=True)
    write_csv(history, os.path.join(args.out_dir, "history.csv"))
    write_csv(predictions, os.path.join(args.out_dir, "predictions.csv"))
    write_text(json.dumps(metrics, indent=2) + "\n", os.path.join(args.out_dir, "metrics.json"))
    print(f"{args.variant} fold {args.fold}: macro-F1 {metrics['f1_macro']:.4f}, "
          f"accuracy {metrics['accuracy']:.4f} on {metrics['n_test']} segments")


if __name__ == "__main__":
    run_cli(main)
