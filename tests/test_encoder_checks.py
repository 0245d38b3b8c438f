"""The pre-run encoder checks (kemdy.encoder_checks.check_encoders): the family of each encoder
and the text pooling it offers, from config.json alone, before any job."""

import json

import pytest

from kemdy.encoder_checks import check_encoders
from kemdy.errors import InputError


def saved(tmp_path, name: str, model_type: str, **fields) -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, **fields}))
    return str(folder)


def config(text: str, audio: str) -> dict:
    return {"encoders": {"text": text, "audio": audio}}


TEXT_SPEC = {"modality": "text", "max_len": 128}


@pytest.mark.parametrize("kind", ["roberta", "bert", "electra", "xlm-roberta", "deberta-v2"])
def test_every_supported_text_family_passes_with_first_token(tmp_path, kind):
    text = saved(tmp_path, "t", kind, max_position_embeddings=514, pad_token_id=1)
    audio = saved(tmp_path, "a", "wavlm")
    check_encoders(config(text, audio), {"v": {**TEXT_SPEC, "text_pooling": "first_token"},
                                         "w": {"modality": "audio", "max_len": 128}})


@pytest.mark.parametrize("kind", ["electra", "deberta-v2"])
def test_pooled_text_without_a_pooler_is_one_message_naming_the_variant(tmp_path, kind):
    text = saved(tmp_path, "t", kind, max_position_embeddings=512)
    specs = {"first": {**TEXT_SPEC, "text_pooling": "first_token"},
             "a": {**TEXT_SPEC, "text_pooling": "pooled"},
             "b": {**TEXT_SPEC, "modality": "text+audio"},  # the default: pooled
             "c": {"modality": "audio", "max_len": 128, "text_pooling": "pooled"}}
    with pytest.raises(InputError) as err:
        check_encoders(config(text, saved(tmp_path, "a_", "hubert")), specs)
    assert err.value.key == "variants.a.text_pooling"
    assert "(and b)" in err.value.problem and "has none" in err.value.problem
    assert "text_pooling: first_token" in err.value.fix


@pytest.mark.parametrize("kind", ["bert", "roberta", "xlm-roberta"])
def test_pooled_text_with_a_pooler_passes(tmp_path, kind):
    text = saved(tmp_path, "t", kind, max_position_embeddings=514)
    check_encoders(config(text, ""), {"v": {**TEXT_SPEC, "text_pooling": "pooled"}})


@pytest.mark.parametrize("kind", ["wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech-sat",
                                  "whisper"])
def test_every_supported_audio_family_passes(tmp_path, kind):
    check_encoders(config("", saved(tmp_path, "a", kind)), {"v": {"modality": "audio"}})


@pytest.mark.parametrize("modality, kind", [("audio", "seamless_m4t"), ("audio", "speecht5"),
                                            ("text", "gpt2"), ("text", "wav2vec2"),
                                            ("audio", None)])
def test_an_unsupported_family_is_one_message_naming_the_key(tmp_path, modality, kind):
    fields = {} if kind is None else {"model_type": kind}
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**fields, "max_position_embeddings": 512}))
    names = {"text": str(folder), "audio": ""} if modality == "text" \
        else {"text": "", "audio": str(folder)}
    with pytest.raises(InputError) as err:
        check_encoders({"encoders": names}, {"v": {**TEXT_SPEC, "modality": modality}})
    assert err.value.key == f"encoders.{modality}"
    families = "HuBERT, WavLM" if modality == "audio" else "ELECTRA, XLM-RoBERTa, DeBERTa"
    assert all(f in err.value.fix for f in families.split(", "))


def test_a_variants_own_encoders_are_checked_and_named_by_their_key(tmp_path):
    """text_encoder / audio_encoder on a variant replace encoders.text / encoders.audio for
    its jobs: checked like them (demo encoders or not), each message naming the variant's
    key; the other variants keep the shared encoders."""
    text = saved(tmp_path, "t", "roberta", max_position_embeddings=514, pad_token_id=1)
    electra = saved(tmp_path, "e", "electra", max_position_embeddings=512)
    audio = saved(tmp_path, "a", "wav2vec2")
    shared = {"encoders": {"text": text, "audio": audio}}
    fine = {"v": {**TEXT_SPEC, "modality": "text+audio"},
            "w": {**TEXT_SPEC, "text_encoder": electra, "text_pooling": "first_token"}}
    check_encoders(shared, fine)
    with pytest.raises(InputError) as err:  # pooled on the variant's pooler-less encoder
        check_encoders(shared, {**fine, "w": {**fine["w"], "text_pooling": "pooled"}})
    assert err.value.key == "variants.w.text_pooling"
    demo = {"encoders": {"text": "results/encoders/text", "audio": "results/encoders/audio",
                         "build_demo": True}}
    check_encoders(demo, {"v": {**TEXT_SPEC, "audio_encoder": audio, "modality": "audio"}})
    for own, problem in ((str(tmp_path / "absent"), "no such folder"),
                         (saved(tmp_path, "g", "gpt2"), "model_type 'gpt2'")):
        with pytest.raises(InputError) as err:
            check_encoders(demo, {"v": {**TEXT_SPEC, "modality": "audio", "audio_encoder": own}})
        assert err.value.key == "variants.v.audio_encoder" and problem in err.value.problem
    with pytest.raises(InputError) as err:  # max_len against the variant's own encoder
        check_encoders(shared, {"w": {**TEXT_SPEC, "max_len": 600, "text_encoder": text}})
    assert err.value.key == "variants.w.max_len" and "512 tokens" in err.value.problem


@pytest.mark.parametrize("kind", ["electra", "deberta-v2"])
def test_a_sequence_fusion_never_reads_the_pooler_so_pooled_passes(tmp_path, kind):
    """Cross-attention reads the token states: `text_pooling: pooled` (the default) is no
    reason to refuse a pooler-less encoder there; a pooled fusion still is refused."""
    text = saved(tmp_path, "t", kind, max_position_embeddings=512)
    audio = saved(tmp_path, "a", "wavlm")
    cross = {**TEXT_SPEC, "modality": "text+audio", "fusion": "cross_attention",
             "text_pooling": "pooled"}
    check_encoders(config(text, audio), {"x": cross})
    with pytest.raises(InputError) as err:
        check_encoders(config(text, audio), {"x": cross, "g": {**cross, "fusion": "gated"}})
    assert err.value.key == "variants.g.text_pooling"


def test_each_sweep_candidate_passes_the_encoder_checks_naming_its_sweep_key(tmp_path):
    """A swept max_len beyond the encoder's positions, or a swept Whisper audio_seconds over
    its window, fails before any job, naming variants.<v>.sweep.<key>."""
    text = saved(tmp_path, "t", "roberta", max_position_embeddings=514, pad_token_id=1)
    whisper = saved(tmp_path, "w", "whisper", max_source_positions=1500)
    specs = {"v": {**TEXT_SPEC, "modality": "text+audio", "audio_seconds": 4.0}}
    check_encoders(config(text, whisper), specs, {"v": [{"max_len": 64}, {"max_len": 512}]})
    with pytest.raises(InputError) as err:
        check_encoders(config(text, whisper), specs, {"v": [{"max_len": 64}, {"max_len": 600}]})
    assert err.value.key == "variants.v.sweep.max_len"
    assert 'sweep candidate {"max_len": 600}' in err.value.problem
    with pytest.raises(InputError) as err:
        check_encoders(config(text, whisper), specs, {"v": [{"audio_seconds": 40.0}]})
    assert err.value.key == "variants.v.sweep.audio_seconds"
    electra = saved(tmp_path, "e", "electra", max_position_embeddings=512)
    first = {"v": {**TEXT_SPEC, "text_pooling": "first_token"}}
    with pytest.raises(InputError) as err:
        check_encoders(config(electra, ""), first, {"v": [{"text_pooling": "pooled"}]})
    assert err.value.key == "variants.v.sweep.text_pooling"


def test_cross_attention_at_the_encoders_own_width_needs_one_width_before_any_job(tmp_path):
    """attention_dim: null (TMN's cross-attention, no projection): two encoders of different
    widths, or a width the heads do not divide, fail before any job, naming the key."""
    text = saved(tmp_path, "t", "roberta", max_position_embeddings=514, pad_token_id=1,
                 hidden_size=1024)
    audio = saved(tmp_path, "a", "wav2vec2", hidden_size=1024)
    small = saved(tmp_path, "s", "wav2vec2", hidden_size=768)
    spec = {**TEXT_SPEC, "modality": "text+audio", "fusion": "cross_attention",
            "attention_dim": None, "attention_heads": 8}
    check_encoders(config(text, audio), {"x": spec})
    with pytest.raises(InputError, match="1024 and .* 768") as err:
        check_encoders(config(text, small), {"x": spec})
    assert err.value.key == "variants.x.attention_dim"
    with pytest.raises(InputError, match="not a multiple of attention_heads 24") as err:
        check_encoders(config(text, audio), {"x": {**spec, "attention_heads": 24}})
    assert err.value.key == "variants.x.attention_heads"
    whisper = saved(tmp_path, "w", "whisper", max_source_positions=1500)
    frozen_live = {**spec, "attention_dim": 16, "freeze_audio": True, "max_batch_seconds": 20}
    with pytest.raises(InputError, match="max_batch_seconds 20") as err:  # runs in the model
        check_encoders(config(text, whisper), {"x": frozen_live})
