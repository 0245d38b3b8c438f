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
