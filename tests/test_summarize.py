"""summarize.py: figures recomputed from predictions.csv, cross-checked with metrics.json.

make_runs() also builds the run fixtures of test_render_report.py and test_report_browser.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

import summarize
from kemdy.classes import CLASSES
from kemdy.errors import InputError, run_cli
from kemdy.metrics import score_predictions
from kemdy.report.summary import fold_stats

VARIANTS = {"text_ce": 0.35, "text_soft_bce": 0.6, "text_two_stage": 0.45}  # name -> skill
TWO_STAGE = {"text_two_stage"}
FOLDS = [0, 1, 2]
SESSIONS_PER_FOLD = 2
SEGMENTS_PER_SESSION = 40
PRIOR = np.array([0.55, 0.14, 0.08, 0.08, 0.07, 0.045, 0.035])

SKLEARN = {  # the headline figures, written out with scikit-learn directly
    "f1_macro": lambda y, p: f1_score(y, p, average="macro", zero_division=0),
    "balanced_accuracy": balanced_accuracy_score,
    "f1_weighted": lambda y, p: f1_score(y, p, average="weighted", zero_division=0),
    "f1_micro": lambda y, p: f1_score(y, p, average="micro", zero_division=0),
    "accuracy": accuracy_score,
}


def segment_ids(fold: int) -> list[str]:
    ids = []
    for s in range(SESSIONS_PER_FOLD):
        session = fold * SESSIONS_PER_FOLD + s + 1
        for i in range(SEGMENTS_PER_SESSION):
            user = 2 * session - 1 + i % 2
            ids.append(f"Sess{session:02d}_script{1 + i // 20:02d}_User{user:03d}"
                       f"{'FM'[i % 2]}_{i:03d}")
    return ids


def true_labels(seed: int = 0) -> pd.DataFrame:
    """segment_id, fold, session, label: the labels every variant is scored against."""
    rng = np.random.default_rng(seed)
    rows = []
    for fold in FOLDS:
        for sid in segment_ids(fold):
            rows.append({"segment_id": sid, "fold": fold, "session": int(sid[4:6]),
                         "label": CLASSES[rng.choice(len(CLASSES), p=PRIOR)]})
    return pd.DataFrame(rows)


def history(rng, two_stage: bool) -> pd.DataFrame:
    frames = []
    for stage in ([1, 2] if two_stage else [None]):
        n = 6
        epoch = np.arange(1, n + 1)
        f1 = np.clip(0.2 + 0.35 * (1 - np.exp(-epoch / 2)) + rng.normal(0, 0.03, n), 0, 1)
        h = pd.DataFrame({
            "epoch": epoch, "train_loss": 1.8 * np.exp(-epoch / 3) + rng.uniform(0, .05, n),
            "val_loss": 1.6 * np.exp(-epoch / 4) + 0.3 + rng.uniform(0, .08, n),
            "val_f1_macro": f1, "val_accuracy": np.clip(f1 + 0.3, 0, 1),
            "seconds": rng.uniform(1, 2, n)})
        if stage is not None:
            h.insert(0, "stage", stage)
        frames.append(h)
    return pd.concat(frames, ignore_index=True)


def make_runs(root: Path, seed: int = 0, variants: dict = VARIANTS) -> Path:
    """results/runs/{variant}/fold{k}/ with predictions.csv, metrics.json, history.csv."""
    labels = true_labels(seed)
    runs_dir = Path(root) / "runs"
    for v_i, (variant, skill) in enumerate(variants.items()):
        rng = np.random.default_rng([seed, v_i])
        for fold in FOLDS:
            test = labels[labels["fold"] == fold].reset_index(drop=True)
            right = rng.random(len(test)) < skill
            guess = [CLASSES[i] for i in rng.choice(len(CLASSES), size=len(test), p=PRIOR)]
            pred = np.where(right, test["label"], guess)
            logits = rng.normal(0, 1, (len(test), len(CLASSES)))
            logits[np.arange(len(test)), [CLASSES.index(p) for p in pred]] += 6
            prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            df = pd.DataFrame({"segment_id": test["segment_id"], "label": test["label"],
                               "pred": pred})
            for j, c in enumerate(CLASSES):
                df[f"prob_{c}"] = prob[:, j]
            hist = history(rng, variant in TWO_STAGE)
            out = runs_dir / variant / f"fold{fold}"
            out.mkdir(parents=True, exist_ok=True)
            df.to_csv(out / "predictions.csv", index=False)
            hist.to_csv(out / "history.csv", index=False)
            if "stage" in hist:  # as combine_stages writes it
                best = {f"stage{s}": int(h["epoch"].iloc[int(h["val_f1_macro"].argmax())])
                        for s, h in hist.groupby("stage")}
            else:
                best = int(hist["epoch"].iloc[int(hist["val_f1_macro"].to_numpy().argmax())])
            metrics = {"variant": variant, "fold": fold, **score_predictions(df),
                       "best_epoch": best, "train_seconds": float(hist["seconds"].sum()),
                       "device": "cpu"}
            (out / "metrics.json").write_text(json.dumps(metrics))
    return runs_dir


def recomputed(runs_dir: Path, variant: str, fold: int) -> dict[str, float]:
    df = pd.read_csv(runs_dir / variant / f"fold{fold}" / "predictions.csv")
    return {m: float(f(df["label"], df["pred"])) for m, f in SKLEARN.items()}


def run_summarize(runs_dir: Path, out: Path, *extra: str) -> pd.DataFrame:
    summarize.main(["--runs-dir", str(runs_dir), "--variants", ",".join(VARIANTS),
                    "--folds", ",".join(map(str, FOLDS)), "--out", str(out), *extra])
    return pd.read_csv(out)


@pytest.fixture
def runs_dir(tmp_path):
    return make_runs(tmp_path)


def test_summary_equals_sklearn_on_predictions(runs_dir, tmp_path):
    table = run_summarize(runs_dir, tmp_path / "summary.csv")
    assert list(table.columns[:6]) == ["variant", "metric", "mean", "std", "n_folds", "missing"]
    # the headline figures, then ece, brier, nll (no variant here has a temperature)
    assert len(table) == len(VARIANTS) * (len(SKLEARN) + 3)
    assert table["metric"].tolist()[:8] == [*SKLEARN, "ece", "brier", "nll"]
    for variant in VARIANTS:
        per_fold = [recomputed(runs_dir, variant, k) for k in FOLDS]
        for metric in SKLEARN:
            row = table[(table.variant == variant) & (table.metric == metric)].iloc[0]
            values = [f[metric] for f in per_fold]
            for k, value in zip(FOLDS, values):
                assert row[f"fold{k}"] == pytest.approx(value, abs=1e-12)
            assert row["mean"] == pytest.approx(np.mean(values), abs=1e-12)
            assert row["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
            assert row["n_folds"] == len(FOLDS)
            assert pd.isna(row["missing"])
    # the fixture's variants differ, so a summary that ignored its inputs would fail
    assert table[table.metric == "f1_macro"]["mean"].nunique() == len(VARIANTS)


def test_disagreeing_metrics_json_is_named(runs_dir, tmp_path):
    path = runs_dir / "text_soft_bce" / "fold2" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["f1_macro"] += 0.01
    path.write_text(json.dumps(metrics))
    out = tmp_path / "summary.csv"
    with pytest.raises(InputError) as err:
        run_summarize(runs_dir, out)
    assert str(path) in str(err.value) and "f1_macro" in str(err.value)
    assert not out.exists()  # nothing half-written


def test_metrics_json_of_another_run_is_caught(runs_dir, tmp_path):
    src = runs_dir / "text_ce" / "fold0" / "metrics.json"
    dst = runs_dir / "text_ce" / "fold1" / "metrics.json"
    dst.write_text(src.read_text())
    with pytest.raises(InputError, match="fold1"):
        run_summarize(runs_dir, tmp_path / "summary.csv")


def test_cli_exits_2_with_the_file_named(runs_dir, tmp_path, capsys):
    path = runs_dir / "text_ce" / "fold1" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["accuracy"] = 1.0 - metrics["accuracy"]
    path.write_text(json.dumps(metrics))
    with pytest.raises(SystemExit) as exit_:
        run_cli(summarize.main, ["--runs-dir", str(runs_dir), "--variants", "text_ce",
                                           "--folds", "0,1,2", "--out", str(tmp_path / "s.csv")])
    assert exit_.value.code == 2
    assert f"ERROR: {path}" in capsys.readouterr().err


def test_missing_runs_are_named_not_averaged(runs_dir, tmp_path):
    (runs_dir / "text_soft_bce" / "fold1" / "predictions.csv").unlink()
    with pytest.raises(InputError, match=r"text_soft_bce/fold1 \(predictions.csv\)"):
        run_summarize(runs_dir, tmp_path / "summary.csv")
    table = run_summarize(runs_dir, tmp_path / "summary.csv", "--allow-missing")
    rows = table[table.variant == "text_soft_bce"]
    assert (rows["n_folds"] == 2).all() and (rows["missing"] == "fold1").all()
    assert rows["fold1"].isna().all()
    present = [recomputed(runs_dir, "text_soft_bce", k) for k in (0, 2)]
    row = rows[rows.metric == "f1_macro"].iloc[0]
    assert row["mean"] == pytest.approx(np.mean([p["f1_macro"] for p in present]), abs=1e-12)
    complete = table[table.variant == "text_ce"]
    assert (complete["n_folds"] == 3).all() and complete["missing"].isna().all()


def test_variant_without_any_run_has_empty_figures(runs_dir, tmp_path):
    summarize.main(["--runs-dir", str(runs_dir), "--variants", "text_ce,mm_ce", "--folds",
                    "0,1,2", "--out", str(tmp_path / "s.csv"), "--allow-missing"])
    rows = pd.read_csv(tmp_path / "s.csv").query("variant == 'mm_ce'")
    assert (rows["n_folds"] == 0).all() and rows["mean"].isna().all()
    assert (rows["missing"] == "fold0 fold1 fold2").all()


@pytest.mark.parametrize("bad, match", [
    ({"pred": "happiness"}, "pred 'happiness'"),
    ({"segment_id": "dup"}, "appears twice"),
])
def test_bad_predictions_are_caught_with_row(runs_dir, tmp_path, bad, match):
    path = runs_dir / "text_ce" / "fold0" / "predictions.csv"
    df = pd.read_csv(path)
    for col, value in bad.items():
        df.loc[[3, 4], col] = value
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match=match) as err:
        run_summarize(runs_dir, tmp_path / "summary.csv")
    assert err.value.path == str(path) and err.value.row in (5, 6)


def test_fold_stats_of_one_fold_has_no_std():
    mean, std = fold_stats([0.4])
    assert mean == 0.4 and math.isnan(std)


def calibrate(runs_dir: Path, variant: str, temperatures: dict[int, float]) -> None:
    """A variant's runs as if trained with calibrate: temperature: each fold's T and the
    figures training writes with it in metrics.json (predictions.csv stays the same)."""
    for fold, t in temperatures.items():
        run = runs_dir / variant / f"fold{fold}"
        metrics = json.loads((run / "metrics.json").read_text())
        df = pd.read_csv(run / "predictions.csv")
        metrics.update({k: v for k, v in score_predictions(df, temperature=t).items()
                        if k.endswith("_calibrated") or k == "temperature"})
        (run / "metrics.json").write_text(json.dumps(metrics))


def as_two_stage(runs_dir: Path, variant: str, threshold: float = 0.5) -> None:
    """Rewrite a variant's runs as combine_stages.py writes them: stage 1's P(neutral) drawn
    at random, stage 2's emotion probabilities those of the run, combined by the
    neutral_threshold rule, so that pred is often not the argmax of the prob_ columns."""
    from kemdy.classes import EMOTIONS
    from kemdy.train.two_stage import combine

    rng = np.random.default_rng(7)
    for fold in FOLDS:
        run = runs_dir / variant / f"fold{fold}"
        df = pd.read_csv(run / "predictions.csv")
        stage1 = df[["segment_id"]].assign(prob_neutral=rng.uniform(0.1, 0.6, len(df)))
        p2 = df[[f"prob_{e}" for e in EMOTIONS]].to_numpy()
        stage2 = df[["segment_id", "label"]].copy()
        stage2[[f"prob_{e}" for e in EMOTIONS]] = p2 / p2.sum(1, keepdims=True)
        out = combine(stage1, stage2, threshold)
        out.to_csv(run / "predictions.csv", index=False)
        metrics = json.loads((run / "metrics.json").read_text())
        metrics.update(score_predictions(out))
        (run / "metrics.json").write_text(json.dumps(metrics))


def direct_calibration(df: pd.DataFrame, t: float = 1.0) -> dict[str, float]:
    """ECE (15 bins), Brier and NLL written out, of softmax(log p / t); ECE of the
    predictions' own `pred`: its confidence p[pred], right when pred is the label."""
    z = np.log(df[[f"prob_{c}" for c in CLASSES]].to_numpy()) / t
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = df["label"].map(CLASSES.index).to_numpy()
    pred = df["pred"].map(CLASSES.index).to_numpy()
    conf, right = p[np.arange(len(pred)), pred], pred == y
    bins = np.minimum(np.ceil(conf * 15).astype(int) - 1, 14)
    ece = sum(abs(right[bins == b].mean() - conf[bins == b].mean()) * (bins == b).mean()
              for b in np.unique(bins))
    return {"ece": ece, "brier": ((p - np.eye(len(CLASSES))[y]) ** 2).sum(1).mean(),
            "nll": -np.log(p[np.arange(len(y)), y]).mean()}


def test_calibration_rows_before_and_after(runs_dir, tmp_path):
    """ece, brier, nll of every variant equal a direct computation on predictions.csv; a
    calibrated variant adds the figures after temperature scaling and its temperatures."""
    temperatures = {0: 1.7, 1: 2.2, 2: 0.8}
    calibrate(runs_dir, "text_soft_bce", temperatures)
    table = run_summarize(runs_dir, tmp_path / "summary.csv")
    rows = table.set_index(["variant", "metric"])
    for variant in VARIANTS:
        for k in FOLDS:
            df = pd.read_csv(runs_dir / variant / f"fold{k}" / "predictions.csv")
            for m, value in direct_calibration(df).items():
                assert rows.loc[(variant, m), f"fold{k}"] == pytest.approx(value, abs=1e-9)
            if variant == "text_soft_bce":
                t = temperatures[k]
                for m, value in direct_calibration(df, t).items():
                    assert rows.loc[(variant, f"{m}_calibrated"), f"fold{k}"] == \
                        pytest.approx(value, abs=1e-9)
                assert rows.loc[(variant, "temperature"), f"fold{k}"] == t
        assert ((variant, "ece_calibrated") in rows.index) == (variant == "text_soft_bce")
    mean_t = rows.loc[("text_soft_bce", "temperature"), "mean"]
    assert mean_t == pytest.approx(np.mean(list(temperatures.values())))


def test_a_two_stage_variants_ece_scores_its_own_pred(runs_dir, tmp_path):
    """pred follows the neutral_threshold rule, not the argmax of the prob_ columns: ece is
    the calibration of that pred (confidence p[pred]), as metrics.json and summary.csv say."""
    as_two_stage(runs_dir, "text_two_stage")
    rows = run_summarize(runs_dir, tmp_path / "summary.csv").set_index(["variant", "metric"])
    differ = 0
    for k in FOLDS:
        df = pd.read_csv(runs_dir / "text_two_stage" / f"fold{k}" / "predictions.csv")
        probs = df[[f"prob_{c}" for c in CLASSES]].to_numpy()
        differ += int((np.asarray(CLASSES)[probs.argmax(1)] != df["pred"]).sum())
        want = direct_calibration(df)
        assert rows.loc[("text_two_stage", "ece"), f"fold{k}"] == pytest.approx(want["ece"],
                                                                              abs=1e-12)
    assert differ > 10  # the case this test is about


@pytest.mark.parametrize("edit, match", [
    ({"nll_calibrated": 0.1}, "nll_calibrated 0.1 disagrees"),
    ({"ece": 0.5}, "ece 0.5 disagrees"),
    ({"temperature": -2.0}, "temperature -2.0 is not a positive number"),
    ({"temperature": None}, "'ece_calibrated' but no prob_<class> columns in predictions.csv or "
                            "no temperature"),
])
def test_calibration_figures_disagreeing_with_metrics_json_are_named(runs_dir, tmp_path, edit,
                                                                      match):
    calibrate(runs_dir, "text_ce", {0: 1.5, 1: 1.5, 2: 1.5})
    path = runs_dir / "text_ce" / "fold1" / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics.update(edit)
    path.write_text(json.dumps({k: v for k, v in metrics.items() if v is not None}))
    with pytest.raises(InputError, match=match) as err:
        run_summarize(runs_dir, tmp_path / "summary.csv")
    assert err.value.path == str(path)


def test_an_older_metrics_json_without_calibration_figures_still_summarises(runs_dir, tmp_path):
    path = runs_dir / "text_ce" / "fold0" / "metrics.json"
    metrics = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in metrics.items()
                                if k not in ("ece", "brier", "nll")}))
    table = run_summarize(runs_dir, tmp_path / "summary.csv")
    assert not table.query("variant == 'text_ce' and metric == 'ece'")["fold0"].isna().any()
