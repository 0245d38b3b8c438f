"""The config as the workflow reads it, checked before any job runs: no duplicate YAML keys,
--config overrides typed as the schema says, `~` and `$VARS` expanded in paths, the datasets
listed in one form, and the encoders found where the training jobs will look."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from kemdy.errors import InputError
from kemdy.spec import encoder_of, encoders
from kemdy.fusion_spec import needs_sequences

SWEPT = "_swept"  # in a sweep candidate's spec here: the keys its sweep set

RELEASES = {"kemdy20": "KEMDy20", "kemdy19": "KEMDy19"}  # release format -> dataset name


# ---------------------------------------------------------------- duplicate keys


def check_duplicate_keys(path) -> None:
    """InputError naming the file, the line and the key given twice (PyYAML would keep the
    last one silently)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep)

    try:
        with open(path, encoding="utf-8") as handle:
            yaml.load(handle, Loader=StrictLoader)
    except yaml.constructor.ConstructorError as err:
        raise InputError(path, f"{err.problem} on line {err.problem_mark.line + 1}: the second "
                         "one silently replaces the first", "merge the two into one",
                         row=err.problem_mark.line + 1) from None


# ---------------------------------------------------------------- --config overrides


def _resolve(schema: dict, node: dict) -> dict:
    """A schema node with its local $ref (`#/$defs/...`) followed."""
    while "$ref" in node:
        target = schema
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _schema_at(schema: dict, node: dict, key) -> dict | None:
    """The sub-schema of `key` under `node` ($ref and allOf followed)."""
    node = _resolve(schema, node)
    for part in node.get("allOf", []):
        found = _schema_at(schema, part, key)
        if found is not None:
            return found
    if key in node.get("properties", {}):
        return node["properties"][key]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _typed(value, schema: dict, node: dict | None):
    """A --config string (Snakemake parses nested values as text) as the schema types it."""
    if node is None:
        return value
    node = _resolve(schema, node)
    if isinstance(value, dict):
        return {k: _typed(v, schema, _schema_at(schema, node, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, schema, node.get("items")) for v in value]
    if not isinstance(value, str):
        return value
    kind = node.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value  # the schema then names the key and the value
    if kind == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def type_overrides(config: dict, overrides: dict, schema_path) -> None:
    """Re-type, in `config`, every value that came from --config."""
    if not overrides:
        return
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    for key, value in overrides.items():
        if key in config:
            config[key] = _merge(config[key], _typed(value, schema, _schema_at(schema, schema, key)))


def _merge(base, typed):
    if isinstance(base, dict) and isinstance(typed, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in typed.items()}}
    return typed


# ---------------------------------------------------------------- paths and datasets


def expand(value: str, key: str) -> str:
    """`~` and `$VARS` expanded; an unset variable is an error naming the key."""
    out = os.path.expandvars(os.path.expanduser(value))
    unset = re.search(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", out)
    if unset:
        raise InputError("config", f"{value!r} names the environment variable ${unset.group(1)}, "
                         "which is not set", f"export {unset.group(1)} or write the path out",
                         key=key)
    return out


def datasets(config: dict) -> list[dict]:
    """Every dataset of the config as {name, kind, release, root, synthetic, truth, seed}:
    `datasets:` (a list) or the single `dataset:`."""
    entries = config.get("datasets")
    single = entries is None
    if single:
        if "kind" not in config.get("dataset", {}) or "root" not in config["dataset"]:
            raise InputError("config", "no dataset: dataset.kind and dataset.root are unset",
                             "set both, or list several under datasets:", key="dataset")
        entries = [config["dataset"]]
    elif "kind" in config.get("dataset", {}) or "root" in config.get("dataset", {}):
        raise InputError("config", "both dataset.root and datasets are set",
                         "list every dataset under datasets: and keep only options under "
                         "dataset:", key="datasets")
    synthetic = config.get("synthetic", {})
    out = []
    for i, entry in enumerate(entries):
        key = "dataset" if single else f"datasets[{i}]"
        is_synthetic = entry["kind"] == "synthetic"
        release = entry.get("format", synthetic.get("format", "kemdy20")) if is_synthetic \
            else entry["kind"]
        root = expand(str(entry["root"]), f"{key}.root").rstrip("/") or "/"
        name = RELEASES[release]
        truth = synthetic.get("truth", "results/lookalike/truth.csv") if single \
            else entry.get("truth", os.path.join(os.path.dirname(root) or ".", f"{name}_truth.csv"))
        out.append({"name": name, "kind": entry["kind"], "release": release, "root": root,
                    "synthetic": is_synthetic, "key": key,
                    "truth": expand(str(truth), f"{key}.truth") if is_synthetic else None,
                    "seed": entry.get("seed", synthetic.get("seed", 7) + i)})
    names = [d["name"] for d in out]
    if len(set(names)) < len(names):
        raise InputError("config", f"two datasets of the same release ({names})",
                         "list each release once", key="datasets")
    return out


# ---------------------------------------------------------------- encoders


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
        if "audio" in encoders(spec) and cap and not spec.get("freeze_audio") \
                and float(cap) < window:
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
    for (m, name), (key, group) in groups.items():
        found = encoder_config(name, key, ())
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
