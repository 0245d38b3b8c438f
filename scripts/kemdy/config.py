"""The config as the workflow reads it, checked before any job runs: no duplicate YAML keys,
--config overrides typed as the schema says, `~` and `$VARS` expanded in paths, the datasets
listed in one form. The encoders' checks: kemdy/encoder_checks.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

from kemdy.errors import InputError


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
