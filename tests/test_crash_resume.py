"""A training job killed or stopped mid-run resumes from its checkpoint and ends as if never
interrupted.

Through the real workflow, in a scratch copy on a small look-alike with one variant
(text_ce), two folds and eight epochs: run A trains fold 0 uninterrupted; the other runs
are compared with it (metrics.json except train_seconds, history.csv except seconds,
predictions.csv). A job sent SIGKILL resumes from its last epoch; one sent SIGTERM saves
where it stands, mid-epoch, and writes no output. A finished job leaves no resume state
behind. A truncated checkpoint, or one of another spec, is refused by the trainer itself:
tests/test_train.py shows it without the workflow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from workflow_utils import BIN, copy_workflow, env, snakemake, tiny_config

pytestmark = pytest.mark.workflow

RUN = "results/runs/text_ce/fold0"
CKPT = "results/checkpoints/text_ce/fold0"
LAST, BEST = "last.safetensors", "best.safetensors"
LOG = "logs/train/text_ce/fold0.log"
TARGET = f"{RUN}/metrics.json"
EPOCHS = 8  # about 0.2 s each here: the kill lands well before the last one


def config() -> dict:
    # More segments and batches of 4 make an epoch long enough to be killed in. A resume that
    # went wrong shows in history.csv even when the best epoch came before the kill (on this
    # machine it is epoch 7 of 8, so it shows in the test metrics too).
    cfg = tiny_config(**{
        "synthetic.segments_per_session": 60, "folds.n_folds": 2,
        "encoders.demo_size.hidden": 64, "train.epochs": EPOCHS, "train.patience": EPOCHS,
        "train.batch_size": 4, "train.lr": 2e-3,
    })  # fmt: skip
    cfg["variants"] = {"text_ce": cfg["variants"]["text_ce"]}
    return cfg


def results(work: Path) -> dict:
    metrics = json.loads((work / RUN / "metrics.json").read_text())
    metrics.pop("train_seconds")
    return {
        "metrics": metrics,
        "history": pd.read_csv(work / RUN / "history.csv").drop(columns="seconds"),
        "predictions": pd.read_csv(work / RUN / "predictions.csv"),
    }


def assert_same(got: dict, want: dict) -> None:
    assert got["metrics"] == want["metrics"]
    pd.testing.assert_frame_equal(got["history"], want["history"], check_exact=True)
    pd.testing.assert_frame_equal(got["predictions"], want["predictions"], check_exact=True)


def train(work: Path, *args: str):
    return snakemake(work, "--cores", "1", TARGET, *args)


def fresh_run(work: Path) -> None:
    """Delete the run's outputs and checkpoints."""
    shutil.rmtree(work / RUN, ignore_errors=True)
    shutil.rmtree(work / CKPT, ignore_errors=True)


def train_pids(work: Path) -> list[int]:
    """The python process running scripts/train.py for this run in this workflow copy.

    Not the bash of the rule nor gpu_slot.py (their command lines name train.py too), and not
    another test's run of the same variant (other copies have another working directory).
    """
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == b"scripts/train.py" and RUN.encode() in argv \
                and cwd == os.path.realpath(work):
            found.append(int(proc.name))
    return found


def interrupt(work: Path, signum: int, *args: str) -> None:
    """Run the job through Snakemake and send `signum` to its trainer once the first
    checkpoint is written; the workflow must fail and leave no output."""
    with open(work / "interrupted.out", "w") as out:
        proc = subprocess.Popen([str(BIN / "snakemake"), "--cores", "1", TARGET, *args], cwd=work,
                                env=env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.time() + 180
            while not (work / CKPT / LAST).exists():  # written at the end of each epoch
                assert proc.poll() is None, (work / "interrupted.out").read_text()[-3000:]
                assert time.time() < deadline, "no checkpoint after 180 s"
                time.sleep(0.01)
            pids = train_pids(work)
            assert len(pids) == 1, pids
            os.kill(pids[0], signum)
            assert proc.wait(timeout=120) != 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert not (work / TARGET).exists()
    said = (work / "interrupted.out").read_text()
    # Snakemake's "Error in rule train" stays; the workflow's own lines say what happened
    name = signal.Signals(signum).name
    if signum == signal.SIGKILL:  # the trainer could neither save nor say: a failed job
        assert "Interrupted, not failed" not in said and "no job failed" not in said, said[-3000:]
        return
    assert f"Interrupted, not failed: train (variant=text_ce, fold=0) was stopped by {name} " \
           f"(exit {128 + signum} = 128 + {name})" in said, said[-3000:]
    assert "no job failed" in said and "Some jobs failed" not in said, said[-3000:]


@pytest.fixture(scope="module")
def run_a(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("resume"), config())
    train(work)  # the data steps, then run A
    a = results(work)
    assert not (work / CKPT).exists(), "a finished job left its resume state"
    assert (work / "results/models/text_ce/fold0/model.safetensors").exists()
    return work, a


def test_killed_run_resumes_and_matches_an_uninterrupted_run(run_a):
    work, a = run_a
    fresh_run(work)
    interrupt(work, signal.SIGKILL)
    logged = [int(e) for e in re.findall(r"^epoch (\d+): train loss", (work / LOG).read_text(), re.M)]
    assert logged and logged[-1] < EPOCHS, "the kill came too late: training had finished"

    train(work)  # a plain rerun: the failed job left nothing for --rerun-incomplete to do

    resumed = re.search(r"resuming after epoch (\d+) from (\S+)", (work / LOG).read_text())
    assert resumed, (work / LOG).read_text()[-3000:]
    epoch = int(resumed.group(1))
    # The checkpoint is written just after the epoch's log line: the kill may fall between.
    assert logged[-1] - 1 <= epoch <= logged[-1] and 1 <= epoch < EPOCHS
    assert resumed.group(2) == f"{CKPT}/{LAST}"
    assert_same(results(work), a)


def test_stopped_run_saves_mid_epoch_and_resumes_exactly(run_a):
    work, a = run_a
    fresh_run(work)
    interrupt(work, signal.SIGTERM)
    log = (work / LOG).read_text()
    assert "stopped by SIGTERM: saved where training stood" in log and "no output written" in log
    train(work)
    assert "resuming after epoch" in (work / LOG).read_text()
    assert_same(results(work), a)
