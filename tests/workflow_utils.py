"""Helpers for tests that run the real Snakefile in a scratch copy of the workflow."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOW_FILES = ["Snakefile", "rules", "scripts", "schemas", "envs", "profiles", "configs", "config.yaml"]


def copy_workflow(dest: Path, config: dict | None = None) -> Path:
    """A clean copy of the workflow (no results), optionally with its config.yaml replaced."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    if config is not None:
        (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def tiny_config(**overrides) -> dict:
    config = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return config


def no_slurm_bin() -> Path:
    """A folder whose `scontrol` fails at once.

    Snakemake imports every installed executor plugin when it starts, and the SLURM plugin
    then runs `scontrol show config`, which waits up to 10 s wherever SLURM's client is
    installed but no controller answers (tests/setup.sh installs one; its cluster runs only
    during tests/test_slurm.py). Every other snakemake call of the tests would pay that.
    """
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"kemdy_no_slurm_{os.getuid()}"
    shim = folder / "scontrol"
    if not shim.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".scontrol.{os.getpid()}"
        tmp.write_text("#!/bin/sh\nexit 1\n")
        tmp.chmod(0o755)
        tmp.replace(shim)
    return folder


def env(slurm: bool = False, **extra) -> dict:
    """The test interpreter's bin first on PATH, so rules' `python` is this venv's; unless
    `slurm`, SLURM's scontrol hidden (no_slurm_bin)."""
    e = dict(os.environ)
    e["PATH"] = f"{BIN}{os.pathsep}{e['PATH']}"
    if not slurm:
        e["PATH"] = f"{no_slurm_bin()}{os.pathsep}{e['PATH']}"
    e.setdefault("KEMDY_GPU_LOCKS", str(Path(e.get("TMPDIR", "/tmp")) / f"kemdy_locks_{os.getpid()}"))
    e.update({k: str(v) for k, v in extra.items()})
    return e


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 600, **extra_env):
    cmd = [str(BIN / "snakemake"), "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, env=env(**extra_env), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def replay_gpu_trace(path) -> int:
    """Check a gpu_slot trace (start/end per job) never gives one device to two jobs at
    once; return the largest number of jobs holding GPUs at the same time."""
    events = [line.split() for line in Path(path).read_text().splitlines()]
    held, peak = {}, 0
    for kind, device, _, pid in sorted(events, key=lambda e: (float(e[2]), e[0] == "start")):
        if kind == "start":
            assert device not in held.values(), f"GPU {device} given to two jobs at once"
            held[pid] = device
        else:
            held.pop(pid)
        peak = max(peak, len(held))
    return peak


def tree_digest(root) -> dict[str, str]:
    """Every path under `root` -> sha256 of its bytes ("dir" for a folder): equal digests
    mean not a byte, file or folder of the tree changed."""
    root = Path(root)
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


def predict_gap(data_csv, root, run_dir: Path) -> float:
    """scripts/predict.py on the test segments of a train.py run in `run_dir` (out/, model/):
    the largest difference from the run's own test probabilities."""
    import numpy as np
    import pandas as pd

    import predict
    from kemdy.classes import CLASSES

    want = pd.read_csv(run_dir / "out" / "predictions.csv")
    data = pd.read_csv(data_csv).set_index("segment_id").loc[want["segment_id"]]
    pd.DataFrame({"wav": [os.path.join(root, p) for p in data["wav_path"]],
                  "text": data["text"].to_numpy()}).to_csv(run_dir / "items.csv", index=False)
    predict.main(["--model", str(run_dir / "model"), "--csv", str(run_dir / "items.csv"),
                  "--out", str(run_dir / "got.csv"), "--threads", "1"])
    got = pd.read_csv(run_dir / "got.csv")
    probs = [f"prob_{c}" for c in CLASSES]
    return float(np.abs(got[probs].to_numpy() - want[probs].to_numpy()).max())


def read_only_prefix(root) -> list[str]:
    """Run a command with `root` bind-mounted read-only in a private mount namespace.

    As root, file modes do not stop writes, so a read-only mount is the real test; where
    unshare is not allowed (not root), file modes are enough and are used instead.
    """
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode == 0:
        return ["unshare", "-m", "sh", "-c", f'mount --bind -o ro "{root}" "{root}" && exec "$@"', "ro"]
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    return []


TINY_ROOT = "results/lookalike/KEMDy20_v1_1"


def run_tiny(work: Path) -> dict:
    """The tiny config end to end in a fresh copy at `work`: the look-alike generated first,
    then everything else with the dataset read-only and two simulated GPUs. Returns the
    copy, the dataset's digest before the run, the GPU trace and every run's results as
    they were right after it (`run_results`; later tests change the copy)."""
    work = copy_workflow(work, tiny_config())
    snakemake(work, "results/lookalike/truth.csv")
    before = tree_digest(work / TINY_ROOT)
    trace = work / "gpu_trace.txt"
    cmd = read_only_prefix(work / TINY_ROOT) + [str(BIN / "snakemake"), "--cores", "2", "--resources", "gpu=2"]
    proc = subprocess.run(cmd, cwd=work, env=env(KEMDY_GPU_COUNT=2, KEMDY_GPU_TRACE=trace),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return {"work": work, "before": before, "trace": trace, "results": run_results(work)}


def run_results(work: Path) -> dict:
    """(variant, fold) -> (metrics.json without its timing, predictions.csv text) of every
    finished run under results/runs, keyed (variant, fold, seed) for a variant of several
    seeds: what two runs of one config must share to the bit."""
    import json

    found = {}
    runs = Path(work) / "results/runs"
    for path in sorted([*runs.glob("*/fold*/metrics.json"), *runs.glob("*/fold*/seed*/metrics.json")]):
        metrics = json.loads(path.read_text())
        metrics.pop("train_seconds", None)
        run = path.parent
        seed = () if run.name.startswith("fold") else (int(run.name.removeprefix("seed")),)
        fold = run if not seed else run.parent
        key = (fold.parent.name, int(fold.name.removeprefix("fold")), *seed)
        found[key] = (metrics, (run / "predictions.csv").read_text())
    return found
