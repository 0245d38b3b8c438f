"""Seeds and sweeps (kemdy/protocol.py, kemdy/selection.py): the plan of jobs, the selection
on validation only, and the seed aggregation of the summary, bootstrap and report."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import render_report
import select_candidate
import summarize
from kemdy import protocol, selection, spec
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.metrics import score_predictions
from kemdy.predict_checks import check_ensemble
from kemdy.report import bootstrap
from kemdy.report.bootstrap import paired_bootstrap
from kemdy.report.summary import collect_runs
from kemdy.selection import read_selection
from kemdy.sweep_schema import schema_check
from test_render_report import Elements, make_fixture, report_args
from test_summarize import FOLDS, SKLEARN, VARIANTS, true_labels

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "config.schema.yaml"


def config(**variant) -> dict:
    cfg = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    cfg["variants"] = {"v": {"modality": "text", "loss": "ce", **variant},
                       "two": {"modality": "text", "loss": "ce", "two_stage": True}}
    return cfg


def plan(cfg, name="v"):
    return protocol.plan(cfg, name, validate=schema_check(SCHEMA))


# ---------------------------------------------------------------- the plan


def test_a_plain_variant_is_one_seed_and_its_job_spec_is_the_resolved_spec():
    cfg = config()
    p = plan(cfg)
    assert p.plain and p.seeds == [cfg["train"]["seed"]] and not p.candidates
    assert json.dumps(p.job_spec(p.seeds[0]), sort_keys=True) == \
        json.dumps(spec.resolve(cfg, "v"), sort_keys=True)
    assert p.run_dir(1, p.seeds[0]) == "results/runs/v/fold1"
    assert p.model_dir(1, p.seeds[0]) == "results/models/v/fold1"


def test_seeds_come_from_the_variant_else_train_and_set_each_jobs_seed():
    cfg = config(seeds=[5, 3])
    cfg["train"]["seeds"] = [1, 2, 9]
    p = plan(cfg)
    assert p.seeds == [5, 3] and p.multi_seed
    assert [p.job_spec(s)["seed"] for s in p.seeds] == [5, 3]
    assert p.run_dir(0, 3) == "results/runs/v/fold0/seed3"
    assert plan(cfg, "two").seeds == [1, 2, 9]  # train's seeds, and two-stage with seeds works
    one = config(seeds=[7])
    assert plan(one).plain and plan(one).spec["seed"] == 7


@pytest.mark.parametrize("variant, train, key", [
    ({"seed": 3, "seeds": [1, 2]}, {}, "variants.v.seeds"),
    ({"seed": 3}, {"seeds": [1, 2]}, "variants.v.seed"),
])
def test_seed_and_seeds_together_are_refused(variant, train, key):
    cfg = config(**variant)
    cfg["train"].update(train)
    with pytest.raises(InputError) as err:
        plan(cfg)
    assert err.value.key == key


def test_the_grid_is_in_order_with_ids_that_survive_a_new_value():
    p = plan(config(sweep={"lr": [1e-3, 2e-3], "dropout": [0.0, 0.2]}))
    assert [c.params for c in p.candidates] == [
        {"lr": 1e-3, "dropout": 0.0}, {"lr": 1e-3, "dropout": 0.2},
        {"lr": 2e-3, "dropout": 0.0}, {"lr": 2e-3, "dropout": 0.2}]
    assert len({c.id for c in p.candidates}) == 4
    wider = plan(config(sweep={"lr": [1e-3, 2e-3, 5e-3], "dropout": [0.0, 0.2]}))
    assert {c.id for c in p.candidates} <= {c.id for c in wider.candidates}
    job = p.job_spec(11, p.candidates[1].id)
    assert (job["lr"], job["dropout"], job["seed"]) == (1e-3, 0.2, 11)
    assert "sweep" not in job and "seeds" not in job
    assert p.candidate_dir(2, 11, p.candidates[1].id) == \
        f"results/sweeps/v/fold2/seed11/{p.candidates[1].id}"


@pytest.mark.parametrize("variant, key, words", [
    ({"sweep": {"modality": ["audio"]}}, "variants.v.sweep.modality", "structural"),
    ({"sweep": {"seed": [1, 2]}}, "variants.v.sweep.seed", "variants.v.seeds: [1, 2]"),
    ({"sweep": {"gpus": [1, 2]}}, "variants.v.sweep.gpus", "structural"),
    ({"sweep": {"learning_rate": [1]}}, "variants.v.sweep.learning_rate", "not a training key"),
    ({"sweep": {"lr": [-1.0]}}, "variants.v.sweep.lr", "-1.0"),
    ({"sweep": {"dropout": [0.1, 2.0]}}, "variants.v.sweep.dropout", "2.0"),
    ({"sweep": {"lr": [1e-3, 1e-3]}}, "variants.v.sweep.lr", "twice"),
    ({"sweep": {"text_warmup_epochs": [0, 1]}}, "variants.v.sweep.text_warmup_epochs",
     "text model"),
    ({"modality": "text+audio", "fusion": "tensor_mixer", "sweep": {"mixer_patch": [16, 7]}},
     "variants.v.sweep.mixer_patch", "not a multiple of mixer_patch 7"),  # a fusion size
])
def test_a_bad_sweep_is_refused_naming_its_key(variant, key, words):
    with pytest.raises(InputError) as err:
        plan(config(**variant))
    assert err.value.key == key and words in str(err.value)


MM = {"modality": "text+audio", "loss": "ce"}


@pytest.mark.parametrize("variant, key, words", [
    ({**MM, "sweep": {"mixer_depth": [1, 2]}}, "variants.v.sweep.mixer_depth",
     "fusion concat has no such size"),
    ({"sweep": {"focal_gamma": [1.0, 2.0]}}, "variants.v.sweep.focal_gamma",
     "loss ce has no focusing term"),
    ({"sweep": {"neutral_threshold": [0.4, 0.6]}}, "variants.v.sweep.neutral_threshold",
     "one-stage"),
    ({**MM, "fusion": "tensor_mixer", "sweep": {"attention_heads": [2, 4]}},
     "variants.v.sweep.attention_heads", "fusion tensor_mixer has no such size"),
    ({"sweep": {"audio_seconds": [2.0, 4.0]}}, "variants.v.sweep.audio_seconds",
     "text model has no audio"),
    ({"sweep": {"va_loss": ["ccc"]}}, "variants.v.sweep.va_loss", "va_weight 0"),
    ({**MM, "sweep": {"head_hidden": [256, 512]}}, "variants.v.sweep.head_hidden",
     "head mlp has no such size"),
    ({**MM, "fusion": "co_attention", "sweep": {"attention_readout": ["last", "mean"]}},
     "variants.v.sweep.attention_readout", "fusion co_attention has no such size"),
])
def test_a_swept_key_the_variant_never_reads_is_refused(variant, key, words):
    with pytest.raises(InputError) as err:
        plan(config(**variant))
    assert err.value.key == key and words in str(err.value) and "never reads" in str(err.value)


def test_candidates_that_train_the_same_model_are_refused():
    # focal_gamma is read by the focal candidates only: ce with gamma 1 or 2 is one model
    with pytest.raises(InputError, match="train the same model") as err:
        plan(config(sweep={"loss": ["ce", "focal"], "focal_gamma": [1.0, 2.0]}))
    assert err.value.key == "variants.v.sweep.focal_gamma" and "focusing term" in str(err.value)
    # where every candidate differs in what the model reads, the grid stands
    assert len(plan(config(sweep={"loss": ["focal", "soft_focal"],
                                  "focal_gamma": [1.0, 2.0]})).candidates) == 4


@pytest.mark.parametrize("key, values, words", [
    ("dropout", [0, 0.0], "lists 0 and 0.0, the same number"),
    ("lr", [1, 1.0], "lists 1 and 1.0, the same number"),
    ("epochs", [2, 2], "lists a value twice"),
])
def test_values_equal_as_numbers_are_refused_whatever_their_spelling(key, values, words):
    with pytest.raises(InputError, match=words) as err:
        plan(config(sweep={key: values}))
    assert err.value.key == f"variants.v.sweep.{key}"


def test_a_candidates_spec_error_names_the_swept_key_that_made_it():
    with pytest.raises(InputError, match="mixer_projection 18 is not a multiple") as err:
        plan(config(**MM, fusion="tensor_mixer", sweep={"mixer_projection": [16, 18]}))
    assert err.value.key == "variants.v.sweep.mixer_projection"


def test_a_number_yaml_reads_as_text_says_how_to_write_it():
    cfg = config()
    cfg["variants"]["v"]["sweep"] = yaml.safe_load("lr: [1e-3, 2.0e-3]")
    with pytest.raises(InputError, match="write it as 1.0e-3") as err:
        plan(cfg)
    assert err.value.key == "variants.v.sweep.lr"


def test_sweep_with_two_stage_is_refused_naming_both_keys_and_train_sweep_too():
    cfg = config()
    cfg["variants"]["two"]["sweep"] = {"lr": [1e-3]}
    with pytest.raises(InputError, match="two_stage") as err:
        plan(cfg, "two")
    assert "variants.two.sweep" in str(err.value) and "variants.two.two_stage" in str(err.value)
    cfg = config()
    cfg["train"]["sweep"] = {"lr": [1e-3]}
    with pytest.raises(InputError, match="train.sweep"):
        plan(cfg)


def test_a_one_candidate_sweep_trains_the_plain_variants_exact_spec():
    cfg = config()
    plain = plan(cfg)
    swept = plan(config(sweep={"lr": [cfg["train"]["lr"]]}))
    only = swept.candidates[0].id
    assert json.dumps(swept.job_spec(swept.seeds[0], only), sort_keys=True) == \
        json.dumps(plain.job_spec(plain.seeds[0]), sort_keys=True)
    assert swept.run_dir(0, swept.seeds[0]) == plain.run_dir(0, plain.seeds[0])


# ---------------------------------------------------------------- selection


def test_select_is_the_argmax_with_ties_to_the_first_and_refuses_no_validation():
    assert selection.select([0.2, 0.5, 0.4]) == 1
    assert selection.select([0.5, 0.3, 0.5]) == 0
    with pytest.raises(InputError, match="val_sessions"):
        selection.select([0.5, math.nan])


def test_the_validation_score_skips_warm_up_epochs():
    h = pd.DataFrame({"epoch": [1, 2, 3], "val_f1_macro": [0.9, 0.4, 0.5],
                      "selectable": [False, True, True]})
    assert selection.validation_score(h) == 0.5
    assert selection.validation_score(h.drop(columns="selectable")) == 0.9


def test_a_history_written_before_the_rename_reads_its_candidate_column(tmp_path):
    """history.csv's `selectable` was called `candidate` (the word a sweep's settings own):
    a finished run's file, and a resume state's rows, still say which epochs could be chosen."""
    from kemdy.runs import history_frame, read_history

    old = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.9], "val_loss": [1.0, 0.9],
                        "val_f1_macro": [0.9, 0.4], "candidate": [False, True]})
    old.to_csv(tmp_path / "history.csv", index=False)
    assert selection.validation_score(read_history(tmp_path / "history.csv")) == 0.4
    rows = history_frame([{"epoch": 1, "val_f1_macro": 0.9, "candidate": False}])
    assert rows["selectable"].tolist() == [False]


def fake_run(out: Path, variant: str, fold: int, test: pd.DataFrame, skill: float, rng,
             val_f1: list[float], run_spec: dict | None = None) -> None:
    """A run folder as train.py writes it (the figures agree with the predictions)."""
    right = rng.random(len(test)) < skill
    guess = rng.choice(CLASSES, size=len(test))
    df = pd.DataFrame({"segment_id": test["segment_id"], "label": test["label"],
                       "pred": np.where(right, test["label"], guess)})
    for c in CLASSES:
        df[f"prob_{c}"] = (df["pred"] == c).astype(float)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "predictions.csv", index=False)
    n = len(val_f1)
    pd.DataFrame({"epoch": range(1, n + 1), "train_loss": [1.0] * n, "val_loss": [1.0] * n,
                  "val_f1_macro": val_f1, "val_accuracy": val_f1, "seconds": [1.0] * n,
                  "selectable": [True] * n}).to_csv(out / "history.csv", index=False)
    best = int(np.argmax(val_f1)) + 1
    metrics = {"variant": variant, "fold": fold, **score_predictions(df), "best_epoch": best,
               "train_seconds": 1.0, "device": "cpu"}
    (out / "metrics.json").write_text(json.dumps(metrics))
    if run_spec is not None:
        (out / "config.json").write_text(json.dumps(run_spec, sort_keys=True))


def candidates_on_disk(root: Path, p, fold: int, seed: int, vals: list[list[float]]) -> list:
    labels = true_labels(0)
    test = labels[labels["fold"] == fold].reset_index(drop=True)
    dirs = []
    for i, (c, val) in enumerate(zip(p.candidates, vals)):
        d = root / p.candidate_dir(fold, seed, c.id)
        fake_run(d, p.name, fold, test, 0.3 + 0.1 * i, np.random.default_rng([fold, seed, i]),
                 val, p.job_spec(seed, c.id))
        (d / "model").mkdir()
        (d / "model" / "model.json").write_text(json.dumps({"candidate": c.id}))
        dirs.append(d)
    return dirs


def choose(root: Path, p, fold: int, seed: int, dirs: list) -> pd.DataFrame:
    part = root / f"part{fold}_{seed}.csv"
    select_candidate.main([
        "--variant", p.name, "--fold", str(fold), "--seed", str(seed), "--candidates",
        json.dumps([[c.id, c.params] for c in p.candidates]),
        "--candidate-dirs", *map(str, dirs), "--out-dir", str(root / p.run_dir(fold, seed)),
        "--model-dir", str(root / p.model_dir(fold, seed)), "--selection", str(part)])
    return read_selection(part)


def test_selection_is_the_validation_argmax_for_every_fold_and_seed_and_copies_it(tmp_path):
    p = plan(config(seeds=[1, 2], sweep={"lr": [1e-3, 2e-3, 4e-3]}))
    curves = {(0, 1): [[.2, .3], [.2, .6], [.5, .1]], (0, 2): [[.4, .4], [.1, .4], [.3, .2]],
              (1, 1): [[.1, .2], [.3, .1], [.2, .35]], (1, 2): [[.7, .1], [.2, .3], [.1, .1]]}
    expect = {(0, 1): 1, (0, 2): 0, (1, 1): 2, (1, 2): 0}  # (0, 2): a tie goes to the first
    for (fold, seed), vals in curves.items():
        dirs = candidates_on_disk(tmp_path, p, fold, seed, vals)
        rows = choose(tmp_path, p, fold, seed, dirs)
        assert list(rows.columns) == selection.SELECTION_COLUMNS
        assert rows["val_f1_macro"].tolist() == [max(v) for v in vals]
        assert rows["selected"].tolist() == [i == expect[(fold, seed)] for i in range(3)]
        assert [json.loads(x) for x in rows["params"]] == [c.params for c in p.candidates]
        chosen, run = dirs[expect[(fold, seed)]], tmp_path / p.run_dir(fold, seed)
        for name in ("predictions.csv", "metrics.json", "history.csv", "config.json"):
            assert (run / name).read_bytes() == (chosen / name).read_bytes()
        assert json.loads((tmp_path / p.model_dir(fold, seed) / "model.json").read_text()) \
            == {"candidate": p.candidates[expect[(fold, seed)]].id}
    parts = [str(tmp_path / f"part{k}_{s}.csv") for k, s in curves]
    select_candidate.main(["--gather", *parts, "--selection", str(tmp_path / "sel.csv")])
    table = read_selection(tmp_path / "sel.csv")
    assert len(table) == 4 * 3 and table.groupby(["fold", "seed"])["selected"].sum().eq(1).all()


def test_test_labels_and_predictions_never_change_the_selection(tmp_path):
    p = plan(config(sweep={"lr": [1e-3, 2e-3]}))
    dirs = candidates_on_disk(tmp_path, p, 0, 42, [[.3, .4], [.2, .35]])
    before = choose(tmp_path, p, 0, 42, dirs)
    for d in dirs:  # every test label and prediction changed: the better test run is the other
        pred = pd.read_csv(d / "predictions.csv")
        pred["label"] = pred["label"].sample(frac=1, random_state=1).to_numpy()
        pred["pred"] = "neutral" if d == dirs[0] else pred["label"]
        pred.to_csv(d / "predictions.csv", index=False)
    after = choose(tmp_path, p, 0, 42, dirs)
    assert after.equals(before) and before["selected"].tolist() == [True, False]


def test_a_one_candidate_sweep_gives_the_candidates_bytes(tmp_path):
    cfg = config()
    p = plan(config(sweep={"lr": [cfg["train"]["lr"]]}))
    dirs = candidates_on_disk(tmp_path, p, 1, 42, [[.1, .2]])
    choose(tmp_path, p, 1, 42, dirs)
    run = tmp_path / "results" / "runs" / "v" / "fold1"
    assert sorted(x.name for x in run.iterdir()) == sorted(x.name for x in dirs[0].iterdir()
                                                          if x.is_file())
    for f in run.iterdir():
        assert f.read_bytes() == (dirs[0] / f.name).read_bytes()
    assert json.loads((run / "config.json").read_text()) == plan(cfg).spec


# ---------------------------------------------------------------- seeds downstream


def seeded_runs(runs_dir: Path, variant: str, seeds: list[int], skill: float = 0.5) -> None:
    labels = true_labels(0)
    for fold in FOLDS:
        test = labels[labels["fold"] == fold].reset_index(drop=True)
        for s in seeds:
            fake_run(runs_dir / variant / f"fold{fold}" / f"seed{s}", variant, fold, test,
                     skill, np.random.default_rng([fold, s]), [0.2, 0.3],
                     {"seed": s, "name": variant})


def test_seeds_aggregate_as_documented(tmp_path):
    runs = tmp_path / "runs"
    seeded_runs(runs, "multi", [1, 2, 3])
    found = collect_runs(runs, ["multi"], FOLDS, seeds={"multi": [1, 2, 3]})
    out = tmp_path / "summary.csv"
    summarize.main(["--runs-dir", str(runs), "--variants", "multi", "--folds",
                    ",".join(map(str, FOLDS)), "--out", str(out), "--seeds", "multi=1,2,3"])
    table = pd.read_csv(out).set_index("metric")
    for metric, f in SKLEARN.items():
        per_fold = []
        for k in FOLDS:
            seeds = [pd.read_csv(runs / "multi" / f"fold{k}" / f"seed{s}" / "predictions.csv")
                     for s in (1, 2, 3)]
            per_fold.append(np.mean([f(d["label"], d["pred"]) for d in seeds]))
            assert table.loc[metric, f"fold{k}"] == pytest.approx(per_fold[-1], abs=1e-9)
        assert table.loc[metric, "mean"] == pytest.approx(np.mean(per_fold), abs=1e-9)
        assert table.loc[metric, "std"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-9)
    assert (table["n_seeds"] == 3).all() and (table["n_folds"] == len(FOLDS)).all()
    assert len(found.pooled("multi")) == 3 * sum(len(r.members[0].predictions)
                                                 for r in found.of("multi"))
    (runs / "multi" / "fold1" / "seed2" / "metrics.json").unlink()  # one seed short: no fold
    with pytest.raises(InputError, match="multi/fold1"):
        collect_runs(runs, ["multi"], FOLDS, seeds={"multi": [1, 2, 3]})
    short = collect_runs(runs, ["multi"], FOLDS, allow_missing=True, seeds={"multi": [1, 2, 3]})
    assert short.missing[("multi", 1)] == ["seed2/metrics.json"]


def test_the_bootstrap_resamples_seeds_and_reduces_to_one_seed(monkeypatch):
    rng = np.random.default_rng(0)
    n = 240
    y = rng.choice(CLASSES, n)
    a = np.where(rng.random(n) < .5, y, rng.choice(CLASSES, n))
    b = np.where(rng.random(n) < .6, y, rng.choice(CLASSES, n))
    groups = np.repeat(np.arange(8), n // 8)
    one = paired_bootstrap(y, a, b, 300, 4, groups=groups)
    # three identical seeds are one seed: the same point, interval and unit but for "seed"
    same = paired_bootstrap(y, a, np.stack([b, b, b], 1), 300, 4, groups=groups)
    for m in one:
        assert {k: v for k, v in same[m].items() if k not in ("unit", "n_seeds")} == \
            {k: v for k, v in one[m].items() if k not in ("unit", "n_seeds")}
    assert same["f1_macro"]["unit"] == "session and seed" and one["f1_macro"]["unit"] == "session"
    # seeds that differ: the point is that of the seeds' summed confusions, and drawing
    # seeds widens the interval beyond the sessions' alone
    b2 = np.where(rng.random(n) < .3, y, rng.choice(CLASSES, n))
    two = paired_bootstrap(y, a, np.stack([b, b2], 1), 300, 4, groups=groups)
    pooled = score_predictions(pd.DataFrame({"label": np.r_[y, y], "pred": np.r_[b, b2]}))
    base = score_predictions(pd.DataFrame({"label": y, "pred": a}))
    assert two["f1_macro"]["delta"] == pytest.approx(pooled["f1_macro"] - base["f1_macro"])
    assert two["f1_macro"]["n_seeds"] == [1, 2]
    with monkeypatch.context() as m:  # every seed once in every resample: sessions alone
        m.setattr(bootstrap, "seed_weights",
                  lambda rng, s, f, size: None if s == 1 else np.ones((size, f, s), int))
        sessions_only = paired_bootstrap(y, a, np.stack([b, b2], 1), 300, 4, groups=groups)
    assert sessions_only["f1_macro"]["delta"] == two["f1_macro"]["delta"]
    assert width(two) > 1.1 * width(sessions_only)


def width(boot: dict) -> float:
    return boot["f1_macro"]["hi"] - boot["f1_macro"]["lo"]


def test_the_seed_bootstrap_draws_each_folds_seeds_apart(monkeypatch):
    """Seed s of fold 0 and seed s of fold 1 are separate runs. Constructed so the two
    schemes differ: fold 0's seed 1 is right where its seed 2 is wrong, fold 1 the reverse.
    One draw shared by both folds always counts as many right as wrong (its luck cancels);
    a draw per fold does not."""
    rng = np.random.default_rng(1)
    n = 200  # two folds of 4 sessions x 25 segments
    y = rng.choice(CLASSES, n)
    wrong = np.array([CLASSES[(CLASSES.index(c) + 1) % len(CLASSES)] for c in y])
    folds, groups = np.repeat([0, 1], n // 2), np.repeat(np.arange(8), n // 8)
    seed1 = np.where(folds == 0, y, wrong)
    seed2 = np.where(folds == 0, wrong, y)
    a = np.where(rng.random(n) < .5, y, wrong)
    per_fold = paired_bootstrap(y, a, np.stack([seed1, seed2], 1), 400, 2, groups=groups,
                                folds=folds)
    real = bootstrap.seed_weights
    monkeypatch.setattr(bootstrap, "seed_weights", lambda rng, s, f, size: None if s == 1 else
                        np.repeat(real(rng, s, 1, size), f, axis=1))  # one draw for all folds
    shared = paired_bootstrap(y, a, np.stack([seed1, seed2], 1), 400, 2, groups=groups,
                              folds=folds)
    assert per_fold["f1_macro"]["delta"] == shared["f1_macro"]["delta"]
    assert width(per_fold) > 1.5 * width(shared)
    # without folds given, all segments are one fold: the shared scheme
    monkeypatch.setattr(bootstrap, "seed_weights", real)
    assert paired_bootstrap(y, a, np.stack([seed1, seed2], 1), 400, 2, groups=groups) == shared


def test_an_ensemble_over_seeds_and_sweep_choices_needs_vary():
    def member(**spec_changes):
        card = {"variant": "v", "spec": {"seed": 1, "lr": 1e-3, "loss": "ce", **spec_changes},
                "encoders": {"text": {"fingerprint": "f"}, "audio": None}}
        return {"single": (Path("m"), card)}

    folders = [Path("a"), Path("b")]
    members = [member(), member(seed=2, lr=2e-3)]
    with pytest.raises(InputError, match="spec key lr"):
        check_ensemble(folders, members)
    check_ensemble(folders, members, vary=("seed", "lr"))
    with pytest.raises(InputError, match="spec key loss"):
        check_ensemble(folders, [member(), member(seed=2, loss="focal")], vary=("seed", "lr"))


def test_the_report_shows_seeds_and_sweeps_and_checks_the_choice(tmp_path):
    p = make_fixture(tmp_path)
    seeded_runs(p["runs"], "multi", [1, 2])
    sp = plan(config(sweep={"lr": [1e-3, 2e-3]}))
    root = tmp_path / "sweep"
    for k in FOLDS:
        dirs = candidates_on_disk(root, sp, k, 42, [[.2, .3 + .1 * (k == 1)], [.35, .1]])
        choose(root, sp, k, 42, dirs)
    shutil.copytree(root / "results" / "runs" / "v", p["runs"] / "v")
    parts = [str(root / f"part{k}_42.csv") for k in FOLDS]
    sel = tmp_path / "selection.csv"
    select_candidate.main(["--gather", *parts, "--selection", str(sel)])
    variants = [*VARIANTS, "multi", "v"]
    effective = json.loads(p["config"].read_text())
    effective["variants"].update(multi={"modality": "text", "loss": "ce", "seeds": [1, 2]},
                                 v={"modality": "text", "loss": "ce",
                                    "sweep": {"lr": [1e-3, 2e-3]}})
    p["config"].write_text(json.dumps(effective))
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(variants), "--folds",
                    ",".join(map(str, FOLDS)), "--out", str(p["summary"]), "--seeds",
                    "multi=1,2"])
    extra = ["--seeds", "multi=1,2", "--selection", f"v={sel}"]
    render_report.main(report_args(p, *extra, variants=variants))
    page = Elements(p["out"].read_text(encoding="utf-8"))
    assert not page.find(id="checks")  # the consistency checks stay silent
    assert page.one("table", data_variant="multi", data_n_seeds="2")
    assert page.one("img", id="plot-seeds")
    assert any("1, 2" in text for _, _, text in page.find("tr", data_variant="multi"))  # provenance
    chosen = {int(a["data-fold"]): a["data-chosen"]
              for _, a, _ in page.find("tr", data_variant="v", data_chosen=True)}
    table = read_selection(sel)
    assert chosen == dict(zip(table.loc[table["selected"], "fold"],
                              table.loc[table["selected"], "candidate"]))
    assert chosen[1] == sp.candidates[0].id and chosen[0] == sp.candidates[1].id
    assert len(page.find("td", data_val_f1=True)) == len(FOLDS) * 2
    # a selection that is not the validation argmax, or a run that is not the choice: refused
    table.loc[table["fold"] == 0, "selected"] = [True, False]
    table.to_csv(sel, index=False)
    with pytest.raises(InputError, match="best validation"):
        render_report.main(report_args(p, *extra, variants=variants))
    table.loc[table["fold"] == 0, "selected"] = [False, True]
    table.loc[table["fold"] == 0, "val_f1_macro"] = [0.3, 0.35]
    table.to_csv(sel, index=False)
    render_report.main(report_args(p, *extra, variants=variants))
    # a partial report (--allow-missing) renders before the sweep's selection.csv exists
    missing = ["--seeds", "multi=1,2", "--selection", f"v={tmp_path / 'none.csv'}"]
    with pytest.raises(InputError, match="none.csv"):
        render_report.main(report_args(p, *missing, variants=variants))
    render_report.main(report_args(p, *missing, "--allow-missing", variants=variants))
    assert not Elements(p["out"].read_text(encoding="utf-8")).find(id="sweeps")
    spec_file = p["runs"] / "v" / "fold0" / "config.json"
    spec_file.write_text(json.dumps({**json.loads(spec_file.read_text()), "lr": 1e-3}))
    with pytest.raises(InputError, match="not the selected candidate"):
        render_report.main(report_args(p, *extra, variants=variants))


def test_a_sweep_on_one_validation_session_is_warned_about():
    cfg = config(sweep={"lr": [1e-3, 2e-3]})
    cfg["folds"]["val_sessions"] = 1
    plans = {"v": plan(cfg), "two": plan(cfg, "two")}
    assert "v choose on folds.val_sessions 1" in protocol.sweep_warning(cfg, plans)
    cfg["folds"]["val_sessions"] = 2
    assert protocol.sweep_warning(cfg, plans) is None
    cfg["folds"]["val_sessions"] = 1
    assert protocol.sweep_warning(cfg, {"two": plans["two"]}) is None  # nothing swept
