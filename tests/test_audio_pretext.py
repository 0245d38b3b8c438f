import numpy as np
import pytest
import torch

from kemdy.demo import encoders as bde
from kemdy.demo.audio_pretext import N_DESCRIPTORS, descriptors, pretrain

RATE = 16000
PITCH, PERIODICITY, LOG_F0 = 7, 8, 9  # columns (after energy and the six bands)


def voice(f0: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a little noise."""
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8))
    return (wave + 0.01 * np.random.default_rng(seed).standard_normal(len(t))).astype(np.float32)


def test_frames_match_the_encoder_and_pitch_is_recovered():
    _, encoder = bde.audio_encoder(32, 1, 2, 16, seed=0)
    wave = voice(150.0)
    d = descriptors(wave, bde.WINDOW, bde.HOP, RATE)
    assert d.shape == (int(encoder._get_feat_extract_output_lengths(torch.tensor(len(wave)))), N_DESCRIPTORS)
    assert np.median(np.exp(d[:, LOG_F0])) == pytest.approx(150.0, rel=0.05)
    noise = np.random.default_rng(1).standard_normal(RATE).astype(np.float32)
    noisy = np.median(descriptors(noise, bde.WINDOW, bde.HOP, RATE)[:, PERIODICITY])
    # the biased autocorrelation: a period of 107 samples peaks near (400 - 107) / 400
    assert np.median(d[:, PERIODICITY]) > 0.65 > 0.3 > noisy


def test_band_energies_follow_the_spectrum():
    t = np.arange(RATE) / RATE
    bands = descriptors(np.sin(2 * np.pi * 3000 * t), bde.WINDOW, bde.HOP, RATE)[:, 1:7]
    assert (bands.argmax(1) == 4).all()  # the 2-4 kHz band


def test_filter_bank_is_mel_spaced_and_unit_norm():
    taps = bde.filter_bank(24, bde.WINDOW)[:, 0].numpy()
    assert np.allclose(np.linalg.norm(taps, axis=1), 1.0, atol=1e-5)
    peaks = np.abs(np.fft.rfft(taps, 8 * bde.WINDOW, axis=1)).argmax(1)
    assert (np.diff(peaks) > 0).all()
    assert np.diff(peaks)[-1] > 3 * np.diff(peaks)[0]  # wider apart up the spectrum


def small_encoder():
    return bde.audio_encoder(32, 1, 2, 16, seed=0)


def test_pretraining_lowers_the_loss_and_is_reproducible():
    clips = [voice(f0, 0.6, seed=i) for i, f0 in enumerate(np.linspace(90, 300, 12))]
    clips += [np.random.default_rng(i).standard_normal(9600).astype(np.float32) for i in range(4)]
    runs = []
    for _ in range(2):
        extractor, encoder = small_encoder()
        before = {k: v.clone() for k, v in encoder.state_dict().items()}
        losses = pretrain(encoder, extractor, clips, epochs=4, seed=3, batch_size=8, log=lambda m: None)
        runs.append((losses, encoder.state_dict()))
    losses, state = runs[0]
    assert losses[-1] < 0.8 * losses[0]
    assert not torch.equal(state["encoder.layers.0.attention.q_proj.weight"],
                           before["encoder.layers.0.attention.q_proj.weight"])
    assert runs[1][0] == losses
    assert all(torch.equal(state[k], runs[1][1][k]) for k in state)


def test_pretraining_needs_the_one_layer_front_end():
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    seven = Wav2Vec2Model(Wav2Vec2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=64, conv_dim=(8,) * 7))
    with pytest.raises(ValueError, match="one-layer"):
        pretrain(seven, Wav2Vec2FeatureExtractor(), [voice(120.0)], 1, 0)
