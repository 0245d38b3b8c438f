"""The workflow on encoders that follow the real checkpoints' conventions (built offline by
kemdy.demo.real_like): klue/roberta-base's WordPiece tokenizer and pooler-less masked-LM
checkpoint, wav2vec2-base's group-norm front end without attention mask, an XLS-R CTC
fine-tune, float16 uploads; then configs/kemdy20.yaml end to end on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors import safe_open

import predict
import train
from kemdy.classes import CLASSES
from kemdy.encoder_checks import check_encoders, encoder_config, max_text_positions
from kemdy.demo import families, real_like
from kemdy.demo.lookalike import generate
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.errors import InputError
from kemdy.release.audio import AudioStore
from kemdy.train.batches import alone_spans, audio_batch
from kemdy.train.embedding_cache import audio_embeddings, input_key, lookup, read_cache
from kemdy.train.encoders import encoder_fingerprint, load_audio_encoder, load_text_encoder
from kemdy.train.models import audio_vector, receptive_field
from workflow_utils import REPO, copy_workflow, snakemake

SECONDS = 1.5  # audio_seconds of the toy runs: clips (0.3-1.6 s) are padded past the 1 s floor
BASE = {"epochs": 1, "lr": 3e-3, "batch_size": 8, "max_len": 32, "patience": 5, "seed": 3,
        "audio_seconds": SECONDS}
TEXT = {**BASE, "modality": "text", "loss": "ce"}
MM = {**BASE, "modality": "text+audio", "loss": "ce"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """A toy corpus and its decoded audio, with the real-like encoders beside the demo ones."""
    base = tmp_path_factory.mktemp("real")
    paths = toy_workspace(base / "ws", n_sessions=4, per_session=12, max_seconds=1.6,
                          seconds=(0.3, 1.6))
    texts = pd.read_csv(paths["segments"])["text"]
    enc = base / "encoders"
    paths.update(
        klue=str(real_like.klue_like(enc / "klue", texts)),
        base=str(real_like.wav2vec2_base_like(enc / "wav2vec2-base")),
        xlsr=str(real_like.xlsr_ctc_like(enc / "xlsr-ctc")),
        klue16=str(real_like.klue_like(enc / "klue-fp16", texts, dtype="float16")),
        base16=str(real_like.wav2vec2_base_like(enc / "wav2vec2-base-fp16", dtype="float16")))
    return paths


def clips(ws, n=None) -> list[np.ndarray]:
    """The toy corpus's decoded clips (float, as the workflow feeds them), cut to SECONDS."""
    store = AudioStore(ws["audio"])
    ids = list(store.rows)[:n]
    return [store.raw(s, int(SECONDS * 16000), 0).astype(np.float32) / 32768.0 for s in ids]


# ---------------------------------------------------------------- the builders' conventions


def test_klue_like_has_klue_conventions(ws):
    from transformers import BertTokenizer

    tok, model = load_text_encoder(ws["klue"])
    assert type(tok) is BertTokenizer  # transformers 5: the tokenizers-backed class
    assert type(tok.backend_tokenizer.model).__name__ == "WordPiece"
    assert tok.convert_ids_to_tokens(list(range(5))) == real_like.KLUE_SPECIAL
    assert tok.pad_token_id == model.config.pad_token_id == 1
    assert (tok.cls_token_id, tok.sep_token_id, tok.model_max_length) == (0, 2, 512)
    enc = tok("오늘은 정말 기분이 좋아요!")
    assert enc["input_ids"][0] == 0 and enc["input_ids"][-1] == 2
    assert enc["token_type_ids"] == [0] * len(enc["input_ids"])  # as klue's tokenizer returns
    assert "좋아요" in tok.tokenize("좋아요")  # cased: Hangul is not split into jamo
    saved = json.loads((Path(ws["klue"]) / "config.json").read_text())
    assert saved["architectures"] == ["RobertaForMaskedLM"]
    assert saved["tokenizer_class"] == "BertTokenizer"
    assert (saved["max_position_embeddings"], saved["type_vocab_size"]) == (514, 1)
    assert type(model).__name__ == "RobertaModel" and model.pooler is not None
    # 514 positions take 512 tokens (RoBERTa's positions start at pad_token_id + 1)
    assert max_text_positions(encoder_config(ws["klue"], "encoders.text", ())) == 512
    assert max_text_positions(model.config.to_dict()) == 512
    model.eval()
    with torch.no_grad():
        model(input_ids=torch.full((1, 512), 7))
        with pytest.raises((IndexError, RuntimeError)):  # position 514 does not exist
            model(input_ids=torch.full((1, 513), 7))


def test_a_missing_pooler_is_the_same_in_every_load_and_leaves_the_rng_alone(ws):
    # klue/roberta-base has no pooler weights: AutoModel initialises one at load time. Drawn
    # from the caller's RNG, a frozen encoder's pooler would differ in predict.py.
    torch.manual_seed(1)
    _, a = load_text_encoder(ws["klue"])
    after = torch.rand(3)
    torch.manual_seed(2)
    _, b = load_text_encoder(ws["klue"])
    assert torch.equal(a.pooler.dense.weight, b.pooler.dense.weight)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(3), after)  # loading drew nothing from the caller's RNG


def test_wav2vec2_base_like_is_group_norm_without_mask(ws):
    extractor, model = load_audio_encoder(ws["base"])
    assert extractor.return_attention_mask is False and extractor.do_normalize is True
    assert extractor.sampling_rate == 16000
    cfg = model.config
    assert (cfg.feat_extract_norm, cfg.do_stable_layer_norm) == ("group", False)
    assert tuple(cfg.conv_kernel) == (10, 3, 3, 3, 3, 2, 2)
    assert tuple(cfg.conv_stride) == (5, 2, 2, 2, 2, 2, 2)
    assert receptive_field(model) == 400  # 25 ms windows
    assert int(model._get_feat_extract_output_lengths(16000)) == 49  # every 20 ms
    assert type(model).__name__ == "Wav2Vec2Model"
    assert cfg.architectures == ["Wav2Vec2ForPreTraining"]


def test_xlsr_ctc_checkpoint_loads_as_its_encoder(ws):
    folder = Path(ws["xlsr"])
    with safe_open(folder / "model.safetensors", framework="pt") as f:
        assert any(k.startswith("lm_head.") for k in f.keys())  # saved with its CTC head
    files = set(os.listdir(folder))
    assert {"vocab.json", "tokenizer_config.json", "preprocessor_config.json"} <= files
    extractor, model = load_audio_encoder(str(folder))
    assert type(model).__name__ == "Wav2Vec2Model" and not hasattr(model, "lm_head")
    assert model.config.architectures == ["Wav2Vec2ForCTC"]
    assert (model.config.feat_extract_norm, model.config.do_stable_layer_norm) == ("layer", True)
    assert extractor.return_attention_mask is True
    # with its mask, a clip's vector does not depend on the longer clip padded beside it
    model.eval()
    short, long = sorted(clips(ws, 12), key=len)[::11][:2]
    alone = audio_vector(model, *audio_batch([short], extractor, 16000))
    batched = audio_vector(model, *audio_batch([short, long], extractor, 16000))
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


@pytest.mark.parametrize("kind", ["klue16", "base16"])
def test_float16_saved_encoders_load_as_float32(ws, kind):
    folder = Path(ws[kind])
    with safe_open(folder / "model.safetensors", framework="pt") as f:
        prefix = "roberta." if kind == "klue16" else "wav2vec2."  # the encoder AutoModel keeps
        name = next(k for k in sorted(f.keys()) if k.startswith(prefix) and k.endswith("weight"))
        assert f.get_slice(name).get_dtype() == "F16"
        saved = f.get_tensor(name)
    _, model = (load_text_encoder if kind == "klue16" else load_audio_encoder)(str(folder))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert torch.equal(model.state_dict()[name.removeprefix(prefix)], saved.float())


# ---------------------------------------------------------------- training and predict


def predict_table(ws, run_dir, tmp_path) -> pd.DataFrame:
    """scripts/predict.py (--csv) on every test segment of a run: its exported model
    re-predicts what training wrote."""
    sids = pd.read_csv(run_dir / "out" / "predictions.csv")["segment_id"]
    data = pd.read_csv(ws["data"]).set_index("segment_id").loc[sids]
    table = pd.DataFrame({"wav": [os.path.join(ws["root"], p) for p in data["wav_path"]],
                          "text": data["text"].to_numpy()})
    table.to_csv(tmp_path / "items.csv", index=False)
    predict.main(["--model", str(run_dir / "model"), "--csv", str(tmp_path / "items.csv"),
                  "--out", str(tmp_path / "predicted.csv"), "--threads", "1"])
    return pd.read_csv(tmp_path / "predicted.csv").assign(segment_id=sids.to_numpy())


RUNS = {  # name: (text encoder, audio encoder, spec, pass_audio_mask)
    "text_klue": ("klue", "base", TEXT, None),
    "text_klue_frozen": ("klue", "base", {**TEXT, "freeze_text": True}, None),
    "mm_base_frozen": ("klue", "base", {**MM, "freeze_audio": True}, False),
    "mm_base_trained": ("klue", "base", {**MM, "freeze_audio": False}, False),
    "mm_xlsr_ctc": ("klue", "xlsr", {**MM, "freeze_audio": False}, True),
}


@pytest.mark.parametrize("name", list(RUNS))
def test_trains_and_predict_reproduces_its_test_predictions(ws, tmp_path, name):
    text, audio, spec, pass_mask = RUNS[name]
    paths = {**ws, "text": ws[text], "audio_encoder": ws[audio]}
    metrics = train.main(train_args(paths, tmp_path / "run", name, spec))
    saved = json.loads((tmp_path / "run" / "out" / "metrics.json").read_text())
    assert saved["variant"] == name and np.isfinite(saved["f1_macro"]) and saved["n_test"] == 12
    assert metrics["f1_macro"] == saved["f1_macro"]
    card = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    # only the encoders the model uses: predict loads them again by these names
    names = {m: e and e["name"] for m, e in card["encoders"].items()}
    assert names == {"text": ws[text], "audio": ws[audio] if "audio" in spec["modality"] else None}
    if pass_mask is not None:  # the feature extractor's return_attention_mask decides
        assert card["shape"]["pass_audio_mask"] is pass_mask
    want = pd.read_csv(tmp_path / "run" / "out" / "predictions.csv")
    got = predict_table(paths, tmp_path / "run", tmp_path)
    probs = [f"prob_{c}" for c in CLASSES]
    assert np.abs(got[probs].to_numpy() - want[probs].to_numpy()).max() < 1e-5
    assert list(got["emotion"]) == list(want["pred"])


def test_max_len_beyond_klue_positions_is_a_clear_error_before_training(ws, tmp_path):
    paths = {**ws, "text": ws["klue"]}
    with pytest.raises(InputError, match="max_len 513 is more than the 512 tokens") as err:
        train.main(train_args(paths, tmp_path, "v", {**TEXT, "max_len": 513}))
    assert err.value.key == "max_len" and "set max_len to 512 or less" in str(err.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "ckpt").exists()
    encoders = {"encoders": {"text": ws["klue"], "audio": ws["base"]}}
    with pytest.raises(InputError) as err:  # and the workflow says so before any job runs
        check_encoders(encoders, {"v": {"modality": "text", "max_len": 513}})
    assert err.value.key == "variants.v.max_len"
    check_encoders(encoders, {"v": {"modality": "text+audio", "max_len": 512}})
    # only the encoders the variants use must exist; the other may be absent
    check_encoders({"encoders": {"text": str(tmp_path / "absent"), "audio": ws["base"]}},
                   {"v": {"modality": "audio", "max_len": 513}})
    with pytest.raises(InputError) as err:
        check_encoders({"encoders": {"text": ws["klue"], "audio": str(tmp_path / "absent")}},
                       {"v": {"modality": "text+audio", "max_len": 64}})
    assert err.value.key == "encoders.audio"


# ---------------------------------------------------------------- embedding cache


def test_group_norm_cache_is_byte_identical_whichever_fold_fills_it_first(ws, tmp_path):
    # Frozen wav2vec2-base-like, every window of the validation and test clips scored: fold
    # 1 adds windows of a session fold 0 does not score, so the second job grows the file.
    paths = {**ws, "text": ws["klue"], "audio_encoder": ws["base"]}
    spec = {**MM, "audio_seconds": 0.6, "audio_eval": "windows", "freeze_audio": True,
            "freeze_text": True}
    sizes = {}
    for order in ((0, 1), (1, 0)):
        cache = tmp_path / f"cache{order[0]}{order[1]}"
        for fold in order:
            train.main(train_args(paths, tmp_path / f"run{order[0]}{order[1]}-{fold}", "v", spec,
                                  fold=fold, cache_dir=cache))
            (audio,) = cache.glob("audio-*.safetensors")
            sizes.setdefault(order, []).append(len(read_cache(audio)))
    assert sizes[(0, 1)][0] < sizes[(0, 1)][1] and sizes[(1, 0)][0] < sizes[(1, 0)][1]
    a, b = (sorted((tmp_path / f"cache{x}").glob("*.safetensors")) for x in ("01", "10"))
    assert [p.name for p in a] == [p.name for p in b]
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes(), f"{x.name} depends on which job filled it first"


def test_batching_would_change_a_group_norm_encoders_vectors(ws, tmp_path):
    # Why the cache computes one clip at a time: with a group-norm front end and no mask,
    # the padding beside a shorter clip moves its vector, so a batched fill would make the
    # file depend on the order the jobs came in.
    extractor, model = load_audio_encoder(ws["base"])
    model.eval()
    waves = sorted(clips(ws), key=len)
    short, long = next(w for w in waves if len(w) > 17600), waves[-1]
    assert len(long) - len(short) > 4000  # both past the 1 s floor: only the batch pads it
    alone = audio_vector(model, *audio_batch([short], extractor, 16000), pass_mask=False)
    batched = audio_vector(model, *audio_batch([short, long], extractor, 16000), pass_mask=False)
    assert (alone[0] - batched[0]).abs().max() > 1e-3

    def batched_fill(pos, group):
        return audio_vector(model, *audio_batch([group[p] for p in pos], extractor, 16000),
                            pass_mask=False)

    def one_at_a_time(pos, group):
        return audio_embeddings(model, [group[p] for p in pos], extractor, 16000, pass_mask=False)

    n = len(waves)  # overlapping groups: the shorter half and the longer three quarters
    first, second = waves[: n // 2], waves[n // 4:]
    files = {}
    for compute in (batched_fill, one_at_a_time):
        for k, order in enumerate([(first, second), (second, first)]):
            path = tmp_path / compute.__name__ / f"order{k}.safetensors"
            for group in order:
                lookup(str(path), [input_key(w) for w in group],
                       lambda pos, group=group: compute(pos, group))
            files.setdefault(compute.__name__, []).append(path.read_bytes())
    assert files["batched_fill"][0] != files["batched_fill"][1]
    assert files["one_at_a_time"][0] == files["one_at_a_time"][1]


def test_scoring_batches_wav2vec2_base_clips_as_alone(ws):
    # What lets training score a group-norm encoder in padded batches (kemdy.train.alone):
    # every clip of mixed lengths, batched with the mask and the masked group norm, gets its
    # vectors alone (no mask, as the checkpoint's extractor says) within 1e-5.
    extractor, model = load_audio_encoder(ws["base"])
    model.eval()
    waves = sorted(clips(ws), key=len)[::3]
    waves = [waves[0][:6000]] + waves  # and one under audio_batch's 1-s floor
    assert len({len(w) for w in waves}) > 3
    with torch.no_grad():
        alone = torch.cat([audio_vector(model, *audio_batch([w], extractor, 16000),
                                        pass_mask=False) for w in waves])
        values, mask = audio_batch(waves, extractor, 16000)
        batched = audio_vector(model, values, mask, pass_mask=False,
                               alone=alone_spans(mask, 16000))
    assert (alone - batched).abs().max() < 1e-5


# ---------------------------------------------------------------- fingerprints


FINGERPRINT = """
import sys
sys.path.insert(0, "scripts")
import torch
from transformers import BertTokenizerLegacy
from kemdy.train.encoders import encoder_fingerprint, load_text_encoder
torch.manual_seed(int(sys.argv[2]))  # another RNG state in each process
_, model = load_text_encoder(sys.argv[1])
slow = BertTokenizerLegacy.from_pretrained(sys.argv[1])
assert getattr(slow, "backend_tokenizer", None) is None, "not a Python tokenizer"
print(encoder_fingerprint(sys.argv[1], model, slow))
"""


def test_slow_tokenizer_fingerprint_is_the_same_in_two_processes(ws):
    procs = [subprocess.Popen([sys.executable, "-c", FINGERPRINT, ws["klue"], str(k)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONHASHSEED": str(k)}) for k in (1, 2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    prints = [out.split()[-1] for out, _ in outs]
    assert prints[0] == prints[1] and len(prints[0]) == 32


# ---------------------------------------------------------------- the real config


@pytest.mark.workflow
def test_the_real_config_runs_end_to_end_on_real_like_encoders(tmp_path):
    root = tmp_path / "KEMDy20_v1_1"  # a look-alike without marker: to the workflow, a real copy
    generate(root, tmp_path / "truth.csv", seed=5, n_sessions=4, segments_per_session=10,
             prior="demo", single_modality_share=0.4, wrong_prefix_sessions=[3])
    texts = [p.read_text(encoding="cp949") for p in sorted(root.rglob("*.txt"))]
    klue = real_like.klue_like(tmp_path / "encoders" / "klue", texts)
    w2v = real_like.wav2vec2_base_like(tmp_path / "encoders" / "wav2vec2-base")
    config = yaml.safe_load((REPO / "configs" / "kemdy20.yaml").read_text())
    real = json.loads(json.dumps(config))
    config["dataset"]["root"] = str(root)
    config["encoders"].update(text=str(klue), audio=str(w2v))
    config["folds"]["n_folds"] = 2
    config["train"].update(epochs=1, max_len=64, batch_size=8)
    config["report"]["bootstrap"] = 100
    for kind in config["resources"].values():
        kind["threads"] = 1
    assert config["variants"] == real["variants"] and config["dataset"]["kind"] == "kemdy20"
    # Every other encoder family in the same run, through variants' own encoders (issue 22.7):
    # audio trained or frozen, last or weighted layers; text pooled or first-token; and the
    # recipes of issue 23 on real conventions: gated fusion with its own encoder rate,
    # cross-attention over ELECTRA tokens (with two turns of context) and a frozen WavLM's
    # frames, TMN's tensor mixer with PeakL soft focal and MSE valence/arousal.
    enc = tmp_path / "encoders"
    family_variants = {
        "fam_hubert_bert": (families.audio_like(enc / "hubert", "hubert-base-ls960"),
                            families.text_like(enc / "bert", "kr-bert", texts),
                            {"audio_layers": "weighted", "fusion": "gated", "lr_encoders": 3e-4}),
        "fam_wavlm_electra": (families.audio_like(enc / "wavlm", "wavlm-base-plus"),
                              families.text_like(enc / "electra", "koelectra", texts),
                              # the default text_pooling (pooled): a sequence fusion reads
                              # ELECTRA's token states, never a pooler, so it is accepted
                              {"freeze_audio": True, "fusion": "cross_attention",
                               "attention_dim": 32, "attention_heads": 2,
                               "attention_layers": 1, "attention_self_layers": 1,
                               "context_turns": 2}),
        "fam_data2vec_xlmr": (families.audio_like(enc / "data2vec", "data2vec-audio-base"),
                              families.text_like(enc / "xlmr", "xlm-roberta", texts),
                              {"fusion": "tensor_mixer", "mixer_projection": 32, "mixer_patch": 8,
                               "mixer_width": 32, "mixer_depth": 1, "loss": "soft_focal",
                               "target_sharpening": "peakl", "va_weight": 0.43, "va_loss": "mse"}),
        "fam_unispeech_deberta": (
            families.audio_like(enc / "unispeech", "unispeech-sat-base"),
            families.text_like(enc / "deberta", "deberta-v3", texts),
            {"freeze_audio": True, "audio_layers": "weighted", "text_pooling": "first_token"}),
        "fam_whisper": (families.whisper_like(enc / "whisper", "whisper-small"), None,
                        {"audio_layers": "weighted", "modality": "audio"}),
    }
    for name, (audio, text, extra) in family_variants.items():
        config["variants"][name] = {"modality": "text+audio", "loss": "ce", "lr": 1e-3,
                                    "audio_encoder": str(audio), **extra}
        if text is not None:
            config["variants"][name]["text_encoder"] = str(text)
    work = copy_workflow(tmp_path / "workflow", config)
    snakemake(work)
    html = (work / "reports" / "summary.html").read_text(encoding="utf-8")
    assert "DEMO" not in html and "demo-banner" not in html
    assert (f"Emotion recognition on KEMDy20: {len(config['variants'])} variants, 2-fold"
            in html and str(klue) in html)
    for name, (audio, text, extra) in family_variants.items():
        for fold in (0, 1):
            card = json.loads((work / "results/models" / name / f"fold{fold}" / "model.json")
                              .read_text())
            named = {m: e["path"] for m, e in card["encoders"].items() if e}
            assert named == {"audio": str(audio), **({"text": str(text)} if text else {})}
            assert {k: card["spec"][k] for k in extra} == extra, name  # trained as asked
    log = (work / "logs/train/fam_wavlm_electra/fold0.log").read_text()
    assert "dialogue context: up to 2 previous turns" in log, log[-2000:]
    for variant, spec in config["variants"].items():
        for fold in (0, 1):
            run = work / "results" / "runs" / variant / f"fold{fold}"
            stages = ["stage1", "stage2"] if spec.get("two_stage") else [""]
            for stage in stages:
                metrics = json.loads((run / stage / "metrics.json").read_text())
                assert np.isfinite(metrics["f1_macro"])
                model = work / "results" / "models" / variant / f"fold{fold}" / stage
                card = json.loads((model / "model.json").read_text())
                if "audio" in spec["modality"] and "audio_encoder" not in spec:  # wav2vec2-base: no mask
                    assert card["shape"]["pass_audio_mask"] is False
            assert (run / "metrics.json").exists()
