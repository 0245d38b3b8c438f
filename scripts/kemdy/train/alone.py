"""Scoring a padded clip exactly as it scores alone, so that clips of any length share a
scoring batch (issue 32.3).

Two parts of the supported audio encoders let padding into a clip's real frames even with
the attention mask (kemdy.train.models.padding_sensitive):
- a group-norm front end (wav2vec2-base, HuBERT-base, WavLM-base(+), UniSpeech-SAT)
  normalises each channel of its first convolution over every frame, the padding's too;
- data2vec-audio's positional convolution is 5 layers deep, each ending in a layer norm
  and a GELU, so the zeros of the padded frames turn non-zero after the first layer and
  reach the real frames through the next.

While `scored_alone` is active, forward hooks take the group norm's statistics over the
real frames only, and zero the padded frames after every positional-convolution layer
(what the convolution's own zero padding gives a clip alone). With the attention mask
passed, which the encoders honour (padded frames are set to 0 before the positional
convolution and masked in attention), a padded clip's frames then equal its frames alone,
to float32 rounding (tests/test_audio_families.py). Hooks rather than a replacement
module: the weights, their names and the model's class stay as the checkpoint has them.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

# model_type of the encoders scored alone in a padded batch (tested per family);
# Whisper needs nothing (every clip is padded alone to its 30-s window).
EXACT = ("wav2vec2", "hubert", "wavlm", "unispeech-sat", "data2vec-audio")


def batches_as_alone(config) -> bool:
    """Whether scored_alone makes a padded batch score each clip as alone."""
    return getattr(config, "model_type", None) in EXACT


def front_group_norm(encoder: nn.Module) -> tuple[nn.Conv1d, nn.GroupNorm] | None:
    """(first convolution, its group norm) of a group-norm front end, else None."""
    layers = getattr(getattr(encoder, "feature_extractor", None), "conv_layers", None)
    first = layers[0] if layers is not None and len(layers) else None
    norm = getattr(first, "layer_norm", None)
    return (first.conv, norm) if isinstance(norm, nn.GroupNorm) else None


def masked_group_norm(norm: nn.GroupNorm, x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """GroupNorm of x (batch, channels, time) with each item's statistics over its first
    `frames` time steps only; float32 statistics, as GroupNorm's under autocast."""
    b, c, t = x.shape
    g = norm.num_groups
    xg = x.float().reshape(b, g, c // g, t)
    keep = (torch.arange(t, device=x.device)[None, :] < frames[:, None]).float()[:, None, None]
    count = (frames.clamp(min=1).float() * (c // g))[:, None, None, None]
    mean = (xg * keep).sum((-2, -1), keepdim=True) / count
    centred = xg - mean
    var = (centred * keep).square().sum((-2, -1), keepdim=True) / count
    y = (centred / torch.sqrt(var + norm.eps)).reshape(b, c, t)
    if norm.affine:
        y = y * norm.weight.float()[None, :, None] + norm.bias.float()[None, :, None]
    return y


def conv_frames(conv: nn.Conv1d, samples: torch.Tensor) -> torch.Tensor:
    """Output frames of an unpadded, undilated convolution over `samples` inputs."""
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    return torch.div(samples - kernel, stride, rounding_mode="floor").clamp(min=-1) + 1


def attention_mask(sample_mask: torch.Tensor, spans: torch.Tensor, pass_mask: bool):
    """The mask that scores each clip as alone: its own samples where the encoder takes a
    mask, else every sample of its span (alone, such an encoder attends to the lone
    batch's padding up to audio_batch's floor)."""
    if pass_mask:
        return sample_mask
    steps = torch.arange(sample_mask.shape[-1], device=sample_mask.device)
    return (steps[None, :] < spans[:, None]).to(sample_mask.dtype)


@contextmanager
def scored_alone(encoder: nn.Module, spans: torch.Tensor):
    """Within the block, the encoder's forward passes (given attention_mask's mask) score
    each clip of a batch as alone: `spans` (batch,) are the samples each one spans alone
    (kemdy.train.batches.alone_spans: its own, or audio_batch's floor for a short one)."""
    hooks = []
    try:
        front = front_group_norm(encoder)
        if front is not None:
            conv, norm = front
            frames = conv_frames(conv, spans)

            def renormalise(module, args, output):
                return masked_group_norm(module, args[0], frames).to(output.dtype)

            hooks.append(norm.register_forward_hook(renormalise))
        pos_layers = getattr(getattr(getattr(encoder, "encoder", None), "pos_conv_embed", None),
                             "layers", None)
        if isinstance(pos_layers, nn.ModuleList):  # data2vec-audio's deep positional convolution
            # the frames the encoder's layers see: before any adapter
            lengths = encoder._get_feat_extract_output_lengths(spans, add_adapter=False)

            def zero_padding(module, args, output):
                steps = torch.arange(output.shape[-1], device=output.device)
                keep = steps[None, :] < lengths.to(torch.long)[:, None]
                return output * keep[:, None, :].to(output.dtype)

            hooks.extend(layer.register_forward_hook(zero_padding) for layer in pos_layers)
        yield
    finally:
        for hook in hooks:
            hook.remove()
