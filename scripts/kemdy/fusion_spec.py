"""The fusion and head keys of a spec, without torch: kemdy.spec checks them when the
workflow builds its DAG (kemdy/train/fusion.py builds the fusions, models.py the heads)."""

from __future__ import annotations

FUSIONS = ("concat", "tensor_mixer", "cross_attention", "co_attention", "gated", "gmu")
SEQUENCE_FUSIONS = ("cross_attention", "co_attention")
# cross_attention's read-out of its two streams: MulT's last position, the mean over real
# positions, or TMN's (the text stream's first token, the audio stream's mean over frames).
READOUTS = ("last", "mean", "first_mean")
# What reads the fused features: the original MLP (with a separate valence/arousal layer), a
# single Linear (TMN's tensor mixer: its last layer gives the logits), or Linear, GELU,
# Dropout, Linear (TMN's cross-attention classifier); in the last two the valence/arousal
# outputs are two more outputs of the last layer, as in TMN.
HEADS = ("mlp", "linear", "gelu")
# The sizes and options (spec keys, in kemdy.spec.DEFAULTS from here), and the fallback of a
# spec written before they existed (an older model.json).
DEFAULT_SIZES = {
    "mixer_projection": 256,  # tensor_mixer: each pooled vector projected to this size
    "mixer_patch": 16,  # tensor_mixer: patch side on the projection x projection map
    "mixer_depth": 12,  # tensor_mixer: MLP-Mixer blocks
    "mixer_width": 512,  # tensor_mixer: MLP-Mixer channels per patch
    "attention_dim": 256,  # cross/co_attention: the sequences' width (cross_attention: None
    #                        keeps the encoders' own width, which must agree: no projection)
    "attention_heads": 4,  # cross/co_attention: heads (attention_dim must be a multiple)
    "attention_layers": 2,  # cross/co_attention: crossmodal blocks in each direction
    "attention_self_layers": 3,  # cross_attention: self-attention blocks after (MulT's 3)
    "attention_dropout": 0.1,  # cross_attention: MulT's attention/ReLU/residual dropout
    "attention_readout": "last",  # cross_attention: one of READOUTS (MulT: last)
    "gmu_dim": 512,  # gmu: the gated unit's hidden (and fused) width
    "head": "mlp",  # one of HEADS (the original's MLP)
    "head_hidden": 512,  # head gelu: its hidden width (TMN: 512)
}
# Which fusion reads which size key: a sweep over a key its variant's fusion never reads
# would train identical candidates (kemdy.protocol refuses it). HEAD_KEYS: the same per head.
SIZE_KEYS = {
    "tensor_mixer": ("mixer_projection", "mixer_patch", "mixer_depth", "mixer_width"),
    "cross_attention": ("attention_dim", "attention_heads", "attention_layers",
                        "attention_self_layers", "attention_dropout", "attention_readout"),
    "co_attention": ("attention_dim", "attention_heads", "attention_layers"),
    "gmu": ("gmu_dim",),
}
HEAD_KEYS = {"gelu": ("head_hidden",)}


def typed(key: str, value):
    """A size or option as its module reads it (None stays None: attention_dim)."""
    default = DEFAULT_SIZES[key]
    if value is None or isinstance(default, str):
        return value
    return float(value) if isinstance(default, float) else int(value)


def options(spec: dict) -> dict:
    """The fusion, its sizes and the head of a spec; a spec written before fusion existed is
    concat with the original head."""
    return {"fusion": spec.get("fusion", "concat"),
            **{k: typed(k, spec.get(k, v)) for k, v in DEFAULT_SIZES.items()}}


def upgraded(spec: dict) -> dict:
    """An exported model's spec as this code reads it: one written before issue 30 (no
    attention_readout) called today's co_attention `cross_attention`, and its weights are
    co_attention's."""
    if spec.get("fusion") == "cross_attention" and "attention_readout" not in spec:
        return {**spec, "fusion": "co_attention"}
    return spec


def needs_sequences(spec: dict) -> bool:
    """Whether the model reads the encoders' hidden-state sequences, not pooled vectors: then
    a frozen encoder runs in the model (no grad, eval mode), not from the embedding cache."""
    return options(spec)["fusion"] in SEQUENCE_FUSIONS and spec.get("modality") == "text+audio"


def size_problem(opts: dict) -> tuple[str, str, str] | None:
    """(key, problem, fix) of a size or option combination that cannot be built, or None."""
    kind = opts["fusion"]
    if opts["head"] not in HEADS:
        return ("head", f"head {opts['head']!r}", f"use one of {HEADS}")
    if kind == "tensor_mixer" and opts["mixer_projection"] % opts["mixer_patch"]:
        return ("mixer_patch", f"mixer_projection {opts['mixer_projection']} is not a multiple "
                f"of mixer_patch {opts['mixer_patch']}", "make mixer_projection a multiple of "
                "mixer_patch (the outer-product map is cut into whole patches)")
    if kind not in SEQUENCE_FUSIONS:
        return None
    dim, heads = opts["attention_dim"], opts["attention_heads"]
    if dim is None and kind == "co_attention":
        return ("attention_dim", "attention_dim null with fusion co_attention, which projects "
                "both sequences", "give attention_dim a width (null keeps the encoders' own "
                "width for cross_attention only)")
    if dim is not None and dim % heads:
        return ("attention_heads", f"attention_dim {dim} is not a multiple of attention_heads "
                f"{heads}", "make attention_dim a multiple of attention_heads (each head takes "
                "an equal share)")
    if kind == "cross_attention" and opts["attention_readout"] not in READOUTS:
        return ("attention_readout", f"attention_readout {opts['attention_readout']!r}",
                f"use one of {READOUTS}")
    if kind == "cross_attention" and not 0.0 <= opts["attention_dropout"] < 1.0:
        return ("attention_dropout", f"attention_dropout {opts['attention_dropout']}",
                "use a rate in [0, 1)")
    return None
