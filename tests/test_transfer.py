"""Transfer between releases (issue 33.2): the config's section and its refusals, each
release's session cut and each direction's tables, train.py on them unchanged and with
--init-from (sequential training), the matrix's figures (the classes a test set lacks are left
out and named), the report's recomputation, and the workflow's plan in a dry run."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.metrics import balanced_accuracy_score, f1_score

import train
from kemdy import layout
from kemdy.classes import CLASSES
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.errors import InputError
from kemdy.labels.folds import split_masks
from kemdy.metrics import score_predictions
from kemdy.protocol import plan as plan_variant
from kemdy.report.bootstrap import bootstrap_interval
from kemdy.report.summary import collect_runs
from kemdy.report.transfer import transfer_section
from kemdy.runs import history_frame, write_run
from kemdy.train import init
from kemdy.train.data import load_split
from kemdy.train.export import write_export
from kemdy.transfer import scores
from kemdy.transfer.plan import Direction, TransferPlan, plan_transfer
from kemdy.transfer.runs import run_dir
from kemdy.transfer.split import direction_tables, split_sessions, segments_tested
from workflow_utils import REPO, copy_workflow, snakemake

A, B = "KEMDy19", "KEMDy20"
PLAN = TransferPlan(("v",), (A, B), True, 1, 2, 0)


def in_corpus_runs(tmp_path):
    """What the report hands transfer_section: its runs, with folds allowed missing."""
    return collect_runs(tmp_path / "runs", ["v"], [0, 1], allow_missing=True)


def two_releases(n_sessions: int = 6, per_session: int = 10, seed: int = 0,
                 lacks: str | None = "fear") -> pd.DataFrame:
    """new_data.csv's identifying columns for two releases; KEMDy19 lacks `lacks`."""
    rng = np.random.default_rng(seed)
    rows = []
    for dataset in (A, B):
        classes = [c for c in CLASSES if not (dataset == A and c == lacks)]
        for s in range(1, n_sessions + 1):
            rows += [(dataset, f"{dataset}_S{s}_{i}", s, f"{dataset}{s}", rng.choice(classes))
                     for i in range(per_session)]
    return pd.DataFrame(rows, columns=["dataset", "segment_id", "session", "speaker", "label"])


# -- the session cut and each direction's tables --------------------------------------------


def test_each_release_is_cut_once_into_test_val_and_train_sessions():
    frame = two_releases()
    cut = split_sessions(frame, (A, B), 1, 2, seed=0)
    assert list(cut.columns) == ["dataset", "session", "role"]
    for dataset in (A, B):
        roles = cut[cut["dataset"] == dataset]["role"].value_counts().to_dict()
        assert roles == {"test": 2, "val": 1, "train": 3}
    pd.testing.assert_frame_equal(cut, split_sessions(frame.sample(frac=1, random_state=1),
                                                      (A, B), 1, 2, seed=0))  # row order
    assert not cut.equals(split_sessions(frame, (A, B), 1, 2, seed=1))


def test_too_few_sessions_is_refused_naming_the_key():
    with pytest.raises(InputError, match=r"key 'transfer.test_sessions'.*KEMDy19 has 3 "
                       r"sessions: transfer.test_sessions 2") as err:
        split_sessions(two_releases(n_sessions=3), (A, B), 1, 2, seed=0)
    assert "lower transfer.test_sessions" in str(err.value)
    with pytest.raises(InputError, match="no segment of KEMDy19"):
        split_sessions(two_releases().query("dataset == @B"), (A, B), 1, 1, seed=0)


def parts(frame, cut, d):
    """{(dataset, role): part} of every row a direction keeps."""
    data, folds = direction_tables(frame, cut, d)
    assert list(data["segment_id"]) == list(folds["segment_id"])
    train_, val, test = split_masks(folds, 0)
    part = np.select([train_, val, test], ["train", "val", "test"], "")
    role = folds.merge(cut, on=["dataset", "session"], how="left")["role"]
    return {key: set(p) for key, p in pd.Series(part).groupby([folds["dataset"].to_numpy(),
                                                                role.to_numpy()])}


def test_source_to_target_trains_on_the_source_and_tests_on_all_the_target():
    frame = two_releases()
    cut = split_sessions(frame, (A, B), 1, 2, seed=0)
    assert parts(frame, cut, Direction(A, B)) == {
        (A, "train"): {"train"}, (A, "val"): {"val"}, (A, "test"): {"test"},
        (B, "train"): {"test"}, (B, "val"): {"test"}, (B, "test"): {"test"}}
    tested = segments_tested(frame, cut, Direction(A, B))
    assert tested >= set(frame.loc[frame["dataset"] == B, "segment_id"])


def test_then_fine_tunes_on_the_target_and_leaves_the_sources_training_out():
    frame = two_releases()
    cut = split_sessions(frame, (A, B), 1, 2, seed=0)
    assert parts(frame, cut, Direction(A, B, sequential=True)) == {
        (A, "test"): {"test"},  # the first release's held-out sessions: what survives
        (B, "train"): {"train"}, (B, "val"): {"val"}, (B, "test"): {"test"}}
    # the same held-out sessions as the source-only run's own cell
    a_test = {s for s in segments_tested(frame, cut, Direction(A, B)) if s.startswith(A)}
    assert a_test == {s for s in segments_tested(frame, cut, Direction(A, B, True))
                      if s.startswith(A)}


# -- the config section ---------------------------------------------------------------------


def demo_config() -> dict:
    from snakemake.utils import validate

    config = yaml.safe_load((REPO / "configs/demo-transfer.yaml").read_text())
    validate(config, str(REPO / "schemas/config.schema.yaml"))
    return config


def planned(config):
    from kemdy.config import datasets

    plans = {v: plan_variant(config, v) for v in config["variants"]}
    return plan_transfer(config, plans, datasets(config))


def test_the_demo_plans_four_directions_per_variant():
    plan = planned(demo_config())
    assert plan.variants == ("text_ce", "mm_ce") and plan.datasets == (A, B)
    assert [d.name for d in plan.directions] == [
        "KEMDy19-to-KEMDy20", "KEMDy20-to-KEMDy19", "KEMDy19-then-KEMDy20", "KEMDy20-then-KEMDy19"]
    assert plan.direction("KEMDy19-then-KEMDy20").init.name == "KEMDy19-to-KEMDy20"
    config = demo_config()
    config["transfer"]["sequential"] = False
    assert len(planned(config).directions) == 2
    del config["transfer"]
    assert planned(config) is None


@pytest.mark.parametrize("change, key, says", [
    (lambda c: c.update(datasets=c["datasets"][1:]), "transfer", "needs two datasets"),
    (lambda c: c["transfer"].update(variants=["nope"]), "transfer.variants", "not a variant"),
    (lambda c: c["transfer"].update(variants=[]), "transfer.variants", "is empty"),
    (lambda c: c["variants"]["mm_ce"].update(two_stage=True, loss="soft_bce"),
     "variants.mm_ce.two_stage", "is two-stage"),
    (lambda c: c["variants"]["mm_ce"].update(sweep={"lr": [1e-3, 2e-3]}),
     "variants.mm_ce.sweep", "has a sweep"),
    (lambda c: c["variants"]["mm_ce"].update(seeds=[1, 2]), "variants.mm_ce.seeds",
     "several seeds"),
    (lambda c: c["train"].update(seeds=[1, 2]), "train.seeds", "several seeds"),
    (lambda c: c["transfer"].update(test_sessions=5, val_sessions=3),
     "transfer.test_sessions", "leave no training session"),
])
def test_what_transfer_cannot_run_is_refused_before_any_job_naming_the_key(change, key, says):
    config = copy.deepcopy(demo_config())
    change(config)
    with pytest.raises(InputError, match=re.escape(says)) as err:
        planned(config)
    assert err.value.key == key


# -- train.py on a direction's tables, and --init-from ---------------------------------------


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A toy workspace whose sessions 1-4 are KEMDy19 and 5-8 KEMDy20 (numbered 1-4 again),
    with each direction's tables."""
    out = tmp_path_factory.mktemp("transfer_ws")
    paths = toy_workspace(out, n_sessions=8, per_session=8)
    data = pd.read_csv(paths["data"], dtype={"segment_id": str})
    later = data["session"] > 4
    data["dataset"] = np.where(later, B, A)
    data["session"] = np.where(later, data["session"] - 4, data["session"])
    data.to_csv(paths["data"], index=False)
    cut = split_sessions(data, (A, B), 1, 1, seed=0)
    for d in TransferPlan((), (A, B), True, 1, 1, 0).directions:
        table, folds = direction_tables(data, cut, d)
        paths[d.name] = {"data": str(out / f"{d.name}.data.csv"),
                         "folds": str(out / f"{d.name}.folds.csv")}
        table.to_csv(paths[d.name]["data"], index=False)
        folds.to_csv(paths[d.name]["folds"], index=False)
    paths["cut"], paths["frame"] = cut, data
    return paths


SPEC = {"modality": "text", "loss": "ce", "epochs": 2, "lr": 3e-3, "batch_size": 8,
        "max_len": 32, "patience": 5, "seed": 3}


def transfer_argv(ws, tmp_path, name, init_from=None, spec=SPEC):
    argv = train_args({**ws, **ws[name]}, tmp_path / name, "v", spec)
    return argv + (["--init-from", str(init_from)] if init_from else [])


def test_train_runs_unchanged_on_a_direction_and_sequential_starts_from_its_model(
        ws, tmp_path, capsys):
    source = train.main(transfer_argv(ws, tmp_path, "KEMDy19-to-KEMDy20"))
    preds = pd.read_csv(tmp_path / "KEMDy19-to-KEMDy20/out/predictions.csv", dtype=str)
    d = Direction(A, B)
    assert set(preds["segment_id"]) == segments_tested(ws["frame"], ws["cut"], d)
    assert source["fold"] == 0
    model = tmp_path / "KEMDy19-to-KEMDy20/model"
    trained_on = json.loads((model / "model.json").read_text())["trained_on"]
    assert trained_on and all(s.startswith(f"{A}/") for s in trained_on)  # never the target's
    capsys.readouterr()
    after = train.main(transfer_argv(ws, tmp_path, "KEMDy19-then-KEMDy20", model))
    assert f"initialised from {model}" in capsys.readouterr().err
    # what the fine-tuned weights saw: KEMDy20's sessions and, through its start, KEMDy19's
    chained = json.loads((tmp_path / "KEMDy19-then-KEMDy20/model/model.json").read_text())
    assert set(trained_on) < set(chained["trained_on"])
    assert any(s.startswith(f"{B}/") for s in chained["trained_on"])
    fresh = train.main(transfer_argv(ws, tmp_path / "fresh", "KEMDy19-then-KEMDy20"))
    assert after["n_test"] == fresh["n_test"]  # the same job, but for its start
    probs = [pd.read_csv(p / "KEMDy19-then-KEMDy20/out/predictions.csv").filter(like="prob_")
             for p in (tmp_path, tmp_path / "fresh")]
    assert not np.allclose(probs[0].to_numpy(), probs[1].to_numpy())
    # a model of another spec is refused before any epoch
    with pytest.raises(InputError, match=r"--init-from: another model.*spec differs in lr"):
        train.main(transfer_argv(ws, tmp_path / "other", "KEMDy19-then-KEMDy20", model,
                                 {**SPEC, "lr": 1e-3}))
    assert not (tmp_path / "other/KEMDy19-then-KEMDy20/out").exists()


class Tiny(torch.nn.Module):
    def __init__(self, width=3):
        super().__init__()
        self.head = torch.nn.Linear(width, 2)
        self.frozen = torch.nn.Linear(2, 2).requires_grad_(False)


class Task:
    classes = ["neutral", "not_neutral"]

    @staticmethod
    def sessions(*parts):
        assert parts == ("test",)
        return ["KEMDy20/7", "KEMDy20/8"]


def export(folder, model, spec, shape=None, fp="abc", trained_on=("KEMDy19/1", "KEMDy20/7")):
    card = {"variant": "v", "fold": 0, "stage": None, "spec": spec, "classes": Task.classes,
            "shape": shape or {"text_dim": 3}, "varies": [],
            "encoders": {"text": {"name": "t", "path": None, "fingerprint": fp}, "audio": None},
            "best_epoch": 1, **({} if trained_on is None else {"trained_on": list(trained_on)})}
    write_export(folder, {n: p for n, p in model.named_parameters() if p.requires_grad}, card)


def test_init_from_loads_the_trainable_weights_and_refuses_another_model(tmp_path, capsys):
    spec = {"modality": "text", "lr": 1e-3}
    source, target = Tiny(), Tiny()
    # a model trained or validated on one of the job's test sessions is refused, named
    export(tmp_path / "seen", source, spec)
    with pytest.raises(InputError, match=re.escape("trained or validated on 1 of this job's "
                                                   "test sessions (KEMDy20/7)")) as err:
        init.load(target, tmp_path / "seen", spec, Task, {"text_dim": 3}, {"text": "abc"}, None)
    assert err.value.key == "--init-from"
    # a model.json before trained_on, or naming sessions without their dataset: said, loaded
    for name, seen in (("old", None), ("bare", ("1", "7"))):
        export(tmp_path / name, source, spec, trained_on=seen)
        init.load(Tiny(), tmp_path / name, spec, Task, {"text_dim": 3}, {"text": "abc"}, None)
        assert "cannot check that its test sessions are new to it" in capsys.readouterr().err
    export(tmp_path / "m", source, spec, trained_on=("KEMDy19/1", "KEMDy19/2"))
    assert init.load(target, None, spec, Task, {}, {}, None) == []
    files = init.load(target, tmp_path / "m", spec, Task, {"text_dim": 3}, {"text": "abc"}, None)
    assert files == [str(tmp_path / "m" / "model.safetensors")]
    assert torch.equal(target.head.weight, source.head.weight)
    assert not torch.equal(target.frozen.weight, source.frozen.weight)  # not exported
    cases = [({**spec, "lr": 2e-3}, {"text_dim": 3}, {"text": "abc"}, Tiny(), "spec differs in lr"),
             (spec, {"text_dim": 4}, {"text": "abc"}, Tiny(), "its shape is"),
             (spec, {"text_dim": 3}, {"text": "xyz"}, Tiny(), "text encoder is another one"),
             (spec, {"text_dim": 3}, {"text": "abc"}, Tiny(width=4), "not this model's trainable")]
    for job_spec, shape, fps, model, says in cases:
        with pytest.raises(InputError, match=re.escape(says)) as err:
            init.load(model, tmp_path / "m", job_spec, Task, shape, fps, None)
        assert err.value.key == "--init-from"


# -- the matrix's figures --------------------------------------------------------------------


def test_macro_f1_counts_only_the_classes_in_the_test_labels():
    label = ["happy", "happy", "sad", "neutral", "neutral", "neutral"]
    pred = ["happy", "fear", "sad", "neutral", "fear", "sad"]  # fear: absent from the labels
    from kemdy.metrics import confusion

    cm = confusion(label, pred, CLASSES)
    present = sorted(set(label))
    assert scores.present_macro_f1(cm) == pytest.approx(
        f1_score(label, pred, labels=present, average="macro", zero_division=0))
    # scikit-learn's default counts fear at 0: the figure left out is lower
    assert f1_score(label, pred, average="macro", zero_division=0) < scores.present_macro_f1(cm)
    assert scores.absent(label) == "surprise angry disgust fear"


def test_session_intervals_are_the_reports_draws():
    rng = np.random.default_rng(1)
    label = rng.choice(CLASSES, 300)
    pred = np.where(rng.random(300) < 0.6, label, rng.choice(CLASSES, 300))
    groups = rng.integers(0, 12, 300).astype(str)
    got = scores.session_figures(label, pred, groups, 300, seed=4)
    want = bootstrap_interval(label, pred, groups, 300, seed=4)  # all classes present
    for m in scores.MEASURES:
        assert got[m] == pytest.approx(want[m]["value"])
        assert (got[f"{m}_lo"], got[f"{m}_hi"]) == pytest.approx((want[m]["lo"], want[m]["hi"]))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(label, pred))
    paired = scores.session_figures(label, pred, groups, 300, seed=4, reference=label)
    assert paired["delta_f1_macro"] == pytest.approx(1 - got["f1_macro"])
    assert paired["delta_f1_macro_lo"] <= paired["delta_f1_macro"] <= paired["delta_f1_macro_hi"]


def test_every_draw_averages_over_the_whole_cells_classes():
    """fear occurs in one session of six only: a draw without that session still counts fear
    (at 0), as f1_score(labels=the cell's classes) of the resampled rows does; it does not
    average over fewer classes than the point estimate."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(6), 20).astype(str)
    label = rng.choice(["neutral", "happy", "sad"], len(groups))
    label[:3] = "fear"  # session 0 only
    pred = np.where(rng.random(len(groups)) < 0.7, label, rng.choice(CLASSES, len(groups)))
    pred[:3] = "neutral"  # fear never predicted, so a draw without session 0 lacks it
    got = scores.session_figures(label, pred, groups, 200, seed=5)
    present = sorted(set(label))
    _, g = np.unique(groups, return_inverse=True)
    draws = np.random.default_rng(5).multinomial(6, np.full(6, 1 / 6), size=200)
    want = [f1_score(label, pred, labels=present, average="macro", zero_division=0,
                     sample_weight=w[g]) for w in draws]
    assert any(w[0] == 0 for w in draws)  # the case this test is about
    assert (got["f1_macro_lo"], got["f1_macro_hi"]) == pytest.approx(
        tuple(np.percentile(want, [2.5, 97.5])), abs=1e-12)


def test_one_macro_f1_with_a_class_set():
    """transfer's present_macro_f1 is metrics.macro_f1_of over the classes in the labels."""
    from kemdy.metrics import confusion, macro_f1_of

    label = ["happy", "happy", "sad", "neutral"]
    pred = ["happy", "fear", "sad", "sad"]
    cm = confusion(label, pred, CLASSES)
    over = np.isin(CLASSES, ["happy", "sad", "neutral", "angry"])
    assert macro_f1_of(cm, over) == pytest.approx(f1_score(
        label, pred, labels=["happy", "sad", "neutral", "angry"], average="macro",
        zero_division=0))
    assert np.isnan(macro_f1_of(cm, np.zeros(len(CLASSES), bool)))
    assert scores.present_macro_f1(cm) == macro_f1_of(cm, cm.sum(-1) > 0)
    assert macro_f1_of(cm) == pytest.approx(f1_score(label, pred, average="macro",
                                                     zero_division=0))


def toy_runs(frame, cut, seed=0):
    """Predictions of every direction (right half the time), and perfect in-corpus ones."""
    rng = np.random.default_rng(seed)
    runs = {}
    for d in PLAN.directions:
        ids = sorted(segments_tested(frame, cut, d))
        label = frame.set_index("segment_id").loc[ids, "label"].to_numpy()
        pred = np.where(rng.random(len(ids)) < 0.5, label, rng.choice(CLASSES, len(ids)))
        runs[("v", d.name)] = pd.DataFrame({"segment_id": ids, "label": label, "pred": pred})
    return runs, {"v": frame[["segment_id", "label"]].assign(pred=frame["label"])}


def test_the_matrix_rows_drops_survival_and_label_differences():
    frame = two_releases()
    cut = split_sessions(frame, (A, B), 1, 2, seed=0)
    runs, folds = toy_runs(frame, cut)
    table = scores.matrix(PLAN, frame, cut, runs, folds, 200, 0)
    assert list(table.columns) == scores.COLUMNS
    cell = table.set_index(["trained_on", "tested_on"])
    assert list(dict.fromkeys(table["trained_on"])) == [
        A, B, "both", f"{A} then {B}", f"{B} then {A}"]
    # trained on KEMDy19: its held-out sessions, and every session of KEMDy20
    assert cell.loc[(A, A), "sessions_tested"] == "held-out test"
    assert cell.loc[(A, A), "n_sessions"] == 2 and cell.loc[(A, B), "n_sessions"] == 6
    assert cell.loc[(A, B), "sessions_tested"] == "all" and cell.loc[(A, B), "n_segments"] == 60
    mine = runs[("v", "KEMDy19-to-KEMDy20")]
    mine = mine[mine["segment_id"].str.startswith(B)]
    assert cell.loc[(A, B), "f1_macro"] == pytest.approx(f1_score(
        mine["label"], mine["pred"], labels=sorted(set(mine["label"])), average="macro",
        zero_division=0))
    # the in-corpus folds are perfect here: the drop is 1 - the cell
    assert cell.loc[(A, B), "in_corpus_f1_macro"] == 1.0
    assert cell.loc[(A, B), "drop_f1_macro"] == pytest.approx(1 - cell.loc[(A, B), "f1_macro"])
    assert np.isnan(cell.loc[("both", A), "drop_f1_macro"])
    # KEMDy19 lacks fear: named where it is tested and where it is learnt from, never merged
    assert cell.loc[(B, A), "absent_from_test"] == "fear" and cell.loc[(B, B), "absent_from_test"] == ""
    assert cell.loc[(A, B), "absent_from_training"] == "fear"
    assert cell.loc[(f"{A} then {B}", A), "absent_from_training"] == ""
    # sequential: on its first release, before (the source-only model, the same segments)
    seq = cell.loc[(f"{A} then {B}", A)]
    assert seq["before_f1_macro"] == pytest.approx(cell.loc[(A, A), "f1_macro"])
    assert seq["kept_f1_macro"] == pytest.approx(seq["f1_macro"] / seq["before_f1_macro"])
    assert seq["lost_f1_macro"] == pytest.approx(seq["before_f1_macro"] - seq["f1_macro"])
    assert np.isnan(cell.loc[(f"{A} then {B}", B), "before_f1_macro"])


# -- the report ------------------------------------------------------------------------------


def write_results(tmp_path, frame, cut, runs, folds):
    """A results tree of the toy matrix: new_data.csv, sessions.csv, every run, matrix.csv."""
    data = tmp_path / "data"
    (data / "transfer").mkdir(parents=True)
    frame.to_csv(data / "new_data.csv", index=False)
    cut.to_csv(data / "transfer/sessions.csv", index=False)
    for (variant, name), preds in runs.items():
        write_run(run_dir(tmp_path / "transfer", variant, name),
                  {"variant": variant, "fold": 0, **score_predictions(preds)}, preds,
                  history_frame([]))
    for k in (0, 1):  # the in-corpus folds
        part = folds["v"].iloc[k::2]
        write_run(tmp_path / "runs/v" / f"fold{k}", {"variant": "v", "fold": k,
                                                     **score_predictions(part)}, part,
                  history_frame([]))
    table = scores.matrix(PLAN, frame, cut, runs, folds, 200, 0)
    scores.write(table, tmp_path / "transfer/matrix.csv")
    return table


def test_the_report_recomputes_every_cell_and_notes_what_disagrees(tmp_path):
    frame = two_releases()
    cut = split_sessions(frame, (A, B), 1, 2, seed=0)
    runs, folds = toy_runs(frame, cut)
    write_results(tmp_path, frame, cut, runs, folds)
    config = {"transfer": {"variants": ["v"], "test_sessions": 2},
              "datasets": [{"kind": "kemdy19", "root": "/x/19"}, {"kind": "kemdy20", "root": "/x/20"}],
              "folds": {"seed": 0}}
    matrix = tmp_path / "transfer/matrix.csv"

    def section():
        notes = []
        out = transfer_section(matrix, tmp_path / "data", in_corpus_runs(tmp_path), config,
                               [0, 1], 200, 0, notes)
        return out, notes

    out, notes = section()
    assert notes == [] and out["rows"][2] == "both"
    assert out["cells"][("v", A, B)]["present"] and out["roles"][A]["test"]
    # a figure edited in matrix.csv
    table = pd.read_csv(matrix)
    table.loc[0, "f1_macro"] += 0.01
    table.to_csv(matrix, index=False)
    _, notes = section()
    assert len(notes) == 1 and "f1_macro disagree" in notes[0] and "KEMDy19, tested on KEMDy19" in notes[0]
    # a run tested on other segments than its direction's
    folder = run_dir(tmp_path / "transfer", "v", "KEMDy20-to-KEMDy19")
    short = runs[("v", "KEMDy20-to-KEMDy19")].iloc[1:]
    write_run(folder, {"variant": "v", "fold": 0, **score_predictions(short)}, short,
              history_frame([]))
    out, notes = section()
    assert any("KEMDy20-to-KEMDy19 tests" in n and "1 missing" in n for n in notes)
    assert not out["cells"][("v", B, A)]["present"]


def test_missing_runs_raise_no_spurious_disagreement(tmp_path):
    """A missing direction run and missing in-corpus folds: matrix.csv reads their cells' text
    back as "", the recomputation must say the same, so the only notes are the missing runs."""
    frame = two_releases()
    cut = split_sessions(frame, (A, B), 1, 2, seed=0)
    runs, folds = toy_runs(frame, cut)
    del runs[("v", f"{B}-to-{A}")]
    write_results(tmp_path, frame, cut, runs, folds)
    shutil.rmtree(tmp_path / "runs/v/fold1")  # the in-corpus folds: one missing
    scores.write(scores.matrix(PLAN, frame, cut, runs, {"v": None}, 200, 0),
                 tmp_path / "transfer/matrix.csv")
    config = {"transfer": {"variants": ["v"], "test_sessions": 2},
              "datasets": [{"kind": "kemdy19", "root": "/x/19"},
                           {"kind": "kemdy20", "root": "/x/20"}], "folds": {"seed": 0}}
    notes = []
    out = transfer_section(tmp_path / "transfer/matrix.csv", tmp_path / "data",
                           in_corpus_runs(tmp_path), config, [0, 1], 200, 0, notes)
    assert not [n for n in notes if "disagree" in n], notes
    assert len(notes) == 1 and f"{B}-to-{A}" in notes[0]
    assert not out["cells"][("v", "both", A)]["present"]
    # the held-out cells are tested on 2 sessions: 3 distinct resamples, marked rough
    held = out["cells"][("v", A, A)]
    assert held["n_sessions"] == 2 and held["few_sessions"] and held["resamples"] == 3
    assert not out["cells"][("v", A, B)]["few_sessions"]  # 6 sessions


# -- the workflow's plan ---------------------------------------------------------------------


def test_a_dry_run_plans_each_direction_where_the_layout_says(tmp_path):
    config = demo_config()
    config["transfer"]["variants"] = ["text_ce"]
    proc = snakemake(copy_workflow(tmp_path, config), "-n", "-p")
    jobs = re.findall(r"rule train_transfer:\n(?:.*\n)*?\s+output: (\S+), (\S+), (\S+), (\S+)\n"
                      r"(?:.*\n)*?\s+wildcards: variant=(\w+), direction=([\w-]+), fold=0",
                      proc.stdout)
    assert {j[5] for j in jobs} == {d.name for d in planned(config).directions}
    for *outputs, variant, direction in jobs:
        run = layout.fill(layout.transfer_run_dir(), variant=variant, direction=direction, fold=0)
        model = layout.fill(layout.transfer_model_dir(), variant=variant, direction=direction,
                            fold=0)
        assert set(outputs) == {*layout.run_files(run).values(), model}
    seq = re.search(r"--folds results/data/transfer/KEMDy19-then-KEMDy20/folds.csv"
                    r" --init-from (\S+)", proc.stdout)
    assert seq[1] == "results/transfer/models/text_ce/KEMDy19-to-KEMDy20/fold0"
    assert "--transfer results/transfer/matrix.csv" in proc.stdout
    assert re.search(r"Job stats:(.*\n)*?train_transfer\s+4\n", proc.stdout)


def test_the_report_shows_the_matrix_with_its_method(tmp_path):
    # render_report.py --transfer on test_render_report's fixture, its sessions split into
    # two releases (odd: KEMDy19, even: KEMDy20)
    import render_report
    import summarize
    from test_render_report import make_fixture, report_args
    from test_summarize import FOLDS, VARIANTS

    p = make_fixture(tmp_path)
    new = pd.read_csv(p["data"] / "new_data.csv", dtype={"segment_id": str})
    new["dataset"] = np.where(new["session"] % 2, A, B)
    new["speaker"] = new["dataset"] + new["session"].astype(str)
    new.to_csv(p["data"] / "new_data.csv", index=False)
    config = json.loads(p["config"].read_text())
    del config["dataset"]
    config["datasets"] = [{"kind": "synthetic", "format": "kemdy19", "root": "r/KEMDy19"},
                          {"kind": "synthetic", "format": "kemdy20", "root": "r/KEMDy20"}]
    config["transfer"] = {"variants": ["text_ce"], "test_sessions": 1}
    p["config"].write_text(json.dumps(config))
    plan = TransferPlan(("text_ce",), (A, B), True, 1, 1, 0)
    cut = split_sessions(new, (A, B), 1, 1, seed=0)
    (p["data"] / "transfer").mkdir()
    cut.to_csv(p["data"] / "transfer/sessions.csv", index=False)
    runs, _ = toy_runs(new, cut)
    runs = {("text_ce", name): preds for (_, name), preds in runs.items()}
    root = tmp_path / "transfer"
    for (variant, name), preds in runs.items():
        write_run(run_dir(root, variant, name),
                  {"variant": variant, "fold": 0, **score_predictions(preds)}, preds,
                  history_frame([]))
    from kemdy.transfer.runs import in_corpus

    table = scores.matrix(plan, new, cut, runs, in_corpus(p["runs"], ["text_ce"], FOLDS),
                          400, 0)
    scores.write(table, root / "matrix.csv")
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS), "--folds",
                    ",".join(map(str, FOLDS)), "--out", str(p["summary"])])
    render_report.main(report_args(p, "--transfer", str(root / "matrix.csv")))
    html = p["out"].read_text()
    assert 'id="transfer"' in html and 'href="#transfer"' in html
    assert 'id="checks"' not in html  # every cell recomputed as matrix.csv holds it
    assert "Label differences are not merged" in html
    cell = table.set_index(["trained_on", "tested_on"]).loc[(A, B)]
    span = re.search(r'data-trained-on="KEMDy19" data-tested-on="KEMDy20"[^>]*>\s*<span '
                     r'data-measure="f1_macro" data-value="([^"]+)"', html)
    assert float(span[1]) == pytest.approx(cell["f1_macro"])
    assert 'data-measure="kept_f1_macro"' in html and "in-corpus folds" in html
    # three sessions per release: an interval from C(5, 3) = 10 distinct resamples, marked
    assert 'data-few-sessions="10"' in html and "from 10 distinct resamples: rough" in html
