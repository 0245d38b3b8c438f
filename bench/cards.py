"""Card tables: what one GPU model measured per training-job geometry, which `bench grid`
multiplies by the planned jobs. `python -m bench gpu` writes one (card-<card>.json beside
gpu.json); bench/cards/ holds the committed ones, each naming its source.

A table is JSON:

    {"card": "NVIDIA H200", "measured": "2026-12-04", "source": "how it was measured",
     "memory_gib": 140.0 or null, "precision": "bfloat16" (what the workflow trains in),
     "jobs": [{"text": "768x12", "audio": "768x12" or null, "audio_seconds": 4.0 or null,
               "batch_size": 64, "fusion": "concat" or null, "encoders": "trained",
               "precision": "bfloat16", "accumulate": 1,
               "train_samples_per_s": 469.0, "eval_samples_per_s": 95.0 or null,
               "peak_gib": 10.5}, ...],
     "fusion": [{"text": "768x12", "audio": "768x12", "audio_seconds": 4.0, "batch_size": 64,
                 "encoders": "trained", "precision": "bfloat16", "fusion": "gated",
                 "train_samples_per_s": 339.0, "peak_gib": 9.7}, ...]}

`jobs` are whole training jobs as the workflow runs them. `fusion` rows come from one
other run (bench fusion) and count only relative to that run's concat row at 4 s: a job
with another fusion or clip length is its `jobs` concat row scaled by that ratio.
Encoder shapes are "<hidden>x<layers>", "whisper-" first for Whisper (every clip a 30-s
window); `text` / `audio` is null where the job has no such encoder.
"""

from __future__ import annotations

import json
import os
import re

from kemdy.atomic import write_atomic
from kemdy.errors import InputError

KEY = ("text", "audio", "audio_seconds", "batch_size", "fusion", "encoders", "precision")
NEEDED_JOB = (*KEY, "train_samples_per_s", "peak_gib")
COMMITTED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cards")


def shape(config: dict) -> str:
    """An encoder's shape label from its config.json (or bench/geometry's dicts)."""
    if config.get("model_type") == "whisper" or "encoder_layers" in config:
        return f"whisper-{config['d_model']}x{config['encoder_layers']}"
    return f"{config['hidden_size']}x{config['num_hidden_layers']}"


def load(path) -> dict:
    """A card table, checked: every job row has the keys the planner matches on."""
    try:
        with open(path) as fh:
            table = json.load(fh)
    except (OSError, ValueError) as err:
        raise InputError(path, f"not a readable card table ({err})",
                         "give a card-*.json that `python -m bench gpu` wrote, or one of "
                         f"{COMMITTED}") from None
    for field in ("card", "precision", "jobs"):
        if field not in table:
            raise InputError(path, f"no '{field}'", "see bench/cards.py for the format",
                             key=field)
    for i, row in enumerate(table["jobs"]):
        missing = [k for k in NEEDED_JOB if k not in row]
        if missing:
            raise InputError(path, f"job row {i} lacks {missing}",
                             "see bench/cards.py for the format", key=f"jobs[{i}]")
    table.setdefault("fusion", [])
    return table


def slug(card: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", card.lower()).strip("-") or "card"


def write(out_dir, table: dict) -> str:
    path = os.path.join(out_dir, f"card-{slug(table['card'])}.json")
    os.makedirs(out_dir, exist_ok=True)
    write_atomic(path, json.dumps(table, indent=2) + "\n")
    return path


def from_gpu(result: dict, shapes: dict) -> dict:
    """The card table of a `bench gpu` result: the first run of each model and precision
    (fed by DataLoader workers, as the workflow's jobs are; the run collated in the loop
    comes after), each keyed by its encoders' shapes (`shapes`: model name -> (text shape,
    audio shape or None)). Runs that ran out of memory are left out."""
    jobs, seen = [], set()
    for run in result["runs"]:
        if "error" in run or (run["model"], run["precision"]) in seen:
            continue
        seen.add((run["model"], run["precision"]))
        text, audio = shapes[run["model"]]
        jobs.append({"text": text, "audio": audio,
                     "audio_seconds": result["audio_seconds"] if audio else None,
                     "batch_size": result["batch_size"],
                     "fusion": "concat" if audio else None, "encoders": "trained",
                     "precision": run["precision"], "accumulate": run.get("accumulate", 1),
                     "train_samples_per_s": run["train_samples_per_s"],
                     "eval_samples_per_s": run["eval_samples_per_s"],
                     "peak_gib": run["peak_gib"]})
    info = result["machine"]
    return {"card": info.get("device", "cpu"), "measured": result.get("date"),
            "memory_gib": result.get("memory_gib"),
            # the precision the workflow trains in on this card: the last one measured
            "precision": result["runs"][-1]["precision"],
            "source": f"python -m bench gpu (torch {info.get('torch')}, batch "
                      f"{result['batch_size']}, {result['steps']} steps"
                      f"{', small shapes' if result['small'] else ''})",
            "jobs": jobs, "fusion": []}


def from_fusion(result: dict, precision: str) -> list[dict]:
    """The `fusion` rows of a card table from a `bench fusion` result on the same card (it
    trains in the workflow's `precision` there); trained encoders only: frozen ones add an
    embedding pass the table does not time."""
    from bench import geometry as g

    small = result["encoders"] != "real"
    text, audio = shape(g.shape("text", small)), shape(g.shape("audio", small))
    return [{"text": text, "audio": audio, "audio_seconds": r["audio_seconds"],
             "batch_size": result["batch_size"], "encoders": r["encoders"],
             "precision": precision, "fusion": r["fusion"],
             "train_samples_per_s": r["train_samples_per_s"], "peak_gib": r["peak_gib"]}
            for r in result["runs"] if r["encoders"] == "trained"]


def card_shapes(small: bool) -> dict:
    """Each model bench gpu measures: its (text, audio) encoder shapes, as the table keys them."""
    from bench import geometry as g

    text = shape(g.shape("text", small))
    audio = {"mm": "audio", **{f"mm+{name}": name for name in g.extra_audio(small)}}
    return {"text": (text, None), **{model: (text, shape(g.shape(name, small)))
                                     for model, name in audio.items()}}


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.cards",
                                     description="a card table from bench gpu (and fusion)")
    parser.add_argument("gpu_json")
    parser.add_argument("--fusion-json", help="bench fusion's result: the fusion rows")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    with open(args.gpu_json) as fh:
        result = json.load(fh)
    table = from_gpu(result, card_shapes(result["small"]))
    if args.fusion_json:
        with open(args.fusion_json) as fh:
            table["fusion"] = from_fusion(json.load(fh), table["precision"])
    print(write(args.out_dir, table))


if __name__ == "__main__":
    main()
