"""profiles/slurm on a real one-node SLURM cluster (tests/slurm/cluster.sh: slurm-wlm, no
accounting, two fake GPUs), end to end.

The tiny config, cut to two variants (text_ce, here over two seeds, and the two-stage
mm_two_stage, three folds),
runs through `snakemake --profile profiles/slurm` while the session's local run of the whole
tiny config (tests/conftest.py tiny_run: `--cores 2 --resources gpu=2`, simulated GPUs)
runs beside it, each in its own scratch copy; every SLURM run must equal the local one.
The SLURM run uses the profile as a user gets it, but for two test-only flags that start
Snakemake's status checks at 1 s instead of 10 s and 20 s (POLL). Then, on the same cluster, one training job is
cancelled (`scancel`) and another requeued (`scontrol requeue`, what PreemptMode=REQUEUE
does) after their first checkpoint: SLURM's SIGTERM makes each save where it stands, the
profile's retries resubmit the first, SLURM restarts the second, and both resume from their
checkpoints and end with the metrics of an uninterrupted local run (run meanwhile in a
local copy).

Needs root and the SLURM packages (tests/setup.sh installs them as root); skips, saying
why, otherwise. The fixture starts the cluster and stops it afterwards, unless it was already
up (then it is left as it was found). The figures (jobs submitted, wall times) are printed:
run with -s to see them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from workflow_utils import BIN, REPO, copy_workflow, env, replay_gpu_trace, run_results, tiny_config

pytestmark = pytest.mark.workflow

CLUSTER = REPO / "tests/slurm/cluster.sh"
VARIANTS = ("text_ce", "mm_two_stage")
SEEDS = [42, 43]  # text_ce's: one SLURM job per fold x seed; 42 is the tiny run's own seed
TRAIN_RULES = ("train", "train_seed", "train_stage")
# Test-only: Snakemake's first checks come every --seconds-between-status-checks (10 s by
# default), later ones every slurm-init-seconds-before-status-checks after a job ended (the
# profile's 20 s), plus 10 s for every check that finds no job ended.
POLL = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]
FAULT_EPOCHS = 100  # text_ce in the fault config: about 0.04 s each here, ~4 s of training
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/(\w+)/")
FIGURES: dict = {}


def config() -> dict:
    cfg = tiny_config()
    cfg["variants"] = {v: cfg["variants"][v] for v in VARIANTS}
    assert cfg["train"]["seed"] == SEEDS[0]  # so seed 42's runs have the local run's as reference
    cfg["variants"]["text_ce"]["seeds"] = SEEDS
    return cfg


def fault_config() -> dict:
    """text_ce trains long enough, in small batches, to be interrupted after an epoch."""
    cfg = config()
    del cfg["variants"]["text_ce"]["seeds"]  # one run per fold, as results/runs/text_ce/fold{k}
    cfg["variants"]["text_ce"].update(epochs=FAULT_EPOCHS, patience=FAULT_EPOCHS, batch_size=4)
    return cfg


def slurm_env(**extra) -> dict:
    """The test's environment without anything that would pick devices for the jobs: inside
    a SLURM job, CUDA_VISIBLE_DEVICES can only come from SLURM."""
    e = env(slurm=True, **extra)
    for name in ("CUDA_VISIBLE_DEVICES", "KEMDY_GPU_COUNT"):
        e.pop(name, None)
    return e


def slurm_cmd(*args: str) -> list[str]:
    return [str(BIN / "snakemake"), "--profile", "profiles/slurm", *POLL, *args]


def jobs_of(work: Path) -> dict[str, tuple[str, str]]:
    """SLURM job id -> (state, comment) of every job squeue still lists (ended ones for
    MinJobAge = 300 s) that ran in this workflow copy."""
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k|%Z"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    jobs = {}
    for line in out.splitlines():
        job, state, comment, workdir = line.split("|", 3)
        if os.path.realpath(workdir) == os.path.realpath(work):
            jobs[job] = (state, comment)
    return jobs


def job_info(job: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return dict(f.split("=", 1) for f in out.split() if "=" in f)


def metrics(work: Path, variant: str, fold: int) -> dict:
    m = json.loads((work / f"results/runs/{variant}/fold{fold}/metrics.json").read_text())
    m.pop("train_seconds")
    return m


@pytest.fixture(scope="module")
def cluster():
    if os.geteuid() != 0:
        pytest.skip("needs root: tests/slurm/cluster.sh starts munged, slurmctld and slurmd")
    missing = [b for b in ("munged", "slurmctld", "slurmd", "sbatch", "squeue") if shutil.which(b) is None]
    if missing:
        pytest.skip(f"SLURM packages missing ({', '.join(missing)} not found): run tests/setup.sh as root")
    was_up = subprocess.run(["bash", CLUSTER, "status"], capture_output=True, timeout=60).returncode == 0
    start = subprocess.run(["bash", CLUSTER, "start"], capture_output=True, text=True, timeout=180)
    if start.returncode != 0:
        pytest.skip(f"the test cluster did not start: {(start.stderr or start.stdout).strip()[-1500:]}")
    yield
    if not was_up:
        subprocess.run(["bash", CLUSTER, "stop"], capture_output=True, timeout=120)
    if FIGURES:
        print("\nSLURM figures:", json.dumps(FIGURES, indent=1))


@pytest.fixture(scope="module")
def runs(cluster, request, tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("slurm"), config())
    trace = work / "gpu_trace.txt"
    t0 = time.monotonic()
    with open(work / "snakemake.out", "w") as out:
        proc = subprocess.Popen(slurm_cmd(), cwd=work, env=slurm_env(KEMDY_GPU_TRACE=trace),
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            # The local reference meanwhile (the SLURM run mostly waits for its status
            # checks): the session's tiny run, which test_workflow.py checks too.
            tiny = request.getfixturevalue("tiny_run")
            local_s = time.monotonic() - t0
            returncode = proc.wait(timeout=480)
            slurm_s = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
    said = (work / "snakemake.out").read_text()
    assert returncode == 0, said[-6000:]
    submitted = SUBMITTED.findall(said)
    FIGURES["end_to_end"] = {
        "jobs_submitted_to_slurm": len(submitted), "slurm_run_s": round(slurm_s, 1),
        "local_run_s": round(local_s, 1), "polling": POLL, "jobs": "profile's 50",
    }  # fmt: skip
    return {"reference": tiny["results"], "work": work, "trace": trace, "submitted": submitted}


def test_slurm_run_writes_the_report_and_matches_a_local_run(runs):
    work = runs["work"]
    assert (work / "reports/summary.html").stat().st_size > 10_000
    assert set(pd.read_csv(work / "results/summary.csv").variant) == set(VARIANTS)
    # every run equals the local tiny run's (which has more variants, so the summaries'
    # comparisons differ): metrics and predictions to the bit
    # (text_ce: its seed-42 runs are the local run's, which trains text_ce on seed 42 alone)
    got = run_results(work)
    folds = range(config()["folds"]["n_folds"])
    assert sorted(got) == sorted([("mm_two_stage", k) for k in folds]
                                 + [("text_ce", k, s) for k in folds for s in SEEDS])
    for key, (metrics, predictions) in got.items():
        if len(key) == 3 and key[2] != SEEDS[0]:
            assert (metrics["variant"], metrics["fold"]) == key[:2], key  # no local reference
            continue
        assert metrics == runs["reference"][key[:2]][0], key
        assert predictions == runs["reference"][key[:2]][1], key


def test_every_training_job_went_to_slurm_with_one_gpu(runs):
    work, submitted = runs["work"], runs["submitted"]
    n_folds = config()["folds"]["n_folds"]
    want = {("train_seed", f"text_ce_{k}_{s}") for k in range(n_folds) for s in SEEDS} | {
        ("train_stage", f"mm_two_stage_{k}_{t}") for t in (1, 2) for k in range(n_folds)}
    # Exactly the training jobs (each seed its own), once each: every other rule is a localrule.
    assert sorted((rule, wc) for _, rule, wc in submitted) == sorted(want), submitted
    listed = jobs_of(work)
    for job, rule, wildcards in submitted:
        assert listed[job] == ("COMPLETED", f"rule_{rule}_wildcards_{wildcards}"), (job, listed.get(job))
        info = job_info(job)
        assert info["TresPerJob"] == "gres:gpu:1", (job, info.get("TresPerJob"))
        assert info["NumCPUs"] == "1", (job, info["NumCPUs"])  # --cpus-per-task: the rule's threads
    # Inside the job SLURM set CUDA_VISIBLE_DEVICES to the one device it allocated (the test's
    # environment has none), and gpu_slot.py took that one.
    for log in (work / "logs/train").glob("*/*.log"):
        claimed = re.search(r"^gpu_slot: claimed GPU (\S+) of (\S+) listed in CUDA_VISIBLE_DEVICES$",
                            log.read_text(), flags=re.M)
        assert claimed and claimed.group(1) == claimed.group(2) and claimed.group(1) in ("0", "1"), log
    events = runs["trace"].read_text().splitlines()
    assert sum(e.startswith("start ") for e in events) == len(want)
    peak = replay_gpu_trace(runs["trace"])  # and never one device for two jobs at once
    FIGURES["end_to_end"]["gpu_jobs_at_once"] = peak
    assert 1 <= peak <= 2


def test_cancelled_and_requeued_jobs_resume_from_their_checkpoints(runs, tmp_path):
    work, local = runs["work"], copy_workflow(tmp_path / "local", config())
    targets = [f"results/runs/text_ce/fold{k}/metrics.json" for k in (0, 1)]
    for w in (work, local):
        (w / "fault.yaml").write_text(json.dumps(fault_config()))
    actions = {0: ["scancel"], 1: ["scontrol", "requeue"]}
    acted, acted_at, stopped = {}, {}, {}  # fold -> SLURM job id, when, its train log once it stopped
    t0 = time.monotonic()
    with open(work / "fault.out", "w") as out, open(local / "fault.out", "w") as local_out:
        proc = subprocess.Popen(slurm_cmd(*targets, "--configfile", "fault.yaml"), cwd=work, env=slurm_env(),
                                stdout=out, stderr=subprocess.STDOUT)
        # The uninterrupted reference, meanwhile (the SLURM run mostly waits for its polls).
        reference = subprocess.Popen(
            [str(BIN / "snakemake"), "--cores", "2", *targets, "--resources", "gpu=2", "--configfile", "fault.yaml"],
            cwd=local, env=env(KEMDY_GPU_COUNT=2), stdout=local_out, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 240
            while len(stopped) < len(actions):
                assert proc.poll() is None, (work / "fault.out").read_text()[-4000:]
                assert time.time() < deadline, f"240 s: acted on {acted}, stopped {list(stopped)}"
                for k in set(acted) - set(stopped):  # read before the next attempt overwrites it
                    log = (work / f"logs/train/text_ce/fold{k}.log").read_text()
                    if "no output written" in log or time.time() > acted_at[k] + 20:
                        stopped[k] = log
                for k, command in actions.items():
                    if k in acted or not (work / f"results/checkpoints/text_ce/fold{k}/last.safetensors").exists():
                        continue
                    running = [j for j, (state, comment) in jobs_of(work).items()
                               if state == "RUNNING" and comment == f"rule_train_wildcards_text_ce_{k}"]
                    assert len(running) == 1, jobs_of(work)
                    subprocess.run([*command, running[0]], check=True, timeout=30)
                    acted[k], acted_at[k] = running[0], time.time()
                time.sleep(0.05)
            assert proc.wait(timeout=300) == 0, (work / "fault.out").read_text()[-6000:]
            slurm_s = time.monotonic() - t0
            assert reference.wait(timeout=300) == 0, (local / "fault.out").read_text()[-6000:]
        finally:
            for p in (proc, reference):
                if p.poll() is None:
                    p.kill()
    output = (work / "fault.out").read_text()
    submitted = SUBMITTED.findall(output)
    listed = jobs_of(work)

    # Cancelled: the job ends CANCELLED, the profile's retries submit it again.
    fold0 = [job for job, _, wildcards in submitted if wildcards == "text_ce_0"]
    assert fold0[0] == acted[0] and len(fold0) == 2, (fold0, acted)
    assert listed[fold0[0]][0] == "CANCELLED" and listed[fold0[1]][0] == "COMPLETED", listed
    # Requeued: SLURM restarts the same job (REQUEUED, PENDING count as running to the plugin).
    fold1 = [job for job, _, wildcards in submitted if wildcards == "text_ce_1"]
    assert fold1 == [acted[1]], (fold1, acted)
    info = job_info(acted[1])
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", info

    for k in (0, 1):
        # SLURM's SIGTERM reached the trainer, which saved where it stood before the kill.
        assert "stopped by SIGTERM: saved where training stood" in stopped[k], stopped[k][-3000:]
        log = (work / f"logs/train/text_ce/fold{k}.log").read_text()
        resumed = re.search(r"resuming after epoch (\d+) from", log)
        assert resumed and 1 <= int(resumed.group(1)) < FAULT_EPOCHS, log[-3000:]
        assert metrics(work, "text_ce", k) == metrics(local, "text_ce", k)
        pd.testing.assert_frame_equal(
            *(pd.read_csv(w / f"results/runs/text_ce/fold{k}/predictions.csv") for w in (work, local)),
            check_exact=True)
        assert not (work / f"results/checkpoints/text_ce/fold{k}").exists()  # done: no resume state left
    FIGURES["fault"] = {
        "jobs_submitted_to_slurm": len(submitted), "slurm_run_s": round(slurm_s, 1),
        "cancelled": acted[0], "requeued": acted[1],
        "resumed_after_epoch": [int(re.search(r"resuming after epoch (\d+)", (
            work / f"logs/train/text_ce/fold{k}.log").read_text()).group(1)) for k in (0, 1)],
    }  # fmt: skip
