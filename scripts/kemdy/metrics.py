"""Scores computed from a predictions table: the one definition used by training, the
two-stage combine step, the summary and the report, so every figure is recomputable.

Each headline figure is scikit-learn's definition with its default labels (the classes
that occur in `label` or `pred`), e.g. `f1_score(df.label, df.pred, average="macro",
zero_division=0)`, computed here from confusion counts with numpy: importing
sklearn.metrics costs every training job about a second (more than torch), and the
bootstrap needs the same figures for thousands of resampled confusion matrices at once
(`macro_f1_of`, `balanced_accuracy_of`). tests/test_metrics.py, test_summarize.py and
test_render_report.py hold every figure equal to scikit-learn's own calls.

Calibration (CALIBRATION: lower is better, so these stay out of the headline table, its
best marks and the paired bootstrap) is scored on the `prob_<class>` columns:
- ece: expected calibration error of the classifier reported, its `pred`: the confidence is
  the predicted class's probability p[pred], correct means pred == label, over ECE_BINS
  equal-width bins of that confidence, (k/15, (k+1)/15]: sum over bins of (share of
  segments) x |accuracy - mean confidence|. For a one-stage model pred is the argmax, so
  this is the usual top-class ECE; a two-stage variant's pred follows its
  neutral_threshold rule and may not be the argmax of its probability columns;
- brier: the multi-class Brier score, the sum over classes of (p_c - [c is the label])^2,
  averaged over segments (0 to 2);
- nll: the mean of -log p(label), p clipped below at PROB_FLOOR (so a 0 costs 34.5, not inf).
With a temperature T (`calibrate: temperature`) the same figures of the calibrated
probabilities softmax(log p / T) (`temperature_scaled`) get the suffix `_calibrated`.
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
# Calibration of the class probabilities: lower is better for all three.
CALIBRATION = ["ece", "brier", "nll"]
CALIBRATED = [f"{m}_calibrated" for m in CALIBRATION]
CALIBRATION_NAMES = {"ece": "ECE (15 bins)", "brier": "Brier score", "nll": "NLL"}
ECE_BINS = 15
PROB_FLOOR = 1e-15  # -log p is clipped at 34.5 (scikit-learn's former log_loss eps)


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


def score_predictions(predictions: pd.DataFrame, classes: list[str] = CLASSES,
                      temperature: float | None = None) -> dict:
    """metrics.json figures (contracts.md) from a `segment_id, label, pred, prob_*` table;
    with a `temperature` also the calibrated probabilities' figures and the temperature."""
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
        **probability_scores(predictions, classes, temperature),
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


# ---------------------------------------------------------------- calibration


def label_indices(predictions: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(rows whose label is one of `classes`, the label's column in `classes`)."""
    index = {c: i for i, c in enumerate(classes)}
    y = predictions["label"].astype(str).map(index)
    keep = y.notna().to_numpy()
    return keep, y[keep].to_numpy(dtype=int)


def pred_indices(predictions: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Each row's `pred` as its column in `classes` (read_predictions keeps pred among them)."""
    index = {c: i for i, c in enumerate(classes)}
    pred = predictions["pred"].astype(str)
    outside = ~pred.isin(index)
    if outside.any():
        raise ValueError(f"pred '{pred[outside].iloc[0]}' is not one of {classes}")
    return pred.map(index).to_numpy(dtype=int)


def probability_scores(predictions: pd.DataFrame, classes: list[str] = CLASSES,
                       temperature: float | None = None) -> dict[str, float]:
    """ece, brier, nll (and with a temperature their `_calibrated` forms and `temperature`)
    of a table's prob_<class> columns, over the rows labelled with one of `classes`; {}
    for a table without them (a rater's votes)."""
    if any(f"prob_{c}" not in predictions for c in classes):
        return {}
    keep, y = label_indices(predictions, classes)
    probs = probabilities(predictions, classes)[keep]
    pred = pred_indices(predictions, classes)[keep]
    out = calibration_scores(probs, y, pred)
    if temperature is not None:
        scaled = calibration_scores(temperature_scaled(probs, temperature), y, pred)
        out.update({f"{m}_calibrated": v for m, v in scaled.items()},
                   temperature=float(temperature))
    return out


def calibration_scores(probs: np.ndarray, y: np.ndarray,
                       pred: np.ndarray | None = None) -> dict[str, float]:
    """ece, brier and nll of (n, k) probabilities against label columns y (n,), the ece of
    the predicted columns `pred` (n,; default the argmax); NaN for no rows."""
    if not len(y):
        return {m: float("nan") for m in CALIBRATION}
    return {"ece": expected_calibration_error(probs, y, pred=pred), "brier": brier(probs, y),
            "nll": nll(probs, y)}


def reliability_bins(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS,
                     pred: np.ndarray | None = None) -> dict:
    """Per equal-width bin of the predicted class's confidence p[pred], (k/bins,
    (k+1)/bins]: `count`, mean `confidence` and `accuracy` (pred is the label; NaN in an
    empty bin). `pred`: each row's predicted column, default the argmax; pass the
    predictions' own `pred` so that a two-stage variant is scored as it predicts."""
    pred = probs.argmax(axis=1) if pred is None else np.asarray(pred, dtype=int)
    confidence = probs[np.arange(len(pred)), pred]
    correct = (pred == y).astype(float)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, confidence, bins) / count
        accuracy = np.bincount(which, correct, bins) / count
    return {"edges": np.linspace(0, 1, bins + 1), "count": count, "confidence": mean_conf,
            "accuracy": accuracy}


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = ECE_BINS,
                               pred: np.ndarray | None = None) -> float:
    """sum over bins of (n_bin / n) x |accuracy - mean confidence| (reliability_bins)."""
    b = reliability_bins(probs, y, bins, pred)
    filled = b["count"] > 0
    gap = np.abs(b["accuracy"][filled] - b["confidence"][filled])
    return float(np.sum(b["count"][filled] * gap) / len(y))


def brier(probs: np.ndarray, y: np.ndarray) -> float:
    """Multi-class Brier score: sum over classes of (p_c - onehot_c)^2, mean over rows."""
    onehot = np.eye(probs.shape[1])[y]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean -log p(label), p clipped below at PROB_FLOOR."""
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(y)), y], PROB_FLOOR))))


def temperature_scaled(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) of each row: the calibrated probabilities. For a softmax model
    log p is the logits less a constant per row, so this is softmax(logits / T); for a
    soft_bce model (normalised sigmoids) it is p^(1/T) renormalised, a power scaling. The
    argmax never changes (T > 0)."""
    z = np.log(np.maximum(np.asarray(probs, dtype=float), PROB_FLOOR)) / float(temperature)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- from confusion counts


def macro_f1_of(cm: np.ndarray, over: np.ndarray | None = None) -> np.ndarray:
    """f1_score(average="macro", zero_division=0) of confusion matrices (..., k, k): classes
    that occur in neither labels nor predictions are left out, as scikit-learn does. With
    `over` (a boolean mask of the k classes) the mean is over those classes in every matrix,
    f1_score(labels=those classes): a class of `over` absent from one matrix counts 0, so
    that resampled matrices average over the same classes as their whole; NaN for none."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    denom = cm.sum(-1) + cm.sum(-2)
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    if over is None:
        return f1.sum(-1) / (denom > 0).sum(-1)
    over = np.asarray(over, dtype=bool)
    n = int(over.sum())
    total = f1[..., over].sum(-1)
    return total / n if n else np.full(np.shape(total), np.nan)


def balanced_accuracy_of(cm: np.ndarray) -> np.ndarray:
    """balanced_accuracy_score of confusion matrices: mean recall over the classes present
    in the labels."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(-1)
    recall = np.divide(tp, support, out=np.zeros(tp.shape), where=support > 0)
    return recall.sum(-1) / (support > 0).sum(-1)
