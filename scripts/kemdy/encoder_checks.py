"""The encoders the variants (and their sweep candidates) use, checked before any job runs,
from config.json alone: found where the training jobs will look (a local folder or the
Hugging Face cache: jobs load offline), of a supported family, every text variant's max_len
within the encoder's positions, its pooling available, Whisper's 30-s window respected."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kemdy.errors import InputError
from kemdy.fusion_spec import needs_sequences
from kemdy.spec import encoder_of, encoders

SWEPT = "_swept"  # in a sweep candidate's spec here: the keys its sweep set


def _looks_like_path(name: str) -> bool:
    """A hub id is `org/name` (or a bare name); anything else, or what exists, is a folder."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.path.exists(name)


def encoder_config(name: str, key: str, needs: tuple[str, ...]) -> dict:
    """The config.json of an encoder that is a local folder or in the local Hugging Face
    cache; an InputError naming the key and what to do otherwise."""
    if _looks_like_path(name):
        folder = Path(name)
        if not folder.is_dir():
            raise InputError(name, "no such folder", f"set {key} to a folder written with "
                             "save_pretrained, or to a Hugging Face model id", key=key)
        missing = [f for f in ("config.json", *needs) if not (folder / f).exists()]
        if missing:
            raise InputError(name, f"not a saved model: {missing} missing",
                             f"set {key} to a folder written with save_pretrained", key=key)
        return json.loads((folder / "config.json").read_text())
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "config.json")
    if not isinstance(found, str):
        raise InputError(name, "neither a local folder nor a model in the local Hugging Face "
                         "cache (training jobs load encoders offline: compute nodes often have "
                         "no network)",
                         f"if it is a hub model, fetch it once where there is a network: "
                         f"`hf download {name}` (or python -c \"from transformers "
                         f"import AutoModel; AutoModel.from_pretrained('{name}')\"); if it is a "
                         f"folder, set {key} to its path", key=key)
    return json.loads(Path(found).read_text())


def max_text_positions(config: dict) -> int:
    """Tokens a text encoder takes: RoBERTa offsets positions by its padding index + 1."""
    positions = int(config.get("max_position_embeddings", 512))
    if config.get("model_type") in ("roberta", "xlm-roberta", "camembert"):
        positions -= int(config.get("pad_token_id", 1)) + 1
    return positions


# model_type (config.json) -> family, of the encoders the workflow is built and tested for.
AUDIO_FAMILIES = {"wav2vec2": "wav2vec2", "hubert": "HuBERT", "wavlm": "WavLM",
                  "data2vec-audio": "data2vec-audio", "unispeech-sat": "UniSpeech-SAT",
                  "whisper": "Whisper (its encoder)"}
TEXT_FAMILIES = {"roberta": "RoBERTa", "bert": "BERT", "electra": "ELECTRA",
                 "xlm-roberta": "XLM-RoBERTa", "deberta-v2": "DeBERTa-v2/v3"}
NO_POOLER = ("electra", "deberta-v2")  # AutoModel gives no pooler_output


def check_family(found: dict, names: dict, keys: dict | None = None) -> None:
    """Each encoder's model_type is one of the supported families: one message before any
    job, rather than a traceback in every job."""
    for modality, families in (("audio", AUDIO_FAMILIES), ("text", TEXT_FAMILIES)):
        if modality not in found:
            continue
        kind = found[modality].get("model_type")
        if kind not in families:
            raise InputError(names[modality], f"its config.json says model_type {kind!r}, not a "
                             f"supported {modality} encoder family",
                             f"use an encoder of one of {', '.join(families.values())} "
                             f"(model_type {', '.join(families)})",
                             key=(keys or {}).get(modality, f"encoders.{modality}"))


def where(variant: str, spec: dict, key: str) -> str:
    """The config key that set `key` of a variant's spec, or of one of its sweep
    candidates (`SWEPT` lists the candidate's swept keys)."""
    swept = key in spec.get(SWEPT, ())
    return f"variants.{variant}.{'sweep.' if swept else ''}{key}"


def label(variant: str, spec: dict) -> str:
    swept = {k: spec[k] for k in spec.get(SWEPT, ())}
    return f"{variant} (sweep candidate {json.dumps(swept, sort_keys=True)})" if swept else variant


def check_audio_window(audio_config: dict, name: str, specs: list[tuple[str, dict]]) -> None:
    """Whisper's encoder takes one 30-s window (max_source_positions encoder frames of 20 ms):
    a longer audio_seconds would be cut silently, and a trained Whisper costs a batch the
    whole window per clip, so a max_batch_seconds below it could never be met."""
    if audio_config.get("model_type") != "whisper":
        return
    window = int(audio_config.get("max_source_positions", 1500)) * 0.02
    for variant, spec in specs:
        cap = spec.get("max_batch_seconds")
        runs = not spec.get("freeze_audio") or needs_sequences(spec)  # in the model, per batch
        if "audio" in encoders(spec) and cap and runs and float(cap) < window:
            raise InputError("config", f"{label(variant, spec)}: max_batch_seconds {cap} is "
                             f"less than one clip costs: {name} (Whisper) encodes every clip "
                             f"as its whole {window:g}-s window, however short the clip",
                             f"set max_batch_seconds to {window:g} per clip a batch may hold "
                             f"(e.g. {8 * window:g} for 8), or leave it unset (null)",
                             key=where(variant, spec, "max_batch_seconds"))
        if "audio" in encoders(spec) and float(spec.get("audio_seconds", 4.0)) > window:
            raise InputError("config", f"{label(variant, spec)}: audio_seconds "
                             f"{spec['audio_seconds']} is more than the {window:g}-s window of "
                             f"{name} (Whisper)", f"set audio_seconds to {window:g} or less "
                             "(audio_eval: windows scores a longer clip window by window)",
                             key=where(variant, spec, "audio_seconds"))


def check_text_pooling(text_config: dict, name: str, specs: list[tuple[str, dict]]) -> None:
    """`text_pooling: pooled` reads the encoder's pooler: ELECTRA and DeBERTa have none. A
    sequence fusion (cross-attention) reads the token states, never a pooler."""
    kind = text_config.get("model_type")
    if kind not in NO_POOLER:
        return
    pooled = [(v, spec) for v, spec in specs
              if "text" in encoders(spec) and spec.get("text_pooling", "pooled") == "pooled"
              and not needs_sequences(spec)]
    if pooled:
        names = [label(v, spec) for v, spec in pooled]
        others = f" (and {', '.join(names[1:])})" if len(names) > 1 else ""
        raise InputError("config", f"variant {names[0]}{others} pools the text with the "
                         f"encoder's pooler, but {name} ({TEXT_FAMILIES[kind]}) has none",
                         "set text_pooling: first_token for the variant (or under train: for "
                         "every variant)", key=where(*pooled[0], "text_pooling"))


def check_encoders(config: dict, specs: dict[str, dict],
                   sweeps: dict[str, list[dict]] | None = None) -> None:
    """The encoders the variants use (encoders.text/audio, or a variant's own
    text_encoder/audio_encoder) exist where the jobs will load them, are of a supported
    family, every text variant's max_len fits and its pooling exists; the same for each
    sweep candidate (`sweeps`: variant -> the candidates' swept values), whose errors name
    variants.<v>.sweep.<key>. Reads config.json only: no weights are loaded before the run.
    Demo encoders are built by a rule."""
    demo = bool(config["encoders"].get("build_demo"))
    entries = [(v, spec) for v, spec in specs.items()]
    entries += [(v, {**specs[v], **params, SWEPT: tuple(params)})
                for v, candidates in (sweeps or {}).items() for params in candidates]
    groups: dict[tuple[str, str], tuple[str, list]] = {}  # (modality, name) -> (key, entries)
    for variant, spec in entries:
        for m in encoders(spec):
            name, key = encoder_of(config, spec, m, variant)
            if not (demo and key == f"encoders.{m}"):
                groups.setdefault((m, name), (key, []))[1].append((variant, spec))
    configs = {}
    for (m, name), (key, group) in groups.items():
        found = configs[m, name] = encoder_config(name, key, ())
        check_family({m: found}, {m: name}, {m: key})
        if m == "audio":
            check_audio_window(found, name, group)
            continue
        check_text_pooling(found, name, group)
        limit = max_text_positions(found)
        for variant, spec in group:
            if int(spec["max_len"]) > limit:
                raise InputError("config", f"{label(variant, spec)}: max_len {spec['max_len']} "
                                 f"is more than the {limit} tokens {name} takes",
                                 f"set max_len to {limit} or less",
                                 key=where(variant, spec, "max_len"))
    check_native_width(config, entries, configs)


def width(encoder_config: dict) -> int | None:
    """The hidden width of an encoder's states (Whisper names it d_model)."""
    value = encoder_config.get("hidden_size", encoder_config.get("d_model"))
    return int(value) if value is not None else None


def check_native_width(config: dict, entries: list[tuple[str, dict]], configs: dict) -> None:
    """`attention_dim: null` (cross_attention at the encoders' own width, as TMN) needs both
    encoders of one width, divisible by attention_heads: else it fails in the job."""
    for variant, spec in entries:
        if spec.get("fusion") != "cross_attention" or spec.get("attention_dim") is not None \
                or spec.get("modality") != "text+audio":
            continue
        names = {m: encoder_of(config, spec, m, variant)[0] for m in ("text", "audio")}
        if not all((m, n) in configs for m, n in names.items()):
            continue  # a demo encoder: its job checks it
        widths = {m: width(configs[m, n]) for m, n in names.items()}
        heads = int(spec.get("attention_heads", 4))
        if widths["text"] != widths["audio"]:
            raise InputError("config", f"{label(variant, spec)}: attention_dim null keeps the "
                             f"encoders' own width, but {names['text']} gives "
                             f"{widths['text']} and {names['audio']} {widths['audio']}",
                             "give attention_dim a width (both are projected to it)",
                             key=where(variant, spec, "attention_dim"))
        if widths["text"] and widths["text"] % heads:
            raise InputError("config", f"{label(variant, spec)}: the encoders' width "
                             f"{widths['text']} is not a multiple of attention_heads {heads}",
                             "choose attention_heads that divides it, or set attention_dim",
                             key=where(variant, spec, "attention_heads"))
