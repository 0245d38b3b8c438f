"""kemdy.metrics: the confusion-count forms equal scikit-learn's, and the valence/arousal
figures are the textbook ones."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, f1_score

from kemdy.classes import CLASSES
from kemdy.metrics import balanced_accuracy_of, concordance, macro_f1_of, va_scores


def test_confusion_forms_equal_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.choice(CLASSES[:5], 60)
        p = rng.choice(CLASSES, 60)
        cm = confusion_matrix(y, p, labels=CLASSES)
        assert macro_f1_of(cm) == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
        assert balanced_accuracy_of(cm) == pytest.approx(balanced_accuracy_score(y, p))


def test_valence_arousal_figures():
    rng = np.random.default_rng(1)
    true = rng.uniform(1, 5, 200)
    pred = 0.8 * true + 0.5 + rng.normal(0, 0.3, 200)
    m, t = pred.mean(), true.mean()
    expected = 2 * np.mean((pred - m) * (true - t)) / (pred.var() + true.var() + (m - t) ** 2)
    assert concordance(pred, true) == pytest.approx(expected)
    frame = pd.DataFrame({"valence": true, "pred_valence": pred, "arousal": true,
                          "pred_arousal": true})
    frame.loc[0, "valence"] = np.nan  # an unrated segment is left out
    scores = va_scores(frame)
    assert scores["pearson_valence"] == pytest.approx(pearsonr(pred[1:], true[1:])[0])
    assert scores["mae_valence"] == pytest.approx(np.abs(pred[1:] - true[1:]).mean())
    assert scores["ccc_arousal"] == pytest.approx(1.0) and scores["mae_arousal"] == 0
    assert va_scores(frame.drop(columns=["pred_valence"])) == {}


def test_every_figure_equals_scikit_learns_own_call():
    """headline() and score_predictions() compute with numpy (sklearn.metrics costs every
    job a second to import); each figure equals scikit-learn's, whichever classes occur."""
    from sklearn.metrics import (accuracy_score, confusion_matrix, precision_recall_fscore_support)

    from kemdy.metrics import headline, score_predictions

    rng = np.random.default_rng(3)
    for case in range(40):
        n = int(rng.integers(1, 80))
        y = rng.choice(CLASSES[: 1 + case % 7], n)  # classes missing from labels or predictions
        p = rng.choice(CLASSES[case % 3:], n)
        got = headline(y, p)
        assert got["f1_macro"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0), abs=1e-12)
        assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p), abs=1e-12)
        assert got["f1_weighted"] == pytest.approx(f1_score(y, p, average="weighted", zero_division=0), abs=1e-12)
        assert got["f1_micro"] == pytest.approx(f1_score(y, p, average="micro", zero_division=0), abs=1e-12)
        assert got["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
        scored = score_predictions(pd.DataFrame({"label": y, "pred": p}))
        assert scored["confusion"] == confusion_matrix(y, p, labels=CLASSES).tolist()
        pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=CLASSES, zero_division=0)
        for j, c in enumerate(CLASSES):
            assert scored["per_class"][c] == pytest.approx(
                {"precision": pr[j], "recall": rc[j], "f1": f1[j], "support": sup[j]}, abs=1e-12)


def test_calibration_figures_on_a_case_worked_by_hand():
    """Three segments, three classes: every figure written out."""
    from kemdy.metrics import brier, expected_calibration_error, nll

    probs = np.array([[0.7, 0.2, 0.1],    # top class 0, confidence 0.7, right (label 0)
                      [0.5, 0.4, 0.1],    # top class 0, confidence 0.5, wrong (label 1)
                      [0.05, 0.05, 0.9]])  # top class 2, confidence 0.9, right (label 2)
    y = np.array([0, 1, 2])
    # 15 bins of width 1/15: 0.7 in (9/15, 10/15], 0.5 in (7/15, 8/15], 0.9 in (13/15, 14/15]
    ece = (abs(1 - 0.7) + abs(0 - 0.5) + abs(1 - 0.9)) / 3
    assert expected_calibration_error(probs, y) == pytest.approx(ece, abs=1e-15)
    # with 2 bins, (0, 0.5] holds 0.5 (an edge falls in the bin below) and (0.5, 1] both
    # right ones: accuracy 1 against their mean confidence 0.8
    two = (1 * abs(0 - 0.5) + 2 * abs(1 - (0.7 + 0.9) / 2)) / 3
    assert expected_calibration_error(probs, y, bins=2) == pytest.approx(two, abs=1e-15)
    sq = [(0.7 - 1) ** 2 + 0.2 ** 2 + 0.1 ** 2, 0.5 ** 2 + (0.4 - 1) ** 2 + 0.1 ** 2,
          0.05 ** 2 + 0.05 ** 2 + (0.9 - 1) ** 2]
    assert brier(probs, y) == pytest.approx(np.mean(sq), abs=1e-15)
    assert nll(probs, y) == pytest.approx(-(np.log(0.7) + np.log(0.4) + np.log(0.9)) / 3,
                                          abs=1e-15)
    # a probability of 0 for the label costs -log(1e-15), not infinity
    assert nll(np.array([[1.0, 0.0]]), np.array([1])) == pytest.approx(-np.log(1e-15))


def test_ece_scores_a_two_stage_variants_own_pred():
    """p1 = 0.45 under threshold 0.5, stage 2 even between happy and surprise: the combined
    columns are neutral 0.45 and happy 0.275, so the argmax is neutral but pred is happy.
    Right (label happy) at confidence 0.275: ECE |1 - 0.275|, not |0 - 0.45|."""
    from kemdy.classes import EMOTIONS
    from kemdy.metrics import probabilities, reliability_bins, score_predictions
    from kemdy.train.two_stage import combine

    stage1 = pd.DataFrame({"segment_id": ["s1"], "prob_neutral": [0.45]})
    stage2 = pd.DataFrame({"segment_id": ["s1"], "label": ["happy"],
                           **{f"prob_{e}": [0.5 if e in ("happy", "surprise") else 0.0]
                              for e in EMOTIONS}})
    df = combine(stage1, stage2, threshold=0.5)
    probs = probabilities(df)
    assert df["pred"].tolist() == ["happy"] and CLASSES[probs.argmax()] == "neutral"
    assert score_predictions(df)["ece"] == pytest.approx(1 - 0.275, abs=1e-15)
    assert score_predictions(df, temperature=1.0)["ece_calibrated"] == pytest.approx(
        1 - 0.275, abs=1e-12)
    bins = reliability_bins(probs, np.array([1]), pred=np.array([1]))
    filled = bins["count"] > 0
    assert bins["confidence"][filled].tolist() == pytest.approx([0.275])
    assert bins["accuracy"][filled].tolist() == [1.0]


def random_predictions(rng, most: int, scale: float):
    """(probabilities, label indices, a predictions.csv frame) of up to `most` segments
    scored by a one-stage model (pred: the argmax)."""
    n = int(rng.integers(1, most))
    logits = rng.normal(0, scale, (n, len(CLASSES)))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, len(CLASSES), n)
    frame = pd.DataFrame({"label": np.asarray(CLASSES)[y],
                          "pred": np.asarray(CLASSES)[probs.argmax(1)]})
    for j, c in enumerate(CLASSES):
        frame[f"prob_{c}"] = probs[:, j]
    return probs, y, frame


def test_one_stage_ece_is_the_argmax_ece_to_the_bit():
    """For a one-stage model pred is the argmax: scoring pred changes no figure, not a bit."""
    from kemdy.metrics import ECE_BINS, reliability_bins, score_predictions

    rng = np.random.default_rng(11)
    for case in range(10):
        probs, y, frame = random_predictions(rng, 200, 1 + case % 3)
        n = len(y)
        # the former definition, as it was written: the argmax and its probability
        conf, right = probs.max(1), (probs.argmax(1) == y).astype(float)
        which = np.clip(np.ceil(conf * ECE_BINS).astype(int) - 1, 0, ECE_BINS - 1)
        count = np.bincount(which, minlength=ECE_BINS)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_conf = np.bincount(which, conf, ECE_BINS) / count
            acc = np.bincount(which, right, ECE_BINS) / count
        filled = count > 0
        ece = float(np.sum(count[filled] * np.abs(acc[filled] - mean_conf[filled])) / n)
        assert score_predictions(frame)["ece"] == ece
        bins = reliability_bins(probs, y, pred=probs.argmax(1))
        assert np.array_equal(bins["confidence"], mean_conf, equal_nan=True)
        assert np.array_equal(bins["accuracy"], acc, equal_nan=True)


def test_calibration_figures_equal_a_direct_computation_and_scikit_learn():
    from sklearn.metrics import brier_score_loss, log_loss

    from kemdy.metrics import score_predictions

    rng = np.random.default_rng(4)
    for case in range(20):
        probs, y, frame = random_predictions(rng, 120, 1 + case % 4)
        n = len(y)
        got = score_predictions(frame)
        # ECE, directly: each bin (k/15, (k+1)/15] of the top-class confidence
        conf, right = probs.max(1), probs.argmax(1) == y
        ece = 0.0
        for k in range(15):
            inside = (conf > k / 15) & (conf <= (k + 1) / 15)
            if inside.any():
                ece += inside.sum() / n * abs(right[inside].mean() - conf[inside].mean())
        assert got["ece"] == pytest.approx(ece, abs=1e-12)
        onehot = np.eye(len(CLASSES))[y]
        assert got["brier"] == pytest.approx(((probs - onehot) ** 2).sum(1).mean(), abs=1e-12)
        assert got["brier"] == pytest.approx(
            brier_score_loss(y, probs, labels=range(len(CLASSES))), abs=1e-12)
        assert got["nll"] == pytest.approx(-np.log(probs[np.arange(n), y]).mean(), abs=1e-12)
        assert got["nll"] == pytest.approx(log_loss(y, probs, labels=range(len(CLASSES))),
                                           abs=1e-9)


def test_temperature_scaled_probabilities_are_softmax_of_logits_over_t():
    from kemdy.metrics import score_predictions, temperature_scaled

    rng = np.random.default_rng(5)
    logits = rng.normal(0, 3, (50, len(CLASSES)))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    for t in (0.3, 1.0, 2.5):
        want = np.exp(logits / t) / np.exp(logits / t).sum(1, keepdims=True)
        got = temperature_scaled(probs, t)
        assert got == pytest.approx(want, abs=1e-12)
        assert (got.argmax(1) == probs.argmax(1)).all()  # no prediction moves
    y = rng.integers(0, len(CLASSES), 50)
    frame = pd.DataFrame({"label": np.asarray(CLASSES)[y], "pred": np.asarray(CLASSES)[y]})
    for j, c in enumerate(CLASSES):
        frame[f"prob_{c}"] = probs[:, j]
    plain, scaled = score_predictions(frame), score_predictions(frame, temperature=2.5)
    assert "ece_calibrated" not in plain and scaled["temperature"] == 2.5
    calibrated = frame.copy()
    calibrated[[f"prob_{c}" for c in CLASSES]] = temperature_scaled(probs, 2.5)
    again = score_predictions(calibrated)
    for m in ("ece", "brier", "nll"):
        assert scaled[m] == plain[m]  # the figures before stay the raw probabilities'
        assert scaled[f"{m}_calibrated"] == pytest.approx(again[m], abs=1e-12)
    # a table without probabilities (a rater's votes) has no calibration figures
    assert "ece" not in score_predictions(frame[["label", "pred"]])
