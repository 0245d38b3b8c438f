"""What the workflow needs from Snakemake's own objects, read in one place: the cores a local
run may use, and after a run, whether the user stopped it, which jobs failed, how many were
left. Some of it is Snakemake's private state (JobScheduler._user_kill, ._errors) as the
version requirements.txt pins has it; tests/test_aftermath.py holds this module to that
version, so an upgrade that moves them fails a test instead of a user's aftermath."""

from __future__ import annotations


def local_cores(workflow) -> int | None:
    """--cores of a local run in the main process; None on a cluster, inside a job's own
    process, or without --cores (e.g. --lint)."""
    if workflow.nodes is not None or not workflow.is_main_process:
        return None
    try:
        return workflow.cores
    except Exception:  # no --cores: nothing to scale against
        return None


def scheduler(workflow):
    return getattr(workflow, "scheduler", None)


def stopped_by_user(sched) -> bool:
    """Stopped by SIGTERM to Snakemake (it then waits for the running jobs), and no job
    failed."""
    return bool(getattr(sched, "_user_kill", None) and not getattr(sched, "_errors", True))


def job_name(job) -> str:
    """'train (variant=text_ce, fold=0)': a job as Snakemake's error lines name it."""
    wildcards = ", ".join(f"{k}={v}" for k, v in job.wildcards_dict.items())
    return f"{job.rule.name} ({wildcards})" if wildcards else job.rule.name


def failed_jobs(sched) -> dict[str, list[str]]:
    """{job name: its log files} of the jobs that failed (or that a signal stopped)."""
    return {job_name(j): list(j.log) for j in getattr(sched, "failed", ())}


def remaining_jobs(sched) -> int | None:
    """How many jobs Snakemake had still to run (None if it cannot say)."""
    try:
        return len(sched.remaining_jobs)
    except Exception:  # Snakemake's internals: the message only loses its precision
        return None
