"""GPU slots: which devices a job may use, claimed with one exclusive lock file per device.

Snakemake's `--resources gpu=N` limits how many GPU jobs run at once but does not say which
device each should use. A job takes an exclusive lock (flock) on one lock file per device;
the locks are inherited by the training process, so they are released when it exits,
however it exits (SIGKILL included), and never while it still runs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time

from kemdy.errors import InputError


def device_count() -> int:
    """Visible NVIDIA devices, without importing torch (slow to import, and not needed here)."""
    if "KEMDY_GPU_COUNT" in os.environ:
        return int(os.environ["KEMDY_GPU_COUNT"])
    if shutil.which("nvidia-smi") is None:
        return 0
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def claim(n: int, count: int, lock_dir: str, poll: float = 0.5) -> tuple[list[int], list[int]]:
    """Block until `n` devices are free; return their ids and the open, locked descriptors."""
    if n > count:
        raise InputError(
            "resources", f"a job asks for {n} GPUs but {count} are visible",
            "lower the variant's `gpus` or resources.train.gpu", key="gpus",
        )  # fmt: skip
    os.makedirs(lock_dir, exist_ok=True)
    while True:
        ids, fds = [], []
        for device in range(count):
            fd = os.open(os.path.join(lock_dir, f"gpu{device}.lock"), os.O_CREAT | os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            ids.append(device)
            fds.append(fd)
            if len(ids) == n:
                return ids, fds
        for fd in fds:  # not enough free: give back what we hold, so two jobs cannot deadlock
            os.close(fd)
        time.sleep(poll)


def trace(event: str, devices: str) -> None:
    path = os.environ.get("KEMDY_GPU_TRACE")
    if path:
        with open(path, "a") as f:
            f.write(f"{event} {devices} {time.time():.6f} {os.getpid()}\n")


def launcher(n_procs: int) -> list[str]:
    if n_procs > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={n_procs}"]  # fmt: skip
    return [sys.executable]
