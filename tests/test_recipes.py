"""Recipe fidelity (issue 30.2): configs/tmn-kemdy19-20.yaml against a table of TMN's
settings, each row naming the TMN file (1pha/MulitmodalERC-TensorMixerNetwork) it was read
from. A setting equal to TMN's must stay so, and one that differs must be named in the
config's "What remains different" header, so a later edit cannot drift in silence."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from kemdy import spec as specs

CONFIG = Path(__file__).resolve().parents[1] / "configs/tmn-kemdy19-20.yaml"
ALL = ("tmn_tensor_mixer", "tmn_cross_attention", "tmn_concat")
MIXER, XATTN, CONCAT = ALL[:1], ALL[1:2], ALL[2:]
CONCAT_HEAD = "256-d projections, Linear(512, 256), ReLU, Linear(256, 9)"

# (key: a spec key, or config:<dotted path>; TMN's value; the TMN file; the variants it
# applies to). None as TMN's value of attention_dim: no projection (the encoders' width).
TMN = [
    ("config:encoders.text", "klue/roberta-large", "config/model/mlp_mixer_roberta.yaml", ALL),
    ("config:encoders.audio", "kresnik/wav2vec2-large-xlsr-korean",
     "config/model/mlp_mixer_roberta.yaml", ALL),
    ("config:audio.max_seconds", 7.0, "config/dataset/hf.yaml (wav_max_length 112,000)", ALL),
    ("config:folds.method", "consecutive sessions of the pooled releases",
     "erc/datasets.py (get_folds)", ALL),
    ("config:labels.method", "vote shares", "erc/datasets.py (vectorize)", ALL),
    ("freeze_text", False, "config/train.yaml (separate_lr txt_model)", ALL),
    ("freeze_audio", False, "config/train.yaml (separate_lr wav_model)", ALL),
    ("freeze_feature_encoder", False, "erc/model/mlp_mixer.py (nothing frozen)", ALL),
    ("lr_encoders", 1e-5, "config/train.yaml (separate_lr)", ALL),
    ("lr", 1e-4, "config/train.yaml (separate_lr mlp_mixer)", ALL),
    ("weight_decay", 1e-6, "config/train.yaml", ALL),
    ("batch_size", 8, "config/train.yaml", ALL),
    ("grad_clip", 1.0, "config/train.yaml (gradient_clip_val)", ALL),
    ("seed", 42, "config/train.yaml (misc.seed)", ALL),
    ("epochs", 200, "config/train.yaml (max_epochs)", ALL),
    ("patience", 10, "config/train.yaml @010f1ae (early_stop on epoch/valid_acc, the test "
     "fold)", ALL),
    ("max_len", 64, "config/dataset/hf.yaml (txt_max_length)", ALL),
    ("audio_seconds", 7.0, "config/dataset/hf.yaml (wav_max_length 112,000)", ALL),
    ("text_pooling", "first_token", "erc/model/mlp_mixer.py (last_hidden_state[:, 0])", ALL),
    ("loss", "soft_focal", "config/model/mlp_mixer_roberta.yaml (FocalLoss), "
     "config/dataset/hf.yaml (multilabel)", ALL),
    ("focal_gamma", 2.0, "erc/optims/focal_loss.py", ALL),
    ("target_sharpening", "peakl", "erc/model/mlp_mixer.py (erc.utils.apply_peakl)", ALL),
    ("va_loss", "mse", "config/model/mlp_mixer_roberta.yaml (torch.nn.MSELoss)", ALL),
    ("va_weight", 0.3 / 0.7, "config/model/mlp_mixer_roberta.yaml (cls_coef 0.7)", ALL),
    ("gradient_checkpointing", False, "config/train.yaml (none)", ALL),
    ("fusion", "tensor_mixer", "erc/model/mlp_mixer.py", MIXER),
    ("mixer_projection", 256, "erc/model/mlp_mixer.py (classifier_proj_size)", MIXER),
    ("mixer_patch", 16, "config/model/mlp_mixer_roberta.yaml", MIXER),
    ("mixer_width", 512, "config/model/mlp_mixer_roberta.yaml (dim)", MIXER),
    ("mixer_depth", 12, "config/model/mlp_mixer_roberta.yaml", MIXER),
    ("head", "linear", "erc/model/mlp_mixer.py (MLPMixer's last nn.Linear)", MIXER),
    ("dropout", 0.0, "erc/model/mlp_mixer.py (MLPMixer dropout 0)", MIXER),
    ("fusion", "cross_attention", "erc/model/cross_attention.py", XATTN),
    ("attention_dim", None, "erc/model/cross_attention.py (embed_dim=last_hdn_size)", XATTN),
    ("attention_heads", 8, "erc/model/cross_attention.py", XATTN),
    ("attention_layers", 1, "erc/model/cross_attention.py", XATTN),
    ("attention_self_layers", 0, "erc/model/cross_attention.py (no memory transformer)", XATTN),
    ("attention_dropout", 0.0, "erc/model/cross_attention.py (every dropout 0)", XATTN),
    ("attention_readout", "first_mean", "erc/model/cross_attention.py (avgpool; [:, 0, :])",
     XATTN),
    ("head", "gelu", "erc/model/cross_attention.py (classifier)", XATTN),
    ("head_hidden", 512, "erc/model/cross_attention.py (output_dim)", XATTN),
    ("dropout", 0.1, "erc/model/cross_attention.py (dropout_p)", XATTN),
    ("fusion", "concat", "erc/model/simple_concat.py (SimpleConcatRoberta)", CONCAT),
    ("head", CONCAT_HEAD, "erc/model/simple_concat.py (SimpleConcatRoberta)", CONCAT),
]


def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def differences() -> str:
    """The header's "What remains different" part: its leading comment, from that line."""
    lines = []
    for line in CONFIG.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    header = "\n".join(lines)
    return header[header.index("What remains different"):]


def value(cfg: dict, spec: dict, key: str):
    if key.startswith("config:"):
        out = cfg
        for part in key[len("config:"):].split("."):
            out = out[part]
        return out
    return spec[key]


def same(ours, theirs) -> bool:
    if isinstance(theirs, float) and isinstance(ours, (int, float)) and not isinstance(ours, bool):
        return math.isclose(ours, theirs, rel_tol=0.01)
    return ours == theirs


def comparisons():
    cfg = config()
    resolved = {v: specs.resolve(cfg, v, str(CONFIG)) for v in ALL}
    for key, theirs, source, variants in TMN:
        for variant in variants:
            yield variant, key, value(cfg, resolved[variant], key), theirs, source


def test_the_config_runs_tmns_three_variants():
    assert tuple(config()["variants"]) == ALL


# Every setting that differs from TMN's, and the words the config's header names it by. A
# setting that drifts from TMN's is not in this list (the first test fails); one listed here
# but not named in the header fails the second.
DIFFERS = {
    "config:folds.method": "folds:",
    "config:labels.method": "labels:",
    "epochs": "epochs",
    "freeze_feature_encoder": "freeze_feature_encoder",
    "gradient_checkpointing": "gradient_checkpointing",
    "head": "tmn_concat's head",
}


def differing(rows) -> set[str]:
    return {key for _, key, ours, theirs, _ in rows if not same(ours, theirs)}


def test_exactly_the_listed_settings_differ_from_tmns():
    rows = list(comparisons())
    assert differing(rows) == set(DIFFERS), [
        f"{variant}: {key} is {ours!r} here, {theirs!r} in TMN ({source})"
        for variant, key, ours, theirs, source in rows
        if not same(ours, theirs) and key not in DIFFERS]


@pytest.mark.parametrize("key", sorted(DIFFERS))
def test_every_difference_is_named_in_the_header(key):
    assert DIFFERS[key] in differences(), (
        f"{key} differs from TMN, and the header of {CONFIG.name} does not name it under "
        "'What remains different'")


def test_the_table_holds_what_issue_30_fixed():
    """TMN's text vector, cross-attention sizes and direct mixer logits are TMN's here."""
    rows = {(variant, key): (ours, theirs) for variant, key, ours, theirs, _ in comparisons()}
    for key in ("text_pooling", "attention_dim", "attention_heads", "attention_layers",
                "attention_self_layers", "attention_dropout", "attention_readout", "head",
                "head_hidden"):
        for variant in ALL:
            if (variant, key) in rows and variant != "tmn_concat":
                ours, theirs = rows[(variant, key)]
                assert same(ours, theirs), (variant, key, ours, theirs)
    assert rows[("tmn_tensor_mixer", "head")][0] == "linear"


def test_a_drifted_setting_would_be_caught():
    """The check itself: a setting changed away from TMN's (lr, an encoder) is a difference
    DIFFERS does not list."""
    rows = list(comparisons())
    for key, drifted in (("lr", 3e-4), ("config:encoders.text", "klue/roberta-base")):
        moved = [(v, k, drifted if k == key else o, t, s) for v, k, o, t, s in rows]
        assert differing(moved) - set(DIFFERS) == {key}
