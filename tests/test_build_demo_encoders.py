import filecmp
import os

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoFeatureExtractor, AutoModel, AutoTokenizer

import build_demo_encoders
from kemdy.demo import encoders as bde

TEXTS = ["아이 씨 그러니까 나 말렸어야지.", "오늘은 정말 기분이 좋아요!", "왜 그랬어? 진짜 화가 나네.",
         "회의 자료는 내일까지 정리해 주세요.", "무서워서 잠을 못 잤어요."] * 6


def build(tmp_path, name, seed=0, vocab=400):
    segments = tmp_path / "segments.csv"
    pd.DataFrame({"segment_id": range(len(TEXTS)), "text": TEXTS}).to_csv(segments, index=False)
    text, audio = tmp_path / name / "text", tmp_path / name / "audio"
    build_demo_encoders.main(["--segments", str(segments), "--text-out", str(text), "--audio-out", str(audio),
              "--hidden", "32", "--layers", "1", "--heads", "2", "--vocab", str(vocab),
              "--seed", str(seed)])
    return text, audio


def test_folders_load_like_hub_encoders(tmp_path):
    text, audio = build(tmp_path, "a")
    tok = AutoTokenizer.from_pretrained(text)
    ids = tok("오늘은 정말 기분이 좋아요!")["input_ids"]
    assert [tok.convert_ids_to_tokens(i) for i in range(5)] == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    assert ids[0] == tok.cls_token_id == 0 and ids[-1] == tok.sep_token_id == 2
    assert tok.unk_token_id not in ids  # byte-level: Korean never falls to <unk>
    assert tok.decode(ids, skip_special_tokens=True) == "오늘은 정말 기분이 좋아요!"
    model = AutoModel.from_pretrained(text)
    assert type(model).__name__ == "RobertaModel" and model.config.hidden_size == 32
    assert model.config.vocab_size == len(tok) <= 400
    out = model(**tok(["좋아요", "진짜 화가 나네"], padding=True, return_tensors="pt"))
    assert out.pooler_output.shape == (2, 32)
    fe = AutoFeatureExtractor.from_pretrained(audio)
    assert fe.sampling_rate == 16000 and fe.return_attention_mask
    wav = AutoModel.from_pretrained(audio)
    assert type(wav).__name__ == "Wav2Vec2Model"
    feats = fe([torch.zeros(16000).numpy()], sampling_rate=16000, return_tensors="pt")
    assert wav(feats["input_values"], attention_mask=feats["attention_mask"]).last_hidden_state.shape[-1] == 32


def test_same_seed_same_folders_other_seed_other_weights(tmp_path):
    a_text, a_audio = build(tmp_path, "a", seed=0)
    b_text, b_audio = build(tmp_path, "b", seed=0)
    c_text, _ = build(tmp_path, "c", seed=1)
    assert filecmp.cmp(a_text / "tokenizer.json", b_text / "tokenizer.json", shallow=False)
    for a, b in ((a_text, b_text), (a_audio, b_audio)):
        wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    wc = load_file(c_text / "model.safetensors")
    wa = load_file(a_text / "model.safetensors")
    assert not torch.equal(wa["embeddings.word_embeddings.weight"], wc["embeddings.word_embeddings.weight"])



def test_built_apart_as_the_rules_do_equals_built_together(tmp_path):
    both_text, both_audio = build(tmp_path, "both")
    segments = tmp_path / "segments.csv"
    common = ["--hidden", "32", "--layers", "1", "--heads", "2"]
    build_demo_encoders.main(["--segments", str(segments), "--text-out", str(tmp_path / "t"),
                              "--vocab", "400", *common])
    build_demo_encoders.main(["--audio-out", str(tmp_path / "u"), *common])
    for together, apart in ((both_text, tmp_path / "t"), (both_audio, tmp_path / "u")):
        names = sorted(os.listdir(together))
        assert names == sorted(os.listdir(apart))
        assert all(filecmp.cmp(together / n, apart / n, shallow=False) for n in names)

def test_bad_input_is_a_clear_error(tmp_path, capsys):
    from kemdy.errors import run_cli

    with pytest.raises(SystemExit) as exit_:
        run_cli(build_demo_encoders.main, ["--segments", str(tmp_path / "nope.csv"), "--text-out", "t", "--audio-out", "a"])
    assert exit_.value.code == 2
    assert "nope.csv" in capsys.readouterr().err
    assert not os.path.exists("t")


def test_pretraining_without_clips_is_a_clear_error(tmp_path, capsys):
    from kemdy.errors import run_cli

    segments = tmp_path / "segments.csv"
    pd.DataFrame({"segment_id": [0], "text": ["좋아요"]}).to_csv(segments, index=False)
    with pytest.raises(SystemExit) as exit_:
        run_cli(build_demo_encoders.main, ["--segments", str(segments), "--text-out", str(tmp_path / "t"),
                           "--audio-out", str(tmp_path / "a"), "--pretrain-epochs", "2"])
    assert exit_.value.code == 2
    assert "--audio" in capsys.readouterr().err
    assert not (tmp_path / "t").exists() and not (tmp_path / "a").exists()
