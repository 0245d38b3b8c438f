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
