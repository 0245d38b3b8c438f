"""Tests of the benchmarks themselves: the aggregation benchmark on a small input, and the
workflow benchmark's accounting on hand-written benchmark files."""

import json

import pandas as pd
import pytest

from bench.aggregate import run as run_aggregate
from bench.workflow import job_times, summarise


def test_job_times_and_efficiency(tmp_path):
    files = {"ingest.tsv": 2.0, "train/text_ce/fold0.tsv": 10.0, "train/mm/fold0.stage1.tsv": 6.0}
    for rel, seconds in files.items():
        path = tmp_path / "benchmarks" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"s": [seconds], "h:m:s": ["0:00:01"], "max_rss": [1.0]}).to_csv(path, sep="\t", index=False)
    jobs = job_times(tmp_path)
    assert sorted(jobs.rule) == ["ingest", "train", "train_stage1"]
    result = summarise(jobs, wall=10.0, cores=2)
    assert result["job_seconds"] == pytest.approx(18.0)
    assert result["parallel_efficiency"] == pytest.approx(0.9)
    assert result["slowest_rules"][0]["rule"] == "train"


def test_bench_runs_and_writes_json(tmp_path, capsys):
    result = run_aggregate(tmp_path, n=600, subset=50, growth=(600, 1200))
    saved = json.loads((tmp_path / "aggregate.json").read_text())
    assert saved["same_labels_on_subset"] and saved["machine"]["cores"] >= 1
    assert [g["n_segments"] for g in saved["growth"]] == [600, 1200]
    assert result["implementations"][0]["scaled"]  # timed on 50, scaled to 600
    assert "speed-up" in capsys.readouterr().out
