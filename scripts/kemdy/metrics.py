"""Scores computed from a predictions table: the one definition used by training, the
two-stage combine step, the summary and the report, so every figure is recomputable.

Each headline figure is scikit-learn's own call with its default labels (the classes that
occur in `label` or `pred`), e.g. `f1_score(df.label, df.pred, average="macro")`. The
bootstrap needs the same two figures for thousands of resampled confusion matrices at once:
`macro_f1_of` and `balanced_accuracy_of` compute them from confusion counts, vectorised, and
tests/test_metrics.py holds them equal to scikit-learn's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from kemdy.classes import CLASSES

# The figures of summary.csv and of the report's headline table, in that order.
HEADLINE = ["f1_macro", "balanced_accuracy", "f1_weighted", "f1_micro", "accuracy"]
NAMES = {"f1_macro": "F1-macro", "balanced_accuracy": "Balanced accuracy (UA)",
         "f1_weighted": "F1-weighted", "f1_micro": "F1-micro", "accuracy": "Accuracy (WA)"}
# A valence/arousal model's figures: concordance (CCC), Pearson's r, mean absolute error.
VA_METRICS = [f"{m}_{d}" for d in ("valence", "arousal") for m in ("ccc", "pearson", "mae")]


def headline(label, pred) -> dict[str, float]:
    """The five figures of the report's headline table."""
    return {
        "f1_macro": float(f1_score(label, pred, average="macro", zero_division=0)),
        # y_true first: the original swapped the arguments and inflated its score.
        "balanced_accuracy": float(balanced_accuracy_score(label, pred)),
        "f1_weighted": float(f1_score(label, pred, average="weighted", zero_division=0)),
        "f1_micro": float(f1_score(label, pred, average="micro", zero_division=0)),
        "accuracy": float(accuracy_score(label, pred)),
    }


def score_predictions(predictions: pd.DataFrame, classes: list[str] = CLASSES) -> dict:
    """metrics.json figures (contracts.md) from a `segment_id, label, pred, prob_*` table."""
    label, pred = predictions["label"].astype(str), predictions["pred"].astype(str)
    precision, recall, f1, support = precision_recall_fscore_support(
        label, pred, labels=classes, zero_division=0
    )
    per_class = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support)
    }
    return {
        "n_test": int(len(predictions)),
        **headline(label, pred),
        **va_scores(predictions),
        "per_class": per_class,
        "confusion": confusion_matrix(label, pred, labels=classes).tolist(),
        "classes": list(classes),
    }


def concordance(pred, true) -> float:
    """Lin's concordance correlation coefficient (population moments)."""
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    cov = np.mean((pred - pred.mean()) * (true - true.mean()))
    denom = pred.var() + true.var() + (pred.mean() - true.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def va_scores(predictions: pd.DataFrame) -> dict[str, float]:
    """CCC, Pearson's r and MAE of pred_valence / pred_arousal against valence / arousal,
    over the rows with a target; {} for a model without them."""
    out = {}
    for dim in ("valence", "arousal"):
        if f"pred_{dim}" not in predictions:
            return {}
        pair = predictions[[dim, f"pred_{dim}"]].apply(pd.to_numeric, errors="coerce").dropna()
        true, pred = pair[dim].to_numpy(), pair[f"pred_{dim}"].to_numpy()
        enough = len(pair) > 1 and true.std() > 0 and pred.std() > 0
        out[f"ccc_{dim}"] = concordance(pred, true) if len(pair) > 1 else float("nan")
        out[f"pearson_{dim}"] = float(np.corrcoef(pred, true)[0, 1]) if enough else float("nan")
        out[f"mae_{dim}"] = float(np.abs(pred - true).mean()) if len(pair) else float("nan")
    return out


def probabilities(predictions: pd.DataFrame, classes: list[str] = CLASSES) -> np.ndarray:
    """The `prob_<class>` columns as an (n, n_classes) array, in class order."""
    return predictions[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)


# ---------------------------------------------------------------- from confusion counts


def macro_f1_of(cm: np.ndarray) -> np.ndarray:
    """f1_score(average="macro", zero_division=0) of confusion matrices (..., k, k): classes
    that occur in neither labels nor predictions are left out, as scikit-learn does."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    denom = cm.sum(-1) + cm.sum(-2)
    present = denom > 0
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=present)
    return f1.sum(-1) / present.sum(-1)


def balanced_accuracy_of(cm: np.ndarray) -> np.ndarray:
    """balanced_accuracy_score of confusion matrices: mean recall over the classes present
    in the labels."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(-1)
    recall = np.divide(tp, support, out=np.zeros(tp.shape), where=support > 0)
    return recall.sum(-1) / (support > 0).sum(-1)
