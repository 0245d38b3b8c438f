"""Folds: original session blocks, stratified groups, validation carved by whole groups."""

import itertools

import numpy as np
import pandas as pd
import pytest

import make_folds as make_folds_step
from kemdy.classes import CLASSES
from kemdy.errors import InputError
from kemdy.labels import folds as mf


def new_data(n_sessions=40, per_speaker=6, seed=0, session_names=None):
    """A new_data-like table: two speakers per session, labels from a skewed prior."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, n_sessions + 1):
        session = session_names(s) if session_names else s
        for speaker in (f"User{2 * s - 1:03d}F", f"User{2 * s:03d}M"):
            for k in range(per_speaker):
                rows.append({"dataset": "KEMDy20", "segment_id": f"Sess{s:02d}_script01_{speaker}_{k:03d}",
                             "session": session, "speaker": speaker,
                             "label": rng.choice(CLASSES, p=[.5, .2, .06, .08, .08, .04, .04])})
    return pd.DataFrame(rows)


def check_partition(folds, n_folds, group_columns=("session", "speaker")):
    """Every segment tested once; train/val/test of every run share no group."""
    assert folds["segment_id"].is_unique
    assert set(folds["fold"]) == set(range(n_folds))
    assert folds["val_fold"].isin(range(-1, n_folds)).all()
    for k in range(n_folds):
        parts = mf.split_masks(folds, k)
        assert (sum(p.astype(int) for p in parts) == 1).all()  # a partition of the rows
        assert all(p.any() for p in parts), f"fold {k} has an empty part"
        for column in group_columns:
            for a, b in itertools.combinations(parts, 2):
                shared = set(folds.loc[a, column]) & set(folds.loc[b, column])
                assert not shared, f"fold {k}: {column} {sorted(shared)} on both sides"


def test_forty_sessions_give_the_original_blocks():
    data = new_data()
    folds = mf.make_folds(data, "session_blocks", n_folds=5)
    blocks = folds.groupby("fold")["session"].agg(lambda s: sorted(set(s)))
    assert blocks.tolist() == [list(range(1 + 8 * k, 9 + 8 * k)) for k in range(5)]
    check_partition(folds, 5)
    assert list(folds.columns) == mf.OUT_COLUMNS
    assert folds["segment_id"].tolist() == data["segment_id"].tolist()


def test_validation_comes_from_the_next_fold_by_whole_sessions():
    folds = mf.make_folds(new_data(), "session_blocks", n_folds=5, val_sessions=2, seed=3)
    for k in range(5):
        val = folds[folds["val_fold"] == k]
        assert set(val["fold"]) == {(k + 1) % 5}
        assert val["session"].nunique() == 2
        # whole sessions: every segment of a chosen session is in validation
        chosen = folds[folds["session"].isin(val["session"])]
        assert (chosen["val_fold"] == k).all()


def test_uneven_session_counts_and_string_sessions():
    data = new_data(13, per_speaker=2, session_names=lambda s: f"Sess{s:02d}")
    folds = mf.make_folds(data, "session_blocks", n_folds=4)
    sizes = folds.groupby("fold")["session"].nunique().tolist()
    assert sizes == [4, 3, 3, 3]
    assert sorted(set(folds.loc[folds.fold == 0, "session"])) == ["Sess01", "Sess02", "Sess03",
                                                                   "Sess04"]
    check_partition(folds, 4)


def test_numeric_sessions_sort_as_numbers():
    folds = mf.make_folds(new_data(12, per_speaker=1), "session_blocks", n_folds=3)
    assert sorted(set(folds.loc[folds.fold == 0, "session"])) == [1, 2, 3, 4]


@pytest.mark.parametrize("group_by", ["session", "speaker"])
def test_stratified_group(group_by):
    data = new_data(20, per_speaker=8)
    folds = mf.make_folds(data, "stratified_group", n_folds=5, group_by=group_by, seed=1)
    check_partition(folds, 5, ("session", "speaker") if group_by == "session" else ("speaker",))
    again = mf.make_folds(data, "stratified_group", n_folds=5, group_by=group_by, seed=1)
    pd.testing.assert_frame_equal(folds, again)
    other = mf.make_folds(data, "stratified_group", n_folds=5, group_by=group_by, seed=2)
    assert not folds["fold"].equals(other["fold"])


def test_deterministic_for_a_seed():
    data = new_data(10, per_speaker=3)
    a = mf.make_folds(data, "session_blocks", n_folds=5, seed=0)
    b = mf.make_folds(data.sample(frac=1, random_state=4).reset_index(drop=True),
                      "session_blocks", n_folds=5, seed=0)
    merged = a.merge(b, on="segment_id")
    assert (merged["fold_x"] == merged["fold_y"]).all()
    assert (merged["val_fold_x"] == merged["val_fold_y"]).all()  # row order does not matter


@pytest.mark.parametrize("kwargs, key", [
    ({"n_folds": 1}, "folds.n_folds"),
    ({"n_folds": 11}, "folds.n_folds"),
    ({"method": "stratified_group", "group_by": "speaker", "n_folds": 21}, "folds.n_folds"),
    ({"n_folds": 2, "val_sessions": 5}, "folds.val_sessions"),  # takes all of fold 1
    ({"n_folds": 5, "val_sessions": 3}, "folds.val_sessions"),  # fold 1 has 2 sessions
    ({"val_sessions": 0}, "folds.val_sessions"),
    ({"method": "kfold"}, "folds.method"),
    ({"group_by": "script"}, "folds.group_by"),
])  # fmt: skip
def test_impossible_settings_name_their_config_key(kwargs, key):
    with pytest.raises(InputError) as err:
        mf.make_folds(new_data(10, per_speaker=1), **kwargs)
    assert err.value.key == key and "Fix:" in str(err.value)


def test_cli(tmp_path, capsys):
    src = tmp_path / "new_data.csv"
    new_data(10, per_speaker=2).to_csv(src, index=False)
    out = tmp_path / "folds.csv"
    make_folds_step.main(["--new-data", str(src), "--out", str(out), "--n-folds", "5"])
    folds = pd.read_csv(out)
    check_partition(folds, 5)
    assert "fold 4: train" in capsys.readouterr().out
    with pytest.raises(InputError, match="missing column"):
        pd.read_csv(src).drop(columns="speaker").to_csv(src, index=False)
        make_folds_step.main(["--new-data", str(src), "--out", str(out)])
