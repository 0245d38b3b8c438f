"""Build small, randomly initialised stand-ins for klue/roberta-base and a Korean wav2vec2,
so the demo trains offline on a laptop CPU.

    python scripts/build_demo_encoders.py --segments results/data/segments.csv \
        --text-out results/encoders/text --audio-out results/encoders/audio \
        --hidden 64 --layers 2 --heads 2 --vocab 2000 --seed 0

Text: a byte-level BPE tokenizer trained on the corpus's `text` column (RoBERTa's special
tokens <s> <pad> </s> <unk> <mask>) and a small RobertaModel. Audio: a small Wav2Vec2Model
(layer-norm front end, which takes an attention mask) and its Wav2Vec2FeatureExtractor at
16 kHz. Both folders are written with save_pretrained, so AutoTokenizer / AutoModel /
AutoFeatureExtractor.from_pretrained load them exactly as they load hub encoders. The
output is a pure function of the texts, the sizes and --seed. Their numbers are demo
numbers: the encoders know nothing of Korean.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile

import pandas as pd
import torch

from errors import InputError, run_cli

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


def audio_encoder(hidden: int, layers: int, heads: int, conv_dim: int, seed: int):
    """wav2vec2 with the usual 7-layer conv front end (20 ms frames) at a small width."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, conv_dim=(conv_dim,) * 7,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer", do_stable_layer_norm=True,  # as the XLS-R family
    )
    torch.manual_seed(seed + 1)
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=True)
    return extractor, Wav2Vec2Model(config)


def save_folder(parts, out_dir) -> None:
    """save_pretrained every part into a temporary folder, then move it into place."""
    from models import quiet_transformers

    quiet_transformers()
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out_dir)}.")
    try:
        for part in parts:
            part.save_pretrained(tmp)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


def build(texts, text_out, audio_out, hidden=64, layers=2, heads=2, vocab=2000, seed=0,
          conv_dim=32) -> dict:
    """Write both encoder folders; returns their sizes (parameters, vocabulary)."""
    tokenizer = train_tokenizer(texts, vocab)
    text_model = text_encoder(tokenizer, hidden, layers, heads, seed)
    save_folder([tokenizer, text_model], text_out)
    extractor, audio_model = audio_encoder(hidden, layers, heads, conv_dim, seed)
    save_folder([extractor, audio_model], audio_out)
    return {"vocab": len(tokenizer),
            "text_parameters": sum(p.numel() for p in text_model.parameters()),
            "audio_parameters": sum(p.numel() for p in audio_model.parameters())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--segments", required=True, help="segments.csv (its text column)")
    p.add_argument("--text-out", required=True)
    p.add_argument("--audio-out", required=True)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=2000)
    p.add_argument("--conv-dim", type=int, default=32, help="channels of the conv front end")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.hidden % args.heads or args.hidden % 4:
        raise InputError("--hidden", f"{args.hidden} is not divisible by --heads and by 4",
                         "pick a multiple of both")
    if not os.path.exists(args.segments):
        raise InputError(args.segments, "file not found", "run the ingest step first")
    segments = pd.read_csv(args.segments, usecols=lambda c: c == "text")
    if "text" not in segments:
        raise InputError(args.segments, "no text column", "rerun the ingest step")
    texts = segments["text"].dropna().astype(str)
    texts = texts[texts.str.strip() != ""]
    if texts.empty:
        raise InputError(args.segments, "no transcript text", "check the dataset's .txt files")
    sizes = build(texts, args.text_out, args.audio_out, args.hidden, args.layers, args.heads,
                  args.vocab, args.seed, args.conv_dim)
    print(f"text encoder: {sizes['text_parameters']:,} parameters, vocabulary {sizes['vocab']}; "
          f"audio encoder: {sizes['audio_parameters']:,} parameters")


if __name__ == "__main__":
    run_cli(main)
