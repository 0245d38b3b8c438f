"""Small stand-ins for klue/roberta-base and a Korean wav2vec2, so the demo trains offline on
a laptop CPU.

Text: a byte-level BPE tokenizer trained on the corpus's transcripts (RoBERTa's special
tokens <s> <pad> </s> <unk> <mask>) and a small, randomly initialised RobertaModel.
Audio: a small Wav2Vec2Model and its Wav2Vec2FeatureExtractor at 16 kHz. Its front end is
one convolution with wav2vec2's framing (25 ms window, 20 ms hop), initialised as a
mel-spaced band-pass filter bank; given clips, the encoder is then pre-trained without
labels on them (kemdy.demo.audio_pretext). Both folders are written with save_pretrained,
so AutoTokenizer / AutoModel / AutoFeatureExtractor.from_pretrained load them exactly as
they load hub encoders. The output is a pure function of the texts, the clips, the sizes
and the seed. Their numbers are demo numbers: the encoders know nothing of Korean.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from kemdy.atomic import atomic_dir
from kemdy.demo.audio_pretext import pretrain
from kemdy.errors import InputError
from kemdy.release.audio import AudioStore
from kemdy.train.encoders import quiet_transformers

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0-4, as in RoBERTa
MAX_POSITIONS = 512


def train_tokenizer(texts, vocab_size: int):
    """A RobertaTokenizer whose byte-level BPE vocabulary is learnt from `texts`."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import RobertaTokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    bpe.train_from_iterator(list(texts), trainer)
    learnt = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learnt["merges"]]
    return RobertaTokenizer(vocab=learnt["vocab"], merges=merges, model_max_length=MAX_POSITIONS)


def text_encoder(tokenizer, hidden: int, layers: int, heads: int, seed: int):
    from transformers import RobertaConfig, RobertaModel

    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden,
        max_position_embeddings=MAX_POSITIONS + 2,  # RoBERTa offsets positions by pad_id + 1
        type_vocab_size=1, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    return RobertaModel(config)


SAMPLE_RATE = 16000
WINDOW, HOP = 400, 320  # samples: wav2vec2's 7-layer front end sees 25 ms every 20 ms


def filter_bank(n_filters: int, width: int, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """(n_filters, 1, width) Hann-windowed cosines at mel-spaced centres, 60 Hz to 0.95 x
    Nyquist, each of unit norm. A random 7-layer front end loses most of the voice."""
    def mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    centres = 700.0 * (10 ** (np.linspace(mel(60.0), mel(0.475 * sample_rate), n_filters)
                              / 2595.0) - 1.0)
    t = (np.arange(width) - width / 2) / sample_rate
    taps = np.hanning(width)[None] * np.cos(2 * np.pi * centres[:, None] * t[None])
    taps /= np.linalg.norm(taps, axis=1, keepdims=True)
    return torch.tensor(taps, dtype=torch.float32).unsqueeze(1)


def audio_encoder(hidden: int, layers: int, heads: int, conv_dim: int, seed: int):
    """wav2vec2 with a one-layer, filter-bank front end of wav2vec2's framing."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, conv_dim=(conv_dim,), conv_kernel=(WINDOW,),
        conv_stride=(HOP,), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer", do_stable_layer_norm=True,  # as the XLS-R family
    )
    torch.manual_seed(seed + 1)
    model = Wav2Vec2Model(config)
    with torch.no_grad():
        model.feature_extractor.conv_layers[0].conv.weight.copy_(filter_bank(conv_dim, WINDOW))
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE,
                                         padding_value=0.0, do_normalize=True,
                                         return_attention_mask=True)
    return extractor, model


def read_clips(folder) -> list[np.ndarray]:
    """Every clip of a decode_audio folder, in index order."""
    store = AudioStore(folder)
    if store.sample_rate not in (None, SAMPLE_RATE):
        raise InputError(store.path, f"clips at {store.sample_rate} Hz",
                         f"decode the audio at {SAMPLE_RATE} Hz for the demo encoder")
    return [store.waveform(s, length) for s, (_, length) in store.rows.items()]


def save_folder(parts, out_dir) -> None:
    """save_pretrained every part into a folder that appears only when complete."""
    quiet_transformers()
    with atomic_dir(out_dir) as tmp:
        for part in parts:
            part.save_pretrained(tmp)


def build(texts, text_out, audio_out, hidden=64, layers=2, heads=2, vocab=2000, seed=0,
          conv_dim=64, clips=(), pretrain_epochs=0) -> dict:
    """Write both encoder folders; returns their sizes and the pre-training losses."""
    return {**build_text(texts, text_out, hidden, layers, heads, vocab, seed),
            **build_audio(audio_out, hidden, layers, heads, seed, conv_dim, clips,
                          pretrain_epochs)}


def build_text(texts, out, hidden=64, layers=2, heads=2, vocab=2000, seed=0) -> dict:
    """The text encoder's folder (tokenizer trained on `texts`); its size. Seeded on its
    own: built alone or beside the audio encoder, its bytes are the same."""
    tokenizer = train_tokenizer(texts, vocab)
    model = text_encoder(tokenizer, hidden, layers, heads, seed)
    save_folder([tokenizer, model], out)
    return {"vocab": len(tokenizer), "text_parameters": sum(p.numel() for p in model.parameters())}


def build_audio(out, hidden=64, layers=2, heads=2, seed=0, conv_dim=64, clips=(),
                pretrain_epochs=0) -> dict:
    """The audio encoder's folder, pre-trained without labels on `clips` for
    `pretrain_epochs`; its size and the pre-training losses."""
    extractor, model = audio_encoder(hidden, layers, heads, conv_dim, seed)
    losses = []
    if pretrain_epochs and len(clips):
        losses = pretrain(model, extractor, list(clips), pretrain_epochs, seed)
    save_folder([extractor, model], out)
    return {"audio_parameters": sum(p.numel() for p in model.parameters()),
            "pretrain_losses": losses}
