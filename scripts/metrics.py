"""Scores computed from a predictions table: the one definition used by training, the
two-stage combine step, the summary and the report, so every figure is recomputable.

Each headline figure is scikit-learn's own call with its default labels (the classes that
occur in `label` or `pred`), e.g. `f1_score(df.label, df.pred, average="macro")`.
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

from kemdy20 import CLASSES

HEADLINE = ["f1_macro", "balanced_accuracy", "f1_weighted", "f1_micro", "accuracy"]


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
        "per_class": per_class,
        "confusion": confusion_matrix(label, pred, labels=classes).tolist(),
        "classes": list(classes),
    }


def probabilities(predictions: pd.DataFrame, classes: list[str] = CLASSES) -> np.ndarray:
    """The `prob_<class>` columns as an (n, n_classes) array, in class order."""
    return predictions[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
