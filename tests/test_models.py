import numpy as np
import pytest
import torch

from kemdy.demo import encoders as bde
from kemdy.train.batches import audio_batch, pad_tokens
from kemdy.train.encoders import encoder_fingerprint
from kemdy.train.models import EmotionModel, Head, apply_freezing, audio_vector, frame_mask, receptive_field, text_vector

TEXTS = ["오늘은 정말 기분이 좋아요!", "왜 그랬어? 진짜 화가 나네.", "회의 자료 내일까지 정리해 주세요."]


@pytest.fixture(scope="module")
def encoders():
    tok = bde.train_tokenizer(TEXTS * 5, 300)
    text = bde.text_encoder(tok, 32, 1, 2, seed=0).eval()
    extractor, audio = bde.audio_encoder(32, 1, 2, 16, seed=0)
    return tok, text, extractor, audio.eval()


def test_text_vector_pooled_and_first_token(encoders):
    tok, text, _, _ = encoders
    ids, mask = pad_tokens([np.array(x) for x in tok(TEXTS)["input_ids"]], tok.pad_token_id)
    out = text(input_ids=ids, attention_mask=mask)
    assert torch.equal(text_vector(text, ids, mask, "pooled"), out.pooler_output)
    assert torch.equal(text_vector(text, ids, mask, "first_token"), out.last_hidden_state[:, 0])
    with pytest.raises(ValueError):
        text_vector(text, ids, mask, "mean")


def test_audio_vector_ignores_padding(encoders):
    _, _, extractor, audio = encoders
    rng = np.random.default_rng(0)
    short, long = rng.standard_normal(8000).astype(np.float32), rng.standard_normal(24000).astype(np.float32)
    alone = audio_vector(audio, *audio_batch([short], extractor, 16000))
    padded = audio_vector(audio, *audio_batch([short, long], extractor, 16000))
    assert torch.allclose(alone[0], padded[0], atol=1e-5)
    values, mask = audio_batch([short, long], extractor, 16000)
    frames = audio(values, attention_mask=mask).last_hidden_state
    fm = frame_mask(audio, frames.shape[1], mask)
    assert fm[0].sum() == audio._get_feat_extract_output_lengths(torch.tensor(8000))
    assert torch.allclose(padded[1], frames[1, fm[1]].mean(0), atol=1e-6)


def test_receptive_field_and_short_clips(encoders):
    _, _, extractor, audio = encoders
    assert receptive_field(audio) == 400  # the standard wav2vec2 conv stack
    values, mask = audio_batch([np.zeros(50, np.float32)], extractor, 16000)
    assert values.shape[1] >= 16000 and int(mask.sum()) == 400
    assert torch.isfinite(audio_vector(audio, values, mask)).all()


def test_head_is_the_original_shape():
    layers = [type(m).__name__ for m in Head(16, 7).net]
    assert layers == ["Linear", "LayerNorm", "Dropout", "ReLU", "Linear"]
    assert Head(16, 7).net[-1].out_features == 7


def test_model_concatenates_text_then_audio_and_cached_vectors_match(encoders):
    tok, text, extractor, audio = encoders
    ids, mask = pad_tokens([np.array(x) for x in tok(TEXTS[:2])["input_ids"]], tok.pad_token_id)
    values, amask = audio_batch([np.ones(4000, np.float32), np.ones(6000, np.float32)], extractor, 16000)
    torch.manual_seed(0)
    model = EmotionModel(7, 32, 32, text, audio).eval()
    live, va = model({"input_ids": ids, "attention_mask": mask, "input_values": values, "audio_mask": amask})
    cached, _ = model({"text_emb": text_vector(text, ids, mask), "audio_emb": audio_vector(audio, values, amask)})
    assert va is None  # no valence/arousal output unless asked for
    assert live.shape == (2, 7)
    assert torch.allclose(live, cached, atol=1e-6)
    assert model.head.net[0].in_features == 64


def test_muted_audio_leaves_the_text_alone_in_the_graph():
    torch.manual_seed(0)
    model = EmotionModel(7, 8, 8).eval()
    text, audio = torch.randn(3, 8), torch.randn(3, 8, requires_grad=True)
    model.mute_audio = True
    muted, _ = model({"text_emb": text, "audio_emb": audio})
    assert torch.equal(muted, model({"text_emb": text, "audio_emb": torch.zeros(3, 8)})[0])
    muted.sum().backward()
    assert audio.grad is not None and not audio.grad.any()  # still in the graph (DDP), no signal
    model.mute_audio = False
    assert not torch.equal(model({"text_emb": text, "audio_emb": audio})[0], muted)


def test_freezing_options(encoders):
    _, text, _, audio = encoders
    apply_freezing(text, audio, {"freeze_text": True, "freeze_audio": False, "freeze_feature_encoder": True})
    assert not any(p.requires_grad for p in text.parameters())
    assert not any(p.requires_grad for p in audio.feature_extractor.parameters())
    assert all(p.requires_grad for p in audio.encoder.parameters())
    apply_freezing(text, audio, {"text_pooling": "first_token", "freeze_feature_encoder": False})
    assert all(p.requires_grad for p in audio.parameters())
    assert not any(p.requires_grad for p in text.pooler.parameters())
    assert all(p.requires_grad for p in text.encoder.parameters())


def test_encoder_fingerprint_sees_weights(encoders):
    tok, text, _, _ = encoders
    before = encoder_fingerprint("x", text, tok)
    assert before == encoder_fingerprint("x", text, tok)
    with torch.no_grad():
        text.pooler.dense.bias[0] += 1.0
    assert encoder_fingerprint("x", text, tok) != before
    with torch.no_grad():
        text.pooler.dense.bias[0] -= 1.0
