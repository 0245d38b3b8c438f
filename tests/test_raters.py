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
    shares = agreement_shares(preds, labels, votes)
    assert shares == {"n": 5, "model_only": 2 / 5, "rater_only": 1 / 5}
    assert agreement_shares(preds, labels, votes[[]])["n"] == 0


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


def test_report_puts_the_median_and_best_rater_beside_the_variants(with_raters):
    p, _, page = with_raters
    table = R.read_raters(p["raters"])
    median, best = R.median_and_best(table, "KEMDy20")
    for role, q in (("median", median), ("best", best)):
        _, row, _ = page.one("tr", data_rater_role=role, data_rater=q["rater"])
        for m in R.HEADLINE:
            _, cell, shown = page.one("td", data_rater_role=role, data_measure=m,
                                      data_value=True, data_dataset=None)
            assert float(cell["data-value"]) == pytest.approx(q[m], abs=1e-12)
            assert shown == f"{q[m]:.3f}"
        for c in CLASSES:
            _, cell, _ = page.one("td", data_rater_role=role, data_rater_class=c)
            assert float(cell["data-value"]) == pytest.approx(q[f"f1_{c}"], abs=1e-12)
    assert page.find(id="checks") == []  # every consistency check holds


def test_report_shares_are_recomputable_from_the_files(with_raters):
    p, segments, page = with_raters
    median, _ = R.median_and_best(R.read_raters(p["raters"]), "KEMDy20")
    votes = segments.set_index("segment_id")[f"{median['slot']}_emotion"]
    labels = pd.read_csv(p["data"] / "new_data.csv").set_index("segment_id")["label"]
    for variant in VARIANTS:
        df = pooled(p["runs"], variant)
        model = df["pred"] == df["segment_id"].map(labels)
        rater = df["segment_id"].map(votes) == df["segment_id"].map(labels)
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
    median, best = R.median_and_best(table, "all")
    assert page.one("tr", data_rater_role="median", data_rater=median["rater"])
    assert page.one("tr", data_rater_role="best", data_rater=best["rater"])
    for dataset in ("KEMDy19", "KEMDy20", "all"):
        own, _ = R.median_and_best(table, dataset)
        _, cell, _ = page.one("td", data_dataset=dataset, data_rater_role="median",
                              data_rater=True)
        assert cell["data-rater"] == own["rater"]
    for dataset in ("KEMDy19", "KEMDy20"):  # the headline's shares are `all`'s
        assert page.one("table", data_dataset=dataset)
    assert page.find(id="checks") == []


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
