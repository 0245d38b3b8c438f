"""Every wav2vec2-family encoder alike: weighted layers under LayerDrop, the frozen front
end, and checkpoints of other heads loading as the bare encoder (tiny random models)."""

import numpy as np
import pytest
import torch

from kemdy.train.models import EmotionModel, apply_freezing
from workflow_utils import predict_gap

RATE = 16000


def tiny_wav2vec2(layerdrop: float, layers: int = 4):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    return Wav2Vec2Model(Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2, layerdrop=layerdrop, mask_time_prob=0.0))


def train_steps(model, steps: int = 8) -> list[float]:
    """`steps` optimiser steps in train mode on random clips; the losses."""
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        values = torch.from_numpy(rng.standard_normal((3, 2400)).astype(np.float32))
        mask = torch.ones_like(values, dtype=torch.long)
        mask[0, 1800:] = 0
        logits, _ = model({"input_values": values, "audio_mask": mask})
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2]))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


def test_weighted_layers_train_under_layerdrop():
    """LayerDrop 0.5 drops some of 4 layers in ~94 % of steps: every step must still form
    the weighted sum of all 5 states, and the weights of every layer must learn."""
    audio = tiny_wav2vec2(layerdrop=0.5)
    apply_freezing(None, audio, {"audio_layers": "weighted", "freeze_feature_encoder": True})
    model = EmotionModel(3, audio_dim=16, audio_encoder=audio, audio_layers="weighted",
                         n_audio_layers=5)
    torch.manual_seed(1)
    losses = train_steps(model)
    assert all(np.isfinite(losses))
    assert audio.config.layerdrop == 0.0
    weights = model.learnt_layer_weights()
    assert len(weights) == 5 and len(set(weights)) == 5  # every layer's weight moved


def test_last_layer_keeps_layerdrop():
    """Only the weighted sum needs every layer: `last` keeps the checkpoint's LayerDrop."""
    audio = tiny_wav2vec2(layerdrop=0.5)
    apply_freezing(None, audio, {"audio_layers": "last"})
    assert audio.config.layerdrop == 0.5
    model = EmotionModel(3, audio_dim=16, audio_encoder=audio)
    torch.manual_seed(1)
    assert all(np.isfinite(train_steps(model, 4)))


# ---------------------------------------------------------------- every family

BASES = {"wav2vec2": "Wav2Vec2", "hubert": "Hubert", "wavlm": "WavLM",
         "data2vec-audio": "Data2VecAudio", "unispeech-sat": "UniSpeechSat"}
SMALL = {"conv_dim": 8, "hidden": 16, "layers": 2}


def family_config(prefix: str, **extra):
    """A tiny config of a wav2vec2-family class prefix, through families.audio_config."""
    from kemdy.demo.families import audio_config

    template = {"Wav2Vec2": "wav2vec2-superb-er", "Hubert": "hubert-base-ls960",
                "WavLM": "wavlm-base-plus", "Data2VecAudio": "data2vec-audio-base",
                "UniSpeechSat": "unispeech-sat-base"}[prefix]
    return audio_config(template, **SMALL, **extra)


@pytest.mark.parametrize("prefix", list(BASES.values()))
@pytest.mark.parametrize("head", ["ForCTC", "ForSequenceClassification"])
def test_fine_tuned_checkpoints_load_as_their_encoder_and_train_weighted(tmp_path, prefix, head):
    """A …ForCTC / …ForSequenceClassification checkpoint of every family: AutoModel gives
    the bare encoder with the checkpoint's weights, its front end freezes, and weighted
    layers train with its LayerDrop."""
    import transformers

    from kemdy.demo.families import audio_extractor
    from kemdy.train.encoders import load_audio_encoder

    checkpoint_class = getattr(transformers, prefix + head)
    config = family_config(prefix, vocab_size=12, layerdrop=0.5,
                           architectures=[checkpoint_class.__name__])
    torch.manual_seed(0)
    checkpoint = checkpoint_class(config)
    checkpoint.save_pretrained(tmp_path)
    audio_extractor("wavlm-base-plus").save_pretrained(tmp_path)
    _, audio = load_audio_encoder(str(tmp_path))
    assert type(audio) is getattr(transformers, prefix + "Model")
    base = checkpoint.base_model.state_dict()
    assert all(torch.equal(t, base[k]) for k, t in audio.state_dict().items() if k in base)
    apply_freezing(None, audio, {"audio_layers": "weighted", "freeze_feature_encoder": True})
    front = {k: t.clone() for k, t in audio.feature_extractor.state_dict().items()}
    model = EmotionModel(3, audio_dim=16, audio_encoder=audio, audio_layers="weighted",
                         n_audio_layers=3)
    torch.manual_seed(1)
    assert all(np.isfinite(train_steps(model, 4)))
    assert all(torch.equal(t, front[k]) for k, t in audio.feature_extractor.state_dict().items())
    assert any(p.requires_grad for p in audio.encoder.parameters())


@pytest.mark.parametrize("prefix", list(BASES.values()))
def test_freeze_feature_encoder_freezes_every_family(prefix):
    """HubertModel and UniSpeechSatModel have no freeze_feature_encoder(): their front end
    trained while the config said frozen."""
    import transformers

    audio = getattr(transformers, prefix + "Model")(family_config(prefix))
    apply_freezing(None, audio, {"freeze_feature_encoder": True})
    assert not any(p.requires_grad for p in audio.feature_extractor.parameters())
    assert all(p.requires_grad for n, p in audio.named_parameters()
               if not n.startswith("feature_extractor."))
    apply_freezing(None, audio, {"freeze_feature_encoder": False})
    assert all(p.requires_grad for p in audio.parameters())


def test_an_encoder_without_a_front_end_cannot_be_frozen_silently():
    from transformers import BertConfig, BertModel

    from kemdy.errors import InputError

    other = BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, vocab_size=20))
    with pytest.raises(InputError, match="freeze_feature_encoder"):
        apply_freezing(None, other, {"freeze_feature_encoder": True})
    apply_freezing(None, other, {"freeze_feature_encoder": False})  # nothing to freeze: fine


# ---------------------------------------------------------------- quiet logs


def test_a_fine_tuned_checkpoint_loads_with_one_line_not_a_weight_table(tmp_path, capfd):
    """The CTC head's weights are counted in the load line, not printed as a table."""
    from kemdy.demo.families import audio_like
    from kemdy.train.encoders import load_audio_encoder, load_line

    folder = audio_like(tmp_path / "ctc", "hubert-large-ft", **SMALL)
    capfd.readouterr()
    _, audio = load_audio_encoder(str(folder))
    out = capfd.readouterr()
    assert "LOAD REPORT" not in out.err + out.out and "UNEXPECTED" not in out.err + out.out
    line = load_line("audio", str(folder), audio, {"freeze_feature_encoder": True})
    n = sum(p.numel() for p in audio.parameters())
    assert line.startswith(f"audio encoder HubertModel from {folder}: {n:,} parameters, ")
    assert "trained, front end frozen; 0 weights new (initialised), 2 in the checkpoint unused" \
        in line
    assert "frozen (vectors cached)" in load_line("audio", "x", audio, {"freeze_audio": True})
    sequences = {"freeze_audio": True, "modality": "text+audio", "fusion": "cross_attention"}
    assert "frozen (run live)" in load_line("audio", "x", audio, sequences)


def test_wavlm_warns_no_deprecation_at_every_step():
    """WavLM's attention made torch warn each time the warning registry was reset (every
    epoch: the loop's catch_warnings); quiet_transformers filters that one message."""
    import warnings

    from transformers import WavLMModel

    from kemdy.train.encoders import quiet_transformers

    quiet_transformers()
    audio = WavLMModel(family_config("WavLM")).eval()
    values = torch.randn(2, 2400)
    mask = torch.ones_like(values, dtype=torch.long)
    mask[0, 1600:] = 0
    with warnings.catch_warnings(record=True) as caught:
        with torch.no_grad():
            audio(values, attention_mask=mask)
    assert not [w for w in caught if "key_padding_mask" in str(w.message)]


# ---------------------------------------------------------------- padding and predict parity

FAMILIES = ["wavlm-base-plus", "hubert-base-ls960", "data2vec-audio-base", "unispeech-sat-base",
            "wavlm-large", "hubert-large-ft", "wav2vec2-superb-er"]


@pytest.fixture(scope="module")
def family_encoders(tmp_path_factory):
    from kemdy.demo import families

    base = tmp_path_factory.mktemp("families")
    return {f: str(families.audio_like(base / f, f)) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_padding_sensitivity_is_as_measured(family_encoders, family):
    """padding_sensitive's rule agrees with what padding does to each family's vectors."""
    from kemdy.demo.families import padding_gap
    from kemdy.train.encoders import load_audio_encoder
    from kemdy.train.models import padding_sensitive

    extractor, audio = load_audio_encoder(family_encoders[family])
    gap = padding_gap(audio, extractor)
    sensitive = padding_sensitive(audio.config, extractor.return_attention_mask)
    assert sensitive == (gap > 1e-5), gap
    assert gap > 1e-2 if sensitive else gap < 1e-6


@pytest.mark.parametrize("short,layers", [(16000, "last"), (6000, "weighted")])
@pytest.mark.parametrize("family", FAMILIES)
def test_scoring_batches_every_family_as_alone(family_encoders, family, short, layers):
    """kemdy.train.alone: scored beside a longer clip, a clip's vectors (every layer's too)
    are its vectors alone within 1e-5, on every family, the padding-sensitive ones
    (group-norm front ends, data2vec-audio's deep positional convolution) included; a clip
    under audio_batch's 1-s floor scores as alone, where the floor pads it."""
    from kemdy.demo.families import padding_gap
    from kemdy.train.encoders import load_audio_encoder

    extractor, audio = load_audio_encoder(family_encoders[family])
    padding_gap(audio, extractor, layers=layers)  # transformers adds its own hooks once
    hooks = [len(m._forward_hooks) for m in audio.modules()]
    assert padding_gap(audio, extractor, short, alone=True, layers=layers) < 1e-5
    # ours are gone afterwards: training's forward pass is as before
    assert [len(m._forward_hooks) for m in audio.modules()] == hooks


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from kemdy.demo.toy_corpus import toy_workspace

    return toy_workspace(tmp_path_factory.mktemp("toy") / "ws", n_sessions=4, per_session=12,
                         max_seconds=1.6, seconds=(0.3, 1.6))


@pytest.mark.parametrize("frozen", [False, True], ids=["trained", "frozen"])
@pytest.mark.parametrize("family", FAMILIES)
def test_weighted_encoder_of_every_family_predicts_as_training_scored(
        toy, family_encoders, tmp_path, family, frozen):
    """scripts/predict.py (one clip at a time) re-predicts the test probabilities within
    1e-5: training scored every trained family in padded batches of mixed lengths, each clip
    as alone (kemdy.train.alone); a frozen one's cache holds each clip's vectors alone."""


    import train
    from kemdy.demo.toy_corpus import train_args

    spec = {"epochs": 1, "lr": 3e-3, "batch_size": 8, "patience": 5, "seed": 3,
            "audio_seconds": 1.5, "modality": "audio", "loss": "ce", "freeze_audio": frozen,
            "audio_layers": "weighted"}
    paths = {**toy, "audio_encoder": family_encoders[family]}
    train.main(train_args(paths, tmp_path, "v", spec))
    assert predict_gap(toy["data"], toy["root"], tmp_path) < 1e-5


def test_gradient_checkpointing_turns_on_without_a_deprecation_warning():
    import warnings

    audio = tiny_wav2vec2(layerdrop=0.0, layers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        apply_freezing(None, audio, {"gradient_checkpointing": True})
    assert audio.is_activation_checkpointing
