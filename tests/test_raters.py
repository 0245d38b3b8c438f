"""The raters' ceiling: each rater against the leave-one-out consensus of the others
(kemdy/labels/raters.py, scripts/score_raters.py) and its place in the report
(kemdy/report/raters.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

import render_report
import score_raters
import summarize
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.labels import raters as R
from kemdy.labels.relabel import relabel, write
from kemdy.labels.rowwise import random_votes
from kemdy.report.raters import agreement_shares
from test_aggregate_labels import segments_table
from test_render_report import Elements, make_fixture, pooled, report_args
from test_summarize import FOLDS, VARIANTS, true_labels

N, H, SU, A, SAD = range(5)  # class codes in CLASSES order
_ = -1  # missing vote


def ceiling(segments, method="wawa", min_votes=3, min_segments=0, names=None):
    """(new_data, raters_consensus, raters) as aggregate_labels and score_raters make them."""
    new_data, _, _ = relabel(segments, method, min_votes)
    consensus = R.consensus_table(segments, new_data, method, min_votes)
    return new_data, consensus, R.score(segments, consensus, names, min_segments)


def without(segments, slot):
    """segments.csv with one rater's votes removed, as if it had never rated."""
    return segments.assign(**{f"{slot}_emotion": np.nan})


@pytest.mark.parametrize("method", ["wawa", "majority", "dawid_skene"])
def test_a_rater_equal_to_the_others_consensus_scores_one(method):
    codes = random_votes(200, 6, seed=3, missing=0.0)
    segments = segments_table(codes)
    # e01 votes exactly what aggregate_labels gives without it
    others, _, _ = relabel(without(segments, "e01"), method, 3)
    segments["e01_emotion"] = others["label"].to_numpy()
    _, consensus, table = ceiling(segments, method)
    assert (consensus["e01"] == others["label"]).all()
    row = table.set_index("slot").loc["e01"]
    assert row["n"] == 200 and bool(row["included"])
    for m in R.HEADLINE:
        assert row[m] == 1.0, m
    assert all(row[f"f1_{c}"] in (0.0, 1.0) for c in CLASSES)  # 0: a class nobody voted
    assert (table.set_index("slot").drop("e01")["f1_macro"] < 1).all()


def test_the_consensus_leaves_the_rater_out():
    """On segment 0 e01's vote alone makes sad the full consensus; without it the others tie
    (happy, sad, angry: the first class wins), so e01 gets no credit from its own vote."""
    codes = np.array([
        [SAD, H, SAD, A],   # full consensus sad; the others' consensus happy
        [N, N, N, N],
        [N, N, N, N],
        [H, H, H, H],
        [N, N, N, _],       # labelled (3 votes with e01's): the others cast 2 < min_votes
    ])  # fmt: skip
    segments = segments_table(codes)
    new_data, consensus, table = ceiling(segments, "majority", min_votes=3)
    assert new_data["label"].tolist() == ["sad", "neutral", "neutral", "happy", "neutral"]
    assert consensus["e01"].tolist() == ["happy", "neutral", "neutral", "happy", ""]
    row = table.set_index("slot").loc["e01"]
    assert row["n"] == 4 and row["accuracy"] == 0.75
    # e04 did not vote on segment 4: not scored there
    assert consensus["e04"].tolist() == ["sad", "neutral", "neutral", "happy", ""]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("method", ["wawa", "dawid_skene"])
def test_figures_equal_sklearn_and_the_consensus_is_relabel_without_the_rater(method):
    codes = random_votes(400, 10, seed=5, missing=0.05)
    segments = segments_table(codes)
    new_data, consensus, table = ceiling(segments, method)
    assert consensus["segment_id"].tolist() == new_data["segment_id"].tolist()
    for slot in ("e02", "e07"):
        alone, _, _ = relabel(without(segments, slot), method, 3)
        voted = segments[f"{slot}_emotion"].notna().to_numpy()
        assert (consensus.loc[voted, slot] == alone.loc[voted, "label"]).all()
        assert (consensus.loc[~voted, slot] == "").all()
    for _, row in table.iterrows():
        scored = consensus[row["slot"]] != ""
        y = consensus.loc[scored, row["slot"]]
        p = segments.loc[scored, f"{row['slot']}_emotion"]
        assert row["n"] == scored.sum()
        assert row["f1_macro"] == pytest.approx(f1_score(y, p, average="macro",
                                                         zero_division=0), abs=1e-12)
        assert row["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p),
                                                         abs=1e-12)
        assert row["accuracy"] == pytest.approx(accuracy_score(y, p), abs=1e-12)
        per_class = f1_score(y, p, labels=CLASSES, average=None, zero_division=0)
        assert [row[f"f1_{c}"] for c in CLASSES] == pytest.approx(per_class, abs=1e-12)


def test_labels_built_another_way_are_refused():
    codes = random_votes(300, 5, seed=1, missing=0.05)
    segments = segments_table(codes)
    majority, _, _ = relabel(segments, "majority", 3)
    wawa, _, _ = relabel(segments, "wawa", 3)
    assert (majority["label"] != wawa["label"]).any()
    with pytest.raises(InputError, match="labels.method wawa") as err:
        R.consensus_table(segments, majority, "wawa", 3)
    assert err.value.key == "labels.method"
    with pytest.raises(InputError, match="min_votes 2"):  # another min_votes: another set
        R.consensus_table(segments, majority.iloc[1:], "majority", 2)


def write_inputs(tmp_path, segments, method="wawa", names=None):
    new_data, evaluators, agreement = relabel(segments, method, 3)
    paths = {k: tmp_path / f"{k}.csv" for k in ("segments", "new_data", "raters", "consensus")}
    segments.to_csv(paths["segments"], index=False)
    write(new_data, evaluators, agreement, paths["new_data"], tmp_path / "evaluators.csv",
          tmp_path / "agreement.json")
    paths["ingest"] = tmp_path / "ingest.json"
    paths["ingest"].write_text(json.dumps({"evaluators": names or {}}))
    return paths


def cli(paths, *extra):
    score_raters.main(["--segments", str(paths["segments"]), "--new-data",
                       str(paths["new_data"]), "--ingest", str(paths["ingest"]), "--out",
                       str(paths["raters"]), "--consensus", str(paths["consensus"]), *extra])


def test_too_few_votes_leave_a_rater_out_by_name(tmp_path, capsys):
    codes = random_votes(300, 10, seed=2, missing=0.0)
    codes[40:, 2] = -1  # e03 rated only 40 segments
    names = {f"e{j:02d}": f"Eval{j:02d}" for j in range(1, 11)}
    paths = write_inputs(tmp_path, segments_table(codes), names=names)
    cli(paths, "--min-segments", "50")
    assert "left out (< 50 segments): Eval03" in capsys.readouterr().out
    table = R.read_raters(paths["raters"])
    assert table.loc[~table["included"], "rater"].tolist() == ["Eval03"]
    assert table.set_index("rater").loc["Eval03", "n"] == 40
    median, best = R.median_and_best(table, "KEMDy20")
    order = table[table["included"]].sort_values("f1_macro", ascending=False)
    assert best["rater"] == order["rater"].iloc[0] != "Eval03"
    assert median["rater"] == order["rater"].iloc[4]  # 9 raters: the fifth
    cli(paths, "--min-segments", "40")
    assert R.read_raters(paths["raters"])["included"].all()
    with pytest.raises(InputError, match="below 0"):
        cli(paths, "--min-segments", "-1")


def test_median_of_an_even_number_is_the_better_middle_one():
    table = pd.DataFrame({"dataset": "D", "rater": list("abcd"), "included": True,
                          "f1_macro": [0.4, 0.9, 0.6, 0.5]})
    median, best = R.median_and_best(table, "D")
    assert (median["rater"], best["rater"]) == ("c", "b")
    assert R.median_and_best(table.assign(included=False), "D") == (None, None)


def test_several_datasets_pool_the_consensus_and_add_all():
    """KEMDy19's raters e01-e04 and KEMDy20's e05-e08 never meet; the consensus is the
    pooled relabel (as aggregate_labels), each rater is scored on its own release, and
    `all` holds every rater once."""
    a = random_votes(150, 4, seed=7, missing=0.0)
    b = random_votes(120, 4, seed=8, missing=0.0)
    codes = np.full((270, 8), -1)
    codes[:150, :4], codes[150:, 4:] = a, b
    segments = segments_table(codes)
    segments.loc[:149, "dataset"] = "KEMDy19"
    segments["segment_id"] = [f"{d}_{i}" for i, d in enumerate(segments["dataset"])]
    _, consensus, table = ceiling(segments, "dawid_skene")
    alone, _, _ = relabel(without(segments, "e06"), "dawid_skene", 3)
    assert (consensus.loc[150:, "e06"] == alone.loc[150:, "label"]).all()
    assert (consensus.loc[:149, "e06"] == "").all()
    assert table.groupby("dataset")["slot"].apply(list).to_dict() == {
        "KEMDy19": ["e01", "e02", "e03", "e04"], "KEMDy20": ["e05", "e06", "e07", "e08"],
        "all": [f"e{j:02d}" for j in range(1, 9)]}
    own = table[table["dataset"] != "all"].set_index("slot").drop(columns="dataset")
    every = table[table["dataset"] == "all"].set_index("slot").drop(columns="dataset")
    pd.testing.assert_frame_equal(own, every)
    assert set(table.loc[table["dataset"] == "KEMDy19", "n"]) == {150}
    median, _ = R.median_and_best(table, "all")
    assert median["rater"] == every.sort_values("f1_macro", ascending=False).iloc[3]["rater"]


def test_agreement_shares_by_hand():
    preds = pd.DataFrame({"segment_id": list("abcdef"),
                          "pred": ["neutral", "happy", "sad", "sad", "angry", "fear"]})
    labels = pd.Series(["neutral", "happy", "happy", "sad", "angry", "fear"], index=list("abcdef"))
    votes = pd.Series(["neutral", "sad", "happy", "happy", "angry"], index=list("abcde"))
    # f: no vote. a, e: both right; b, d: only the model; c: only the rater
    shares = agreement_shares(preds, labels, votes, labels.drop("f"))
    assert shares == {"n": 5, "model_only": 2 / 5, "rater_only": 1 / 5}
    assert agreement_shares(preds, labels, votes[[]], labels)["n"] == 0


def test_agreement_shares_judge_the_rater_by_its_leave_one_out_consensus():
    """The rater's side uses raters_consensus.csv, as raters.csv does, not the full consensus
    its own vote helped make, and counts only the segments where that consensus exists."""
    preds = pd.DataFrame({"segment_id": list("abcd"), "pred": ["sad", "sad", "happy", "sad"]})
    full = pd.Series(["sad", "sad", "happy", "sad"], index=list("abcd"))  # the model: all right
    votes = pd.Series(["sad", "sad", "sad", "sad"], index=list("abcd"))
    # a: the others say happy (e.g. the rater's vote tipped the full consensus to sad);
    # c: the others say sad, the full consensus happy; d: the others reach no consensus
    loo = pd.Series(["happy", "sad", "sad", ""], index=list("abcd"))
    shares = agreement_shares(preds, full, votes, loo)
    # a: only the model right; b: both; c: both (rater right by its own reference)
    assert shares == {"n": 3, "model_only": 1 / 3, "rater_only": 0.0}


# --- the report ---------------------------------------------------------------------------


def report_data(p):
    """The render fixture's data re-made from votes: ten raters, six of them (drawn by skill)
    vote each segment's label, so the majority consensus is the label the runs were scored
    against; e10 votes on 30 segments only."""
    labels = true_labels(0)
    rng = np.random.default_rng(11)
    skill = np.linspace(1.0, 0.2, 10)
    codes = rng.integers(0, len(CLASSES), (len(labels), 10))
    for i, y in enumerate(labels["label"].map(CLASSES.index)):
        codes[i, rng.choice(10, 6, replace=False, p=skill / skill.sum())] = y
    codes[30:, 9] = -1
    segments = segments_table(codes)
    segments["segment_id"], segments["session"] = labels["segment_id"], labels["session"]
    new_data, evaluators, agreement = relabel(segments, "majority", 3)
    assert (new_data["label"] == labels["label"]).all()
    segments.to_csv(p["data"] / "segments.csv", index=False)
    write(new_data, evaluators, agreement, p["data"] / "new_data.csv",
          p["data"] / "evaluators.csv", p["data"] / "agreement.json")
    config = json.loads(p["config"].read_text())
    p["config"].write_text(json.dumps({**config, "raters": {"min_segments": 100}}))
    p["raters"] = p["data"] / "raters.csv"
    score_raters.main(["--segments", str(p["data"] / "segments.csv"), "--new-data",
                       str(p["data"] / "new_data.csv"), "--method", "majority",
                       "--min-segments", "100", "--out", str(p["raters"]),
                       "--consensus", str(p["data"] / "raters_consensus.csv")])
    return segments


def render(p):
    render_report.main(report_args(p, "--raters", str(p["raters"])))
    return Elements(p["out"].read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def with_raters(tmp_path_factory):
    p = make_fixture(tmp_path_factory.mktemp("raters_report"))
    segments = report_data(p)
    summarize.main(["--runs-dir", str(p["runs"]), "--variants", ",".join(VARIANTS),
                    "--folds", ",".join(map(str, FOLDS)), "--out", str(p["summary"])])
    return p, segments, render(p)


def by_fold(p, segments):
    """Every rater's fold mean and std of the headline measures, by hand with scikit-learn
    from raters_consensus.csv, segments.csv's votes and folds.csv (the fixture's FOLDS)."""
    consensus = R.read_consensus(p["data"] / "raters_consensus.csv")
    fold = consensus["segment_id"].map(
        pd.read_csv(p["data"] / "folds.csv", dtype={"segment_id": str})
        .set_index("segment_id")["fold"])
    votes = segments.set_index("segment_id")
    measures = {"f1_macro": lambda y, q: f1_score(y, q, average="macro", zero_division=0),
                "balanced_accuracy": balanced_accuracy_score, "accuracy": accuracy_score}
    out = {}
    for slot in [c for c in consensus.columns if c.startswith("e")]:
        figures = {m: [] for m in measures}
        for k in FOLDS:
            part = consensus[(fold == k) & (consensus[slot] != "")]
            if len(part):
                for m, f in measures.items():
                    figures[m].append(f(part[slot], votes.loc[part["segment_id"],
                                                               f"{slot}_emotion"]))
        out[slot] = {m: (np.mean(v), np.std(v, ddof=1) if len(v) > 1 else np.nan)
                     for m, v in figures.items() if v}
    return out


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_report_puts_the_median_and_best_rater_beside_the_variants(with_raters):
    """The headline's rater rows are on the variants' footing: mean ± std over the test folds
    (pooled macro-F1 runs above the fold mean with rare classes), the median and best chosen
    by the fold mean; the per-class rows stay pooled, as the variants' per-class rows."""
    p, segments, page = with_raters
    table = R.read_raters(p["raters"])
    hand = by_fold(p, segments)
    table["f1_macro_fold_mean"] = table["slot"].map(lambda s: hand[s]["f1_macro"][0])
    median, best = R.median_and_best(table, "KEMDy20", by="f1_macro_fold_mean")
    for role, q in (("median", median), ("best", best)):
        _, row, _ = page.one("tr", data_rater_role=role, data_rater=q["rater"])
        for m in ("f1_macro", "balanced_accuracy", "accuracy"):
            mean, std = hand[q["slot"]][m]
            _, cell, shown = page.one("td", data_rater_role=role, data_measure=m,
                                      data_mean=True, data_dataset=None)
            assert float(cell["data-mean"]) == pytest.approx(mean, abs=1e-12)
            assert float(cell["data-std"]) == pytest.approx(std, abs=1e-12)
            assert float(cell["data-pooled"]) == pytest.approx(q[m], abs=1e-12)
            assert shown == f"{mean:.3f} ± {std:.3f}"
        assert page.one("td", data_rater_role=role, data_n_folds=str(len(FOLDS)))
        for c in CLASSES:
            _, cell, _ = page.one("td", data_rater_role=role, data_rater_class=c)
            assert float(cell["data-value"]) == pytest.approx(q[f"f1_{c}"], abs=1e-12)
    assert page.find(id="checks") == []  # every consistency check holds


def test_report_shares_are_recomputable_from_the_files(with_raters):
    """The variant against new_data.csv's label, the median rater against its leave-one-out
    consensus, on the segments where that consensus exists."""
    p, segments, page = with_raters
    rater_name = page.one("tr", data_rater_role="median", data_rater=True)[1]["data-rater"]
    table = R.read_raters(p["raters"])
    slot = table.set_index("rater").loc[rater_name, "slot"]
    votes = segments.set_index("segment_id")[f"{slot}_emotion"]
    loo = R.read_consensus(p["data"] / "raters_consensus.csv").set_index("segment_id")[slot]
    labels = pd.read_csv(p["data"] / "new_data.csv").set_index("segment_id")["label"]
    for variant in VARIANTS:
        df = pooled(p["runs"], variant)
        df = df[df["segment_id"].map(loo).fillna("") != ""]
        model = df["pred"] == df["segment_id"].map(labels)
        rater = df["segment_id"].map(votes) == df["segment_id"].map(loo)
        assert page.one("td", data_variant=variant, data_share="n")[1]["data-value"] == str(
            len(df))
        for share, expected in (("model_only", (model & ~rater).mean()),
                                ("rater_only", (rater & ~model).mean())):
            _, cell, _ = page.one("td", data_variant=variant, data_share=share)
            assert float(cell["data-value"]) == pytest.approx(expected, abs=1e-12)


def test_report_names_the_left_out_rater_and_the_threshold(with_raters):
    _, _, page = with_raters
    assert page.one(id="raters-threshold")[2] == "100"
    _, attrs, text = page.one("span", data_left_out="e10")
    assert text == "e10 (KEMDy20, 30 segments)"
    assert "fewer than 100 scored test segments" in page.one("p", id="raters-left-out")[2]


def test_report_notes_a_raters_csv_out_of_step(with_raters, tmp_path):
    p, _, _ = with_raters
    table = pd.read_csv(p["raters"])
    p = {**p, "out": tmp_path / "summary.html", "plots": tmp_path / "plots",
         "raters": tmp_path / "raters.csv"}
    (tmp_path / "raters_consensus.csv").write_bytes(
        (p["data"] / "raters_consensus.csv").read_bytes())
    table.loc[table["slot"] == "e03", "f1_macro"] += 0.01
    table.loc[table["slot"] == "e10", "included"] = True
    table.to_csv(p["raters"], index=False)
    notes = render(p).one(id="checks")[2]
    assert "e03 (KEMDy20): f1_macro disagree" in notes
    assert "e10 (KEMDy20): included is True with n 30 and raters.min_segments 100" in notes


def test_report_without_folds_leaves_the_raters_out(with_raters, tmp_path):
    """No folds.csv (a partial report): no per-fold footing, so no rater rows at all."""
    p, _, _ = with_raters
    p = {**p, "data": tmp_path / "data", "out": tmp_path / "summary.html",
         "plots": tmp_path / "plots"}
    shutil.copytree(with_raters[0]["data"], p["data"])
    (p["data"] / "folds.csv").unlink()
    p["raters"] = p["data"] / "raters.csv"
    page = render(p)
    assert page.find("tr", data_rater_role="median") == [] and page.find(id="raters") == []


def test_report_with_two_releases_puts_all_raters_in_the_headline(with_raters, tmp_path):
    """Sessions 1-3 re-cast as KEMDy19, rated by ten other people (slots e11-e20): the
    headline's median and best come from the twenty raters together (`all`), each release
    gets its own row and its own shares, and the checks stay silent."""
    p, segments, _ = with_raters
    segments = segments.copy()
    p = {**p, "data": tmp_path / "data", "out": tmp_path / "summary.html",
         "plots": tmp_path / "plots"}
    shutil.copytree(with_raters[0]["data"], p["data"])
    old = segments["session"] <= 3
    votes = [f"e{j:02d}_emotion" for j in range(1, 11)]
    for j, column in enumerate(votes):
        segments[f"e{j + 11:02d}_emotion"] = segments[column].where(old)
        segments[column] = segments[column].where(~old)
    segments.loc[old, "dataset"] = "KEMDy19"
    new_data, evaluators, agreement = relabel(segments, "majority", 3)
    segments.to_csv(p["data"] / "segments.csv", index=False)
    write(new_data, evaluators, agreement, p["data"] / "new_data.csv",
          p["data"] / "evaluators.csv", p["data"] / "agreement.json")
    p["raters"] = p["data"] / "raters.csv"
    score_raters.main(["--segments", str(p["data"] / "segments.csv"), "--new-data",
                       str(p["data"] / "new_data.csv"), "--method", "majority",
                       "--min-segments", "100", "--out", str(p["raters"]),
                       "--consensus", str(p["data"] / "raters_consensus.csv")])
    page = render(p)
    table = R.read_raters(p["raters"])
    assert set(table["dataset"]) == {"KEMDy19", "KEMDy20", "all"}
    folds = pd.read_csv(p["data"] / "folds.csv", dtype={"segment_id": str})
    table = R.fold_means(table, segments, R.read_consensus(p["data"] / "raters_consensus.csv"),
                         folds.set_index("segment_id")["fold"], FOLDS)
    median, best = R.median_and_best(table, "all", by="f1_macro_fold_mean")
    assert page.one("tr", data_rater_role="median", data_rater=median["rater"])
    assert page.one("tr", data_rater_role="best", data_rater=best["rater"])
    for dataset in ("KEMDy19", "KEMDy20", "all"):
        own, _ = R.median_and_best(table, dataset, by="f1_macro_fold_mean")
        _, cell, _ = page.one("td", data_dataset=dataset, data_rater_role="median",
                              data_rater=True)
        assert cell["data-rater"] == own["rater"]
    for dataset in ("KEMDy19", "KEMDy20"):  # the headline's shares are `all`'s
        assert page.one("table", data_dataset=dataset)
    assert page.find(id="checks") == []


def test_fold_means_count_only_the_folds_a_rater_is_scored_on():
    """Per test fold as score() scores all of them; a fold without scored segments does not
    count, and one fold gives no std (as a variant's one fold)."""
    codes = random_votes(300, 5, seed=4, missing=0.0)
    codes[100:, 4] = -1  # e05 votes in fold 0 only
    segments = segments_table(codes)
    _, consensus, table = ceiling(segments)
    fold_of = pd.Series(np.repeat([0, 1, 2], 100), index=segments["segment_id"])
    out = R.fold_means(table, segments, consensus, fold_of, [0, 1, 2]).set_index("slot")
    e05 = out.loc["e05"]
    assert e05["n_folds"] == 1 and np.isnan(e05["f1_macro_fold_std"])
    assert e05["f1_macro_fold_mean"] == pytest.approx(e05["f1_macro"], abs=1e-12)  # one fold
    per = [R.score(segments, consensus[fold_of.to_numpy() == k], None, 0)
           .set_index("slot").loc["e02", "f1_macro"] for k in (0, 1, 2)]
    assert out.loc["e02", "f1_macro_fold_mean"] == pytest.approx(np.mean(per), abs=1e-12)
    assert out.loc["e02", "f1_macro_fold_std"] == pytest.approx(np.std(per, ddof=1), abs=1e-12)
    only = R.fold_means(table, segments, consensus, fold_of, [1, 2]).set_index("slot")
    assert only.loc["e05", "n_folds"] == 0 and np.isnan(only.loc["e05", "f1_macro_fold_mean"])
    median, _ = R.median_and_best(only.reset_index(), "KEMDy20", by="f1_macro_fold_mean")
    assert median["slot"] != "e05"  # no fold figure: ranked last


def test_the_threshold_is_a_config_key_with_a_default():
    """raters.min_segments: 100 unless set, never negative (schemas/config.schema.yaml)."""
    import yaml
    from snakemake.utils import validate

    from workflow_utils import REPO

    schema = str(REPO / "schemas/config.schema.yaml")
    config = yaml.safe_load((REPO / "configs/kemdy20.yaml").read_text())
    config.pop("raters", None)
    validate(config, schema)
    assert config["raters"] == {"min_segments": R.MIN_SEGMENTS}  # the script's default too
    config["raters"] = {"min_segments": -1}
    with pytest.raises(Exception, match="min_segments"):
        validate(config, schema)
