"""Tiny encoders saved with the conventions of the real checkpoints a KEMDy20 run uses, so
that tests can run the real config offline (no Hugging Face hub).

The demo encoders (kemdy.demo.encoders) follow conventions of their own: a byte-level BPE
tokenizer with RoBERTa's <s>/<pad> ids, a one-layer layer-norm wav2vec2 front end, a
feature extractor that returns an attention mask. The real checkpoints differ in ways the
workflow must handle, and these builders copy exactly those ways, at tiny sizes and with
random weights (a few seconds each):

- klue_like: klue/roberta-base. A RoBERTa model with a BERT WordPiece tokenizer
  ([CLS]=0 [PAD]=1 [SEP]=2 [UNK]=3 [MASK]=4, token_type_ids returned, no lower-casing),
  514 positions (512 usable: RoBERTa offsets positions by pad_token_id + 1), saved as a
  masked-LM checkpoint without pooler weights (AutoModel then gives a RobertaModel whose
  pooler is newly initialised).
- wav2vec2_base_like: facebook/wav2vec2-base. Group-norm front end (feat_extract_norm=
  "group", do_stable_layer_norm=False), the 7-layer convolution stack with the real
  kernels and strides, and a feature extractor that returns NO attention mask: the
  encoder is meant to see zero-padded batches without a mask, so its vectors depend on
  padding. Saved as the pre-training checkpoint (Wav2Vec2ForPreTraining) as the hub's is.
- xlsr_ctc_like: the Korean fine-tunes of facebook/wav2vec2-large-xlsr-53 (e.g.
  kresnik/wav2vec2-large-xlsr-korean). Layer-norm front end, stable layer norm, a feature
  extractor that returns an attention mask, saved as a CTC checkpoint (Wav2Vec2ForCTC with
  its character vocabulary, tokenizer and feature-extractor files): AutoModel must give
  the bare encoder.
- dtype="float16" (every builder): save_pretrained after .half(), as many hub uploads are;
  the workflow must still load float32 parameters (its optimiser keeps float32 weights).

Every output is a pure function of the arguments (seeded); folders are written atomically.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from kemdy.atomic import atomic_dir
from kemdy.train.encoders import quiet_transformers

SAMPLE_RATE = 16000
KLUE_SPECIAL = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]  # ids 0-4, as in klue's vocab.txt
KLUE_MAX_LENGTH = 512  # tokenizer_config's model_max_length
KLUE_POSITIONS = KLUE_MAX_LENGTH + 2  # config.json's max_position_embeddings (514)
# wav2vec2-base's convolutional front end: 400-sample receptive field, 320-sample hop.
CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)
CTC_VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"가나다라마바사아자차카타파하요어"]


def _save(parts, folder, dtype: str) -> Path:
    """save_pretrained every part into a folder that appears only when complete; a model
    is converted to `dtype` ("float32" or "float16") first."""
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, not {dtype!r}")
    quiet_transformers()
    with atomic_dir(folder) as tmp:
        for part in parts:
            if isinstance(part, torch.nn.Module) and dtype == "float16":
                part = part.half()
            part.save_pretrained(tmp)
    return Path(folder)


# ---------------------------------------------------------------- klue/roberta-base


def wordpiece_vocab(texts, vocab_size: int = 400) -> dict[str, int]:
    """A WordPiece vocabulary learnt from `texts`, klue's five special tokens first (ids
    0-4), then every character (word-initial and "##" continuation), then the most frequent
    words and word endings ("##요", "##어요": Korean endings and particles) up to
    vocab_size. Texts are normalised and split as BertTokenizer does, cased (lower-casing
    NFD-strips accents, which would break Hangul syllables into jamo).

    Counted here rather than with the tokenizers library's WordPieceTrainer, whose ties
    fall differently from one process to the next: this vocabulary is a pure function of
    the texts (the encoder's fingerprint, and so the embedding cache, depend on it)."""
    from collections import Counter

    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                            strip_accents=False, lowercase=False)
    splitter = pre_tokenizers.BertPreTokenizer()
    words = Counter(w for t in texts
                    for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(str(t))))
    chars = sorted({c for w in words for c in w})
    pieces = Counter()
    for w, n in words.items():
        if len(w) > 1:
            pieces[w] += n
            for k in range(1, len(w) - 1):  # endings of two characters or more
                pieces[f"##{w[k:]}"] += n
    vocab = [*KLUE_SPECIAL, *chars, *(f"##{c}" for c in chars)]
    room = max(vocab_size - len(vocab), 0)
    vocab += [p for p, _ in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0]))[:room]]
    return {token: i for i, token in enumerate(vocab)}


def klue_tokenizer(texts, vocab_size: int = 400):
    """klue/roberta-base's tokenizer: a BERT WordPiece tokenizer (in transformers 5
    `BertTokenizer` is the tokenizers-backed class; `BertTokenizerLegacy` the Python one),
    cased, bos/eos = [CLS]/[SEP], model_max_length 512, token_type_ids returned."""
    from transformers import BertTokenizer

    return BertTokenizer(vocab=wordpiece_vocab(texts, vocab_size), do_lower_case=False,
                         strip_accents=None, tokenize_chinese_chars=True,
                         bos_token="[CLS]", eos_token="[SEP]",
                         model_max_length=KLUE_MAX_LENGTH)


def klue_like(folder, texts, vocab_size: int = 400, hidden: int = 32, layers: int = 1,
              heads: int = 2, seed: int = 0, dtype: str = "float32",
              masked_lm: bool = True) -> Path:
    """A klue/roberta-base look-alike in `folder`; returns the folder.

    What matters, and why:
    - pad_token_id=1 in both the tokenizer and the model config: RoBERTa's position ids
      start at pad_token_id + 1, so 514 positions take 512 tokens (config.max_text_positions);
    - [CLS]/[SEP] (BERT names) at ids 0/2 where RoBERTa has <s>/</s>, and token_type_ids
      in the tokenizer's output (type_vocab_size=1: a single, all-zero segment);
    - tokenizer_class BertTokenizer in config.json and tokenizer_config.json, as klue's:
      AutoTokenizer must give the WordPiece tokenizer, not a RoBERTa BPE one;
    - masked_lm (default): saved as RobertaForMaskedLM like the hub checkpoint, which has no
      pooler weights: AutoModel's RobertaModel initialises its pooler at load time (the
      workflow's loaders seed that, kemdy.train.models). masked_lm=False saves a
      RobertaModel with its pooler.
    """
    from transformers import RobertaConfig, RobertaForMaskedLM, RobertaModel

    tokenizer = klue_tokenizer(texts, vocab_size)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=4 * hidden,
        max_position_embeddings=KLUE_POSITIONS, type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id, tokenizer_class="BertTokenizer",
        architectures=["RobertaForMaskedLM" if masked_lm else "RobertaModel"])
    torch.manual_seed(seed)
    model = RobertaForMaskedLM(config) if masked_lm else RobertaModel(config)
    return _save([tokenizer, model, _VocabTxt(tokenizer)], folder, dtype)


class _VocabTxt:
    """vocab.txt beside tokenizer.json, as klue's repository has (transformers 5's
    BertTokenizer writes only tokenizer.json; the Python BertTokenizerLegacy reads vocab.txt)."""

    def __init__(self, tokenizer):
        self.vocab = tokenizer.get_vocab()

    def save_pretrained(self, folder) -> None:
        tokens = sorted(self.vocab, key=self.vocab.get)
        (Path(folder) / "vocab.txt").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")


# ---------------------------------------------------------------- wav2vec2


def _wav2vec2_config(layer_norm_front_end: bool, conv_dim: int, hidden: int, layers: int,
                     heads: int, **extra):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=4 * hidden, conv_dim=(conv_dim,) * len(CONV_KERNEL),
        conv_kernel=CONV_KERNEL, conv_stride=CONV_STRIDE,
        conv_bias=layer_norm_front_end,  # base: no bias; XLS-R: bias
        feat_extract_norm="layer" if layer_norm_front_end else "group",
        do_stable_layer_norm=layer_norm_front_end,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        mask_time_prob=0.05, layerdrop=0.1, **extra)


def feature_extractor(return_attention_mask: bool):
    """A wav2vec2 checkpoint's preprocessor: False as wav2vec2-base's, True as a CTC one's."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0,
                                    do_normalize=True,
                                    return_attention_mask=return_attention_mask)


def wav2vec2_base_like(folder, conv_dim: int = 16, hidden: int = 32, layers: int = 1,
                       heads: int = 2, seed: int = 0, dtype: str = "float32") -> Path:
    """A facebook/wav2vec2-base look-alike in `folder`; returns the folder.

    What matters, and why: its front end normalises each conv channel over the whole
    input with a GroupNorm (feat_extract_norm="group"), so the zeros that pad a clip in a
    batch change its vectors; the checkpoint's preprocessor_config says
    return_attention_mask=False (the model was trained without a mask on zero padding) and
    do_normalize=True. The workflow must then pass no mask, and compute cached vectors one
    clip at a time so they do not depend on the batch (kemdy.train.embedding_cache). Saved
    as Wav2Vec2ForPreTraining (quantiser and projections included), as the hub checkpoint
    is: AutoModel gives its Wav2Vec2Model.
    """
    from transformers import Wav2Vec2ForPreTraining

    config = _wav2vec2_config(False, conv_dim, hidden, layers, heads,
                              architectures=["Wav2Vec2ForPreTraining"],
                              codevector_dim=16, proj_codevector_dim=16,
                              num_codevectors_per_group=8)
    torch.manual_seed(seed)
    model = Wav2Vec2ForPreTraining(config)
    return _save([feature_extractor(False), model], folder, dtype)


def xlsr_ctc_like(folder, conv_dim: int = 16, hidden: int = 32, layers: int = 1,
                  heads: int = 2, seed: int = 0, dtype: str = "float32") -> Path:
    """A look-alike of a Korean CTC fine-tune of facebook/wav2vec2-large-xlsr-53 in
    `folder`; returns the folder.

    What matters, and why: a layer-norm front end and pre-norm ("stable") transformer
    layers (feat_extract_norm="layer", do_stable_layer_norm=True) whose feature extractor
    returns an attention mask, which the workflow must pass; and a CTC checkpoint
    (Wav2Vec2ForCTC: an lm_head over a character vocabulary, plus the processor's tokenizer
    files) from which AutoModel must load the bare encoder, dropping the head.
    """
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC

    vocab = {token: i for i, token in enumerate(CTC_VOCAB)}
    config = _wav2vec2_config(True, conv_dim, hidden, layers, heads,
                              architectures=["Wav2Vec2ForCTC"], vocab_size=len(vocab),
                              pad_token_id=vocab["<pad>"], ctc_loss_reduction="mean")
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config)
    with tempfile.TemporaryDirectory() as tmp:  # the tokenizer reads its vocabulary from a file
        vocab_file = Path(tmp) / "vocab.json"
        vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), unk_token="<unk>", pad_token="<pad>",
                                         bos_token="<s>", eos_token="</s>",
                                         word_delimiter_token="|")
    # As the hub's fine-tunes: preprocessor_config.json, vocab.json, tokenizer_config.json.
    return _save([feature_extractor(True), tokenizer, model], folder, dtype)
