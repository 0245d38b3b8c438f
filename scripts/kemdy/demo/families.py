"""Tiny encoders of every family the workflow supports, each with its hub checkpoint's
conventions (config fields, preprocessor, checkpoint class), random weights, a few seconds
each: what kemdy.demo.real_like does for klue/roberta-base and wav2vec2, for the rest.

Audio (AUDIO: name -> conventions of):
- wavlm-base-plus: WavLMModel, group-norm front end, layerdrop 0.05, an extractor that
  returns an attention mask but does not normalise;
- hubert-base-ls960: HubertModel (no freeze_feature_encoder method), group norm,
  layerdrop 0.1, an extractor without attention mask;
- wavlm-large: WavLMModel, layer-norm front end, stable layer norm, mask returned;
- data2vec-audio-base: Data2VecAudioModel, layer-norm front end and a 5-layer positional
  convolution, extractor with attention mask;
- unispeech-sat-base: UniSpeechSatForPreTraining checkpoint, group norm, mask returned;
- hubert-large-ft: HubertForCTC (a fine-tune): layer norm, stable layer norm, mask;
- wav2vec2-superb-er: a wav2vec2 emotion fine-tune (Wav2Vec2ForSequenceClassification with
  use_weighted_layer_sum, superb/wav2vec2-base-superb-er's conventions), no mask.
Whisper (WHISPER): whisper-small (80 mel bins) and whisper-large-v3 (128) checkpoints, decoder
included, as WhisperForConditionalGeneration. Text (TEXT): KoELECTRA (ElectraForPreTraining, ElectraModel has no pooler), KR-BERT
(BertModel), XLM-R (XLMRobertaForMaskedLM, 514 positions), DeBERTa-v2/v3 (DebertaV2Model,
no pooler). Their tokenizers are WordPiece ones learnt from the texts (real_like's): the
workflow reads only ids, and the tokenizer class is what real_like tests already.

padding_gap measures how far a clip's vectors move when it is padded beside a longer one
(with the attention mask where the extractor gives one): which families padding moves
(kemdy.train.models.padding_sensitive), and that scoring keeps each clip as alone
(kemdy.train.alone).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kemdy.demo.real_like import CONV_KERNEL, CONV_STRIDE, SAMPLE_RATE, _save, klue_tokenizer

# name: (config class, checkpoint class, config fields, extractor: (do_normalize, mask))
AUDIO = {
    "wavlm-base-plus": ("WavLMConfig", "WavLMModel",
                        {"feat_extract_norm": "group", "do_stable_layer_norm": False,
                         "conv_bias": False, "layerdrop": 0.05}, (False, True)),
    "hubert-base-ls960": ("HubertConfig", "HubertModel",
                          {"feat_extract_norm": "group", "do_stable_layer_norm": False,
                           "conv_bias": False, "layerdrop": 0.1}, (True, False)),
    "data2vec-audio-base": ("Data2VecAudioConfig", "Data2VecAudioModel",
                            {"layerdrop": 0.05, "conv_bias": False}, (True, True)),
    "unispeech-sat-base": ("UniSpeechSatConfig", "UniSpeechSatForPreTraining",
                           {"feat_extract_norm": "group", "do_stable_layer_norm": False,
                            "conv_bias": False, "layerdrop": 0.05}, (False, True)),
    "wavlm-large": ("WavLMConfig", "WavLMModel",
                    {"feat_extract_norm": "layer", "do_stable_layer_norm": True,
                     "conv_bias": False, "layerdrop": 0.1}, (True, True)),
    "hubert-large-ft": ("HubertConfig", "HubertForCTC",
                        {"feat_extract_norm": "layer", "do_stable_layer_norm": True,
                         "conv_bias": True, "layerdrop": 0.1, "vocab_size": 32}, (True, True)),
    "wav2vec2-superb-er": ("Wav2Vec2Config", "Wav2Vec2ForSequenceClassification",
                           {"feat_extract_norm": "group", "do_stable_layer_norm": False,
                            "conv_bias": False, "layerdrop": 0.05, "num_labels": 4,
                            "use_weighted_layer_sum": True, "classifier_proj_size": 16},
                           (True, False)),
}
# name: (config class, checkpoint class, config fields)
TEXT = {
    "koelectra": ("ElectraConfig", "ElectraForPreTraining", {"embedding_size": 16}),
    "kr-bert": ("BertConfig", "BertModel", {}),
    "xlm-roberta": ("XLMRobertaConfig", "XLMRobertaForMaskedLM",
                    {"max_position_embeddings": 514, "type_vocab_size": 1}),
    "deberta-v3": ("DebertaV2Config", "DebertaV2Model",
                   {"relative_attention": True, "position_buckets": 16,
                    "pos_att_type": ["p2c", "c2p"], "position_biased_input": False}),
}


def _class(name: str):
    import transformers

    return getattr(transformers, name)


def audio_config(family: str, conv_dim: int = 16, hidden: int = 32, layers: int = 2,
                 heads: int = 2, **extra):
    """The tiny config of an AUDIO family: wav2vec2's 7-layer front end (real kernels and
    strides), `layers` transformer layers."""
    config_class, checkpoint, fields, _ = AUDIO[family]
    return _class(config_class)(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, conv_dim=(conv_dim,) * len(CONV_KERNEL),
        conv_kernel=CONV_KERNEL, conv_stride=CONV_STRIDE, num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4, mask_time_prob=0.0,
        **{"architectures": [checkpoint], **fields, **extra})


def audio_extractor(family: str):
    from transformers import Wav2Vec2FeatureExtractor

    normalise, mask = AUDIO[family][3]
    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE,
                                    padding_value=0.0, do_normalize=normalise,
                                    return_attention_mask=mask)


def audio_like(folder, family: str, seed: int = 0, **sizes) -> Path:
    """A look-alike of an AUDIO family's checkpoint in `folder` (its checkpoint class and
    preprocessor_config.json); returns the folder."""
    config = audio_config(family, **sizes)
    torch.manual_seed(seed)
    model = _class(AUDIO[family][1])(config)
    return _save([audio_extractor(family), model], folder, "float32")


# name: mel bins of the Whisper checkpoints whose conventions whisper_like copies
WHISPER = {"whisper-small": 80, "whisper-large-v3": 128}


def whisper_like(folder, family: str = "whisper-small", seed: int = 0, hidden: int = 32,
                 layers: int = 2, heads: int = 2, encoder_layerdrop: float = 0.0) -> Path:
    """A look-alike of an openai/whisper checkpoint in `folder`: the whole
    WhisperForConditionalGeneration (encoder and decoder, as the hub's) at the real input
    geometry (80 or 128 mel bins, 30-s windows: 3000 mel frames, 1500 encoder frames) and
    its WhisperFeatureExtractor (log-mel features, no attention mask by default)."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    bins = WHISPER[family]
    config = WhisperConfig(
        vocab_size=64, num_mel_bins=bins, d_model=hidden, encoder_layers=layers,
        decoder_layers=1, encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=4 * hidden, decoder_ffn_dim=4 * hidden, max_source_positions=1500,
        max_target_positions=32, encoder_layerdrop=encoder_layerdrop, pad_token_id=0,
        bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        architectures=["WhisperForConditionalGeneration"])
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    extractor = WhisperFeatureExtractor(feature_size=bins, sampling_rate=SAMPLE_RATE)
    return _save([extractor, model], folder, "float32")


def text_like(folder, family: str, texts, seed: int = 0, hidden: int = 32, layers: int = 1,
              heads: int = 2) -> Path:
    """A look-alike of a TEXT family's checkpoint in `folder`; returns the folder."""
    config_class, checkpoint, fields = TEXT[family]
    tokenizer = klue_tokenizer(texts)
    config = _class(config_class)(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden,
        pad_token_id=tokenizer.pad_token_id, architectures=[checkpoint], **fields)
    torch.manual_seed(seed)
    return _save([tokenizer, _class(checkpoint)(config)], folder, "float32")


@torch.no_grad()
def padding_gap(encoder, extractor, short: int = 16000, long: int = 40000,
                seed: int = 0, alone: bool = False, layers: str = "last") -> float:
    """Largest change in a clip's mean-pooled hidden states when it is scored padded
    beside a longer clip rather than alone (eval mode; the attention mask passed where the
    extractor returns one, as training does; `alone`: as scoring does, with
    kemdy.train.alone's hooks)."""
    from kemdy.train.batches import alone_spans, audio_batch
    from kemdy.train.models import audio_vector

    encoder.eval()
    rng = np.random.default_rng(seed)
    waves = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (short, long)]
    mask = bool(getattr(extractor, "return_attention_mask", True))
    by_itself = audio_vector(encoder, *audio_batch(waves[:1], extractor, SAMPLE_RATE), mask,
                             layers)
    values, sample_mask = audio_batch(waves, extractor, SAMPLE_RATE)
    padded = audio_vector(encoder, values, sample_mask, mask, layers,
                          alone_spans(sample_mask, SAMPLE_RATE) if alone else None)
    return float((by_itself[0] - padded[0]).abs().max())
