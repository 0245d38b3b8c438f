"""The report's "What each variant is" table: one row per variant, from its resolved spec and
its runs' metrics.json, so that a reader never opens the config to know what a row means.
"""

from __future__ import annotations

import json
from pathlib import Path

from kemdy.errors import InputError
from kemdy.spec import encoder_of, encoders, resolve


def loss_text(spec: dict) -> str:
    """The loss as trained: its name, focal's gamma, target sharpening and the valence/arousal
    term (and its kind)."""
    text = spec["loss"]
    if spec["loss"] in ("focal", "soft_focal"):
        text += f" (γ {spec['focal_gamma']:g})"
    sharpen = spec.get("target_sharpening", "none")
    if sharpen != "none":
        text += f", targets sharpened ({sharpen})"
    if float(spec.get("va_weight", 0) or 0) > 0:
        text += f" + {spec['va_weight']:g} × {spec.get('va_loss', 'ccc')} valence/arousal"
    return text


def frozen_text(spec: dict) -> str:
    """What of the encoders does not train."""
    parts = []
    if "text" in spec["modality"] and spec["freeze_text"]:
        parts.append("text encoder")
    if "audio" in spec["modality"]:
        if spec["freeze_audio"]:
            parts.append("audio encoder")
        elif spec["freeze_feature_encoder"]:
            parts.append("audio front end (convolutions)")
    return ", ".join(parts) or "nothing"


def rates_text(spec: dict) -> str:
    """lr for the head (and fusion), lr_encoders for trained encoders when it differs."""
    lr = float(spec["lr"])
    enc = spec.get("lr_encoders")
    if enc is None or float(enc) == lr:
        return f"{lr:g}"
    return f"{lr:g} (encoders {float(enc):g})"


def swept_text(variant: dict) -> str:
    """A swept variant's note: its base values are not what every fold trained with."""
    sweep = variant.get("sweep")
    return f"; swept per fold: {', '.join(sweep)} (see Sweeps)" if sweep else ""


def run_parameters(run: Path) -> tuple[int, int] | None:
    """(trainable, all) parameters of one run (a two-stage run's metrics.json adds up its
    stages: combine_stages), None if unsaid."""
    try:
        found = json.loads((run / "metrics.json").read_text(encoding="utf-8")).get("parameters")
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict):
        return None
    trainable = int(found.get("trainable", 0))
    return trainable, trainable + int(found.get("frozen", 0))


def parameter_text(runs_dir: Path, variant: str, folds: list[int]) -> str:
    """Trainable / all parameters, from the runs' metrics.json (`parameters`); '–' where no
    run says."""
    counts = set()
    for k in folds:
        base = Path(runs_dir) / variant / f"fold{k}"
        for run in sorted(base.glob("seed*")) or [base]:  # several seeds: one run per seed
            counts.add(run_parameters(run))
    counts.discard(None)
    if not counts:
        return "–"
    trainable, every = max(counts)  # folds agree unless the class set differs
    return f"{trainable / 1e6:.2f} M of {every / 1e6:.2f} M" if every >= 1e5 else \
        f"{trainable:,} of {every:,}"


def variant_rows(config: dict, variants: list[str], runs_dir, folds: list[int],
                 notes: list[str]) -> list[dict]:
    rows = []
    for v in variants:
        try:
            spec = resolve(config, v)
        except InputError as err:
            notes.append(str(err))
            continue
        used = {m: encoder_of(config, spec, m, v)[0] for m in encoders(spec)}
        context = int(spec.get("context_turns", 0) or 0)
        rows.append({
            "variant": v, "modality": spec["modality"],
            "text_encoder": used.get("text", "–"), "audio_encoder": used.get("audio", "–"),
            "fusion": spec.get("fusion", "concat") if len(used) == 2 else "–",
            "loss": loss_text(spec), "two_stage": bool(spec["two_stage"]),
            "context": f"{context} previous turn{'s' if context > 1 else ''}" if context else "none",
            "lr": rates_text(spec) + swept_text(config["variants"].get(v, {})),
            "frozen": frozen_text(spec),
            "parameters": parameter_text(runs_dir, v, folds),
        })
    return rows
