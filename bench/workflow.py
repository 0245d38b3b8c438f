"""Where the default run's time goes: wall time, the sum of job times from Snakemake's
benchmark files, parallel efficiency, and the slowest rules.

    python -m bench workflow [--config config.yaml] [--cores 2]

It runs the whole workflow from nothing in a scratch copy of this repository (the user's
results/ are not touched), so it takes as long as a fresh default run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pandas as pd

from bench.common import machine, write_result

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW_FILES = ["Snakefile", "rules", "scripts", "schemas", "envs", "configs", "config.yaml"]


def job_times(workdir: str) -> pd.DataFrame:
    """One row per job: rule, job (benchmark path), seconds; from benchmarks/**/*.tsv."""
    rows = []
    for path in glob.glob(os.path.join(workdir, "benchmarks", "**", "*.tsv"), recursive=True):
        rel = os.path.relpath(path, os.path.join(workdir, "benchmarks"))
        rule = rel.split(os.sep)[0].removesuffix(".tsv")
        if rule == "train" and ".stage" in rel:
            rule = "train_stage" + rel.split(".stage")[1][0]
        rows.append({"rule": rule, "job": rel, "seconds": float(pd.read_csv(path, sep="\t")["s"].iloc[0])})
    return pd.DataFrame(rows, columns=["rule", "job", "seconds"])


def summarise(jobs: pd.DataFrame, wall: float, cores: int) -> dict:
    by_rule = jobs.groupby("rule")["seconds"].agg(["count", "sum", "max"]).sort_values("sum", ascending=False)
    total = float(jobs["seconds"].sum())
    return {
        "wall_seconds": wall,
        "job_seconds": total,
        "cores": cores,
        "n_jobs": int(len(jobs)),
        # 1.0 means every core was busy with a job for the whole run.
        "parallel_efficiency": total / (wall * cores) if wall > 0 else float("nan"),
        "slowest_rules": [
            {"rule": r, "jobs": int(c), "seconds": float(s), "slowest_job": float(m)}
            for r, (c, s, m) in by_rule.head(6).iterrows()
        ],
    }


def run(out_dir: str = "results/bench", config: str | None = None, cores: int = 2) -> dict:
    with tempfile.TemporaryDirectory(prefix="kemdy_bench_") as work:
        for name in WORKFLOW_FILES:
            src = os.path.join(REPO, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(work, name))
        cmd = [os.path.join(os.path.dirname(sys.executable), "snakemake"), "--cores", str(cores), "--quiet"]
        if config:
            cmd += ["--configfile", os.path.abspath(config)]
        env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
        start = time.perf_counter()
        subprocess.run(cmd, cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        result = {"part": "workflow", "machine": machine(), **summarise(job_times(work), wall, cores)}

    m = result["machine"]
    print(f"workflow ({m['cores']} cores, {m['cpu']}): {result['n_jobs']} jobs")
    print(f"  wall time            {result['wall_seconds']:8.1f} s")
    print(f"  sum of job times     {result['job_seconds']:8.1f} s")
    print(f"  parallel efficiency  {result['parallel_efficiency']:8.2f}  (job time / (wall x {cores} cores))")
    print("  slowest rules (total s, jobs, slowest job s):")
    for r in result["slowest_rules"]:
        print(f"    {r['rule']:<22}{r['seconds']:8.1f}{r['jobs']:6d}{r['slowest_job']:8.1f}")
    write_result(out_dir, "workflow", result)
    return result
