"""Fusion (kemdy/train/fusion.py): concat is today's model to the bit; every fusion is blind
to padding, mutes audio without leaving the graph, trains its own parameters, runs a frozen
encoder live for the sequence fusions; the spec refuses what cannot work. What each fusion
follows (MulT, GMU, co-attention) and the heads: tests/test_fusion_recipes.py."""

import numpy as np
import pytest
import torch
from torch import nn

from kemdy import spec as specs
from kemdy.demo import encoders as bde
from kemdy.errors import InputError
from kemdy.train.batches import audio_batch, pad_tokens
from kemdy.fusion_spec import DEFAULT_SIZES, FUSIONS, SEQUENCE_FUSIONS
from kemdy.train.models import VA_CENTRE, EmotionModel, Head, apply_freezing

TEXTS = ["오늘은 정말 기분이 좋아요!", "왜 그랬어? 진짜 화가 나네. 이건 아니잖아, 정말로.", "회의 자료"]
SMALL = {"mixer_projection": 8, "mixer_patch": 4, "mixer_depth": 2, "mixer_width": 16,
         "attention_dim": 16, "attention_heads": 2, "attention_layers": 2, "gmu_dim": 8}


def opts(fusion):
    return {"fusion": fusion, **SMALL}


@pytest.fixture(scope="module")
def encoders():
    tok = bde.train_tokenizer(TEXTS * 5, 300)
    text = bde.text_encoder(tok, 32, 1, 2, seed=0).eval()
    # a layer-norm front end with the mask (XLS-R-like): its own vectors ignore padding
    extractor, audio = bde.audio_encoder(32, 2, 2, 16, seed=0)
    return tok, text, extractor, audio.eval()


def batch_of(encoders, texts, clips):
    tok, _, extractor, _ = encoders
    ids, mask = pad_tokens([np.array(x) for x in tok(texts)["input_ids"]], tok.pad_token_id)
    values, amask = audio_batch(clips, extractor, 16000)
    return {"input_ids": ids, "attention_mask": mask, "input_values": values, "audio_mask": amask}


def test_concat_builds_and_computes_exactly_as_before_fusion():
    torch.manual_seed(5)
    model = EmotionModel(7, 8, 6, audio_layers="weighted", n_audio_layers=3, regress=True,
                         fusion={"fusion": "concat"})
    torch.manual_seed(5)  # the construction before fusion: dropout, head, layer weights, va
    head, va = Head(14, 7), nn.Linear(14, 2)
    assert not list(model.fusion.parameters())
    for a, b in zip(model.head.state_dict().values(), head.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(model.va.weight, va.weight) and torch.equal(model.va.bias, va.bias)
    model.eval()
    text, audio = torch.randn(4, 8), torch.randn(4, 3, 6)
    logits, out_va = model({"text_emb": text, "audio_emb": audio})
    pooled = (torch.softmax(torch.zeros(3), 0)[None, :, None] * audio).sum(1)
    hidden = head.eval().net[:-1](torch.cat([text, pooled], -1))
    assert torch.equal(logits, head.net[-1](hidden))
    assert torch.equal(out_va, va(hidden) + VA_CENTRE)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_padding_never_changes_an_output(encoders, fusion):
    _, text, _, audio = encoders
    rng = np.random.default_rng(0)
    short, long = rng.standard_normal(6000).astype(np.float32), rng.standard_normal(20000).astype(np.float32)
    torch.manual_seed(0)
    model = EmotionModel(7, 32, 32, text, audio, regress=True, fusion=opts(fusion)).eval()
    with torch.no_grad():
        alone = model(batch_of(encoders, TEXTS[2:], [short]))
        padded = model(batch_of(encoders, [TEXTS[2], TEXTS[1]], [short, long]))
    # the short text and clip sit beside a longer text and clip: both are padded
    assert padded[0].shape == (2, 7)
    assert torch.allclose(alone[0][0], padded[0][0], atol=1e-5), (alone[0][0], padded[0][0])
    assert torch.allclose(alone[1][0], padded[1][0], atol=1e-5)


@pytest.mark.parametrize("fusion", [f for f in FUSIONS if f != "concat"])
def test_muted_audio_means_zero_audio_and_every_parameter_keeps_a_gradient(encoders, fusion):
    _, text, _, audio = encoders
    torch.manual_seed(0)
    model = EmotionModel(7, 32, 32, text, audio, regress=True, fusion=opts(fusion))
    model.train()
    for m in model.modules():  # compare outputs without dropout's draws
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):  # its own rate on the attention weights
            m.dropout = 0.0
    batch = batch_of(encoders, TEXTS[:2], [np.ones(8000, np.float32), np.ones(5000, np.float32)])
    model.mute_audio = True
    muted, va = model(batch)
    (muted.sum() + va.sum()).backward()
    fused = [n for n, p in model.named_parameters() if n.startswith("fusion.")]
    assert fused and all(p.grad is not None for n, p in model.named_parameters()
                         if n.startswith(("fusion.", "head.", "va.")))
    if fusion in SEQUENCE_FUSIONS:  # the audio states times 0.0
        t, a, tm, am = model.sequences(batch)
        direct = model.fusion(t, a * 0.0, tm, am)
    else:
        from kemdy.train.models import audio_vector, text_vector
        direct = model.fusion(text_vector(text, batch["input_ids"], batch["attention_mask"]),
                              audio_vector(audio, batch["input_values"], batch["audio_mask"]) * 0.0)
    assert torch.allclose(model.head.net(direct), muted, atol=1e-5)
    model.mute_audio = False
    assert not torch.allclose(model(batch)[0], muted, atol=1e-4)


@pytest.mark.parametrize("fusion", SEQUENCE_FUSIONS)
def test_a_sequence_fusion_runs_a_frozen_encoder_live_in_eval_mode_without_grad(encoders, fusion):
    tok, _, extractor, _ = encoders
    text = bde.text_encoder(tok, 32, 1, 2, seed=1)
    _, audio = bde.audio_encoder(32, 2, 2, 16, seed=1)
    spec = {"modality": "text+audio", "fusion": fusion, "freeze_text": True,
            "freeze_audio": True, "audio_layers": "weighted"}
    apply_freezing(text, audio, spec)
    model = EmotionModel(7, 32, 32, text, audio, audio_layers="weighted", n_audio_layers=3,
                         fusion={**spec, **SMALL}).train()
    assert model.fusion.training and not text.training and not audio.training
    batch = batch_of(encoders, TEXTS[:2], [np.ones(8000, np.float32), np.ones(5000, np.float32)])
    model(batch)[0].sum().backward()
    assert model.layer_weights.grad is not None and model.layer_weights.grad.any()
    assert all(p.grad is None for p in [*text.parameters(), *audio.parameters()])
    # the text pooler is unused by a sequence fusion: out of the optimiser (DDP would stall)
    text2 = bde.text_encoder(tok, 32, 1, 2, seed=1)
    apply_freezing(text2, None, {**spec, "freeze_text": False})
    assert not any(p.requires_grad for p in text2.pooler.parameters())
    assert all(p.requires_grad for p in text2.encoder.parameters())


def test_tensor_mixer_projections_train():
    torch.manual_seed(0)
    model = EmotionModel(7, 8, 6, fusion=opts("tensor_mixer"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert {"fusion.text_proj.weight", "fusion.audio_proj.weight"} <= trainable
    assert model.fusion.out_dim == 16 and model.head.net[0].in_features == 16
    loss = model({"text_emb": torch.randn(3, 8), "audio_emb": torch.randn(3, 6)})[0].sum()
    loss.backward()
    assert model.fusion.text_proj.weight.grad.any() and model.fusion.audio_proj.weight.grad.any()


def resolved(**keys):
    config = {"variants": {"v": {"modality": "text+audio", "loss": "ce", **keys}}}
    return specs.resolve(config, "v")


@pytest.mark.parametrize("keys, key", [
    ({"modality": "text", "fusion": "gated"}, "variants.v.fusion"),
    ({"modality": "audio", "fusion": "cross_attention"}, "variants.v.fusion"),
    ({"fusion": "tensor_mixer", "mixer_projection": 100, "mixer_patch": 16}, "variants.v.mixer_patch"),
    ({"fusion": "tensor_mixer", "mixer_projection": 8, "mixer_patch": 16}, "variants.v.mixer_patch"),
    ({"fusion": "cross_attention", "attention_dim": 30, "attention_heads": 4}, "variants.v.attention_heads"),
    ({"fusion": "co_attention", "attention_dim": 30, "attention_heads": 4}, "variants.v.attention_heads"),
    ({"fusion": "co_attention", "attention_dim": None}, "variants.v.attention_dim"),
    ({"fusion": "cross_attention", "attention_readout": "first"}, "variants.v.attention_readout"),
    ({"fusion": "cross_attention", "attention_dropout": 1.0}, "variants.v.attention_dropout"),
    ({"fusion": "gmu", "head": "tmn"}, "variants.v.head"),
    ({"modality": "text", "head": "gelu_mlp"}, "variants.v.head"),
    ({"fusion": "film"}, "variants.v.fusion"),
    ({"fusion": "tensor_mixer", "epochs": 3, "text_warmup_epochs": 1},
     "variants.v.text_warmup_epochs"),
])
def test_fusions_that_cannot_work_are_refused_before_any_job(keys, key):
    with pytest.raises(InputError) as err:
        resolved(**keys)
    assert err.value.key == key


def test_sizes_that_work_and_the_defaults_agree():
    assert {k: specs.DEFAULTS[k] for k in DEFAULT_SIZES} == DEFAULT_SIZES
    assert specs.DEFAULTS["fusion"] == "concat"
    resolved(fusion="tensor_mixer", mixer_projection=96, mixer_patch=12)
    for fusion in SEQUENCE_FUSIONS:  # live: fine
        resolved(fusion=fusion, audio_crop="random", freeze_audio=True)
    resolved(fusion="cross_attention", attention_dim=None, attention_self_layers=0,
             attention_dropout=0, attention_readout="first_mean", head="gelu")  # TMN's
    with pytest.raises(InputError):  # a cached frozen encoder cannot follow a random cut
        resolved(fusion="gated", audio_crop="random", freeze_audio=True)
    # the mixer's fused width follows mixer_width; the attentions' is twice attention_dim
    assert EmotionModel(7, 4, 4, fusion={**opts("tensor_mixer"), "mixer_width": 24}).fusion.out_dim == 24
    for fusion in SEQUENCE_FUSIONS:
        assert EmotionModel(7, 4, 4, fusion=opts(fusion)).fusion.out_dim == 32
    assert EmotionModel(7, 4, 4, fusion=opts("gmu")).fusion.out_dim == 8
