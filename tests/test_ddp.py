import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kemdy.classes import CLASSES
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.train.data import load_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


CASES = {  # one gloo run each: dialogue context through concat; cross-attention under warm-up
    "context": {"context_turns": 2},
    "cross_attention": {"fusion": "cross_attention", "attention_dim": 16, "attention_heads": 2,
                        "attention_layers": 1, "text_warmup_epochs": 1},
}


@pytest.mark.parametrize("name", list(CASES))
def test_two_cpu_processes_with_gloo(tmp_path, name):
    case = CASES[name]
    ws = toy_workspace(tmp_path / "ws", n_sessions=3, per_session=12)
    # Trainable text and audio encoders: gradients of both are all-reduced. A non-concat
    # fusion under text-only warm-up: the cross-attention blocks and the muted audio side
    # (times 0.0, still in the graph) are all-reduced too.
    spec = {"modality": "text+audio", "loss": "ce", "epochs": 2, "batch_size": 8, "max_len": 32,
            "lr": 3e-3, "audio_seconds": 0.5, "patience": 5, **case}
    argv = train_args(ws, tmp_path / "run", "mm_ddp", spec, threads=1)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "scripts/train.py", *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "run" / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    preds = pd.read_csv(out / "predictions.csv")
    split = load_split(ws["data"], ws["folds"], 0)
    assert sorted(preds["segment_id"]) == sorted(split.loc[split["part"] == "test", "segment_id"])
    assert np.allclose(preds[[f"prob_{c}" for c in CLASSES]].sum(axis=1), 1.0)
    assert "x2 (DDP)" in metrics["device"]
    assert 0 <= metrics["f1_macro"] <= 1 and metrics["n_test"] == len(preds)
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [1, 2] and np.isfinite(history["train_loss"]).all()
    # only rank 0 logs epochs and writes: each line once, no stray temporary files
    assert proc.stderr.count("epoch 2: train loss") == 1
    context = proc.stderr.count("dialogue context: up to 2 previous turns")
    assert context == (1 if case.get("context_turns") else 0)
    assert sorted(os.listdir(out)) == ["config.json", "history.csv", "metrics.json", "predictions.csv"]
