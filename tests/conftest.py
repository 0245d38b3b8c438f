"""Shared fixtures: a tiny KEMDy20 look-alike per test session and its ingested table, a
smaller one (no marker: to the workflow, a user's real copy) for the workflow's bad-input
and safety tests, and the tiny config's end-to-end run (tiny_run).

Both are read-only by convention: a test that needs to change files copies them first
(e.g. shutil.copytree(root, tmp_path / "root")).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kemdy.demo.lookalike import generate
from ingest import main as ingest_main
from workflow_utils import run_tiny

TINY = dict(seed=7, n_sessions=4, segments_per_session=12, prior="demo",
            single_modality_share=0.4, wrong_prefix_sessions=[3])
SMALL = dict(seed=11, n_sessions=4, segments_per_session=8, prior="demo",
             single_modality_share=0.4, wrong_prefix_sessions=[3])


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> tuple[Path, Path]:
    """(dataset root, truth.csv) of a 4-session x 12-segment look-alike; Sess03_eval.csv
    carries the wrong session prefix in every Segment ID, as Sess12/Sess17 of the release."""
    base = tmp_path_factory.mktemp("lookalike")
    root, truth = base / "KEMDy20_v1_1", base / "truth.csv"
    generate(root, truth, **TINY)
    return root, truth


@pytest.fixture(scope="session")
def tiny_segments(tiny_root, tmp_path_factory) -> Path:
    """results/data/segments.csv of tiny_root (ingest.json and skipped.csv beside it)."""
    root, _ = tiny_root
    out = tmp_path_factory.mktemp("data")
    ingest_main(["--root", str(root), "--out", str(out / "segments.csv"),
                 "--report", str(out / "ingest.json"), "--skipped", str(out / "skipped.csv")])
    return out / "segments.csv"


@pytest.fixture(scope="session")
def lookalike(tmp_path_factory) -> Path:
    """A 4-session x 8-segment look-alike root without its ownership marker."""
    base = tmp_path_factory.mktemp("small_lookalike")
    generate(base / "KEMDy20_v1_1", base / "truth.csv", **SMALL)
    (base / "KEMDy20_v1_1" / ".kemdy-lookalike.json").unlink(missing_ok=True)
    return base / "KEMDy20_v1_1"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict:
    """The tiny config run once per session (tests/workflow_utils.py run_tiny): checked by
    test_workflow.py, and the local reference of test_slurm.py, which runs it beside its
    SLURM run."""
    return run_tiny(tmp_path_factory.mktemp("tiny"))
