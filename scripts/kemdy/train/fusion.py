"""How a text+audio model joins its two modalities (spec key `fusion`); README "Fusion"
says per fusion what it follows and where it differs.

    concat           the pooled vectors side by side (the original project; no parameters)
    gated            each pooled vector times its own feature-wise sigmoid gate, one Linear
                     from both (LMR-CL's GatingBlock with one layer for its ReLU bottleneck)
    gmu              Arevalo et al.'s bimodal Gated Multimodal Unit: z t' + (1 - z) a', with
                     t' = tanh(W_t t), a' = tanh(W_a a), z = sigmoid(W_z [t, a]), `gmu_dim` wide
    tensor_mixer     each pooled vector projected to `mixer_projection`, their outer product
                     (a projection x projection map) cut into mixer_patch x mixer_patch
                     patches, an MLP-Mixer of `mixer_depth` blocks at `mixer_width`, averaged
                     over the patches (TMN's; here the projections train)
    cross_attention  MulT's crossmodal transformer (kemdy/train/mult.py): each modality's
                     sequence attends to the other's input features at every layer, then
                     self-attention; read out per `attention_readout`
    co_attention     each modality's sequence (tokens, frames), projected to `attention_dim`,
                     attends to the other's *updated* states over `attention_layers` blocks
                     (co-attention, as ViLBERT's co-TRM), then each is averaged over its real
                     positions

A fusion maps (text, audio) to one feature vector of `out_dim` that the head reads. The
pooled fusions take (batch, d) vectors; the sequence fusions take (batch, length, d) states
with boolean masks (True: a real token or frame), so padding never enters what a sample
attends to or is averaged over.
"""

from __future__ import annotations

import torch
from torch import nn

from kemdy.fusion_spec import FUSIONS, size_problem
from kemdy.train.mult import CrossAttention, masked_mean


class Concat(nn.Module):
    """No parameters: a concat model builds (and draws random numbers) as before fusion."""

    sequences = False

    def __init__(self, text_dim: int, audio_dim: int):
        super().__init__()
        self.out_dim = text_dim + audio_dim

    def forward(self, *vectors):
        return torch.cat(vectors, dim=-1)


class Gated(nn.Module):
    """[g_t * t, g_a * a] with g_m = sigmoid(W_m [t, a] + b_m), one gate per feature.

    Not Arevalo's GMU (that is `gmu`): both vectors are kept, each scaled by its own gates.
    LMR-CL's GatingBlock gates the same way through a ReLU bottleneck of d/16."""

    sequences = False

    def __init__(self, text_dim: int, audio_dim: int):
        super().__init__()
        both = text_dim + audio_dim
        self.text_gate, self.audio_gate = nn.Linear(both, text_dim), nn.Linear(both, audio_dim)
        self.out_dim = both

    def forward(self, text, audio):
        both = torch.cat([text, audio], dim=-1)
        return torch.cat([torch.sigmoid(self.text_gate(both)) * text,
                          torch.sigmoid(self.audio_gate(both)) * audio], dim=-1)


class GMU(nn.Module):
    """Arevalo et al. (2017), "Gated Multimodal Units for Information Fusion", bimodal unit
    as in the paper's equations (bias-free): h = z * tanh(W_t t) + (1 - z) * tanh(W_a a),
    z = sigmoid(W_z [t, a]), all `dim` wide. Their code (johnarevalo/gmu-mmimdb) computes z
    from the projected features instead and puts batch norm before the projections."""

    sequences = False

    def __init__(self, text_dim: int, audio_dim: int, dim: int):
        super().__init__()
        self.text = nn.Linear(text_dim, dim, bias=False)
        self.audio = nn.Linear(audio_dim, dim, bias=False)
        self.gate = nn.Linear(text_dim + audio_dim, dim, bias=False)
        self.out_dim = dim

    def forward(self, text, audio):
        z = torch.sigmoid(self.gate(torch.cat([text, audio], dim=-1)))
        return z * torch.tanh(self.text(text)) + (1 - z) * torch.tanh(self.audio(audio))


def mlp(dim: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class MixerBlock(nn.Module):
    """Pre-norm residual token mixing (across patches), then channel mixing (per patch)."""

    def __init__(self, n_tokens: int, width: int):
        super().__init__()
        self.token_norm, self.tokens = nn.LayerNorm(width), mlp(n_tokens, 4 * n_tokens)
        self.channel_norm, self.channels = nn.LayerNorm(width), mlp(width, max(width // 2, 1))

    def forward(self, x):  # (batch, tokens, width)
        x = x + self.tokens(self.token_norm(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channels(self.channel_norm(x))


class TensorMixer(nn.Module):
    """Outer product of the projected vectors, as a one-channel image, through an MLP-Mixer."""

    sequences = False

    def __init__(self, text_dim: int, audio_dim: int, projection: int, patch: int, depth: int,
                 width: int):
        super().__init__()
        self.patch, self.side = patch, projection // patch
        self.text_proj = nn.Linear(text_dim, projection)
        self.audio_proj = nn.Linear(audio_dim, projection)
        self.embed = nn.Linear(patch * patch, width)
        self.blocks = nn.Sequential(*[MixerBlock(self.side ** 2, width) for _ in range(depth)])
        self.norm = nn.LayerNorm(width)
        self.out_dim = width

    def forward(self, text, audio):
        grid = self.text_proj(text)[:, :, None] * self.audio_proj(audio)[:, None, :]
        b, s, p = grid.shape[0], self.side, self.patch
        patches = grid.reshape(b, s, p, s, p).permute(0, 1, 3, 2, 4).reshape(b, s * s, p * p)
        return self.norm(self.blocks(self.embed(patches))).mean(1)


class CoBlock(nn.Module):
    """Queries of one modality attend to the other's real positions; then a feed-forward."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.q_norm, self.kv_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff_norm, self.ff = nn.LayerNorm(dim), mlp(dim, 4 * dim)

    def forward(self, query, other, other_mask):
        kv = self.kv_norm(other)
        attended, _ = self.attention(self.q_norm(query), kv, kv, key_padding_mask=~other_mask,
                                     need_weights=False)
        x = query + attended
        return x + self.ff(self.ff_norm(x))


class CoAttention(nn.Module):
    """Text tokens attend to audio frames and audio frames to text tokens, layer by layer,
    each to the other's states of the previous layer (co-attention: not MulT, whose keys are
    the source's input features at every layer); the two are then averaged and concatenated.
    Until issue 30 this was `cross_attention`: same parameters, same numbers (tested)."""

    sequences = True

    def __init__(self, text_dim: int, audio_dim: int, dim: int, heads: int, layers: int):
        super().__init__()
        self.text_proj, self.audio_proj = nn.Linear(text_dim, dim), nn.Linear(audio_dim, dim)
        self.text_blocks = nn.ModuleList(CoBlock(dim, heads) for _ in range(layers))
        self.audio_blocks = nn.ModuleList(CoBlock(dim, heads) for _ in range(layers))
        self.text_norm, self.audio_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.out_dim = 2 * dim

    def forward(self, text, audio, text_mask, audio_mask):
        t, a = self.text_proj(text), self.audio_proj(audio)
        for to_audio, to_text in zip(self.text_blocks, self.audio_blocks):
            t, a = to_audio(t, a, audio_mask), to_text(a, t, text_mask)
        return torch.cat([masked_mean(self.text_norm(t), text_mask),
                          masked_mean(self.audio_norm(a), audio_mask)], dim=-1)


def make_fusion(opts: dict, text_dim: int, audio_dim: int) -> nn.Module:
    """The fusion module of `options(spec)`; one modality alone is always concat."""
    kind = opts["fusion"]
    if kind not in FUSIONS:
        raise ValueError(f"fusion must be one of {FUSIONS}, not {kind!r}")
    if kind == "concat":
        return Concat(text_dim, audio_dim)
    if not (text_dim and audio_dim):
        raise ValueError(f"fusion {kind} needs both modalities")
    problem = size_problem(opts)
    if problem:
        raise ValueError(problem[1])
    if kind == "gated":
        return Gated(text_dim, audio_dim)
    if kind == "gmu":
        return GMU(text_dim, audio_dim, opts["gmu_dim"])
    if kind == "tensor_mixer":
        return TensorMixer(text_dim, audio_dim, opts["mixer_projection"], opts["mixer_patch"],
                           opts["mixer_depth"], opts["mixer_width"])
    if kind == "cross_attention":
        return CrossAttention(text_dim, audio_dim, opts["attention_dim"], opts["attention_heads"],
                              opts["attention_layers"], opts["attention_self_layers"],
                              opts["attention_dropout"], opts["attention_readout"])
    return CoAttention(text_dim, audio_dim, opts["attention_dim"], opts["attention_heads"],
                       opts["attention_layers"])
