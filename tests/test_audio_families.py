"""Every wav2vec2-family encoder alike: weighted layers under LayerDrop, the frozen front
end, and checkpoints of other heads loading as the bare encoder (tiny random models)."""

import numpy as np
import pytest
import torch

from kemdy.train.models import EmotionModel, apply_freezing

RATE = 16000


def tiny_wav2vec2(layerdrop: float, layers: int = 4):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    return Wav2Vec2Model(Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2, layerdrop=layerdrop, mask_time_prob=0.0))


def train_steps(model, steps: int = 12) -> list[float]:
    """`steps` optimiser steps in train mode on random clips; the losses."""
    model.train()
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        values = torch.from_numpy(rng.standard_normal((3, 4000)).astype(np.float32))
        mask = torch.ones_like(values, dtype=torch.long)
        mask[0, 3000:] = 0
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
