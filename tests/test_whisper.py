"""Whisper encoders as `encoders.audio` (kemdy.demo.families.whisper_like look-alikes at the
real input geometry): encoder only, 30-s log-mel windows, pooled over the clip's own
frames, weighted layers, frozen front end, and predict = training."""

import json
import os

import numpy as np
import pytest
import torch

import train
from kemdy.encoder_checks import check_encoders
from kemdy.demo import families
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.errors import InputError
from kemdy.train.batches import audio_batch
from kemdy.train.encoders import load_audio_encoder, load_line
from kemdy.train.models import EmotionModel, apply_freezing, audio_vector, padding_sensitive
from workflow_utils import predict_gap

RATE = 16000


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    base = tmp_path_factory.mktemp("whisper")
    paths = toy_workspace(base / "ws", n_sessions=4, per_session=12, max_seconds=1.6,
                          seconds=(0.3, 1.6))
    return {**paths, **{f: str(families.whisper_like(base / f, f, encoder_layerdrop=0.5))
                        for f in families.WHISPER}}


@pytest.mark.parametrize("family, bins", [("whisper-small", 80), ("whisper-large-v3", 128)])
def test_loads_the_encoder_alone(ws, family, bins):
    from safetensors import safe_open

    extractor, audio = load_audio_encoder(ws[family])
    assert type(audio).__name__ == "WhisperEncoder" and audio.config.num_mel_bins == bins
    assert not any("decoder" in n for n, _ in audio.named_parameters())
    with safe_open(os.path.join(ws[family], "model.safetensors"), "pt") as saved:
        for name, tensor in audio.state_dict().items():
            assert torch.equal(tensor, saved.get_tensor(f"model.encoder.{name}")), name
        unused = sum(1 for k in saved.keys() if not k.startswith("model.encoder."))
    assert f"0 weights new (initialised), {unused} in the checkpoint unused" in \
        load_line("audio", ws[family], audio, {})
    values, mask = audio_batch([np.zeros(RATE, np.float32)], extractor, RATE)
    assert values.shape == (1, bins, 3000) and int(mask.sum()) == 100  # 10-ms mel frames


def test_pools_over_the_clips_own_frames_whatever_is_beside_it(ws):
    extractor, audio = load_audio_encoder(ws["whisper-small"])
    audio.eval()
    rng = np.random.default_rng(0)
    short, long = (rng.standard_normal(n).astype(np.float32) * 0.1 for n in (RATE, 3 * RATE))
    with torch.no_grad():
        values, mask = audio_batch([short, long], extractor, RATE)
        vec = audio_vector(audio, values, mask, pass_mask=False)
        frames = audio(values[:1]).last_hidden_state[0]
    assert torch.allclose(vec[0], frames[:50].mean(0), atol=1e-6)  # 1 s = 50 encoder frames
    assert not torch.allclose(vec[0], frames.mean(0), atol=1e-3)  # the window's silence is out
    assert families.padding_gap(audio, extractor) < 1e-6
    assert not padding_sensitive(audio.config, extractor.return_attention_mask)


def test_weighted_layers_train_under_layerdrop_with_the_front_end_frozen(ws):
    extractor, audio = load_audio_encoder(ws["whisper-small"])
    assert audio.layerdrop == 0.5
    apply_freezing(None, audio, {"audio_layers": "weighted", "freeze_feature_encoder": True})
    assert audio.layerdrop == 0.0
    assert not any(p.requires_grad for m in (audio.conv1, audio.conv2) for p in m.parameters())
    assert not audio.embed_positions.weight.requires_grad  # sinusoids, as Whisper keeps them
    assert all(p.requires_grad for p in audio.layers.parameters())
    front = audio.conv1.weight.clone()
    model = EmotionModel(3, audio_dim=32, audio_encoder=audio, audio_layers="weighted",
                         n_audio_layers=3, pass_audio_mask=False).train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        values, mask = audio_batch([rng.standard_normal(n).astype(np.float32) for n in (8000, 16000)],
                                   extractor, RATE)
        logits, _ = model({"input_values": values, "audio_mask": mask})
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
        optimiser.step()
    assert torch.equal(audio.conv1.weight, front)
    assert len(set(model.learnt_layer_weights())) == 3


SPEC = {"epochs": 1, "lr": 3e-3, "batch_size": 8, "max_len": 32, "seed": 3, "loss": "ce",
        "audio_seconds": 1.5, "modality": "audio", "freeze_audio": False}
RUNS = {
    "trained_weighted": ("whisper-small", {"audio_layers": "weighted"}),
    "frozen_windows": ("whisper-small", {"freeze_audio": True, "audio_seconds": 1.0,
                                         "audio_eval": "windows", "audio_layers": "weighted"}),
    "checkpointed_text_audio": ("whisper-large-v3", {"modality": "text+audio",
                                                     "gradient_checkpointing": True}),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_trains_and_predict_reproduces_its_test_predictions(ws, tmp_path, name):
    family, extra = RUNS[name]
    train.main(train_args({**ws, "audio_encoder": ws[family]}, tmp_path, "v", {**SPEC, **extra}))
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["shape"]["n_audio_layers"] == 3 and card["shape"]["audio_dim"] == 32
    assert predict_gap(ws["data"], ws["root"], tmp_path) < 1e-5


def test_the_pre_run_check_takes_whisper_and_its_30_s_window(ws):
    names = {"encoders": {"audio": ws["whisper-small"], "text": ""}}
    check_encoders(names, {"v": {"modality": "audio", "audio_seconds": 30.0}})
    with pytest.raises(InputError) as err:
        check_encoders(names, {"v": {"modality": "audio", "audio_seconds": 30.0},
                               "w": {"modality": "audio", "audio_seconds": 31.0}})
    assert err.value.key == "variants.w.audio_seconds" and "30" in err.value.fix


def test_a_batch_cap_below_whispers_window_is_refused_before_any_job(ws):
    """A trained Whisper encodes every clip as its whole 30-s window: max_batch_seconds below
    it could never be met (each batch would exceed it with one clip), so the pre-run check
    refuses it, naming the variant's key; a frozen encoder (cached vectors) is left alone."""
    names = {"encoders": {"audio": ws["whisper-small"], "text": ""}}
    audio = {"modality": "audio", "audio_seconds": 4.0}
    check_encoders(names, {"v": {**audio, "max_batch_seconds": 30.0}})
    check_encoders(names, {"v": {**audio, "max_batch_seconds": 10.0, "freeze_audio": True}})
    with pytest.raises(InputError) as err:
        check_encoders(names, {"v": {**audio, "max_batch_seconds": 30.0},
                               "w": {**audio, "max_batch_seconds": 16.0}})
    assert err.value.key == "variants.w.max_batch_seconds"
    assert "whole 30-s window" in err.value.problem and "240 for 8" in err.value.fix


def test_the_training_job_counts_a_whisper_clip_as_its_window(ws, tmp_path):
    """The job itself refuses a cap below the window (a demo encoder has no pre-run check)."""
    spec = {**SPEC, "epochs": 1, "max_batch_seconds": 8.0}
    with pytest.raises(InputError, match="whole 30-s window"):
        train.main(train_args({**ws, "audio_encoder": ws["whisper-small"]}, tmp_path, "v", spec))
