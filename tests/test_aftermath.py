"""What the workflow says after a run that did not finish: jobs a signal stopped (they
saved and resume) are named as interrupted, not failed; a stop after every job finished
says so and explains Snakemake's exit status."""

from __future__ import annotations

import signal

from kemdy.report import aftermath
from kemdy.train.stopping import Stopped


def train_log(path, signum=None):
    """A training job's log as train.py leaves it: stopped by a signal, or a crash."""
    lines = ["train, epoch 1 ...", "train, epoch 2 ..."]
    if signum is None:
        lines.append("RuntimeError: CUDA out of memory")
    else:  # train.py's own line (scripts/train.py main)
        lines.append(f"{Stopped(signum)}: saved where training stood in results/checkpoints/x; "
                     "no output written")
    path.write_text("\n".join(lines) + "\n")
    return [str(path)]


def test_jobs_stopped_by_a_signal_are_interrupted_not_failed(tmp_path, capsys):
    failed = {"train (variant=text_ce, fold=0)": train_log(tmp_path / "a.log", signal.SIGTERM),
              "train (variant=text_ce, fold=1)": train_log(tmp_path / "b.log", signal.SIGINT)}
    assert aftermath.say_interrupted(failed) is True
    said = capsys.readouterr().err
    assert ("Interrupted, not failed: train (variant=text_ce, fold=0) was stopped by SIGTERM "
            "(exit 143 = 128 + SIGTERM)") in said
    assert "fold=1) was stopped by SIGINT (exit 130 = 128 + SIGINT)" in said
    assert "rerun the same command to resume it exactly" in said
    assert "no job failed" in said
    # with every failed job interrupted, the partial report does not say jobs failed
    aftermath.partial_report([], ["absent"], "partial.html", stopped=True)
    assert "Some jobs failed" not in capsys.readouterr().err


def test_a_real_failure_beside_an_interruption_is_still_a_failure(tmp_path, capsys):
    failed = {"train (fold=0)": train_log(tmp_path / "a.log", signal.SIGTERM),
              "train (fold=1)": train_log(tmp_path / "b.log"),
              "ingest": [str(tmp_path / "no-such.log")]}
    assert aftermath.say_interrupted(failed) is False
    said = capsys.readouterr().err
    assert "train (fold=0) was stopped by SIGTERM" in said
    assert "fold=1" not in said and "ingest" not in said and "no job failed" not in said


def test_a_stop_after_every_job_finished_explains_the_exit_status(capsys):
    aftermath.say_stopped(0)
    said = capsys.readouterr().err
    assert "no job failed and none is left to run" in said
    assert "exits 1 ('At least one job did not complete successfully') because it was stopped" \
        in said
    assert "Stopped before every job had run" not in said
    aftermath.say_stopped(3)
    assert "Stopped before every job had run; no job failed" in capsys.readouterr().err


def test_a_failed_run_on_corrected_data_sets_the_old_summary_aside_with_its_report(tmp_path,
                                                                                 capsys):
    """Same config, corrected dataset, one job dies (--keep-going): summarize never runs, so
    results/summary.csv is still the old data's. It goes aside with the report it fed, and a
    complete run's success removes both stale files."""
    import os

    from kemdy.spec import fingerprint

    config = {"variants": {"v": {}}}
    summary, report = tmp_path / "summary.csv", tmp_path / "summary.html"
    runs = [tmp_path / f"runs/v/fold{k}/metrics.json" for k in (0, 1)]
    for path in runs:
        path.parent.mkdir(parents=True)
        path.write_text("{}")
    summary.write_text("variant,metric\nv,f1_macro\n")
    report.write_text(f'<meta name="kemdy-config" content="{fingerprint(config)}">\n'
                      '<meta name="kemdy-inputs" content="00aa">\n')
    for age, path in ((30, runs[0]), (30, runs[1]), (20, summary), (10, report)):
        os.utime(path, (os.path.getmtime(path) - age,) * 2)
    runs[1].unlink()  # the job that died: Snakemake removed its outputs
    runs[0].write_text("{}")  # the job that finished: retrained on the corrected data
    stale = str(tmp_path / "summary.stale.html")
    moved = aftermath.set_stale_report_aside(str(report), stale, config, "11bb")
    aftermath.set_stale_summary_aside(str(summary), [str(p) for p in runs],
                                      stale if moved else None)
    assert moved and not summary.exists() and (tmp_path / "summary.stale.csv").exists()
    said = capsys.readouterr().err
    assert f"{summary} no longer describes the runs (the report it fed, {stale}" in said
    assert "moved to" in said and "summary.stale.csv" in said
    # the next complete run renders the report again: the stale files go
    summary.write_text("variant,metric\nv,f1_macro\n")
    report.write_text("new")
    partial = {"html": str(tmp_path / "summary.partial.html")}
    aftermath.remove_superseded(str(report), partial, stale, str(summary))
    assert not os.path.exists(stale) and not (tmp_path / "summary.stale.csv").exists()
    assert summary.exists() and report.exists()


def test_a_summary_older_than_its_runs_goes_aside_and_a_current_one_stays(tmp_path, capsys):
    """Without a report to go by (none yet, or a current one), summary.csv is stale when a
    run it is made from was rewritten after it or is missing; else it stays."""
    import os

    summary = tmp_path / "summary.csv"
    runs = [tmp_path / f"fold{k}.json" for k in (0, 1)]
    for path in runs:
        path.write_text("{}")
        os.utime(path, (os.path.getmtime(path) - 30,) * 2)
    summary.write_text("old")
    aftermath.set_stale_summary_aside(str(summary), [str(p) for p in runs])
    assert summary.exists() and not capsys.readouterr().err  # current: kept
    os.utime(runs[1], (os.path.getmtime(summary) + 5,) * 2)
    assert aftermath.stale_summary(str(summary), [str(p) for p in runs]) == \
        f"{runs[1]} was written after it"
    runs[1].unlink()
    aftermath.set_stale_summary_aside(str(summary), [str(p) for p in runs])
    assert not summary.exists() and (tmp_path / "summary.stale.csv").read_text() == "old"
    assert f"{runs[1]}, which it should summarise, is missing" in capsys.readouterr().err
    aftermath.set_stale_summary_aside(str(summary), [str(p) for p in runs])  # nothing left: no-op


def test_snakemakes_private_state_is_where_the_pinned_version_keeps_it():
    """kemdy/workflow_state.py reads JobScheduler._user_kill, ._errors, .failed and
    .remaining_jobs: held to the Snakemake version requirements.txt pins, so an upgrade
    that moves them fails here rather than in a user's aftermath."""
    import inspect
    import re
    from pathlib import Path

    import snakemake
    from snakemake.scheduling.job_scheduler import JobScheduler

    pinned = re.search(r"^snakemake==(\S+)", (Path(__file__).parents[1] / "requirements.txt")
                       .read_text(), flags=re.M)[1]
    assert snakemake.__version__ == pinned
    source = inspect.getsource(JobScheduler)
    for attribute in ("self._user_kill", "self._errors", "self.failed", "def remaining_jobs"):
        assert attribute in source, attribute


def test_the_workflow_state_adapter_reads_a_stop_and_the_failed_jobs():
    from types import SimpleNamespace

    from kemdy import workflow_state as ws

    job = SimpleNamespace(rule=SimpleNamespace(name="train"), log=["logs/a.log"],
                          wildcards_dict={"variant": "text_ce", "fold": "0"})
    stopped = SimpleNamespace(_user_kill="graceful", _errors=False, failed=[job],
                              remaining_jobs=[1, 2])
    assert ws.stopped_by_user(stopped) and ws.remaining_jobs(stopped) == 2
    assert not ws.stopped_by_user(SimpleNamespace(_user_kill="graceful", _errors=True))
    assert not ws.stopped_by_user(None) and ws.remaining_jobs(None) is None
    assert ws.failed_jobs(stopped) == {"train (variant=text_ce, fold=0)": ["logs/a.log"]}
    workflow = SimpleNamespace(nodes=None, is_main_process=True, cores=8)
    assert ws.local_cores(workflow) == 8
    assert ws.local_cores(SimpleNamespace(nodes=4, is_main_process=True, cores=8)) is None


def test_an_unrecorded_argument_reaches_the_shell_but_not_the_jobs_record():
    """kemdy.commands.Unrecorded relies on two things the pinned Snakemake does: it records a
    str param by repr() (a changed record reruns the job) and formats it into the shell with
    format()."""
    from types import SimpleNamespace

    from snakemake.persistence import PersistenceBase
    from snakemake.utils import format as shell_format

    from kemdy.commands import Unrecorded

    arg = Unrecorded("--segments s.csv", "--varies seed")
    assert PersistenceBase._serialize_param_builtin(None, arg) == repr("--segments s.csv")
    store = SimpleNamespace(_serialize_param_builtin=lambda v: PersistenceBase
                            ._serialize_param_builtin(None, v))
    assert PersistenceBase._serialize_param_pandas(store, arg) == repr("--segments s.csv")
    params = SimpleNamespace(context=arg, empty=Unrecorded("", ""))
    assert shell_format("train {params.context} x{params.empty}y", params=params) == \
        "train --segments s.csv --varies seed xy"
