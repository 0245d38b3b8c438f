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
import shutil
import subprocess
import sys

from kemdy.report.render import digests_of
from kemdy.spec import fingerprint


def say(message: str) -> None:
    print(message, file=sys.stderr)


def partial_report(commands: list[list[str]], needed: list[str], html: str,
                   log_path: str = "logs/partial_report.log", stopped: bool = False) -> None:
    """Run the summary and report commands (over the runs that exist) into their partial
    outputs; nothing when the data steps did not finish. `stopped`: the run was stopped
    (SIGTERM) before every job ran, and no job failed: say so, not that jobs failed."""
    if stopped:
        say("Stopped before every job had run; no job failed. Rerun to go on from here.")
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
