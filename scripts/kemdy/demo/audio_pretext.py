"""Self-supervised pre-training of the demo audio encoder on unlabelled waveforms.

A randomly initialised wav2vec2 hides most of what a voice carries: on the look-alike, a
linear probe on its mean-pooled vectors reaches 0.39 macro-F1, against 0.69 for simple
hand-made acoustic features of the same (normalised) audio. A real pre-trained wav2vec2
does not have that problem, so the demo encoder gets a short pre-training of its own, in
the spirit of PASE (Pascual et al., 2019): from each 20 ms frame it learns to predict
acoustic descriptors computed from the frame itself (level, band energies, zero-crossing
rate, periodicity, pitch, and how level and pitch move). No label, fold or transcript is
read: the targets are functions of the waveform alone. The regression read-out is thrown
away; only the encoder is saved.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from kemdy.train.batches import MIN_AUDIO_SAMPLES, audio_batch
from kemdy.train.models import frame_mask

BAND_EDGES_HZ = (60, 250, 500, 1000, 2000, 4000, 8000)
PITCH_HZ = (80.0, 400.0)  # lags searched for the pitch period
VOICED = 0.5  # normalised autocorrelation above which a frame counts as voiced
N_DESCRIPTORS = 6 + len(BAND_EDGES_HZ) - 1


def frames(wave: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """The encoder's frames of a waveform: (n_frames, kernel), as its conv front end sees them."""
    if len(wave) < kernel:
        wave = np.pad(wave, (0, kernel - len(wave)))
    return sliding_window_view(np.asarray(wave, dtype=np.float64), kernel)[::stride]


def descriptors(wave: np.ndarray, kernel: int, stride: int, sample_rate: int) -> np.ndarray:
    """(n_frames, N_DESCRIPTORS) float32: log energy, log band energies, zero-crossing rate,
    periodicity, log pitch, |change of log energy|, |change of log pitch| (voiced frames)."""
    fr = frames(wave, kernel, stride)
    log_energy = np.log((fr**2).mean(1) + 1e-6)
    power = np.abs(np.fft.rfft(fr * np.hanning(kernel), axis=1)) ** 2
    hz = np.fft.rfftfreq(kernel, 1.0 / sample_rate)
    bands = [np.log(power[:, (hz >= lo) & (hz < hi)].sum(1) + 1e-6)
             for lo, hi in zip(BAND_EDGES_HZ[:-1], BAND_EDGES_HZ[1:])]
    zero_crossings = (np.diff(np.signbit(fr), axis=1) != 0).mean(1)
    centred = fr - fr.mean(1, keepdims=True)
    autocorr = np.fft.irfft(np.abs(np.fft.rfft(centred, 2 * kernel, axis=1)) ** 2, axis=1)[:, :kernel]
    autocorr = autocorr / (autocorr[:, :1] + 1e-9)
    lo = int(sample_rate / PITCH_HZ[1])
    hi = min(int(sample_rate / PITCH_HZ[0]), kernel - 1)
    lag = lo + autocorr[:, lo:hi].argmax(1)
    periodicity = autocorr[np.arange(len(fr)), lag]
    log_pitch = np.log(sample_rate / lag)
    d_energy = np.abs(np.diff(log_energy, append=log_energy[-1]))
    d_pitch = np.abs(np.diff(log_pitch, append=log_pitch[-1])) * (periodicity > VOICED)
    return np.stack([log_energy, *bands, zero_crossings, periodicity, log_pitch, d_energy,
                     d_pitch], axis=1).astype(np.float32)


def standardised_targets(waves, kernel: int, stride: int, sample_rate: int) -> list[torch.Tensor]:
    """Descriptors of every clip, each dimension standardised over the whole corpus."""
    per_clip = [descriptors(w, kernel, stride, sample_rate) for w in waves]
    stacked = np.concatenate(per_clip)
    mean, std = stacked.mean(0), stacked.std(0) + 1e-6
    return [torch.from_numpy((d - mean) / std) for d in per_clip]


def pretrain(encoder, extractor, waves, epochs: int, seed: int, batch_size: int = 32,
             lr: float = 2e-3, log=print) -> list[float]:
    """Train `encoder` in place to predict each frame's descriptors; returns the mean loss
    of each epoch. `waves` are raw float waveforms at the extractor's sampling rate."""
    rate = extractor.sampling_rate
    kernel, stride = encoder.config.conv_kernel[0], encoder.config.conv_stride[0]
    if len(encoder.config.conv_kernel) != 1:
        raise ValueError("pretrain expects a one-layer conv front end (its frames are the targets')")
    # The encoder sees the extractor's normalised input; the targets describe the same.
    normalised = [audio_batch([w], extractor, rate)[0][0, : max(len(w), MIN_AUDIO_SAMPLES)].numpy() for w in waves]
    targets = standardised_targets(normalised, kernel, stride, rate)
    torch.manual_seed(seed)
    np.random.seed(seed)  # wav2vec2's SpecAugment masks are drawn from numpy's global RNG
    readout = torch.nn.Linear(encoder.config.hidden_size, N_DESCRIPTORS)
    params = list(encoder.parameters()) + list(readout.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    rng = np.random.default_rng(seed)
    encoder.train()
    losses = []
    for epoch in range(epochs):
        total, n = 0.0, 0
        order = rng.permutation(len(waves))
        for start in range(0, len(waves), batch_size):
            idx = order[start:start + batch_size]
            values, mask = audio_batch([waves[i] for i in idx], extractor, rate)
            hidden = encoder(values, attention_mask=mask).last_hidden_state
            valid = frame_mask(encoder, hidden.shape[1], mask)
            target = torch.zeros(len(idx), hidden.shape[1], N_DESCRIPTORS)
            for row, i in enumerate(idx):
                n_frames = min(len(targets[i]), hidden.shape[1])
                target[row, :n_frames] = targets[i][:n_frames]
                valid[row, n_frames:] = False
            error = ((readout(hidden) - target) ** 2).mean(-1)
            loss = (error * valid).sum() / valid.sum().clamp(min=1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        losses.append(total / max(n, 1))
        log(f"audio pre-training epoch {epoch + 1}/{epochs}: descriptor MSE {losses[-1]:.4f}")
    encoder.eval()
    return losses
