"""The workflow on real devices: the tiny config through Snakemake with `--resources gpu=1`
(gpu_slot's locks and CUDA_VISIBLE_DEVICES, no simulated GPUs), and DDP over NCCL through
gpu_slot where there are two GPUs or more."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from kemdy.demo.toy_corpus import toy_workspace, train_args
from workflow_utils import BIN, REPO, copy_workflow, env, replay_gpu_trace, tiny_config

pytestmark = pytest.mark.gpu


@pytest.mark.workflow
def test_the_tiny_workflow_runs_on_real_gpus(tmp_path):
    work = copy_workflow(tmp_path / "tiny", tiny_config())
    trace = work / "gpu_trace.txt"
    proc = subprocess.run([str(BIN / "snakemake"), "--cores", "4", "--resources", "gpu=1"],
                          cwd=work, env=env(KEMDY_GPU_TRACE=trace), capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert replay_gpu_trace(trace) == 1  # gpu=1: one training job on a device at a time
    devices = {line.split()[1] for line in trace.read_text().splitlines()}
    assert devices <= {str(i) for i in range(torch.cuda.device_count())}
    runs = sorted((work / "results" / "runs").rglob("metrics.json"))
    trained = [json.loads(p.read_text()) for p in runs if (p.parent / "config.json").exists()]
    assert trained and all(not m["device"].startswith("cpu") for m in trained), \
        [m["device"] for m in trained]
    assert (work / "reports" / "summary.html").exists()
    results = os.environ.get("KEMDY_GPU_RESULTS")
    if results:  # every run's history and spec: `bench grid --stopping` reads them
        for p in runs:
            dest = Path(results) / "tiny-runs" / p.parent.relative_to(work / "results" / "runs")
            dest.mkdir(parents=True, exist_ok=True)
            for name in ("history.csv", "config.json", "metrics.json"):
                if (p.parent / name).exists():
                    shutil.copy2(p.parent / name, dest / name)


def test_ddp_over_nccl_through_gpu_slot(tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip(f"DDP over NCCL needs two GPUs; this machine has "
                    f"{torch.cuda.device_count()}")
    ws = toy_workspace(tmp_path / "ws", n_sessions=3, per_session=12)
    spec = {"modality": "text+audio", "loss": "soft_bce", "epochs": 2, "batch_size": 8,
            "max_len": 32, "lr": 3e-3, "audio_seconds": 0.5, "patience": 5, "gpus": 2}
    argv = train_args(ws, tmp_path / "run", "mm_ddp", spec, threads=1)
    proc = subprocess.run([sys.executable, "scripts/gpu_slot.py", "--gpus", "2", "--lock-dir",
                           str(tmp_path / "locks"), "--", "scripts/train.py", *argv],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "out" / "metrics.json").read_text())
    assert "x2 (DDP)" in metrics["device"] and not metrics["device"].startswith("cpu")
    history = pd.read_csv(tmp_path / "run" / "out" / "history.csv")
    assert list(history["epoch"]) == [1, 2]
