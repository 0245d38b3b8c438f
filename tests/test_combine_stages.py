import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

import combine_stages
from kemdy.classes import CLASSES, EMOTIONS
from kemdy.errors import InputError, run_cli


def stage_dirs(tmp_path):
    ids = ["s1", "s2", "s3", "s4"]
    stage1 = pd.DataFrame({"segment_id": ids, "label": ["neutral", "not_neutral", "not_neutral", "neutral"],
                           "pred": ["neutral", "not_neutral", "neutral", "not_neutral"],
                           "prob_neutral": [0.9, 0.2, 0.5, 0.4], "prob_not_neutral": [0.1, 0.8, 0.5, 0.6]})
    p2 = np.full((4, 6), 0.04)
    p2[0, 3] = p2[1, 0] = p2[2, 5] = p2[3, 4] = 0.8  # sad, happy, fear, disgust
    stage2 = pd.DataFrame({"segment_id": ids[::-1], "label": ["neutral", "happy", "fear", "neutral"][::-1],
                           "pred": [EMOTIONS[j] for j in p2.argmax(1)][::-1]})
    for j, e in enumerate(EMOTIONS):
        stage2[f"prob_{e}"] = p2[::-1, j]
    dirs = []
    for k, (preds, epoch) in enumerate([(stage1, 3), (stage2, 5)], start=1):
        d = tmp_path / f"stage{k}"
        d.mkdir()
        preds.to_csv(d / "predictions.csv", index=False)
        pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.9],
                      "val_f1_macro": [0.2, 0.3], "val_accuracy": [0.5, 0.6], "seconds": [1.0, 1.0]}
                     ).to_csv(d / "history.csv", index=False)
        (d / "metrics.json").write_text(json.dumps({"best_epoch": epoch, "train_seconds": 2.0, "device": "cpu",
                                                    "parameters": {"trainable": 10 * k, "frozen": 100}}))
        dirs.append(d)
    return dirs


def test_hand_built_example(tmp_path):
    d1, d2 = stage_dirs(tmp_path)
    out = tmp_path / "out"
    combine_stages.main(["--stage1", str(d1), "--stage2", str(d2), "--threshold", "0.5",
                         "--variant", "two", "--fold", "3", "--out-dir", str(out)])
    preds = pd.read_csv(out / "predictions.csv").set_index("segment_id")
    # s1: P(neutral) 0.9 -> neutral; s2: 0.2 -> stage 2's argmax index 0 = happy (not
    # surprise, the original's off-by-one); s3: 0.5 is >= threshold -> neutral;
    # s4: 0.4 -> stage 2's argmax index 4 = disgust.
    assert list(preds["pred"]) == ["neutral", "happy", "neutral", "disgust"]
    assert list(preds["label"]) == ["neutral", "happy", "fear", "neutral"]  # stage 2's true labels
    assert list(preds.columns[2:]) == [f"prob_{c}" for c in CLASSES]
    assert preds.loc["s2", "prob_neutral"] == pytest.approx(0.2)
    assert preds.loc["s2", "prob_happy"] == pytest.approx(0.8 * 0.8)
    assert preds.loc["s4", "prob_disgust"] == pytest.approx(0.6 * 0.8)
    assert np.allclose(preds.filter(like="prob_").sum(axis=1), 1.0)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(2 / 4)
    assert metrics["f1_macro"] == pytest.approx(f1_score(preds["label"], preds["pred"], average="macro"))
    assert metrics["variant"] == "two" and metrics["fold"] == 3 and metrics["n_test"] == 4
    assert metrics["best_epoch"] == {"stage1": 3, "stage2": 5} and metrics["train_seconds"] == 4.0
    assert metrics["parameters"] == {"trainable": 30, "frozen": 200}  # two models, each its own
    history = pd.read_csv(out / "history.csv")
    assert list(history["stage"]) == [1, 1, 2, 2] and history.columns[0] == "stage"


def test_threshold_moves_the_neutral_cut(tmp_path):
    d1, d2 = stage_dirs(tmp_path)
    p1, _, _ = combine_stages.read_stage(d1, 1, ["neutral", "not_neutral"])
    p2, _, _ = combine_stages.read_stage(d2, 2, EMOTIONS)
    assert list(combine_stages.combine(p1, p2, 0.95)["pred"]) == ["sad", "happy", "fear", "disgust"]
    assert (combine_stages.combine(p1, p2, 0.1)["pred"] == "neutral").all()


def test_mismatched_stages_are_an_error(tmp_path, capsys):
    d1, d2 = stage_dirs(tmp_path)
    p2 = pd.read_csv(d2 / "predictions.csv")
    p2.iloc[:3].to_csv(d2 / "predictions.csv", index=False)
    with pytest.raises(SystemExit) as exit_:
        run_cli(combine_stages.main, ["--stage1", str(d1), "--stage2", str(d2), "--variant", "v",
                                      "--fold", "0", "--out-dir", str(tmp_path / "out")])
    assert exit_.value.code == 2 and "different segments" in capsys.readouterr().err
    with pytest.raises(InputError):
        combine_stages.read_stage(tmp_path / "nowhere", 1, ["neutral", "not_neutral"])
