"""The generic cluster profile submits the training jobs through its submit script (every
other rule is a local rule: on a cluster it would wait in the queue for seconds of work);
with the `local` scheduler they run in the background on this machine, end to end to the
report."""

import pytest

from workflow_utils import copy_workflow, snakemake, tiny_config

pytestmark = pytest.mark.workflow


def test_cluster_generic_profile_runs_the_tiny_config_end_to_end(tmp_path):
    config = tiny_config(**{"folds.n_folds": 2})
    config["variants"] = {"text_ce": config["variants"]["text_ce"]}
    work = copy_workflow(tmp_path, config)
    snakemake(work, "--profile", "profiles/cluster-generic", "--jobs", "2", KEMDY_SCHEDULER="local")
    assert (work / "reports/summary.html").stat().st_size > 10_000
    submitted = sorted(p.name.split("-")[0] for p in (work / "logs/cluster").glob("*.out"))
    assert submitted == ["train", "train"], submitted
