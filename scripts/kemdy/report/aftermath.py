"""What the workflow does with its reports after a run: after a failure, a partial report
of what finished, and a report of another config (or other data) moved aside so that it
cannot pass for current, with the summary.csv that no longer describes the runs; after a
success, the partial and stale files removed.

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


def aside(path: str) -> str:
    """Where a stale file is moved: results/summary.csv -> results/summary.stale.csv."""
    base, ext = os.path.splitext(path)
    return f"{base}.stale{ext}"


def set_stale_report_aside(report: str, stale: str, config: dict, inputs: str = "") -> bool:
    """A report rendered under another config, or on other dataset files (`inputs`: the
    fingerprint of both that render_report writes into the page), is moved to `stale`;
    True when it was."""
    if not os.path.exists(report):
        return False
    config_digest, inputs_digest = digests_of(report)
    if config_digest != fingerprint(config):
        why = "another config"
    elif inputs and inputs_digest is not None and inputs_digest != inputs:
        why = "another state of the dataset files"
    else:
        return False
    os.replace(report, stale)
    say(f"{report} was rendered under {why}: moved to {stale}.")
    return True


def stale_summary(summary: str, runs: list[str], stale_report: str | None = None) -> str | None:
    """Why summary.csv no longer describes this run, or None. `runs`: the run files it is
    made from (the summarize rule's inputs); `stale_report`: the report just set aside.

    A failed run leaves summary.csv as the last complete run wrote it: the summarize step
    only runs once every run is there. It is stale when the report set aside was rendered
    from it (not newer than that report, whose move kept its time), or when a run it is
    made from has since been rewritten or is missing (what would make Snakemake redo it)."""
    if not os.path.exists(summary):
        return None
    made = os.path.getmtime(summary)
    if stale_report and os.path.exists(stale_report) and made <= os.path.getmtime(stale_report):
        return f"the report it fed, {stale_report}, is another config's or other data's"
    missing = [p for p in runs if not os.path.exists(p)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return f"{missing[0]}{more}, which it should summarise, is missing"
    newer = [p for p in runs if os.path.getmtime(p) > made]
    if newer:
        more = f" (and {len(newer) - 1} more)" if len(newer) > 1 else ""
        return f"{newer[0]}{more} was written after it"
    return None


def set_stale_summary_aside(summary: str, runs: list[str], stale_report: str | None = None) -> None:
    """Move a stale summary.csv (stale_summary) to aside(summary): after a failed run no
    summary.csv is left that describes other runs than those on disk."""
    why = stale_summary(summary, runs, stale_report)
    if why is None:
        return
    os.replace(summary, aside(summary))
    say(f"{summary} no longer describes the runs ({why}): moved to {aside(summary)}; "
        "the next complete run writes it again.")


def remove_superseded(report: str, partial: dict[str, str], stale: str,
                      summary: str | None = None) -> None:
    """A complete report supersedes the partial and stale reports (and the stale summary.csv
    beside `summary`) of earlier failed runs."""
    if not os.path.exists(report):
        return
    if os.path.exists(partial["html"]) and os.path.getmtime(report) < os.path.getmtime(partial["html"]):
        return  # this run did not render the report (e.g. a single target was asked for)
    for path in [*partial.values(), stale, *([aside(summary)] if summary else [])]:
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
