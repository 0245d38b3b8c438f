"""The fusion keys of a spec, without torch: kemdy.spec checks them when the workflow
builds its DAG (kemdy/train/fusion.py builds the modules)."""

from __future__ import annotations

FUSIONS = ("concat", "tensor_mixer", "cross_attention", "gated")
SEQUENCE_FUSIONS = ("cross_attention",)
# The sizes (spec keys, in kemdy.spec.DEFAULTS from here), and the fallback of a spec written
# before fusion existed (an older model.json).
DEFAULT_SIZES = {
    "mixer_projection": 256,  # tensor_mixer: each pooled vector projected to this size
    "mixer_patch": 16,  # tensor_mixer: patch side on the projection x projection map
    "mixer_depth": 12,  # tensor_mixer: MLP-Mixer blocks
    "mixer_width": 512,  # tensor_mixer: MLP-Mixer channels per patch
    "attention_dim": 256,  # cross_attention: width both sequences are projected to
    "attention_heads": 4,  # cross_attention: heads (attention_dim must be a multiple)
    "attention_layers": 2,  # cross_attention: blocks in each direction
}
# Which fusion reads which size key: a sweep over a key its variant's fusion never reads
# would train identical candidates (kemdy.protocol refuses it).
SIZE_KEYS = {
    "tensor_mixer": ("mixer_projection", "mixer_patch", "mixer_depth", "mixer_width"),
    "cross_attention": ("attention_dim", "attention_heads", "attention_layers"),
}


def options(spec: dict) -> dict:
    """The fusion and its sizes of a spec; a spec written before fusion existed is concat."""
    return {"fusion": spec.get("fusion", "concat"),
            **{k: int(spec.get(k, v)) for k, v in DEFAULT_SIZES.items()}}


def needs_sequences(spec: dict) -> bool:
    """Whether the model reads the encoders' hidden-state sequences, not pooled vectors: then
    a frozen encoder runs in the model (no grad, eval mode), not from the embedding cache."""
    return options(spec)["fusion"] in SEQUENCE_FUSIONS and spec.get("modality") == "text+audio"


def size_problem(opts: dict) -> tuple[str, str, str] | None:
    """(key, problem, fix) of a size combination that cannot be built, or None."""
    if opts["fusion"] == "tensor_mixer" and opts["mixer_projection"] % opts["mixer_patch"]:
        return ("mixer_patch", f"mixer_projection {opts['mixer_projection']} is not a multiple "
                f"of mixer_patch {opts['mixer_patch']}", "make mixer_projection a multiple of "
                "mixer_patch (the outer-product map is cut into whole patches)")
    if opts["fusion"] == "cross_attention" and opts["attention_dim"] % opts["attention_heads"]:
        return ("attention_heads", f"attention_dim {opts['attention_dim']} is not a multiple "
                f"of attention_heads {opts['attention_heads']}", "make attention_dim a "
                "multiple of attention_heads (each head takes an equal share)")
    return None
