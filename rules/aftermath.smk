# After the run (onsuccess / onerror): a complete run removes the partial and stale reports;
# a failed one sets a stale report (and summary) aside, says which jobs were interrupted
# rather than failed, and renders the partial report of what finished
# (scripts/kemdy/report/aftermath.py; Snakemake's state read through kemdy/workflow_state.py).
from kemdy.report import aftermath  # noqa: E402
from kemdy import workflow_state  # noqa: E402


def report_aftermath(failed):
    if not failed:
        aftermath.remove_superseded(REPORT, PARTIAL, STALE, "results/summary.csv")
        return
    moved = aftermath.set_stale_report_aside(
        REPORT, STALE, json.loads(json.dumps(config)), INPUTS_DIGEST
    )
    # summarize runs only once every run is there: the old summary.csv is left otherwise
    aftermath.set_stale_summary_aside(
        "results/summary.csv",
        NEEDS.run_files("predictions.csv") + NEEDS.run_files("metrics.json"),
        STALE if moved else None,
    )
    summary, html, plots = PARTIAL["summary"], PARTIAL["html"], PARTIAL["plots"]
    steps = {
        "summarize": COMMANDS.summarize(summary, allow_missing=True),
        "render_report": COMMANDS.render(summary, html, plots, allow_missing=True),
    }
    commands = [["python", step(f"scripts/{s}.py"), *a] for s, a in steps.items()]
    needed = ["results/config.json"] + [
        f"results/data/{n}" for n in ("new_data.csv", "folds.csv", "agreement.json")
    ]
    scheduler = workflow_state.scheduler(workflow)
    if workflow_state.stopped_by_user(scheduler):  # SIGTERM: nothing failed
        stopped = True
        aftermath.say_stopped(workflow_state.remaining_jobs(scheduler))
    else:  # jobs a signal stopped (Ctrl-C, SIGTERM to the group) saved and exited 128+sig
        failed_jobs = workflow_state.failed_jobs(scheduler)
        stopped = aftermath.say_interrupted(failed_jobs)
    aftermath.partial_report(commands, needed, html, stopped=bool(stopped))


onsuccess:
    report_aftermath(failed=False)


onerror:
    report_aftermath(failed=True)
