"""What the workflow does with its reports after a run: after a failure, a partial report
of what finished, and a report of another config moved aside so that it cannot pass for
current; after a success, the partial and stale reports removed.

The partial report goes to reports/summary.partial.html, not the target: Snakemake does not
redo a deleted or failed intermediate while the target exists, so a partial report written
as reports/summary.html would stop the next run from redoing the failed jobs. Moving a stale
report aside keeps that: the next run finds no target and redoes what is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys

from kemdy.report.render import digests_of
from kemdy.spec import fingerprint


def say(message: str) -> None:
    print(message, file=sys.stderr)


def partial_report(commands: list[list[str]], needed: list[str], html: str,
                   log_path: str = "logs/partial_report.log", stopped: bool = False) -> None:
    """Run the summary and report commands (over the runs that exist) into their partial
    outputs; nothing when the data steps did not finish. `stopped`: no job failed (the run
    was stopped, or a signal interrupted every failed job; say_stopped / say_interrupted
    said so): not a word that jobs failed."""
    if not all(os.path.exists(p) for p in needed):
        say("No partial report: the data steps did not finish.")
        return
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "w") as log:
        for command in commands:
            if subprocess.run(command, stdout=log, stderr=log).returncode != 0:
                say(f"Partial report failed: see {log_path}")
                return
    if stopped:
        say(f"{html} reports what finished and names the runs still to do.")
        return
    say(f"Some jobs failed: {html} reports what finished and names the missing runs; fix "
        "the cause and rerun to redo only the failed jobs.")


def set_stale_report_aside(report: str, stale: str, config: dict, inputs: str = "") -> None:
    """A report rendered under another config, or on other dataset files (`inputs`: the
    fingerprint of both that render_report writes into the page), is moved to `stale`."""
    if not os.path.exists(report):
        return
    config_digest, inputs_digest = digests_of(report)
    if config_digest != fingerprint(config):
        why = "another config"
    elif inputs and inputs_digest is not None and inputs_digest != inputs:
        why = "another state of the dataset files"
    else:
        return
    os.replace(report, stale)
    say(f"{report} was rendered under {why}: moved to {stale}.")


def remove_superseded(report: str, partial: dict[str, str], stale: str) -> None:
    """A complete report supersedes the partial and stale reports of earlier failed runs."""
    if not os.path.exists(report):
        return
    if os.path.exists(partial["html"]) and os.path.getmtime(report) < os.path.getmtime(partial["html"]):
        return  # this run did not render the report (e.g. a single target was asked for)
    for path in [*partial.values(), stale]:
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


# train.py's last words when SIGTERM/SIGINT stopped it (kemdy.train.stopping): it saved where
# it stood and exits 128 + the signal, which Snakemake reports as an error like any other.
_STOPPED = re.compile(r"stopped by (SIGTERM|SIGINT): saved where training stood")


def stopping_signal(logs) -> str | None:
    """The signal that stopped a job, as its log says, or None (a real failure)."""
    for path in logs:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                found = _STOPPED.findall(handle.read())
        except OSError:
            continue
        if found:
            return found[-1]
    return None


def say_interrupted(failed: dict[str, list[str]]) -> bool:
    """Name the failed jobs (name -> log files) a signal stopped; True when all were."""
    stopped = {job: sig for job, logs in failed.items() if (sig := stopping_signal(logs))}
    for job, sig in stopped.items():
        say(f"Interrupted, not failed: {job} was stopped by {sig} (exit "
            f"{128 + signal.Signals[sig].value} = 128 + {sig}) and saved where it stood; "
            "rerun the same command to resume it exactly.")
    every = bool(stopped) and len(stopped) == len(failed)
    if every:
        say("The 'Error in rule' lines above and Snakemake's non-zero exit status are these "
            "interruptions: no job failed.")
    return every


def say_stopped(remaining: int | None) -> None:
    """Snakemake was stopped (SIGTERM) and let its running jobs finish; none failed."""
    if remaining == 0:
        say("Stopped by a signal after the running jobs finished: no job failed and none is "
            "left to run. Snakemake exits 1 ('At least one job did not complete "
            "successfully') because it was stopped, not because a job failed.")
    else:
        say("Stopped before every job had run; no job failed. Rerun to go on from here.")
