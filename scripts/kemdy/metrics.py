"""Scores computed from a predictions table: the one definition used by training, the
two-stage combine step, the summary and the report, so every figure is recomputable.

Each headline figure is scikit-learn's definition with its default labels (the classes
that occur in `label` or `pred`), e.g. `f1_score(df.label, df.pred, average="macro",
zero_division=0)`, computed here from confusion counts with numpy: importing
sklearn.metrics costs every training job about a second (more than torch), and the
bootstrap needs the same figures for thousands of resampled confusion matrices at once
(`macro_f1_of`, `balanced_accuracy_of`). tests/test_metrics.py, test_summarize.py and
test_render_report.py hold every figure equal to scikit-learn's own calls.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kemdy.classes import CLASSES

# The figures of summary.csv and of the report's headline table, in that order.
HEADLINE = ["f1_macro", "balanced_accuracy", "f1_weighted", "f1_micro", "accuracy"]
NAMES = {"f1_macro": "F1-macro", "balanced_accuracy": "Balanced accuracy (UA)",
         "f1_weighted": "F1-weighted", "f1_micro": "F1-micro", "accuracy": "Accuracy (WA)"}
# A valence/arousal model's figures: concordance (CCC), Pearson's r, mean absolute error.
VA_METRICS = [f"{m}_{d}" for d in ("valence", "arousal") for m in ("ccc", "pearson", "mae")]


def confusion(label, pred, labels) -> np.ndarray:
    """Counts (k, k), rows the true class and columns the predicted one, in `labels` order;
    pairs with a class outside `labels` are left out (sklearn's confusion_matrix)."""
    index = {c: i for i, c in enumerate(labels)}
    rows = np.fromiter((index.get(c, -1) for c in label), int, len(label))
    cols = np.fromiter((index.get(c, -1) for c in pred), int, len(pred))
    keep = (rows >= 0) & (cols >= 0)
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(cm, (rows[keep], cols[keep]), 1)
    return cm


def per_class(cm: np.ndarray) -> tuple[np.ndarray, ...]:
    """precision, recall, F1 and support of each class (zero_division=0)."""
    tp, true, predicted = np.diag(cm).astype(float), cm.sum(1), cm.sum(0)
    precision = np.divide(tp, predicted, out=np.zeros(len(tp)), where=predicted > 0)
    recall = np.divide(tp, true, out=np.zeros(len(tp)), where=true > 0)
    denom = true + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros(len(tp)), where=denom > 0)
    return precision, recall, f1, true


def headline(label, pred) -> dict[str, float]:
    """The five figures of the report's headline table."""
    label, pred = np.asarray(label, dtype=str), np.asarray(pred, dtype=str)
    labels = sorted(set(label) | set(pred))  # sklearn's default labels
    cm = confusion(label, pred, labels)
    _, _, f1, support = per_class(cm)
    accuracy = float(np.trace(cm) / cm.sum()) if cm.sum() else 0.0
    return {
        "f1_macro": float(macro_f1_of(cm)),
        # y_true first: the original swapped the arguments and inflated its score.
        "balanced_accuracy": float(balanced_accuracy_of(cm)),
        "f1_weighted": float(np.average(f1, weights=support)) if support.sum() else 0.0,
        "f1_micro": accuracy,  # single-label, every class counted: micro-F1 is accuracy
        "accuracy": accuracy,
    }


def score_predictions(predictions: pd.DataFrame, classes: list[str] = CLASSES) -> dict:
    """metrics.json figures (contracts.md) from a `segment_id, label, pred, prob_*` table."""
    label, pred = predictions["label"].astype(str), predictions["pred"].astype(str)
    cm = confusion(label.to_numpy(), pred.to_numpy(), classes)
    per = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, *per_class(cm))
    }
    return {
        "n_test": int(len(predictions)),
        **headline(label, pred),
        **va_scores(predictions),
        "per_class": per,
        "confusion": cm.tolist(),
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
