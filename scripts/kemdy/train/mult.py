"""MulT's crossmodal transformer (Tsai et al., 2019, "Multimodal Transformer for Unaligned
Multimodal Language Sequences"; yaohungt/Multimodal-Transformer, modules/transformer.py and
src/models.py), for two modalities: fusion `cross_attention`.

As MulT: the target sequence's queries attend, at every layer, to the source modality's
*input* features (embedded once: scaled by sqrt(width), plus sinusoidal positions), never
to the source's updated states; pre-norm layers (one LayerNorm for queries, keys and
values), a ReLU feed-forward of 4x the width, a final LayerNorm; then self-attention layers
over the target's crossmodal output (MulT's "memory" transformer, re-embedded the same way).
A width other than attention_dim is projected by a bias-free linear map (MulT's 1x1
convolution), an equal one is not.

Beyond MulT: padding is masked (MulT's sequences are aligned, of one length), so no query
attends to, and no read-out includes, a padded token or frame; the read-out is MulT's last
position (the last *real* one here), the mean over real positions, or TMN's (text stream:
first token; audio stream: mean over real frames).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoids(length: int, dim: int, device=None) -> torch.Tensor:
    """(length, dim) positional table: positions 1..length (0 is MulT's padding index),
    sines in the first half, cosines in the second (tensor2tensor's layout)."""
    half = dim // 2
    rate = math.log(10000) / max(half - 1, 1)
    freq = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * -rate)
    angle = torch.arange(1, length + 1, device=device, dtype=torch.float32)[:, None] * freq
    table = torch.cat([angle.sin(), angle.cos()], dim=1)
    return nn.functional.pad(table, (0, dim % 2))


def xavier_linear(n_in: int, n_out: int) -> nn.Linear:
    """MulT's initialisation of its feed-forward layers: Xavier-uniform, zero bias."""
    layer = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class MulTLayer(nn.Module):
    """Pre-norm attention (to `source`, or to itself without one), then a ReLU feed-forward."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)  # MulT normalises queries, keys and values alike
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        nn.init.xavier_uniform_(self.attention.out_proj.weight)  # in_proj: torch's is Xavier
        self.ff_norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(xavier_linear(dim, 4 * dim), nn.ReLU(), nn.Dropout(dropout),
                                xavier_linear(4 * dim, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, x_mask, source=None, source_mask=None):
        q = self.norm(x)
        kv, kv_mask = (q, x_mask) if source is None else (self.norm(source), source_mask)
        attended, _ = self.attention(q, kv, kv, key_padding_mask=~kv_mask, need_weights=False)
        x = x + self.drop(attended)
        return x + self.drop(self.ff(self.ff_norm(x)))


class MulTEncoder(nn.Module):
    """MulT's TransformerEncoder: crossmodal with a source, self-attention without one."""

    def __init__(self, dim: int, heads: int, layers: int, dropout: float):
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(MulTLayer(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def embed(self, x):
        positions = sinusoids(x.shape[1], self.dim, x.device).to(x.dtype)
        return self.drop(math.sqrt(self.dim) * x + positions)

    def forward(self, x, x_mask, source=None, source_mask=None):
        x = self.embed(x)
        source = None if source is None else self.embed(source)  # once: every layer reads it
        for layer in self.layers:
            x = layer(x, x_mask, source, source_mask)
        return self.norm(x)


def last_real(states, mask):
    """Each sample's state at its last real position (MulT reads the last time step)."""
    last = mask.long().sum(1).clamp(min=1) - 1
    return states[torch.arange(states.shape[0], device=states.device), last]


def masked_mean(states, mask):
    weights = mask.to(states.dtype).unsqueeze(-1)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class CrossAttention(nn.Module):
    """Text queries the audio frames and audio queries the text tokens, each through its own
    crossmodal encoder (then `self_layers` of self-attention); the two read-outs side by side."""

    sequences = True

    def __init__(self, text_dim: int, audio_dim: int, dim: int | None, heads: int,
                 layers: int, self_layers: int, dropout: float, readout: str):
        super().__init__()
        if dim is None:
            if text_dim != audio_dim:
                from kemdy.errors import InputError

                raise InputError("--spec", f"attention_dim null keeps the encoders' own width, "
                                 f"but text is {text_dim}-d and audio {audio_dim}-d",
                                 "give attention_dim a width (both are projected to it)",
                                 key="attention_dim")
            dim = text_dim
        if dim % heads:
            raise ValueError(f"the attention width {dim} is not a multiple of {heads} heads")
        self.readout = readout
        self.text_proj = nn.Linear(text_dim, dim, bias=False) if text_dim != dim else None
        self.audio_proj = nn.Linear(audio_dim, dim, bias=False) if audio_dim != dim else None
        self.text_from_audio = MulTEncoder(dim, heads, layers, dropout)
        self.audio_from_text = MulTEncoder(dim, heads, layers, dropout)
        self.text_self = MulTEncoder(dim, heads, self_layers, dropout) if self_layers else None
        self.audio_self = MulTEncoder(dim, heads, self_layers, dropout) if self_layers else None
        self.out_dim = 2 * dim

    def forward(self, text, audio, text_mask, audio_mask):
        t = text if self.text_proj is None else self.text_proj(text)
        a = audio if self.audio_proj is None else self.audio_proj(audio)
        t2 = self.text_from_audio(t, text_mask, a, audio_mask)
        a2 = self.audio_from_text(a, audio_mask, t, text_mask)
        if self.text_self is not None:
            t2, a2 = self.text_self(t2, text_mask), self.audio_self(a2, audio_mask)
        if self.readout == "last":
            vectors = last_real(t2, text_mask), last_real(a2, audio_mask)
        elif self.readout == "mean":
            vectors = masked_mean(t2, text_mask), masked_mean(a2, audio_mask)
        else:  # first_mean (TMN): the text stream's first token, the audio stream's mean
            vectors = t2[:, 0], masked_mean(a2, audio_mask)
        return torch.cat(vectors, dim=-1)
