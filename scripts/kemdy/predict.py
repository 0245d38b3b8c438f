"""Classifying new recordings with exported models (results/models/{variant}/fold{k}).

A model is rebuilt from its export: the encoders are loaded again by the names its
model.json records, the trainable weights from model.safetensors. Several folds' models are
an ensemble: their class probabilities (and valence/arousal) are averaged. A two-stage
model predicts through both stages: neutral when stage 1's P(neutral) reaches the
threshold, else stage 2's emotion; the seven probabilities are P(neutral) and
(1 - P(neutral)) x stage 2's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from kemdy.classes import CLASSES, EMOTIONS
from kemdy.errors import InputError
from kemdy.train.batches import audio_batch, crop_offset, pad_tokens, window_offsets
from kemdy.train.export import read_card, read_weights
from kemdy.train.losses import probabilities
from kemdy.train.models import EmotionModel, load_audio_encoder, load_text_encoder

WAV_FIX = "give a 16-bit PCM mono wav at the encoder's sample rate (as the release's are)"


@dataclass
class Stage:
    """One exported model, ready to score."""

    card: dict
    model: EmotionModel
    tokenizer: object = None
    extractor: object = None


def load_stage(folder, device="cpu") -> Stage:
    card = read_card(folder)
    spec, shape, names = card["spec"], card["shape"], card["encoders"]
    tokenizer = text = extractor = audio = None
    if shape["text_dim"]:
        tokenizer, text = load_text_encoder(names["text"])
    if shape["audio_dim"]:
        extractor, audio = load_audio_encoder(names["audio"])
    model = EmotionModel(len(card["classes"]), shape["text_dim"], shape["audio_dim"], text, audio,
                         spec["text_pooling"], shape.get("pass_audio_mask", True), 0.0,
                         spec["audio_layers"], shape["n_audio_layers"],
                         regress=float(spec["va_weight"]) > 0 and card["stage"] != 2)
    weights = read_weights(folder)
    unknown = set(weights) - set(model.state_dict())
    if unknown:
        raise InputError(folder, f"its weights do not fit the model its model.json describes "
                         f"({sorted(unknown)[:3]} ...)", "re-export it by re-running training")
    model.load_state_dict(weights, strict=False)  # the rest: the encoders as loaded
    return Stage(card, model.to(device).eval(), tokenizer, extractor)


def load_models(folders, device="cpu") -> list[dict[str, Stage]]:
    """Each --model folder as {"single": Stage} or {"stage1": Stage, "stage2": Stage}."""
    out = []
    for folder in map(Path, folders):
        if (folder / "stage1").is_dir() and (folder / "stage2").is_dir():
            out.append({s: load_stage(folder / s, device) for s in ("stage1", "stage2")})
        else:
            out.append({"single": load_stage(folder, device)})
    return out


def read_wav(path, rate: int) -> np.ndarray:
    """A wav as float samples, refused with a clear error unless it is what the model read."""
    try:
        info = sf.info(str(path))
    except Exception as err:
        raise InputError(path, f"not a readable wav ({str(err).strip()})", WAV_FIX) from None
    if info.samplerate != rate:
        raise InputError(path, f"sample rate {info.samplerate} Hz, the model expects {rate} Hz",
                         WAV_FIX)
    if info.channels != 1:
        raise InputError(path, f"{info.channels} channels, expected mono", WAV_FIX)
    wave, _ = sf.read(str(path), dtype="float32")
    if len(wave) < 0.05 * rate:
        raise InputError(path, f"{len(wave)} samples, under 0.05 s: no speech", WAV_FIX)
    return wave


def batch_for(stage: Stage, text: str, wave: np.ndarray | None, device) -> list[dict]:
    """The model inputs of one item: one batch per scoring window of the clip."""
    spec, base = stage.card["spec"], {}
    if stage.tokenizer is not None:
        ids = stage.tokenizer([text], truncation=True, max_length=int(spec["max_len"]))["input_ids"]
        base["input_ids"], base["attention_mask"] = pad_tokens([np.asarray(ids[0])],
                                                               stage.tokenizer.pad_token_id)
    if stage.extractor is None:
        return [{k: v.to(device) for k, v in base.items()}]
    rate = int(stage.extractor.sampling_rate)
    window = int(round(float(spec["audio_seconds"]) * rate))
    offsets = (window_offsets(len(wave), window) if spec["audio_eval"] == "windows" else
               [crop_offset(len(wave), window, spec["audio_crop"].replace("random", "centre"))])
    batches = []
    for o in offsets:
        values, mask = audio_batch([wave[o: o + window]], stage.extractor, rate)
        batches.append({**base, "input_values": values, "audio_mask": mask})
    return [{k: v.to(device) for k, v in b.items()} for b in batches]


@torch.no_grad()
def score(stage: Stage, text: str, wave, device) -> tuple[np.ndarray, np.ndarray | None]:
    """(class probabilities, valence/arousal or None) of one stage on one item."""
    probs, vas = [], []
    for batch in batch_for(stage, text, wave, device):
        logits, va = stage.model(batch)
        probs.append(probabilities(stage.card["spec"]["loss"], logits)[0].cpu().numpy())
        if va is not None:
            vas.append(va[0].float().cpu().numpy())
    return np.mean(probs, 0), (np.mean(vas, 0) if vas else None)


def predict_one(models: list[dict[str, Stage]], text: str, wav_path, device="cpu") -> dict:
    """{"emotion", "probabilities" (the seven classes, summing to 1)[, "valence", "arousal"]}."""
    if not str(text).strip():
        raise InputError("--text", "empty transcript", "give the words spoken in the recording")
    waves = {}
    probs, vas, neutral, threshold = [], [], [], None
    for parts in models:
        first = next(iter(parts.values()))
        wave = None
        if first.extractor is not None:
            rate = int(first.extractor.sampling_rate)
            wave = waves.setdefault(rate, read_wav(wav_path, rate))
        if "single" in parts:
            p, va = score(parts["single"], text, wave, device)
        else:
            p1, va = score(parts["stage1"], text, wave, device)
            p2, _ = score(parts["stage2"], text, wave, device)
            p = np.concatenate([[p1[0]], (1.0 - p1[0]) * p2])
            neutral.append(p1[0])
            threshold = float(parts["stage1"].card["spec"]["neutral_threshold"])
        probs.append(p)
        if va is not None:
            vas.append(va)
    mean = np.mean(probs, 0)
    mean = mean / mean.sum()
    if threshold is not None and len(neutral) == len(models):  # two-stage: its own rule
        emotion = "neutral" if np.mean(neutral) >= threshold else EMOTIONS[int(mean[1:].argmax())]
    else:
        emotion = CLASSES[int(mean.argmax())]
    out = {"emotion": emotion, "probabilities": dict(zip(CLASSES, map(float, mean)))}
    if vas:
        out["valence"], out["arousal"] = map(float, np.mean(vas, 0))
    return out
