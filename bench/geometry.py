"""What the benchmarks that build models share (gpu, fusion, checkpoints, train-*): the real
run's encoder shapes with random weights (no download), klue/roberta-base and
facebook/wav2vec2-base as configs/kemdy20.yaml trains them and further audio encoders, or
tiny ones of the same kind (`small`, for a smoke test on a CPU); the model built around
them as the workflow builds it; a workload as the training loop sees it; and a timed
training epoch."""

from __future__ import annotations

import copy
import os
import time
from functools import partial
from typing import Callable

import numpy as np
import pandas as pd
import torch

from kemdy.demo.real_like import feature_extractor
from kemdy.demo.toy_corpus import make_toy_corpus
from kemdy.fusion_spec import needs_sequences
from kemdy.release.audio import AudioStore, decode_all
from kemdy.train.batches import Inputs
from kemdy.train.data import load_split, make_task
from kemdy.train.encoders import quiet_transformers
from kemdy.train.loop import Runtime, cosine_with_warmup, run_epoch
from kemdy.train.losses import Criterion
from kemdy.train.models import EmotionModel, apply_freezing

# klue/roberta-base's config.json (110.6M parameters with the pooler).
KLUE_BASE = dict(vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1,
                 pad_token_id=1, bos_token_id=0, eos_token_id=2)
# facebook/wav2vec2-base's encoder (94.4M): group-norm front end, post-norm layers.
W2V2_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, feat_extract_norm="group", do_stable_layer_norm=False,
                 conv_bias=False)
TINY = dict(hidden_size=32, num_attention_heads=2, intermediate_size=128)
TINY_FRONT_END = dict(conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                      num_conv_pos_embedding_groups=4)
SMALL_TEXT = dict(KLUE_BASE, **TINY, vocab_size=1000, num_hidden_layers=1)
SMALL_AUDIO = dict(W2V2_BASE, **TINY, **TINY_FRONT_END, num_hidden_layers=1)
# microsoft/wavlm-large (315M): layer-norm front end, pre-norm ("stable") layers, relative
# position buckets; its extractor returns an attention mask (EmoBox's second-best encoder).
WAVLM_LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                   intermediate_size=4096, feat_extract_norm="layer", do_stable_layer_norm=True,
                   conv_bias=False)
SMALL_WAVLM = dict(WAVLM_LARGE, **TINY, **TINY_FRONT_END, num_hidden_layers=2, num_buckets=32,
                   max_bucket_distance=64)
# The encoders of openai/whisper-small (88M) and whisper-large-v3 (635M): 30-s log-mel
# windows (80 / 128 bins), no attention mask; only the encoder is built.
WHISPER_SMALL = dict(d_model=768, encoder_layers=12, encoder_attention_heads=12,
                     encoder_ffn_dim=3072, num_mel_bins=80, max_source_positions=1500)
WHISPER_LARGE_V3 = dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20,
                        encoder_ffn_dim=5120, num_mel_bins=128, max_source_positions=1500)
SMALL_WHISPER = dict(WHISPER_SMALL, d_model=32, encoder_layers=2, encoder_attention_heads=2,
                     encoder_ffn_dim=128)
# Each encoder by name: (its real shape, a tiny one of the same kind).
SHAPES = {"text": (KLUE_BASE, SMALL_TEXT), "audio": (W2V2_BASE, SMALL_AUDIO),
          "wavlm-large": (WAVLM_LARGE, SMALL_WAVLM),
          "whisper-small": (WHISPER_SMALL, SMALL_WHISPER),
          "whisper-large-v3": (WHISPER_LARGE_V3, dict(SMALL_WHISPER, num_mel_bins=128))}
N_CLASSES = 7
TOKENS = (8, 64)  # a transcript's token count, drawn uniformly (klue's WordPiece on KEMDy20)
MODALITY = {"text": "text", "mm": "text+audio"}


def shape(name: str, small: bool = False) -> dict:
    """The config keywords of one of SHAPES's encoders, real or tiny."""
    return SHAPES[name][1 if small else 0]


def encoders(small: bool = False, seed: int = 0) -> dict:
    """{"text": RobertaModel, "audio": Wav2Vec2Model} with random weights (float32)."""
    from transformers import RobertaConfig, RobertaModel, Wav2Vec2Config, Wav2Vec2Model

    quiet_transformers()
    torch.manual_seed(seed)
    text = RobertaModel(RobertaConfig(**shape("text", small)))
    audio = Wav2Vec2Model(Wav2Vec2Config(**shape("audio", small)))
    return {"text": text, "audio": audio}


def extra_audio(small: bool = False) -> dict:
    """Further audio encoders the GPU benchmark measures in the multimodal model, by name:
    a function giving (random-weight encoder, its feature extractor or None for the
    workload's wav2vec2 one, whether the attention mask is passed). Built one at a time."""
    return {name: partial(build, shape(name, small)) for name, build in
            (("wavlm-large", _wavlm), ("whisper-small", _whisper),
             ("whisper-large-v3", _whisper))}


def _wavlm(config: dict):
    from transformers import WavLMConfig, WavLMModel

    quiet_transformers()
    torch.manual_seed(0)
    return WavLMModel(WavLMConfig(**config)), None, True


def _whisper(config: dict):
    from transformers import WhisperConfig, WhisperFeatureExtractor
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    quiet_transformers()
    torch.manual_seed(0)
    encoder = WhisperEncoder(WhisperConfig(**config))
    return encoder, WhisperFeatureExtractor(feature_size=config["num_mel_bins"]), False


def n_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def model(kind: str, parts: dict, spec: dict | None = None,
          pass_audio_mask: bool = False) -> EmotionModel:
    """A fresh text (`text`) or multimodal (`mm`) model of `spec` (fusion, sizes, freezing;
    wav2vec2's convolutional front end frozen unless it says otherwise), as the workflow
    builds it: around copies of the `parts` encoders that run in the model (trained, or
    frozen under a sequence fusion); a frozen encoder's vectors come in the batch instead,
    as from the embedding cache. pass_audio_mask as the audio encoder's extractor says
    (wav2vec2-base's: no mask)."""
    spec = {"freeze_feature_encoder": True, **(spec or {}), "modality": MODALITY[kind]}
    live = {m: not spec.get(f"freeze_{m}", False) or needs_sequences(spec)
            for m in ("text", "audio")}
    text = copy.deepcopy(parts["text"]) if live["text"] else None
    audio = copy.deepcopy(parts["audio"]) if kind == "mm" and live["audio"] else None
    apply_freezing(text, audio, spec)
    torch.manual_seed(0)
    return EmotionModel(N_CLASSES, parts["text"].config.hidden_size,
                        parts["audio"].config.hidden_size if kind == "mm" else 0, text, audio,
                        pass_audio_mask=pass_audio_mask, fusion=spec)


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer stops when it is done."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_timer(model: EmotionModel, inputs: Inputs, batches, runtime: Runtime,
                lr: float = 1e-5, accumulate: int = 1) -> Callable[[], float]:
    """One training epoch over `batches` in the workflow's loop (AdamW on what trains,
    cross-entropy, the cosine schedule over the epoch), as a function that runs it and
    gives its seconds; call it twice to time a pass whose kernels are already chosen."""
    model.to(runtime.device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    crit, sched = Criterion("ce"), cosine_with_warmup(opt, 1, len(batches))

    def epoch() -> float:
        start = time.perf_counter()
        run_epoch(model, inputs, batches, crit, opt, sched, 1.0, runtime, accumulate=accumulate)
        sync(runtime.device)
        return time.perf_counter() - start

    return epoch


def workload(folder, n: int, kind: str, vocab: int, audio_seconds: float = 4.0,
             clip_seconds=(2.0, 8.0), seed: int = 0) -> Inputs:
    """`n` segments as the training loop sees them: random token ids of transcript-like
    lengths and (mm) decoded clips of `clip_seconds`, cut to `audio_seconds`."""
    per_session = -(-n // 4)
    paths = make_toy_corpus(folder, n_sessions=4, per_session=per_session, seed=seed,
                            seconds=clip_seconds if kind == "mm" else (0.3, 0.4))
    split = load_split(paths["data"], paths["folds"], 0).assign(part="train").iloc[:n]
    task = make_task(split.reset_index(drop=True))
    rng = np.random.default_rng(seed)
    token_ids = [np.concatenate([[0], rng.integers(5, vocab, k - 2), [2]]).astype(np.int64)
                 for k in rng.integers(*TOKENS, size=len(task.frame))]
    if kind != "mm":
        return Inputs(task, token_ids=token_ids, pad_id=1)
    segments = pd.read_csv(paths["segments"], dtype={"segment_id": str})
    audio_dir = os.path.join(folder, "audio")
    decode_all([os.path.join(paths["root"], p) for p in segments["wav_path"]], 16000,
               max(clip_seconds), audio_dir, segments["segment_id"])
    return Inputs(task, token_ids=token_ids, pad_id=1, audio=AudioStore(audio_dir),
                  feature_extractor=feature_extractor(False),  # wav2vec2-base's
                  max_samples=int(audio_seconds * 16000), sample_rate=16000)
