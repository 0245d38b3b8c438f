"""Optimiser groups: every trainable parameter in exactly one group (TMN's projection layers
were in none), the encoders at lr_encoders, the rest at lr; unset, the optimiser is
today's; the schedule scales both groups and a checkpoint restores both."""

import copy
import json

import pytest
import torch
from torch import nn

from kemdy.demo import encoders as bde
from kemdy.train import checkpoints as ckpt
from kemdy.train import optim
from kemdy.train.distributed import Dist
from kemdy.train.loop import cosine_with_warmup
from kemdy.train.models import EmotionModel, apply_freezing
from kemdy.train.optim import check_partition, make_optimizer, param_groups

SPEC = {"lr": 1e-3, "weight_decay": 0.01, "lr_encoders": None, "freeze_text": False,
        "freeze_audio": False, "freeze_feature_encoder": True, "audio_layers": "last"}


@pytest.fixture(scope="module")
def parts():
    tok = bde.train_tokenizer(["오늘은 정말 기분이 좋아요!", "왜 그랬어? 진짜 화가 나네."] * 5, 300)
    text = bde.text_encoder(tok, 16, 1, 2, seed=0)
    _, audio = bde.audio_encoder(16, 2, 2, 8, seed=0)
    return text, audio


def build(parts, shape: str) -> EmotionModel:
    """A model of one of the shapes training builds, its freezing applied as train.py does."""
    text, audio = (copy.deepcopy(m) for m in parts)
    spec = {**SPEC, "audio_layers": "weighted" if shape == "weighted_va" else "last"}
    torch.manual_seed(0)
    if shape == "text":
        model = EmotionModel(7, 16, 0, text)
        audio = None
    elif shape == "text_cached_audio":  # frozen audio: its vectors come from the cache
        model = EmotionModel(7, 16, 16, text)
        audio = None
    elif shape == "weighted_va":
        model = EmotionModel(7, 16, 16, text, audio, audio_layers="weighted",
                             n_audio_layers=3, regress=True)
    else:  # text_audio and fusion
        model = EmotionModel(7, 16, 16, text, audio)
    apply_freezing(text, audio, spec)
    if shape == "fusion":  # stands for fusion layers a later change adds to EmotionModel
        model.fusion = nn.ModuleDict({"proj": nn.Linear(16, 16), "norm": nn.LayerNorm(16)})
        model.fusion_gate = nn.Parameter(torch.zeros(1))
    return model


SHAPES = ["text", "text_audio", "text_cached_audio", "weighted_va", "fusion"]


def assert_exact_cover(model, groups):
    """The test's own check: the groups' parameters are exactly the trainable ones, once each."""
    ids = [id(p) for g in groups for p in g["params"]]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert len(ids) == len(set(ids)), "a parameter is in two groups"
    assert set(ids) == trainable, "a trainable parameter is in no group (or a frozen one is in one)"


def encoder_ids(model):
    return {id(p) for name in ("text_encoder", "audio_encoder")
            if getattr(model, name) is not None for p in getattr(model, name).parameters()}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lr_encoders", [None, 1e-5])
def test_every_trainable_parameter_is_in_exactly_one_group(parts, shape, lr_encoders):
    model = build(parts, shape)
    groups = param_groups(model, {**SPEC, "lr_encoders": lr_encoders})
    assert_exact_cover(model, groups)
    if lr_encoders is None:
        assert [g["lr"] for g in groups] == [SPEC["lr"]]
        return
    enc, rest = groups
    assert enc["lr"] == 1e-5 and rest["lr"] == SPEC["lr"]
    assert {id(p) for p in enc["params"]} == encoder_ids(model) & {
        id(p) for p in model.parameters() if p.requires_grad}
    names = {id(p): n for n, p in model.named_parameters()}
    rest_names = {names[id(p)] for p in rest["params"]}
    assert {"head.net.0.weight", "head.net.4.bias"} <= rest_names
    if shape == "weighted_va":
        assert {"layer_weights", "va.weight", "va.bias"} <= rest_names
    if shape == "fusion":  # a module param_groups has never heard of trains at lr
        assert {"fusion.proj.weight", "fusion.norm.bias", "fusion_gate"} <= rest_names
    # the frozen front end of the audio encoder is in no group
    if model.audio_encoder is not None:
        front = {id(p) for p in model.audio_encoder.feature_extractor.parameters()}
        assert front and not front & {id(p) for g in groups for p in g["params"]}


def test_a_grouping_that_leaves_a_module_out_fails(parts, monkeypatch):
    model = build(parts, "fusion")
    # TMN's way: groups listed by module name; the fusion layers are in none
    by_name = [{"params": [p for m in (model.text_encoder, model.audio_encoder)
                           for p in m.parameters() if p.requires_grad], "lr": 1e-5},
               {"params": list(model.head.parameters()), "lr": 1e-4}]
    with pytest.raises(AssertionError, match="in no group"):
        assert_exact_cover(model, by_name)
    missing = r"in no optimiser group \(5\): fusion_gate, fusion.proj.weight"
    with pytest.raises(RuntimeError, match=missing):
        check_partition(model, by_name)
    # param_groups itself, made to skip the fusion layers, is stopped by its own check
    real = optim.trainable
    monkeypatch.setattr(optim, "trainable",
                        lambda m: [(n, p) for n, p in real(m) if not n.startswith("fusion.")])
    for lr_encoders in (None, 1e-5):
        with pytest.raises(RuntimeError, match="fusion.proj.weight"):
            param_groups(model, {**SPEC, "lr_encoders": lr_encoders})
    head = list(model.head.parameters())
    with pytest.raises(RuntimeError, match="in several groups"):
        check_partition(model, [{"params": [p for _, p in real(model)]}, {"params": head[:1]}])
    front = next(model.audio_encoder.feature_extractor.parameters())
    with pytest.raises(RuntimeError, match="frozen or not the model's"):
        check_partition(model, [{"params": [p for _, p in real(model)] + [front]}])


def fake_steps(model, optimizer, scheduler, n: int, seed: int = 0):
    """n optimiser steps with the same made-up gradients for any model of the same shape."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(n):
        for p in model.parameters():
            p.grad = torch.randn(p.shape, generator=g) if p.requires_grad else None
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)


def test_unset_lr_encoders_is_todays_optimizer_to_the_bit(parts):
    today_model, model = build(parts, "weighted_va"), build(parts, "weighted_va")
    today = torch.optim.AdamW([p for p in today_model.parameters() if p.requires_grad],
                              lr=SPEC["lr"], weight_decay=SPEC["weight_decay"])
    ours = make_optimizer(model, SPEC)
    state = lambda o: json.dumps(o.state_dict()["param_groups"])  # noqa: E731 (key order too)
    assert state(ours) == state(today)
    fake_steps(today_model, today, cosine_with_warmup(today, 2, 6), 6)
    fake_steps(model, ours, cosine_with_warmup(ours, 2, 6), 6)
    for a, b in zip(today_model.parameters(), model.parameters()):
        assert torch.equal(a, b)
    assert state(ours) == state(today)
    # two groups at the same rate: the same arithmetic, only the bookkeeping differs
    split_model = build(parts, "weighted_va")
    split = make_optimizer(split_model, {**SPEC, "lr_encoders": SPEC["lr"]})
    assert len(split.param_groups) == 2
    fake_steps(split_model, split, cosine_with_warmup(split, 2, 6), 6)
    for a, b in zip(today_model.parameters(), split_model.parameters()):
        assert torch.equal(a, b)


def test_the_schedule_scales_both_groups_and_each_group_learns_at_its_rate(parts):
    model, fast = build(parts, "text_audio"), build(parts, "text_audio")
    opt = make_optimizer(model, {**SPEC, "lr_encoders": 1e-6})
    sched = cosine_with_warmup(opt, 3, 10)
    for step in range(10):
        enc, rest = (g["lr"] for g in opt.param_groups)
        assert enc == pytest.approx(1e-6 * sched.lr_lambdas[0](step))
        assert rest == pytest.approx(1e-3 * sched.lr_lambdas[0](step))
        fake_steps(model, opt, sched, 1, seed=step)
    opt_fast = make_optimizer(fast, SPEC)
    sched_fast = cosine_with_warmup(opt_fast, 3, 10)
    for step in range(10):
        fake_steps(fast, opt_fast, sched_fast, 1, seed=step)
    start = build(parts, "text_audio")
    def moved(m, name):
        pairs = zip(m.named_parameters(), start.named_parameters())
        return max(float((p - q).detach().abs().max()) for (n, p), (_, q) in pairs
                   if n.startswith(name) and p.requires_grad)

    assert moved(model, "text_encoder") < 1e-5 < moved(fast, "text_encoder")
    assert moved(model, "head") == pytest.approx(moved(fast, "head"))


def test_a_checkpoint_restores_both_groups(parts, tmp_path):
    spec = {**SPEC, "lr_encoders": 1e-5}
    model = build(parts, "fusion")
    opt = make_optimizer(model, spec)
    sched = cosine_with_warmup(opt, 2, 8)
    fake_steps(model, opt, sched, 3)
    state = {**ckpt.fresh_state(), "epoch": 1}
    ckpt.save_epoch(tmp_path, "fp", state, model, opt, sched, None, None, False)

    back = build(parts, "fusion")
    back_opt = make_optimizer(back, spec)
    back_sched = cosine_with_warmup(back_opt, 2, 8)
    resumed, _ = ckpt.resume(back, back_opt, back_sched, None, tmp_path, "fp", Dist())
    assert resumed["epoch"] == 1
    assert [g["lr"] for g in back_opt.param_groups] == [g["lr"] for g in opt.param_groups]
    assert [g["initial_lr"] for g in back_opt.param_groups] == [1e-5, 1e-3]
    # the rest of the run is the uninterrupted one's, to the bit
    fake_steps(model, opt, sched, 3, seed=1)
    fake_steps(back, back_opt, back_sched, 3, seed=1)
    for a, b in zip(model.parameters(), back.parameters()):
        assert torch.equal(a, b)
    assert [g["lr"] for g in back_opt.param_groups] == [g["lr"] for g in opt.param_groups]



def test_a_checkpoint_of_another_grouping_is_not_resumed_and_moves_no_weight(parts, tmp_path):
    """A resume state written when the pooler learnt at lr_encoders (one group fewer of new
    weights, or another split) is set aside before any weight is loaded: training starts
    from the model's own initial weights, not a half-loaded mix, and says why."""
    spec = {**SPEC, "lr_encoders": 1e-5}
    model = build(parts, "fusion")
    opt = make_optimizer(model, spec)
    sched = cosine_with_warmup(opt, 2, 8)
    fake_steps(model, opt, sched, 2)
    ckpt.save_epoch(tmp_path, "fp", {**ckpt.fresh_state(), "epoch": 1}, model, opt, sched,
                    None, None, False)
    back = build(parts, "fusion")
    before = {n: p.detach().clone() for n, p in back.named_parameters()}
    one_group = make_optimizer(back, SPEC)  # the same spec fingerprint, another grouping
    state, best = ckpt.resume(back, one_group, cosine_with_warmup(one_group, 2, 8), None,
                              tmp_path, "fp", Dist())
    assert state["epoch"] == 0 and best is None
    assert all(torch.equal(p, before[n]) for n, p in back.named_parameters())


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from kemdy.demo.toy_corpus import toy_workspace

    return toy_workspace(tmp_path_factory.mktemp("ws"), n_sessions=4, per_session=12)


RUN = {"epochs": 2, "lr": 3e-3, "batch_size": 8, "max_len": 32, "seed": 3, "modality": "text",
       "loss": "soft_focal", "target_sharpening": "peakl", "va_weight": 0.5, "va_loss": "mse"}


def test_a_run_trains_its_encoders_at_lr_encoders_and_the_rest_at_lr(ws, tmp_path):
    """train.py end to end with every new key: the exported text encoder barely moves at a
    tiny lr_encoders, and moves without it."""
    import numpy as np
    from safetensors.torch import load_file
    from transformers import AutoModel

    import train
    from kemdy.demo.toy_corpus import train_args

    start = AutoModel.from_pretrained(ws["text"]).state_dict()
    moved = {}
    for name, lr_encoders in (("slow", 1e-9), ("same", None)):
        metrics = train.main(train_args(ws, tmp_path / name, name,
                                        {**RUN, "lr_encoders": lr_encoders}))
        assert np.isfinite(metrics["f1_macro"]) and np.isfinite(metrics["ccc_valence"])
        weights = load_file(tmp_path / name / "model" / "model.safetensors")
        moved[name] = max(float((weights[f"text_encoder.{k}"] - v).abs().max())
                          for k, v in start.items() if f"text_encoder.{k}" in weights)
        config = json.loads((tmp_path / name / "out" / "config.json").read_text())
        assert config["lr_encoders"] == lr_encoders and config["va_loss"] == "mse"
    assert moved["slow"] < 1e-6 < 1e-3 < moved["same"]


def test_a_stopped_run_with_two_groups_resumes_exactly(ws, tmp_path, capsys):
    """SIGTERM mid-epoch, then a rerun: both groups' rates, moments and schedule come back
    (the audio encoder trains too, so both encoders are in the lr_encoders group)."""
    import train
    from test_train import assert_same_as_fresh, stopped_run

    spec = {**RUN, "epochs": 3, "modality": "text+audio", "audio_seconds": 0.6,
            "freeze_feature_encoder": False, "lr_encoders": 1e-4}
    argv = stopped_run(ws, tmp_path / "stopped", spec, "mm")
    resumed = train.main(argv)
    assert "resuming after epoch 1" in capsys.readouterr().err
    assert_same_as_fresh(ws, tmp_path, resumed, tmp_path / "stopped" / "out", spec, "mm")


def test_weights_the_checkpoint_lacked_learn_at_the_heads_rate(parts, tmp_path):
    """klue/roberta-* are masked-LM checkpoints: RobertaModel's pooler is initialised by the
    loader. With lr_encoders it joins the `lr` group (at 1e-5 it would hardly train), and
    the job's log says so, group by group."""
    from transformers import AutoModel, RobertaForMaskedLM

    from kemdy.train.encoders import _pretrained

    text, _ = parts
    torch.manual_seed(0)
    RobertaForMaskedLM(text.config).save_pretrained(tmp_path)  # no pooler weights saved
    loaded = _pretrained(AutoModel, str(tmp_path))
    assert loaded.new_parameters == ["pooler.dense.bias", "pooler.dense.weight"]
    model = EmotionModel(7, 16, 0, loaded)
    apply_freezing(loaded, None, SPEC)
    groups = param_groups(model, {**SPEC, "lr_encoders": 1e-5})
    assert_exact_cover(model, groups)
    names = {id(p): n for n, p in model.named_parameters()}
    enc, rest = ({names[id(p)] for p in g["params"]} for g in groups)
    pooler = {"text_encoder.pooler.dense.weight", "text_encoder.pooler.dense.bias"}
    assert pooler <= rest and not pooler & enc
    assert "text_encoder.embeddings.word_embeddings.weight" in enc
    lines = []
    make_optimizer(model, {**SPEC, "lr_encoders": 1e-5}, lines.append)
    n_enc = sum(p.numel() for p in groups[0]["params"])
    assert lines[0] == (f"optimiser group 0: lr 1e-05, {n_enc:,} parameters "
                        f"({len(groups[0]['params'])} tensors): pre-trained encoder weights")
    assert lines[1].startswith("optimiser group 1: lr 0.001, ")
    assert "optimiser: new (initialised) weight text_encoder.pooler.dense.weight -> group 1 " \
        "(lr 0.001)" in lines
    # a checkpoint that has every weight (the demo encoders): nothing new, groups as before
    text.save_pretrained(tmp_path / "full")
    full = _pretrained(AutoModel, str(tmp_path / "full"))
    assert full.new_parameters == []
    # first_token pooling: the unused pooler is frozen, in no group, and the log says so
    apply_freezing(loaded, None, {**SPEC, "text_pooling": "first_token"})
    lines = []
    make_optimizer(model, {**SPEC, "lr_encoders": 1e-5}, lines.append)
    assert "optimiser: new (initialised) weight text_encoder.pooler.dense.bias -> no group " \
        "(frozen)" in lines
