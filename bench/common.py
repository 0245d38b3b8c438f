"""What every benchmark shares: the machine it ran on, timing, and writing its result."""

from __future__ import annotations

import json
import os
import platform
import time

from kemdy.atomic import write_atomic


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU model and cores, Python, and (where torch is importable) its threads and device."""
    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version()}
    try:
        import torch
    except ImportError:
        return info
    info.update(torch=torch.__version__, torch_threads=torch.get_num_threads(), device="cpu")
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best_time(fn, repeat: int) -> float:
    return min(timed(fn) for _ in range(repeat))


def write_result(out_dir, part: str, result: dict) -> None:
    os.makedirs(out_dir, exist_ok=True)
    write_atomic(os.path.join(out_dir, f"{part}.json"), json.dumps(result, indent=2) + "\n")
