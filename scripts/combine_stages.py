"""Combine the two stages of a two-stage variant into one 7-class prediction per segment.

    python scripts/combine_stages.py --stage1 results/runs/V/fold0/stage1 \
        --stage2 results/runs/V/fold0/stage2 --threshold 0.5 --variant V --fold 0 \
        --out-dir results/runs/V/fold0

The rule: scripts/kemdy/train/two_stage.py. Writes metrics.json, predictions.csv (all seven
prob_ columns) and history.csv (both stages' histories, with a `stage` column).
"""

from __future__ import annotations

import argparse
import os

import pandas as pd

from kemdy.classes import CLASSES, EMOTIONS, STAGE1_CLASSES
from kemdy.errors import run_cli
from kemdy.metrics import score_predictions
from kemdy.runs import read_history, read_metrics, read_predictions, write_run
from kemdy.train.two_stage import combine

FIX = "rerun the train_stage{} step"


def read_stage(folder, stage: int, classes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A stage's predictions, history and (if present) metrics. Stage 1's labels are its own
    classes; stage 2 predicts an emotion for test segments of every label."""
    fix = FIX.format(stage)
    labels = classes if stage == 1 else CLASSES
    preds = read_predictions(os.path.join(folder, "predictions.csv"), classes, labels,
                             probabilities=True, fix=fix)
    history = read_history(os.path.join(folder, "history.csv"), fix=fix)
    return preds, history, read_metrics(os.path.join(folder, "metrics.json"))


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
    if "parameters" in met1 and "parameters" in met2:  # two models: each counts its own
        metrics["parameters"] = {k: met1["parameters"][k] + met2["parameters"][k]
                                 for k in ("trainable", "frozen")}
    history = pd.concat([hist1.assign(stage=1), hist2.assign(stage=2)], ignore_index=True)
    history = history[["stage", *[c for c in history.columns if c != "stage"]]]
    write_run(args.out_dir, metrics, predictions, history)
    print(f"{args.variant} fold {args.fold}: macro-F1 {metrics['f1_macro']:.4f}, "
          f"accuracy {metrics['accuracy']:.4f} on {metrics['n_test']} segments")


if __name__ == "__main__":
    run_cli(main)
