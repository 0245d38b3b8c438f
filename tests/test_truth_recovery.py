"""On a generated look-alike, reliability-aware labels recover the hidden truth at least as
well as a plain majority vote (run with -s to see the three accuracies)."""

import pandas as pd
import pytest

import ingest
from kemdy.demo import lookalike as generate_lookalike
from kemdy.labels.aggregate import METHODS
from kemdy.labels.relabel import relabel
from kemdy.release.segments import read_segments


@pytest.fixture(scope="module")
def lookalike(tmp_path_factory):
    """10 sessions x ~60 segments (the demo prior), ingested as the workflow does."""
    base = tmp_path_factory.mktemp("truth")
    root, truth = base / "KEMDy20_v1_1", base / "truth.csv"
    generate_lookalike.generate(root, truth, seed=11, n_sessions=10, segments_per_session=60,
                                prior="demo", wrong_prefix_sessions=[2])
    data = base / "data"
    ingest.main(["--root", str(root), "--out", str(data / "segments.csv"),
                 "--report", str(data / "ingest.json"), "--skipped", str(data / "skipped.csv")])
    segments = read_segments(data / "segments.csv", dtype=str, keep_default_na=False, na_values=[""])
    return segments, pd.read_csv(truth, dtype=str)


def test_wawa_and_dawid_skene_recover_truth_at_least_as_well_as_majority(lookalike):
    segments, truth = lookalike
    true = truth.set_index("segment_id")["true_emotion"]
    accuracy = {}
    for method in METHODS:
        # EM's tail can be slow on a small set: a generous cap, so convergence is testable.
        new, _, info = relabel(segments, method, min_votes=3, tol=1e-6, max_iter=1000)
        assert new["segment_id"].isin(true.index).all(), "ingest changed segment ids"
        accuracy[method] = float((new["label"] == true.loc[new["segment_id"]].to_numpy()).mean())
        if method == "dawid_skene":
            assert info["converged"], f"Dawid-Skene stopped after {info['iterations']} iterations"
    print("\ntruth recovery on the look-alike ({} segments): {}".format(
        len(new), ", ".join(f"{m} {a:.4f}" for m, a in accuracy.items())))
    message = f"accuracy vs the hidden truth: {accuracy}"
    assert accuracy["wawa"] >= accuracy["majority"], message
    assert accuracy["dawid_skene"] >= accuracy["majority"], message
    assert accuracy["majority"] > 0.5, message  # the votes carry the truth at all
