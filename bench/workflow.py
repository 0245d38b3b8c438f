"""Where the default run's time goes, for the two commands a new user types: `snakemake
--cores 2` and the GPU box's `snakemake --cores 8 --resources gpu=2`, each from nothing in
its own scratch copy of this repository (the user's results/ are not touched), one after the
other: wall time, the sum of job times from Snakemake's benchmark files, parallel
efficiency, the slowest rules, and whether both gave the same summary.csv.

    python -m bench workflow [--config config.yaml] [--cores N] [--reference DIR]

--cores N times that one command only. --reference DIR (a finished run's working
directory) checks each variant's macro-F1 against that run's 95 % session-bootstrap
interval (bench/quality.py). It takes as long as two fresh default runs.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pandas as pd

from bench.common import machine, write_result
from bench.quality import compare, pooled_intervals
from kemdy.cpus import available_cpus

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW_FILES = ["Snakefile", "rules", "scripts", "schemas", "envs", "configs", "config.yaml"]


def job_times(workdir: str) -> pd.DataFrame:
    """One row per job: rule, job (benchmark path), seconds; from benchmarks/**/*.tsv."""
    rows = []
    for path in glob.glob(os.path.join(workdir, "benchmarks", "**", "*.tsv"), recursive=True):
        rel = os.path.relpath(path, os.path.join(workdir, "benchmarks"))
        rule = rel.split(os.sep)[0].removesuffix(".tsv")
        if rule == "train" and ".stage" in rel:
            rule = "train_stage"
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


COMMANDS = (["--cores", "2"], ["--cores", "8", "--resources", "gpu=2"])


def run_once(args: list[str], config: str | None, reference: dict | None) -> dict:
    """Figures of one fresh run, with its pooled macro-F1 intervals (and each variant's
    place in the reference's interval, when there is one)."""
    with tempfile.TemporaryDirectory(prefix="kemdy_bench_") as work:
        for name in WORKFLOW_FILES:
            src = os.path.join(REPO, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(work, name))
        cmd = [os.path.join(os.path.dirname(sys.executable), "snakemake"), *args, "--quiet"]
        if config:
            cmd += ["--configfile", os.path.abspath(config)]
        env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
        start = time.perf_counter()
        subprocess.run(cmd, cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        # the cores that can really run at once (--cores 8 on 2 CPUs runs on 2)
        cores = min(int(args[args.index("--cores") + 1]), available_cpus())
        with open(os.path.join(work, "results", "summary.csv"), "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        intervals = pooled_intervals(work)
        with open(os.path.join(work, "reports", "summary.html"), encoding="utf-8") as fh:
            checks_failed = 'id="checks"' in fh.read()  # the report's own consistency checks
        figures = {"command": "snakemake " + " ".join(args), "summary_sha256": digest,
                   "report_checks_failed": checks_failed,
                   **summarise(job_times(work), wall, cores), "f1_macro_pooled": intervals}
        if reference:
            figures["against_reference"] = compare(reference, intervals)
        return figures


def run(out_dir: str = "results/bench", config: str | None = None, cores: int | None = None,
        reference: str | None = None) -> dict:
    commands = [["--cores", str(cores)]] if cores else COMMANDS
    ref = pooled_intervals(reference) if reference else None  # fails before any run
    runs = [run_once(args, config, ref) for args in commands]
    result = {"part": "workflow", "machine": machine(), "runs": runs,
              "same_summary": len({r["summary_sha256"] for r in runs}) == 1}
    report(result)
    write_result(out_dir, "workflow", result)
    return result


def report(result: dict) -> None:
    m = result["machine"]
    print(f"workflow on {m['cores']} cores ({m['cpu']}):")
    for r in result["runs"]:
        print(f"  {r['command']}: {r['wall_seconds']:.1f} s wall, {r['n_jobs']} jobs, "
              f"{r['job_seconds']:.1f} s of job time, parallel efficiency "
              f"{r['parallel_efficiency']:.2f} (job time / (wall x {r['cores']} CPUs)); "
              f"report checks {'FAILED' if r['report_checks_failed'] else 'silent'}")
        print("    slowest rules (total s, jobs, slowest job s): " + "; ".join(
            f"{s['rule']} {s['seconds']:.1f} {s['jobs']} {s['slowest_job']:.1f}"
            for s in r["slowest_rules"]))
    if len(result["runs"]) > 1:
        print(f"  same summary.csv: {result['same_summary']}")
    for r in result["runs"]:
        print(f"  {r['command']}: macro-F1 of the pooled out-of-fold predictions "
              "[95 % session bootstrap]:")
        for v, f in r["f1_macro_pooled"].items():
            line = f"    {v:<16}{f['value']:.4f} [{f['lo']:.4f}, {f['hi']:.4f}]"
            ref = r.get("against_reference", {}).get(v)
            if ref:
                line += (f"   reference {ref['reference']:.4f} [{ref['lo']:.4f}, "
                         f"{ref['hi']:.4f}]: {'inside' if ref['inside'] else 'OUTSIDE'}")
            print(line)
