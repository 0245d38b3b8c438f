"""GPU slots: which devices a job may use, claimed with one exclusive lock file per device.

Snakemake's `--resources gpu=N` limits how many GPU jobs run at once but does not say which
device each should use. A job takes an exclusive lock (flock) on one lock file per device;
the locks are inherited by the training process, so they are released when it exits,
however it exits (SIGKILL included), and never while it still runs.

The devices to choose from are the ones CUDA_VISIBLE_DEVICES lists where it is set (by the
user, `salloc` or a SLURM job: a job takes exactly its count out of them), else every GPU
nvidia-smi sees. Lock files are named after the device as listed (an index or a UUID). Under
SLURM the locks live in a folder of the allocation: two SLURM jobs on one node each see
their own devices, often both called "0", and must not wait for each other.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import time

from kemdy.errors import InputError

DEFAULT_LOCKS = "/tmp/kemdy_gpu_locks"


def device_count() -> int:
    """Visible NVIDIA devices, without importing torch (slow to import, and not needed here)."""
    if "KEMDY_GPU_COUNT" in os.environ:
        return int(os.environ["KEMDY_GPU_COUNT"])
    if shutil.which("nvidia-smi") is None:
        return 0
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def visible_devices(env: dict) -> list[str]:
    """The devices a job may choose from, as CUDA_VISIBLE_DEVICES would name them."""
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None and listed.strip() != "":
        return [d.strip() for d in listed.split(",") if d.strip()]
    return [str(i) for i in range(device_count())]


def lock_dir(base: str, env: dict) -> str:
    """Locks of one allocation: per SLURM job where there is one, else machine-wide."""
    job = env.get("SLURM_JOB_ID")
    return os.path.join(base, f"slurm-{job}") if job else base


def claim(n: int, devices, folder: str, poll: float = 0.5) -> tuple[list[str], list[int]]:
    """Block until `n` of `devices` are free; return them and their open, locked descriptors.
    `devices` may also be a count (devices 0 .. count-1)."""
    devices = [str(d) for d in range(devices)] if isinstance(devices, int) else list(devices)
    if n > len(devices):
        raise InputError(
            "resources", f"a job asks for {n} GPUs but {len(devices)} are visible",
            "lower the variant's `gpus` or resources.train.gpu", key="gpus",
        )  # fmt: skip
    os.makedirs(folder, exist_ok=True)
    while True:
        ids, fds = [], []
        for device in devices:
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", device)
            fd = os.open(os.path.join(folder, f"gpu{name}.lock"), os.O_CREAT | os.O_RDWR)
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
