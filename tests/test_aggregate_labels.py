"""Re-labelling: Wawa by hand, against the row-by-row reference, majority, Dawid-Skene, files."""

import json

import numpy as np
import pandas as pd
import pytest

import aggregate_labels
from kemdy.classes import CLASSES
from kemdy.errors import InputError, run_cli
from kemdy.labels import aggregate as agg
from kemdy.labels.relabel import OUT_COLUMNS, relabel
from kemdy.labels.rowwise import random_votes, votes_frame, wawa_rowwise
from kemdy.release.kemdy20 import EVALUATORS

N, H, S, A, SAD, D, F = range(7)  # class codes in CLASSES order
_ = -1  # missing vote


def segments_table(codes, totals=None):
    """A segments.csv-like table from vote codes (n, 10); -1 = empty cell."""
    codes = np.asarray(codes)
    n = len(codes)
    frame = votes_frame(codes)
    ids = [f"Sess{1 + i % 3:02d}_script01_User{2 * (1 + i % 3):03d}F_{i:03d}" for i in range(n)]
    meta = pd.DataFrame({
        "dataset": "KEMDy20",
        "segment_id": ids,
        "session": [1 + i % 3 for i in range(n)],
        "speaker": [f"User{2 * (1 + i % 3):03d}F" for i in range(n)],
        "text": ["말" for _ in range(n)],
        "wav_path": [f"wav/{s}.wav" for s in ids],
        "total_emotion": totals if totals is not None else ["neutral"] * n,
    })  # fmt: skip
    return pd.concat([meta, frame], axis=1)


def pad(codes, width=10):
    codes = np.asarray(codes)
    return np.hstack([codes, np.full((len(codes), width - codes.shape[1]), -1)])


# --- Wawa by hand ---------------------------------------------------------------------

HAND = np.array([
    [N, N, H],    # s1: strict majority neutral; e3 disagrees
    [H, H, H],    # s2: happy, all agree
    [N, A, A],    # s3: angry; e1 disagrees
    [N, H, _],    # s4: 1 of 2 votes each: no strict majority
    [D, D, N],    # s5: disgust; e3 disagrees (disgust counts as agreement)
])  # fmt: skip


def test_wawa_hand_example():
    result = agg.wawa(HAND)
    # a_j over the strict-majority segments s1, s2, s3, s5 (4 votes each).
    assert result.accuracy == pytest.approx([3 / 4, 4 / 4, 2 / 4])
    assert result.weight == pytest.approx([1 / 3, 4 / 9, 2 / 9])  # a / 2.25
    expected = np.zeros((5, 7))
    expected[0, [N, H]] = [7 / 9, 2 / 9]
    expected[1, H] = 1.0
    expected[2, [N, A]] = [1 / 3, 2 / 3]
    # s4: only e1 (1/3) and e2 (4/9) voted; normalised over them, the more reliable wins.
    expected[3, [N, H]] = [3 / 7, 4 / 7]
    expected[4, [N, D]] = [2 / 9, 7 / 9]
    assert result.scores == pytest.approx(expected)
    assert [CLASSES[i] for i in result.label] == ["neutral", "happy", "angry", "happy", "disgust"]
    assert result.strict.tolist() == [True, True, True, False, True]
    assert not result.tied.any()
    # Plain majority ties s4 (neutral vs happy) and breaks it by CLASSES order.
    plain = agg.majority(HAND)
    assert CLASSES[plain.label[3]] == "neutral" and plain.tied[3]


def test_disgust_votes_count_as_agreement():
    # The original normalised `disqust` only in the totals, so these evaluators scored 0.
    codes = np.array([[D, D, D], [D, D, N], [N, N, N]])
    result = agg.wawa(codes)
    assert result.accuracy == pytest.approx([1.0, 1.0, 2 / 3])
    assert CLASSES[result.label[1]] == "disgust"


def test_tie_takes_first_class_in_class_order():
    # All evaluators always agree with the majority: equal weights, so 1-1 splits tie.
    codes = np.array([[SAD, A, _], [F, S, _], [N, N, N], [H, H, H], [SAD, SAD, SAD],
                      [A, A, A], [S, S, S], [F, F, F]])
    result = agg.wawa(codes)
    assert [CLASSES[i] for i in result.label[:2]] == ["angry", "surprise"]
    assert result.tied.tolist() == [True, True] + [False] * 6
    # np.isclose: float noise does not break a tie the other way.
    label, tied = agg.decide(np.array([[0.0, 0.3, 0.35, 0.35 + 1e-13, 0, 0, 0]]))
    assert CLASSES[label[0]] == "surprise" and tied[0]


def test_equals_row_by_row_reference_on_random_votes():
    rng = np.random.default_rng(1)
    codes = random_votes(400, seed=5)
    codes[rng.random(codes.shape) < 0.3] = -1
    codes[:, 0] = np.where(codes[:, 0] < 0, N, codes[:, 0])  # at least one vote each
    ours = agg.wawa(codes)
    ref = wawa_rowwise(votes_frame(codes), use_loc=False)
    assert ours.accuracy == pytest.approx(ref["accuracy"])
    assert ours.weight == pytest.approx(ref["weight"])
    assert [CLASSES[i] for i in ours.label] == ref["labels"]
    ref_scores = np.array([[row[c] for c in CLASSES] for row in ref["scores"]])
    assert ours.scores == pytest.approx(ref_scores)
    # The .loc version (the original's access pattern) is the same loop.
    small = votes_frame(codes[:40])
    assert wawa_rowwise(small, use_loc=True)["labels"] == wawa_rowwise(small, False)["labels"]


def test_evaluator_without_strict_majority_votes_gets_no_weight():
    # e3 and e4 only vote on a split segment (no strict majority): a_j undefined, w_j = 0.
    codes = np.array([[N, N, _, _], [H, H, _, _], [_, _, F, SAD]])
    result = agg.wawa(codes)
    assert np.isnan(result.accuracy[2:]).all() and (result.weight[2:] == 0).all()
    # That segment has no weighted voter: plain vote shares decide (tie: sad before fear).
    assert result.scores[2, [SAD, F]] == pytest.approx([0.5, 0.5])
    assert CLASSES[result.label[2]] == "sad" and result.tied[2]


def test_majority_is_vote_shares():
    result = agg.majority(HAND)
    assert result.scores[0] == pytest.approx([2 / 3, 1 / 3, 0, 0, 0, 0, 0])
    assert result.scores[3, [N, H]] == pytest.approx([0.5, 0.5])
    assert result.weight == pytest.approx([1 / 3] * 3)


# --- Dawid-Skene ----------------------------------------------------------------------


def skilled_votes(n=600, seed=0):
    """Three good evaluators, two that vote at random: the truth is known."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(7, size=n, p=[0.5, 0.2, 0.06, 0.08, 0.08, 0.04, 0.04])
    skill = np.array([0.9, 0.85, 0.8, 0.0, 0.0])
    right = rng.random((n, 5)) < skill
    codes = np.where(right, truth[:, None], rng.integers(0, 7, size=(n, 5)))
    return codes, truth


def test_dawid_skene_converges_deterministically_and_beats_majority():
    codes, truth = skilled_votes()
    first = agg.dawid_skene(codes, tol=1e-6, max_iter=200)
    second = agg.dawid_skene(codes, tol=1e-6, max_iter=200)
    assert first.converged and 1 < first.iterations < 200
    assert np.array_equal(first.scores, second.scores)
    assert first.scores.sum(axis=1) == pytest.approx(np.ones(len(codes)))
    ds_acc = (first.label == truth).mean()
    maj_acc = (agg.majority(codes).label == truth).mean()
    assert ds_acc >= maj_acc, f"dawid_skene {ds_acc:.3f} < majority {maj_acc:.3f}"
    # The random evaluators are found out: lowest estimated accuracy.
    assert set(np.argsort(first.weight)[:2]) == {3, 4}


def test_dawid_skene_iteration_cap():
    codes, _ = skilled_votes(200)
    capped = agg.dawid_skene(codes, tol=1e-12, max_iter=2)
    assert capped.iterations == 2 and not capped.converged


def test_dawid_skene_on_unanimous_votes_keeps_them():
    codes = np.array([[N] * 4, [H] * 4, [SAD] * 4, [N] * 4])
    result = agg.dawid_skene(codes)
    assert [CLASSES[i] for i in result.label] == ["neutral", "happy", "sad", "neutral"]


# --- the table, the files, the errors -------------------------------------------------


def test_encode_votes_matches_exactly():
    frame = segments_table(pad(HAND))
    codes = agg.encode_votes(frame)
    assert np.array_equal(codes, pad(HAND))
    for bad in ["Neutral", "happy;neutral", "disqust", "sad ", "unhappy"]:
        broken = frame.copy()
        broken.loc[2, "e02_emotion"] = bad
        with pytest.raises(InputError, match=r"row 4.*e02_emotion") as err:
            agg.encode_votes(broken, path="segments.csv")
        assert "segments.csv" in str(err.value) and "Fix:" in str(err.value)


def test_relabel_table_and_min_votes():
    codes = pad(np.vstack([HAND, [[N, _, _], [H, H, _]]]))
    totals = ["neutral", "happy", "neutral;angry", "happy;neutral", "disgust", "neutral", "happy"]
    frame = segments_table(codes, totals)
    names = {f"e{j + 1:02d}": name for j, name in enumerate(EVALUATORS)}
    new, evaluators, info = relabel(frame, "wawa", min_votes=2, evaluators=names)
    assert list(new.columns) == OUT_COLUMNS
    assert info["skipped_min_votes"] == [frame.segment_id[5]]
    assert info["n_segments"] == 7 and info["n_labelled"] == 6
    assert new["label"].tolist() == ["neutral", "happy", "angry", "happy", "disgust", "happy"]
    assert new[CLASSES].sum(axis=1).to_numpy() == pytest.approx(np.ones(6))
    assert new["max_score"].to_numpy() == pytest.approx(new[CLASSES].max(axis=1).to_numpy())
    assert new["n_votes"].tolist() == [3, 3, 3, 2, 3, 2]
    assert new["total_emotion"].tolist() == [t for i, t in enumerate(totals) if i != 5]
    assert info["multilabel_totals"] == 2 and info["multilabel_resolved"] == 2
    assert info["total_counts"] == {"neutral": 2, "happy": 2, "surprise": 0, "angry": 0,
                                    "sad": 0, "disgust": 1, "fear": 0}
    assert info["label_counts"]["happy"] == 3 and sum(info["label_counts"].values()) == 6
    assert info["n_ties"] == 0 and 0 < info["strict_majority_share"] < 1
    assert list(evaluators.columns) == ["evaluator", "n_votes", "accuracy_vs_majority",
                                        "accuracy_vs_final", "weight"]
    assert evaluators["evaluator"].tolist() == EVALUATORS
    assert evaluators["n_votes"].tolist()[:3] == [6, 6, 4]
    # e1 agrees with the final label on s1, s2, s5, s7, not on s3 (angry) or s4 (happy).
    assert evaluators["accuracy_vs_final"][0] == pytest.approx(4 / 6)
    # Missing evaluators: no votes, no weight.
    assert evaluators["n_votes"].tolist()[3:] == [0] * 7
    assert (evaluators["weight"][3:] == 0).all()


def test_relabel_errors():
    frame = segments_table(pad(HAND))
    with pytest.raises(InputError, match="unknown method"):
        relabel(frame, "mace")
    with pytest.raises(InputError, match=r"missing column.*e07_emotion"):
        relabel(frame.drop(columns="e07_emotion"), path="x.csv")
    with pytest.raises(InputError) as err:
        relabel(frame, min_votes=4)  # HAND has at most three votes a segment
    assert err.value.key == "labels.min_votes"


def test_cli_writes_three_files(tmp_path, capsys):
    codes = random_votes(300, seed=2)
    codes[:4, 2:] = -1  # two votes only: dropped at min_votes 3
    frame = segments_table(codes)
    frame["total_emotion"] = np.where(np.arange(300) % 7 == 0, "neutral;happy", "neutral")
    src = tmp_path / "segments.csv"
    frame.to_csv(src, index=False)
    out = tmp_path / "data"
    for method in agg.METHODS:
        aggregate_labels.main(["--segments", str(src), "--method", method, "--out", str(out / "new.csv"),
                  "--evaluators", str(out / "ev.csv"), "--agreement", str(out / "ag.json")])
        info = json.loads((out / "ag.json").read_text())
        assert info["method"] == method and info["n_labelled"] == 296
        assert len(info["skipped_min_votes"]) == 4
        assert info["multilabel_totals"] == 43
        assert -1 <= info["fleiss_kappa"] <= 1 and -1 <= info["krippendorff_alpha"] <= 1
        assert ("converged" in info) == (method == "dawid_skene")
        new = pd.read_csv(out / "new.csv")
        assert len(new) == 296 and new["label"].isin(CLASSES).all()
        assert sorted(p.name for p in out.iterdir()) == ["ag.json", "ev.csv", "new.csv"]
    assert info["converged"] and info["iterations"] >= 2
    # A bad input exits 2 with one ERROR line naming the file and row.
    frame.loc[7, "e01_emotion"] = "disqust"
    frame.to_csv(src, index=False)
    with pytest.raises(SystemExit) as exit_:
        run_cli(aggregate_labels.main, ["--segments", str(src), "--out", str(out / "n.csv"),
                           "--evaluators", str(out / "e.csv"), "--agreement", str(out / "a.json")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and "segments.csv, row 9" in err and "disqust" in err
    assert not (out / "n.csv").exists()


def test_valence_and_arousal_are_weighted_as_the_votes_are():
    from kemdy.labels.relabel import weighted_ratings

    frame = pd.DataFrame({"e01_valence": [5, 1], "e02_valence": [1, 1], "e03_valence": [3, np.nan]})
    columns = ["e01_emotion", "e02_emotion", "e03_emotion"]
    got = weighted_ratings(frame, columns, "valence", np.array([0.5, 0.0, 0.5]))
    assert got[0] == pytest.approx(4.0)  # e02 weighs nothing
    assert got[1] == pytest.approx(1.0)  # e03 did not rate: the others' weights only
    zero = weighted_ratings(frame, columns, "valence", np.zeros(3))
    assert zero[0] == pytest.approx(3.0)  # every rater weighs 0: the plain mean
    assert np.isnan(weighted_ratings(frame, columns, "arousal", np.ones(3))).all()
