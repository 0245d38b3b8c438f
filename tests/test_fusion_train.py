"""Non-concat fusions through train.py: a cross_attention model (frozen audio run live,
weighted layers, valence/arousal from TMN's head, text-only warm-up) is exported and predict.py rebuilds it
to the training figures; a tensor_mixer run stopped mid-epoch resumes to the last bit;
metrics.json counts trainable and frozen parameters."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import train
from kemdy.classes import CLASSES
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.train.encoders import load_audio_encoder, load_text_encoder
from test_predict import cli, segment
from test_train import assert_same_as_fresh, stopped_run

BASE = {"epochs": 2, "lr": 3e-3, "batch_size": 8, "max_len": 32, "patience": 5, "seed": 3,
        "audio_seconds": 0.6, "freeze_feature_encoder": False, "modality": "text+audio",
        "loss": "ce"}
SMALL = {"mixer_projection": 8, "mixer_patch": 4, "mixer_depth": 2, "mixer_width": 16,
         "attention_dim": 16, "attention_heads": 2, "attention_layers": 1}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return toy_workspace(tmp_path_factory.mktemp("ws"), n_sessions=3, per_session=12)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_cross_attention_exports_and_predicts_as_in_training(ws, tmp_path, capsys):
    # TMN's read-out and head (valence/arousal from its last layer) through export too
    spec = {**BASE, **SMALL, "fusion": "cross_attention", "freeze_audio": True,
            "audio_layers": "weighted", "va_weight": 0.5, "text_warmup_epochs": 1,
            "attention_readout": "first_mean", "head": "gelu", "head_hidden": 8}
    metrics = train.main(train_args(ws, tmp_path, "mm_xattn", spec))
    # the frozen audio encoder ran in the model (no embedding cache), counted as frozen
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*audio*"))
    audio = n_params(load_audio_encoder(ws["audio_encoder"])[1])
    text = load_text_encoder(ws["text"])[1]
    counts = metrics["parameters"]
    assert counts["frozen"] == audio + n_params(text.pooler)  # the unused pooler too
    assert counts["trainable"] > n_params(text) - n_params(text.pooler)
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["parameters"] == counts
    preds = pd.read_csv(tmp_path / "out" / "predictions.csv").set_index("segment_id")
    for k in range(2):
        sid, wav, words = segment(ws, tmp_path, k)
        out = cli(capsys, "--model", tmp_path / "model", "--wav", wav, "--text", words)
        got = np.array([out["probabilities"][c] for c in CLASSES])
        assert got == pytest.approx(preds.loc[sid, [f"prob_{c}" for c in CLASSES]].to_numpy(float), abs=1e-5)
        assert out["valence"] == pytest.approx(preds.loc[sid, "pred_valence"], abs=1e-4)


def test_tensor_mixer_stopped_mid_epoch_resumes_exactly(ws, tmp_path, capsys):
    # frozen encoders from the embedding cache: what trains is the mixer and the head
    spec = {**BASE, **SMALL, "fusion": "tensor_mixer", "freeze_text": True,
            "freeze_audio": True, "epochs": 3}
    argv = stopped_run(ws, tmp_path / "stopped", spec, "mm_mixer")
    resumed = train.main(argv)
    assert "resuming after epoch" in capsys.readouterr().err
    assert_same_as_fresh(ws, tmp_path, resumed, tmp_path / "stopped" / "out", spec, "mm_mixer")
    frozen = n_params(load_text_encoder(ws["text"])[1]) + n_params(load_audio_encoder(ws["audio_encoder"])[1])
    assert resumed["parameters"]["frozen"] == frozen
    assert 0 < resumed["parameters"]["trainable"] < frozen


@pytest.mark.parametrize("fusion", ["cross_attention", "co_attention"])
def test_sequence_fusion_micro_batches_give_the_batch_they_replace(ws, tmp_path, fusion):
    # Frozen encoders run live in eval mode and no dropout: two micro-batches of 4 (each
    # padded to its own longest text and clip) make the step one batch of 8 makes.
    spec = {**BASE, **SMALL, "fusion": fusion, "dropout": 0.0, "attention_dropout": 0.0,
            "freeze_text": True, "freeze_audio": True}
    train.main(train_args(ws, tmp_path / "one", "x", spec))
    train.main(train_args(ws, tmp_path / "two", "x", {**spec, "accumulate": 2}))
    whole, parts = (pd.read_csv(tmp_path / d / "out" / "predictions.csv") for d in ("one", "two"))
    probs = [f"prob_{c}" for c in CLASSES]
    assert np.allclose(whole[probs], parts[probs], atol=1e-5)
    assert not np.allclose(whole[probs], 1 / len(CLASSES), atol=1e-3)  # it learnt something


def test_a_model_exported_before_issue_30_predicts_as_the_co_attention_it_was(ws, tmp_path, capsys):
    # Before issue 30, co_attention was called cross_attention and model.json had no
    # attention_readout (nor the other keys added then): predict.py rebuilds co-attention.
    spec = {**BASE, **SMALL, "fusion": "co_attention", "freeze_audio": True, "epochs": 1}
    train.main(train_args(ws, tmp_path, "mm_coattn", spec))
    card_path = tmp_path / "model" / "model.json"
    card = json.loads(card_path.read_text())
    new_keys = ("attention_self_layers", "attention_dropout", "attention_readout", "gmu_dim",
                "head", "head_hidden")
    card["spec"] = {k: v for k, v in card["spec"].items() if k not in new_keys}
    card["spec"]["fusion"] = "cross_attention"
    card_path.write_text(json.dumps(card))
    # the export of that time, its digest over its own model.json
    from safetensors.torch import load_file, save_file

    from kemdy.train.export import DIGEST, WEIGHTS, card_digest
    weights = tmp_path / "model" / WEIGHTS
    save_file(load_file(str(weights)), str(weights), metadata={DIGEST: card_digest(card)})
    preds = pd.read_csv(tmp_path / "out" / "predictions.csv").set_index("segment_id")
    sid, wav, words = segment(ws, tmp_path, 0)
    out = cli(capsys, "--model", tmp_path / "model", "--wav", wav, "--text", words)
    got = np.array([out["probabilities"][c] for c in CLASSES])
    assert got == pytest.approx(preds.loc[sid, [f"prob_{c}" for c in CLASSES]].to_numpy(float), abs=1e-5)
