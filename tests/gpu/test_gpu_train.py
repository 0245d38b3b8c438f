"""train.py on a CUDA device: every loss, every fusion, two-stage, dialogue context, seeds
and a sweep; bf16 and fp16 with its scaler (forced); SIGTERM mid-epoch then resume; export
then predict.py on the CPU. Tiny encoders (tests' toy workspace): these check that every
path runs and agrees on the device, not speed (bench gpu, test_gpu_shapes.py).

Tolerances (GPU kernels are not bit-reproducible, and bf16 keeps 8 bits of mantissa):
- resumed vs uninterrupted: each epoch's train and validation loss within 2 % (relative),
  test probabilities within 0.02, a predicted label differing only where the top two
  probabilities are within 0.04;
- predict.py on the CPU (float32) vs the GPU run's own test probabilities (bf16 autocast,
  or fp16 on older cards): within 0.03.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import train
from kemdy import protocol
from kemdy.classes import CLASSES
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.spec import LOSSES
from kemdy.train import loop
from kemdy.fusion_spec import FUSIONS
from test_fusion_train import SMALL
from test_train import run, stopped_run
from workflow_utils import REPO

BASE = {"epochs": 2, "lr": 3e-3, "batch_size": 8, "max_len": 32, "patience": 5, "seed": 3,
        "audio_seconds": 0.6, "freeze_feature_encoder": False, "modality": "text+audio",
        "loss": "ce"}
RESUME_LOSS_RTOL, RESUME_PROB_TOL = 0.02, 0.02
BF16_PREDICT_TOL = 0.03
# name -> (the variant's keys over BASE, stage)
CASES = {
    **{f"loss-{loss}": ({"loss": loss}, None) for loss in LOSSES},
    "valence-arousal": ({"loss": "soft_focal", "target_sharpening": "peakl", "va_weight": 0.43,
                         "va_loss": "mse"}, None),
    **{f"fusion-{f}": ({**SMALL, "fusion": f}, None) for f in FUSIONS if f != "concat"},
    "two-stage-1": ({"loss": "soft_bce", "two_stage": True}, 1),
    "two-stage-2": ({"loss": "soft_bce", "two_stage": True}, 2),
    "context": ({"context_turns": 2}, None),
    "frozen-weighted-layers": ({"freeze_audio": True, "audio_layers": "weighted"}, None),
    "text-warmup": ({"fusion": "gated", "text_warmup_epochs": 1}, None),
    "accumulate": ({"accumulate": 2}, None),
}
CUDA = pytest.mark.gpu


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return toy_workspace(tmp_path_factory.mktemp("ws"), n_sessions=4, per_session=15)


def on(device: str, monkeypatch) -> None:
    """Train on `device`: on a GPU machine the CPU variant hides CUDA from train.py."""
    if device == "cpu":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def check_run(metrics: dict, run_dir, device: str) -> pd.DataFrame:
    """It ran where asked, its losses are finite, its test probabilities sum to one, and it
    exported a model. Returns the predictions."""
    assert metrics["device"].startswith("cpu") == (device == "cpu"), metrics["device"]
    out = run_dir / "out"
    history = pd.read_csv(out / "history.csv")
    assert np.isfinite(history["train_loss"]).all(), history
    preds = pd.read_csv(out / "predictions.csv")
    probs = preds.filter(like="prob_").to_numpy()
    assert np.isfinite(probs).all() and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (run_dir / "model" / "model.safetensors").exists()
    return preds


@pytest.mark.parametrize("name, device", [
    *[pytest.param(n, "cuda", marks=CUDA, id=f"{n}-cuda") for n in CASES],
    # soft_bce's class weights once stayed on the CPU: the body checked where it always runs
    pytest.param("loss-soft_bce", "cpu", id="loss-soft_bce-cpu")])
def test_every_loss_fusion_and_option_trains(ws, tmp_path, monkeypatch, name, device):
    on(device, monkeypatch)
    keys, stage = CASES[name]
    metrics = train.main(train_args(ws, tmp_path, "v", {**BASE, **keys}, stage=stage))
    check_run(metrics, tmp_path, device)


@CUDA
def test_seeds_and_a_sweep_on_the_gpu(ws, tmp_path, record):
    variant = {k: v for k, v in BASE.items() if k != "seed"}
    config = {"variants": {"v": {**variant, "seeds": [3, 4], "sweep": {"lr": [3e-3, 1e-3]}}}}
    plan = protocol.plan(config, "v")
    scores, preds = {}, {}
    for seed in plan.seeds:
        for c in plan.candidates:
            run_dir = tmp_path / f"seed{seed}" / c.id
            metrics = train.main(train_args(ws, run_dir, "v", {**variant, "seed": seed,
                                                                **c.params}))
            preds[seed, c.id] = check_run(metrics, run_dir, "cuda")
            history = pd.read_csv(run_dir / "out" / "history.csv")
            scores[seed, c.id] = protocol.validation_score(history)
    first = plan.candidates[0].id
    probs = [preds[s, first].filter(like="prob_").to_numpy() for s in plan.seeds]
    assert np.abs(probs[0] - probs[1]).max() > 1e-4  # another seed, another model
    for seed in plan.seeds:
        chosen = protocol.select([scores[seed, c.id] for c in plan.candidates])
        assert scores[seed, plan.candidates[chosen].id] == max(
            scores[seed, c.id] for c in plan.candidates)
    record("seeds-sweep", {f"{s}/{c}": v for (s, c), v in scores.items()})


def spy_precision(monkeypatch) -> list:
    """What the loop picked: (autocast dtype, GradScaler) of every runtime train.py built."""
    picked, real = [], loop.precision

    def spy(device):
        picked.append(real(device))
        return picked[-1]

    monkeypatch.setattr(loop, "precision", spy)
    return picked


@CUDA
@pytest.mark.parametrize("forced", ["native", "float16"])
def test_mixed_precision_bf16_and_fp16_with_its_scaler(ws, tmp_path, monkeypatch, forced):
    if forced == "float16":  # a V100 or T4: no native bf16
        monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                            lambda including_emulation=True: False)
    elif not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip(f"{torch.cuda.get_device_name(0)} has no native bfloat16")
    picked = spy_precision(monkeypatch)
    metrics = train.main(train_args(ws, tmp_path, "v", {**BASE, "loss": "soft_bce"}))
    check_run(metrics, tmp_path, "cuda")
    amp, scaler = picked[-1]
    if forced == "float16":
        assert amp == torch.float16 and scaler is not None
        assert scaler._scale is not None and scaler.get_scale() > 0  # it scaled the steps
    else:
        assert amp == torch.bfloat16 and scaler is None


@CUDA
def test_sigterm_mid_epoch_then_resume_on_the_gpu(ws, tmp_path, capsys, record):
    spec = {**BASE, "epochs": 3}
    argv = stopped_run(ws, tmp_path / "stopped", spec, "mm")
    train.main(argv)
    assert "resuming after epoch 1" in capsys.readouterr().err
    _, fresh_preds, fresh_history = run(ws, tmp_path / "fresh", spec, variant="mm")
    out = tmp_path / "stopped" / "out"
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == list(fresh_history["epoch"])
    cols = ["train_loss", "val_loss"]
    np.testing.assert_allclose(history[cols], fresh_history[cols], rtol=RESUME_LOSS_RTOL)
    preds = pd.read_csv(out / "predictions.csv")
    probs = [f"prob_{c}" for c in CLASSES]
    gap = np.abs(preds[probs].to_numpy() - fresh_preds[probs].to_numpy())
    assert gap.max() <= RESUME_PROB_TOL
    top2 = np.sort(fresh_preds[probs].to_numpy(), axis=1)[:, -2:]
    differ = (preds["pred"] != fresh_preds["pred"]).to_numpy()
    assert (top2[differ, 1] - top2[differ, 0] <= 2 * RESUME_PROB_TOL).all()
    record("resume", {"max_prob_gap": float(gap.max()), "labels_differing": int(differ.sum())})


@CUDA
def test_a_gpu_trained_model_predicts_on_the_cpu_as_in_training(ws, tmp_path, record):
    metrics = train.main(train_args(ws, tmp_path, "mm", {**BASE, "loss": "soft_bce"}))
    want = check_run(metrics, tmp_path, "cuda")
    data = pd.read_csv(ws["data"]).set_index("segment_id").loc[want["segment_id"]]
    pd.DataFrame({"wav": [os.path.join(ws["root"], p) for p in data["wav_path"]],
                  "text": data["text"].to_numpy()}).to_csv(tmp_path / "items.csv", index=False)
    proc = subprocess.run(
        [sys.executable, "scripts/predict.py", "--model", str(tmp_path / "model"), "--csv",
         str(tmp_path / "items.csv"), "--out", str(tmp_path / "got.csv"), "--threads", "2"],
        cwd=REPO, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = pd.read_csv(tmp_path / "got.csv")
    probs = [f"prob_{c}" for c in CLASSES]
    gap = float(np.abs(got[probs].to_numpy() - want[probs].to_numpy()).max())
    record("predict-cpu", {"max_prob_gap": gap, "device": metrics["device"],
                           "tolerance": BF16_PREDICT_TOL})
    assert gap <= BF16_PREDICT_TOL
