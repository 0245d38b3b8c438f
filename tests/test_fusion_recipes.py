"""Each fusion is what its name and citation say (issue 30): cross_attention is MulT's
crossmodal transformer, co_attention is the former cross_attention to the bit, gmu is
Arevalo et al.'s unit, gated is what the README says; the heads give TMN's outputs; the
spec lists (SIZE_KEYS, SEQUENCE_FUSIONS, the schema) agree with the modules."""

from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from kemdy.errors import InputError
from kemdy import fusion_spec
from kemdy.train.fusion import GMU, CoAttention, Gated, make_fusion
from kemdy.fusion_spec import DEFAULT_SIZES, FUSIONS, SEQUENCE_FUSIONS, options
from kemdy.train.models import VA_CENTRE, EmotionModel
from kemdy.train.mult import CrossAttention, MulTEncoder, sinusoids

SMALL = {"mixer_projection": 8, "mixer_patch": 4, "mixer_depth": 2, "mixer_width": 16,
         "attention_dim": 16, "attention_heads": 2, "attention_layers": 2}
SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "schemas/config.schema.yaml")
                        .read_text())["$defs"]["training"]["properties"]


def sequences(text_dim=12, audio_dim=10):
    g = torch.Generator().manual_seed(1)
    t, a = torch.randn(2, 5, text_dim, generator=g), torch.randn(2, 9, audio_dim, generator=g)
    tm = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]).bool()
    am = torch.tensor([[1] * 9, [1] * 6 + [0] * 3]).bool()
    return t, a, tm, am


# Recorded with the code before issue 30 (commit d8f3731; co_attention was cross_attention):
# parameter count, sum and sum of squares from torch.manual_seed(0), and sample 1's logits
# and valence/arousal on fixed inputs.
BEFORE = {
    "concat": (8, 21.077457, 33.106049, [0.24952, -0.20635, 0.80126, -0.23074, -0.01319, -0.04787, -0.69392], [0.06646, -0.35364]),
    "tensor_mixer": (40, 94.405641, 152.268048, [-0.22353, -0.76947, 0.37103, 0.27813, -0.31172, -0.01539, 0.43523], [0.28205, 0.54134]),
    "co_attention": (72, 268.197835, 511.387062, [0.29433, -0.43349, 0.25511, -0.12123, 0.40099, 0.41833, -0.26529], [0.11353, 0.29956]),
    "gated": (12, 17.877871, 41.073282, [0.40583, 0.40683, 0.17308, 0.24797, -0.70121, -0.42726, -0.77109], [0.31512, 0.28789]),
}


@pytest.mark.parametrize("fusion", list(BEFORE))
def test_existing_fusions_build_and_compute_as_before_issue_30(fusion):
    torch.manual_seed(0)
    model = EmotionModel(7, 12, 10, regress=True, fusion={"fusion": fusion, **SMALL}).eval()
    params = [p.detach().double() for p in model.parameters()]
    n, total, squares, logits, va = BEFORE[fusion]
    assert len(params) == n
    assert sum(float(p.sum()) for p in params) == pytest.approx(total, abs=1e-5)
    assert sum(float((p ** 2).sum()) for p in params) == pytest.approx(squares, abs=1e-5)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        if model.fusion.sequences:
            fused = model.fusion(*sequences())
        else:
            fused = model.fusion(torch.randn(2, 12, generator=g), torch.randn(2, 10, generator=g))
        features = model.head.net[:-1](fused)
        got_logits, got_va = model.head.net[-1](features)[1], model.va(features)[1]
    assert got_logits.tolist() == pytest.approx(logits, abs=1e-5)
    assert got_va.tolist() == pytest.approx(va, abs=1e-5)


def test_co_attention_is_the_former_cross_attention():
    assert isinstance(make_fusion({**options({}), "fusion": "co_attention", **SMALL}, 12, 10),
                      CoAttention)
    assert isinstance(make_fusion({**options({}), "fusion": "cross_attention", **SMALL}, 12, 10),
                      CrossAttention)


def test_a_model_exported_before_issue_30_rebuilds_its_co_attention():
    old = {"fusion": "cross_attention", **SMALL}  # its model.json: no attention_readout
    assert fusion_spec.upgraded(old)["fusion"] == "co_attention"
    assert isinstance(EmotionModel(7, 12, 10, fusion=fusion_spec.upgraded(old)).fusion, CoAttention)
    new = {**old, "attention_readout": "last"}
    assert fusion_spec.upgraded(new) == new
    assert fusion_spec.upgraded({"fusion": "gated"}) == {"fusion": "gated"}


def perturbed(module: nn.Module) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.5 * torch.randn_like(p))


def test_cross_attention_keys_are_the_source_input_at_every_layer_unlike_co_attention():
    """MulT: the text stream reads the audio *inputs*, so changing the audio stream's own
    weights leaves it alone; co-attention's text stream reads the audio stream's updated
    states, so it moves."""
    t, a, tm, am = sequences(16, 16)
    torch.manual_seed(0)
    mult = CrossAttention(16, 16, 16, 2, layers=2, self_layers=0, dropout=0.0, readout="mean").eval()
    co = CoAttention(16, 16, 16, 2, 2).eval()
    with torch.no_grad():
        mult_text, co_text = mult(t, a, tm, am)[:, :16], co(t, a, tm, am)[:, :16]
        perturbed(mult.audio_from_text)
        perturbed(co.audio_blocks)
        assert torch.equal(mult(t, a, tm, am)[:, :16], mult_text)
        assert not torch.allclose(co(t, a, tm, am)[:, :16], co_text, atol=1e-3)
    # and each layer's keys are that layer's normalisation of the embedded source
    enc, seen = mult.text_from_audio, []
    hooks = [layer.attention.register_forward_hook(lambda m, args, out: seen.append(args[1]))
             for layer in enc.layers]
    with torch.no_grad():
        enc(t, tm, a, am)
        source = enc.embed(a)
    for h in hooks:
        h.remove()
    assert len(seen) == 2
    for layer, keys in zip(enc.layers, seen):
        assert torch.allclose(keys, layer.norm(source), atol=1e-6)


def test_mults_embedding_and_self_attention_after():
    enc = MulTEncoder(8, 2, 1, 0.0).eval()
    x = torch.randn(2, 3, 8)
    table = sinusoids(3, 8)
    # position p (from 1): sin(p w_i) in the first half, cos(p w_i) in the second
    w = torch.exp(torch.arange(4) * -(torch.log(torch.tensor(10000.0)) / 3))
    assert torch.allclose(table[1, :4], torch.sin(2 * w)) and torch.allclose(table[1, 4:], torch.cos(2 * w))
    assert torch.allclose(enc.embed(x), 8 ** 0.5 * x + table)
    assert sinusoids(3, 7).shape == (3, 7)
    t, a, tm, am = sequences(16, 16)
    torch.manual_seed(0)
    model = CrossAttention(16, 16, 16, 2, layers=1, self_layers=3, dropout=0.1, readout="last")
    assert len(model.text_self.layers) == len(model.audio_self.layers) == 3
    model.eval()
    with torch.no_grad():
        before = model(t, a, tm, am)
        perturbed(model.text_self)
        after = model(t, a, tm, am)
    assert not torch.allclose(before[:, :16], after[:, :16]) and torch.equal(before[:, 16:], after[:, 16:])
    assert CrossAttention(16, 16, 16, 2, 1, 0, 0.0, "last").text_self is None  # TMN: none


def test_cross_attention_read_outs_and_projections():
    t, a, tm, am = sequences(16, 16)
    torch.manual_seed(0)
    model = CrossAttention(16, 16, None, 8, layers=1, self_layers=0, dropout=0.0,
                           readout="first_mean").eval()
    assert model.text_proj is None and model.audio_proj is None  # TMN: the encoders' width
    with torch.no_grad():
        out = model(t, a, tm, am)
        text_states = model.text_from_audio(t, tm, a, am)
        audio_states = model.audio_from_text(a, am, t, tm)
    assert torch.allclose(out[:, :16], text_states[:, 0])  # text queries audio: first token
    mean = (audio_states * am[..., None]).sum(1) / am.sum(1, keepdim=True)
    assert torch.allclose(out[:, 16:], mean, atol=1e-6)  # audio queries text: mean over frames
    model.readout = "last"
    with torch.no_grad():
        last = model(t, a, tm, am)
    assert torch.allclose(last[1, :16], text_states[1, 2]) and torch.allclose(last[1, 16:], audio_states[1, 5])
    # MulT projects (bias-free) only a width that differs from attention_dim
    mixed = CrossAttention(12, 16, 16, 2, 1, 0, 0.0, "mean")
    assert mixed.audio_proj is None and mixed.text_proj.bias is None
    with pytest.raises(InputError) as err:
        CrossAttention(12, 16, None, 2, 1, 0, 0.0, "mean")
    assert err.value.key == "attention_dim"


def test_tmn_cross_attention_sizes_give_tmns_parameter_count():
    """TMN's ablation (erc/model/cross_attention.py): two MulT encoders of 1 layer at width
    d with no projection, then Linear(2d, 512), GELU, Linear(512, 9). Counted at d = 32."""
    d, heads = 32, 8
    spec = {"fusion": "cross_attention", "attention_dim": None, "attention_heads": heads,
            "attention_layers": 1, "attention_self_layers": 0, "attention_dropout": 0.0,
            "attention_readout": "first_mean", "head": "gelu", "head_hidden": 512}
    model = EmotionModel(7, d, d, regress=True, fusion=spec)
    # per encoder layer: attention 4d^2 + 4d, two LayerNorms 4d, feed-forward 8d^2 + 5d;
    # plus the encoder's final LayerNorm 2d
    encoder = 4 * d * d + 4 * d + 4 * d + 8 * d * d + 5 * d + 2 * d
    assert sum(p.numel() for p in model.fusion.parameters()) == 2 * encoder
    assert sum(p.numel() for p in model.head.parameters()) == (2 * d * 512 + 512) + (512 * 9 + 9)
    assert model.va is None


def test_gmu_is_arevalos_unit():
    torch.manual_seed(0)
    gmu = GMU(6, 4, 5)
    assert gmu.out_dim == 5 and all(m.bias is None for m in (gmu.text, gmu.audio, gmu.gate))
    t, a = torch.randn(3, 6), torch.randn(3, 4)
    z = torch.sigmoid(torch.cat([t, a], -1) @ gmu.gate.weight.T)  # the gate reads the inputs
    want = z * torch.tanh(t @ gmu.text.weight.T) + (1 - z) * torch.tanh(a @ gmu.audio.weight.T)
    assert torch.allclose(gmu(t, a), want, atol=1e-6)


def test_gated_keeps_both_vectors_each_scaled_by_its_own_gates():
    torch.manual_seed(0)
    gated = Gated(6, 4)
    t, a = torch.randn(3, 6), torch.randn(3, 4)
    both = torch.cat([t, a], -1)
    want = torch.cat([torch.sigmoid(gated.text_gate(both)) * t,
                      torch.sigmoid(gated.audio_gate(both)) * a], -1)
    assert torch.equal(gated(t, a), want) and gated.out_dim == 10


@pytest.mark.parametrize("head", ["linear", "gelu"])
def test_tmn_heads_give_logits_and_valence_arousal_from_their_last_layer(head):
    torch.manual_seed(0)
    spec = {"fusion": "tensor_mixer", **SMALL, "head": head, "head_hidden": 6}
    model = EmotionModel(7, 12, 10, regress=True, dropout=0.0, fusion=spec).eval()
    last = model.head if head == "linear" else model.head[-1]
    assert last.out_features == 9 and model.va is None
    if head == "gelu":
        assert [type(m).__name__ for m in model.head] == ["Linear", "GELU", "Dropout", "Linear"]
        assert model.head[0].out_features == 6
    batch = {"text_emb": torch.randn(3, 12), "audio_emb": torch.randn(3, 10)}
    with torch.no_grad():
        logits, va = model(batch)
        out = model.head(model.fused(batch))
    assert torch.equal(logits, out[:, :7]) and torch.equal(va, out[:, 7:] + VA_CENTRE)
    plain = EmotionModel(7, 12, 10, regress=False, fusion=spec)
    assert (plain.head if head == "linear" else plain.head[-1]).out_features == 7
    assert plain({"text_emb": torch.randn(2, 12), "audio_emb": torch.randn(2, 10)})[1] is None


def test_the_lists_agree_with_the_modules_and_the_schema():
    assert tuple(SCHEMA["fusion"]["enum"]) == FUSIONS
    assert tuple(SCHEMA["attention_readout"]["enum"]) == fusion_spec.READOUTS
    assert tuple(SCHEMA["head"]["enum"]) == fusion_spec.HEADS
    assert set(DEFAULT_SIZES) <= set(SCHEMA)
    sizes = {**SMALL, "gmu_dim": 8}
    for fusion in FUSIONS:
        module = make_fusion({**options({}), **sizes, "fusion": fusion}, 16, 16)
        assert module.sequences == (fusion in SEQUENCE_FUSIONS), fusion
    # every size or option is read by a fusion (SIZE_KEYS) or a head (HEAD_KEYS), or is the head
    read = {k for keys in (*fusion_spec.SIZE_KEYS.values(), *fusion_spec.HEAD_KEYS.values())
            for k in keys}
    assert read | {"head"} == set(DEFAULT_SIZES)
    assert set(fusion_spec.SIZE_KEYS) <= set(FUSIONS)
    # a key a fusion's module reads changes its parameters or its output: spot checks
    for fusion, key, other in (("co_attention", "attention_layers", 3),
                               ("cross_attention", "attention_self_layers", 1),
                               ("gmu", "gmu_dim", 4)):
        assert key in fusion_spec.SIZE_KEYS[fusion]
        a = make_fusion({**options({}), **sizes, "fusion": fusion}, 16, 16)
        b = make_fusion({**options({}), **sizes, "fusion": fusion, key: other}, 16, 16)
        assert sum(p.numel() for p in a.parameters()) != sum(p.numel() for p in b.parameters())
    for key in ("attention_self_layers", "attention_dropout", "attention_readout"):
        assert key not in fusion_spec.SIZE_KEYS["co_attention"]  # co_attention never reads them
