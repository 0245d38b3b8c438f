"""Provenance of a report: dataset, encoders, variants, seeds, the effective config, code
version, package versions and how long every job took."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

import pandas as pd

from kemdy.errors import InputError
from kemdy.report.summary import Runs
from kemdy.protocol import seeds_of
from kemdy.spec import resolve

PACKAGES = ["torch", "transformers", "pandas", "scikit-learn", "numpy", "matplotlib",
            "snakemake"]


def git_commit(cwd: Path) -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip()
                                      else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> list[tuple[str, str]]:
    out = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def disk_size(root: Path) -> int | None:
    if not root.is_dir():
        return None
    total = 0
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total


def benchmarks(folder: Path | None) -> list[dict]:
    """One row per Snakemake benchmark TSV under `folder`, slowest first."""
    if folder is None or not folder.is_dir():
        return []
    rows = []
    for tsv in sorted(folder.rglob("*.tsv")):
        try:
            df = pd.read_csv(tsv, sep="\t")
        except (pd.errors.ParserError, pd.errors.EmptyDataError):
            raise InputError(tsv, "not a Snakemake benchmark table", "re-run the job") from None
        if "s" not in df.columns or df.empty:
            raise InputError(tsv, "no 's' column or no row", "re-run the job")
        first = df.iloc[0]
        rows.append({"job": str(tsv.relative_to(folder).with_suffix("")),
                     "s": float(first["s"]), "hms": str(first.get("h:m:s", "")),
                     "max_rss": first.get("max_rss", ""),
                     "cpu_time": first.get("cpu_time", "")})
    return sorted(rows, key=lambda r: -r["s"])


def provenance(config: dict, config_path: Path, found: Runs, data: dict, bench: list[dict],
               reference: str, n_boot: int, seed: int) -> dict:
    dataset = config.get("dataset", {})
    kind = dataset.get("kind", "unknown")
    root = Path(str(dataset.get("root", "")))
    variants, notes = [], []
    for v in found.variants:
        try:
            spec = resolve(config, v, source=str(config_path))
            spec["seed"] = ", ".join(map(str, seeds_of(config, v, spec)))  # `seeds`: each one
        except InputError as err:
            notes.append(str(err))
            spec = {}
        devices = sorted({str(r.metrics.get("device", "unknown")) for r in found.of(v)})
        variants.append({"variant": v, "modality": spec.get("modality", "?"),
                         "loss": spec.get("loss", "?"), "two_stage": spec.get("two_stage"),
                         "seed": spec.get("seed", "?"), "devices": ", ".join(devices) or "-"})
    seeds = [("train.seed (per variant, see the table)", "")]
    seeds += [(f"{k}.seed", config[k]["seed"]) for k in ("synthetic", "folds", "report")
              if isinstance(config.get(k), dict) and "seed" in config[k]
              and (k != "synthetic" or kind == "synthetic")]
    seeds.append(("bootstrap seed used here", seed))
    size = disk_size(root) if str(root) else None
    return {
        "kind": kind, "is_demo": kind == "synthetic",
        "dataset_label": ("generated KEMDy20 look-alike" if kind == "synthetic"
                          else "KEMDy20" if kind == "kemdy20" else kind),
        "root": str(root), "disk_mb": None if size is None else size / 2**20,
        "n_segments": data["counts"]["segments"], "n_sessions": data["counts"]["sessions"],
        "encoders": config.get("encoders", {}), "variants": variants, "seeds": seeds[1:],
        "config_json": json.dumps(config, indent=2, sort_keys=False, default=str),
        "commit": git_commit(Path.cwd()), "versions": versions(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "benchmarks": bench, "bench_total_s": sum(r["s"] for r in bench),
        "reference": reference, "n_boot": n_boot, "notes": notes,
    }
