"""The real grid's cost from measurement: every training job Snakemake plans for a config,
times what a card measured for that job's geometry.

    python -m bench grid --configfile configs/kemdy20.yaml [--cards card.json]
                         [--gpus 2 --gpu-mem 24] [--stopping results/runs] [--goal-hours 2]

1. Jobs: `snakemake -n -p` of the config (dataset roots swapped for empty placeholders and
   the shared encoders for the demo build rule, so it plans anywhere: neither changes a
   job), each training command's variant, fold, stage, spec and encoders, as Snakemake
   planned them (variants x folds x seeds x candidates x stages, not a count redone here).
2. Each job's geometry (encoder shapes, clip seconds, batch, fusion, trained or frozen, the
   card's precision) looked up in a card table (bench/cards.py): measured, derived from a
   fusion ratio, or not measured (listed, left out of the totals).
3. GPU-hours: upper bound, every epoch of every job; expected, times the share of epochs
   finished runs trained (`--stopping`: their history.csv and config.json). Wall time on N
   GPUs of M GiB: the jobs that fit, one per GPU as gpu_slot runs them, longest first.
"""

from __future__ import annotations

import argparse
import glob
import heapq
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections import defaultdict

import yaml

from bench import cards
from bench.common import write_result
from kemdy.config import datasets
from kemdy.encoder_checks import encoder_config
from kemdy.errors import InputError
from kemdy.spec import job_spec

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CARDS = os.path.join(cards.COMMITTED, "nvidia-h200-2026-12-04.json")
# Segments and sessions of each release (../shared/docs/kemdy2x-format.md; KEMDy19: its wavs).
RELEASE_SIZES = {"KEMDy20": (13462, 40), "KEMDy19": (10279, 20)}
# A stage-2 job trains and validates on the emotional segments only: 17 % of KEMDy20's, for all.
EMOTIONAL_SHARE = 0.17
# Hub ids of the configs' encoders, for where their config.json is not on this machine.
KNOWN_SHAPES = {"klue/roberta-base": "768x12", "klue/roberta-large": "1024x24",
                "facebook/wav2vec2-base": "768x12", "microsoft/wavlm-large": "1024x24",
                "kresnik/wav2vec2-large-xlsr-korean": "1024x24",
                "facebook/wav2vec2-large-xlsr-53": "1024x24",
                "openai/whisper-small": "whisper-768x12",
                "openai/whisper-large-v3": "whisper-1280x32"}
# Spec values every measurement had; a job with another one is not measured by it.
MEASURED_AS = {"gradient_checkpointing": False, "context_turns": 0, "max_batch_seconds": None,
               "gpus": 1}
MEASURED_AS_AUDIO = {"audio_layers": "last"}


# ---------------------------------------------------------------- the jobs, from the DAG


def placeholder_config(config: dict, folder: str) -> dict:
    """The config with every real dataset root an empty folder (annotation/ only) and the
    shared encoders built by the demo rule: the pre-run checks pass, the jobs are the same."""
    config = json.loads(json.dumps(config))
    entries = config.get("datasets") or [config["dataset"]]
    for i, entry in enumerate(entries):
        if entry.get("kind") != "synthetic":
            entry["root"] = os.path.join(folder, f"dataset{i}")
            os.makedirs(os.path.join(entry["root"], "annotation"), exist_ok=True)
    config["encoders"]["build_demo"] = True
    return config


def training_job(command: str) -> dict | None:
    """One training job from its shell command (rules/train.smk TRAIN_SHELL), or None."""
    words = shlex.split(command)
    if not any(w.endswith("gpu_slot.py") for w in words):
        return None
    launcher = words.index("--")
    gpus = int(words[words.index("--gpus") + 1])
    args, _ = ARGS.parse_known_args(words[launcher + 2:])
    out = args.out_dir
    return {"variant": args.variant, "fold": args.fold, "stage": args.stage, "gpus": gpus,
            "spec": job_spec(args.spec, None, args.variant, args.stage),  # as train.py reads it
            "text_encoder": args.text_encoder, "audio_encoder": args.audio_encoder, "out_dir": out,
            "candidate": out.split("/")[-1] if out.startswith("results/sweeps/") else None}


ARGS = argparse.ArgumentParser(add_help=False)
for _flag in ("--variant", "--spec", "--text-encoder", "--audio-encoder", "--out-dir"):
    ARGS.add_argument(_flag)
ARGS.add_argument("--fold", type=int)
ARGS.add_argument("--stage", type=int)


def dag_jobs(configfile: str, env: dict | None = None) -> tuple[dict, list[dict]]:
    """(the config, its training jobs) as `snakemake -n -p` plans them."""
    try:
        with open(configfile) as fh:
            config = yaml.safe_load(fh)
    except OSError as err:
        raise InputError(configfile, f"cannot read it ({err.strerror})",
                         "give --configfile a config such as configs/kemdy20.yaml") from None
    with tempfile.TemporaryDirectory(prefix="kemdy_grid_") as tmp:
        path = os.path.join(tmp, "config.yaml")
        with open(path, "w") as fh:
            yaml.safe_dump(placeholder_config(config, tmp), fh, sort_keys=False)
        proc = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", os.path.join(REPO, "Snakefile"),
             "-d", os.path.join(tmp, "work"), "--configfile", path, "-n", "-p", "--cores", "1"],
            capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise InputError(configfile, "Snakemake could not plan this config:\n"
                         + (proc.stdout + proc.stderr)[-3000:],
                         "fix what the message names (a variant's own encoder must be on this "
                         "machine: the check reads its config.json)")
    lines = [line.removeprefix("Shell command: ") for line in proc.stdout.splitlines()]
    return config, [j for j in map(training_job, lines) if j is not None]


# ---------------------------------------------------------------- geometry and rates


def encoder_shape(name: str | None) -> str | None:
    """The encoder's shape: its config.json where this machine has it, else the known ids."""
    if name is None:
        return None
    try:
        return cards.shape(encoder_config(name, "encoder", ()))
    except (InputError, KeyError):
        return KNOWN_SHAPES.get(name, f"unknown ({name})")


def geometry(job: dict, precision: str) -> dict:
    """The card-table key of one job, and what of it no measurement covers."""
    spec = job["spec"]
    text, audio = "text" in spec["modality"], "audio" in spec["modality"]
    frozen = {spec["freeze_text"]} if text else set()
    frozen |= {spec["freeze_audio"]} if audio else set()
    key = {"text": encoder_shape(job["text_encoder"]) if text else None,
           "audio": encoder_shape(job["audio_encoder"]) if audio else None,
           "audio_seconds": float(spec["audio_seconds"]) if audio else None,
           "batch_size": int(spec["batch_size"]),
           "fusion": spec["fusion"] if text and audio else None,
           "encoders": "mixed" if len(frozen) > 1 else "frozen" if True in frozen else "trained",
           "precision": precision}
    want = {**MEASURED_AS, **(MEASURED_AS_AUDIO if audio else {})}
    unmodelled = [f"{k} {spec.get(k)}" for k, v in want.items() if spec.get(k) != v]
    return {"key": key, "unmodelled": unmodelled}


def _matches(row: dict, key: dict, skip=()) -> bool:
    return all(row.get(k) == v for k, v in key.items() if k not in skip)


def rate(table: dict, key: dict) -> dict | None:
    """{train, eval, peak, how} for a job's geometry: its measured row; else its concat row
    scaled by the fusion table's ratio (same encoders and batch; any fusion and clip length
    the fusion table measured); else None."""
    row = next((r for r in table["jobs"] if _matches(r, key)), None)
    if row is not None:
        return {"train": row["train_samples_per_s"], "eval": row.get("eval_samples_per_s"),
                "peak": row["peak_gib"], "how": "measured"}
    if key["audio"] is None or key["text"] is None:
        return None
    target = next((r for r in table["fusion"] if _matches(r, key)), None)
    for base in table["jobs"]:
        if target is None or not _matches(base, {**key, "fusion": "concat"}, {"audio_seconds"}):
            continue
        ref = next((r for r in table["fusion"] if _matches(
            r, {**key, "fusion": "concat", "audio_seconds": base["audio_seconds"]})), None)
        if ref is None:
            continue
        speed = target["train_samples_per_s"] / ref["train_samples_per_s"]
        evals = base.get("eval_samples_per_s")
        return {"train": base["train_samples_per_s"] * speed,
                "eval": evals * speed if evals else None,
                "peak": base["peak_gib"] * target["peak_gib"] / ref["peak_gib"],
                "how": f"derived ({key['fusion']} {key['audio_seconds']:g} s vs concat "
                       f"{base['audio_seconds']:g} s, fusion table)"}
    return None


def describe(key: dict) -> str:
    parts = [f"text {key['text']}" if key["text"] else None,
             f"audio {key['audio']} {key['audio_seconds']:g} s" if key["audio"] else None,
             key["fusion"] if key["fusion"] not in (None, "concat") else None,
             f"batch {key['batch_size']}", key["encoders"], key["precision"]]
    return ", ".join(p for p in parts if p)


# ---------------------------------------------------------------- samples and epochs


def fold_sizes(config: dict) -> dict:
    """Training, validation and test segments of one fold: each dataset's test share is one
    fold of its sessions, its validation `folds.val_sessions` sessions of the rest."""
    folds = config["folds"]
    sizes = {"train": 0.0, "val": 0.0, "test": 0.0, "source": []}
    for d in datasets(config):
        if d["synthetic"]:
            syn = config["synthetic"]
            sessions = syn["n_sessions"]
            n = sessions * syn["segments_per_session"]
            sizes["source"].append(f"{d['name']} look-alike: {n} segments")
        else:
            n, sessions = RELEASE_SIZES[d["name"]]
            sizes["source"].append(f"{d['name']}: {n:,} segments in {sessions} sessions")
        test = n / folds["n_folds"]
        val = n / sessions * folds.get("val_sessions", 0)
        sizes["train"] += n - test - val
        sizes["val"] += val
        sizes["test"] += test
    return sizes


def stopping(folder: str) -> dict:
    """{(modality, stage): share of its epochs a finished run trained} over every run under
    `folder` (history.csv beside config.json, as train.py writes them)."""
    shares = defaultdict(list)
    for history in glob.glob(os.path.join(folder, "**", "history.csv"), recursive=True):
        spec_path = os.path.join(os.path.dirname(history), "config.json")
        if not os.path.exists(spec_path):
            continue  # combine_stages' merged history: its stages are counted apart
        with open(spec_path) as fh:
            spec = json.load(fh)
        with open(history) as fh:
            epochs = sum(1 for line in fh) - 1
        shares[(spec["modality"], spec.get("stage"))].append(epochs / int(spec["epochs"]))
    if not shares:
        raise InputError(folder, "no finished run here (history.csv beside config.json)",
                         "give --stopping a results/runs folder of a finished run")
    return {k: sum(v) / len(v) for k, v in shares.items()} | {
        "all": sum(sum(v) for v in shares.values()) / sum(len(v) for v in shares.values()),
        "runs": sum(len(v) for v in shares.values())}


def share_of(shares: dict, spec: dict, stage) -> float:
    return shares.get((spec["modality"], stage), shares["all"])


# ---------------------------------------------------------------- cost and wall time


def job_seconds(sizes: dict, r: dict, epochs: float, stage) -> float:
    """Training plus validation every epoch, then the test rows once; evaluation at the
    training rate where the card table has no evaluation figure."""
    keep = EMOTIONAL_SHARE if stage == 2 else 1.0
    evals = r["eval"] or r["train"]
    return epochs * (sizes["train"] * keep / r["train"] + sizes["val"] * keep / evals) \
        + sizes["test"] / evals


def wall_seconds(durations: list[float], n_gpus: int) -> float:
    """Longest first onto whichever GPU frees first (gpu_slot: one job per device)."""
    free = [0.0] * n_gpus
    for d in sorted(durations, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


def plan(config: dict, jobs: list[dict], table: dict, shares: dict | None = None,
         n_gpus: int = 1, gpu_mem: float | None = None) -> dict:
    """Every job's geometry, rate and seconds (upper bound and, with `shares`, expected),
    the totals over the measured ones, and the wall time on n_gpus of gpu_mem GiB."""
    sizes = fold_sizes(config)
    rows = []
    for job in jobs:
        g = geometry(job, table["precision"])
        r = rate(table, g["key"])
        if r is None:  # said beside what no measurement covers
            g["unmodelled"].append("no card row for this geometry")
        r = None if g["unmodelled"] else r
        row = {k: job[k] for k in ("variant", "fold", "stage", "candidate", "gpus")}
        row.update(seed=job["spec"]["seed"], geometry=describe(g["key"]),
                   unmodelled=g["unmodelled"], how=r["how"] if r else "not measured")
        if r is not None:
            epochs = int(job["spec"]["epochs"])
            row.update(peak_gib=r["peak"], upper_s=job_seconds(sizes, r, epochs, job["stage"]))
            if shares is not None:
                share = share_of(shares, job["spec"], job["stage"])
                row["expected_s"] = job_seconds(sizes, r, epochs * share, job["stage"])
            row["fits"] = gpu_mem is None or r["peak"] <= gpu_mem
        rows.append(row)
    timed = [r for r in rows if "upper_s" in r]
    fits = [r for r in timed if r["fits"]]
    result = {"card": table["card"], "card_source": table["source"], "sizes": sizes,
              "gpus": n_gpus, "gpu_mem_gib": gpu_mem, "jobs": rows, "n_jobs": len(rows),
              "n_timed": len(timed), "n_fit": len(fits),
              "upper_gpu_hours": sum(r["upper_s"] for r in timed) / 3600,
              "upper_wall_hours": wall_seconds([r["upper_s"] for r in fits], n_gpus) / 3600}
    if shares is not None:
        result["expected_gpu_hours"] = sum(r["expected_s"] for r in timed) / 3600
        result["expected_wall_hours"] = wall_seconds([r["expected_s"] for r in fits],
                                                     n_gpus) / 3600
        result["stopping"] = {"/".join(map(str, k)) if isinstance(k, tuple) else k: v
                              for k, v in shares.items()}
    return result


def groups(result: dict) -> list[dict]:
    """The jobs by variant, stage and geometry: count, GPU-hours, the longest job."""
    out = {}
    for r in result["jobs"]:
        g = out.setdefault((r["variant"], r["stage"] or 0, r["geometry"], r["how"]), {
            "variant": r["variant"], "stage": r["stage"], "geometry": r["geometry"],
            "how": r["how"], "unmodelled": r["unmodelled"], "jobs": 0, "upper_h": 0.0,
            "expected_h": 0.0, "longest_h": 0.0, "peak_gib": r.get("peak_gib"),
            "fits": r.get("fits")})
        g["jobs"] += 1
        g["upper_h"] += r.get("upper_s", 0.0) / 3600
        g["expected_h"] += r.get("expected_s", 0.0) / 3600
        g["longest_h"] = max(g["longest_h"], r.get("upper_s", 0.0) / 3600)
    return sorted(out.values(), key=lambda g: (g["variant"], g["stage"] or 0))


def holding_back(result: dict, goal_hours: float) -> list[str]:
    """Why the grid misses `goal_hours` on its GPUs: jobs too big for the cards, jobs longer
    than the goal alone, and the groups that take the most GPU time."""
    key = "expected_wall_hours" if "expected_wall_hours" in result else "upper_wall_hours"
    if result[key] <= goal_hours and result["n_fit"] == result["n_jobs"]:
        return []
    why = []
    for g in groups(result):
        name = f"{g['variant']}{' stage %d' % g['stage'] if g['stage'] else ''} ({g['jobs']} jobs)"
        if g["fits"] is False:
            why.append(f"{name}: needs {g['peak_gib']:.1f} GiB, more than the "
                       f"{result['gpu_mem_gib']:g} GiB cards hold")
        elif g["fits"] is None:
            why.append(f"{name}: not measured ({', '.join(g['unmodelled']) or g['geometry']})")
        elif g["longest_h"] > goal_hours:
            why.append(f"{name}: one job alone takes up to {g['longest_h']:.2f} h")
    timed = sorted((g for g in groups(result) if g["fits"]), key=lambda g: -g["upper_h"])
    total = sum(g["upper_h"] for g in timed) or 1.0
    for g in timed[:3]:
        why.append(f"{g['variant']}{' stage %d' % g['stage'] if g['stage'] else ''}: "
                   f"{g['upper_h']:.2f} GPU-h at most, {g['upper_h'] / total:.0%} of the grid")
    return why


def show(result: dict, goal_hours: float | None) -> None:
    print(f"card table: {result['card']} ({result['card_source']})")
    sizes = ", ".join(f"{result['sizes'][k]:,.0f} {k}" for k in ("train", "val", "test"))
    print(f"per fold: {sizes} ({'; '.join(result['sizes']['source'])})")
    print(f"{result['n_jobs']} training jobs planned by Snakemake; "
          f"{result['n_timed']} with a measured or derived rate")
    expected = "expected_gpu_hours" in result
    print(f"\n{'variant':<20}{'stage':>6}{'jobs':>5}{'peak GiB':>9}{'upper h':>9}"
          f"{'expected h':>11}  geometry (how)")
    for g in groups(result):
        peak = f"{g['peak_gib']:.1f}" if g["peak_gib"] is not None else "-"
        exp = f"{g['expected_h']:.2f}" if expected and g["fits"] is not None else "-"
        how = g["how"] if not g["unmodelled"] else "not measured: " + ", ".join(g["unmodelled"])
        upper = f"{g['upper_h']:.2f}" if g["fits"] is not None else "-"
        print(f"{g['variant']:<20}{g['stage'] or '':>6}{g['jobs']:>5}{peak:>9}{upper:>9}"
              f"{exp:>11}  {g['geometry']} ({how})")
    print(f"\nGPU-hours on {result['card']}: at most {result['upper_gpu_hours']:.2f} (every "
          f"epoch)" + (f", expected {result['expected_gpu_hours']:.2f} (stopping shares of "
                       f"{result['stopping']['runs']} finished runs)" if expected else
                       "; expected: give --stopping a finished run's results/runs"))
    mem = f" of {result['gpu_mem_gib']:g} GiB" if result["gpu_mem_gib"] else ""
    print(f"wall time on {result['gpus']} GPU(s){mem} at this card's speed, one job per GPU: "
          f"at most {result['upper_wall_hours']:.2f} h"
          + (f", expected {result['expected_wall_hours']:.2f} h" if expected else "")
          + f" ({result['n_fit']} of {result['n_jobs']} jobs fit and are timed)")
    if goal_hours is not None:  # main worked out what holds the grid back
        why = result["holding_back"]
        print(f"goal {goal_hours:g} h: " + ("met" if not why else "not met; held back by:")
              + f" (at {result['card']} speed: another card needs its own table)")
        for line in why:
            print(f"  - {line}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench grid",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default=os.path.join(REPO, "config.yaml"))
    parser.add_argument("--cards", default=DEFAULT_CARDS,
                        help="a card table (bench/cards.py; `bench gpu` writes one)")
    parser.add_argument("--gpus", type=int, default=1, help="GPUs the grid runs on")
    parser.add_argument("--gpu-mem", type=float, help="GiB of each GPU (default: no limit)")
    parser.add_argument("--stopping", help="a finished run's results/runs: the expected "
                        "figure uses the share of epochs its runs trained")
    parser.add_argument("--goal-hours", type=float, help="say what holds the grid back "
                        "from finishing within this wall time")
    parser.add_argument("--out-dir", default="results/bench")
    args = parser.parse_args(argv)
    table = cards.load(args.cards)
    config, jobs = dag_jobs(args.configfile)
    shares = stopping(args.stopping) if args.stopping else None
    result = plan(config, jobs, table, shares, args.gpus, args.gpu_mem)
    goal = args.goal_hours
    result.update(part="grid", configfile=args.configfile, cards=args.cards, goal_hours=goal,
                  holding_back=None if goal is None else holding_back(result, goal))
    show(result, args.goal_hours)
    name = os.path.splitext(os.path.basename(args.configfile))[0]
    write_result(args.out_dir, f"grid-{name}", result)
    return result
