"""Run a training script on its own GPU(s): claim free devices, set CUDA_VISIBLE_DEVICES, run.

    python scripts/gpu_slot.py --gpus 1 -- scripts/train.py --variant text_ce --fold 0 ...

Snakemake's `--resources gpu=N` limits how many GPU jobs run at once but does not say which
device each should use. Each job here takes an exclusive lock (flock) on one lock file per
device. The locks are inherited by the training process, so they are released when it exits,
however it exits (SIGKILL included), and never while it still runs.

- A scheduler that has already set CUDA_VISIBLE_DEVICES (SLURM does) is obeyed as is.
- With more than one GPU the script is launched with torchrun (DistributedDataParallel).
- Without CUDA the job runs on the CPU, with a notice in its log.
- KEMDY_GPU_COUNT overrides device discovery (tests simulate GPUs with it);
  KEMDY_GPU_TRACE names a file that receives one line per claim and release.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time

from errors import InputError, run_cli


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1, help="devices this job needs (0: CPU)")
    parser.add_argument("--lock-dir", default=os.environ.get("KEMDY_GPU_LOCKS", "/tmp/kemdy_gpu_locks"))
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- script.py [args]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no script to run")

    env, fds = dict(os.environ), []
    if args.gpus == 0:
        devices = "cpu"
        n_procs = 1
    elif env.get("CUDA_VISIBLE_DEVICES"):
        devices = env["CUDA_VISIBLE_DEVICES"]
        n_procs = len(devices.split(","))
        print(f"gpu_slot: keeping CUDA_VISIBLE_DEVICES={devices} set by the scheduler", file=sys.stderr)
    elif (count := device_count()) == 0:
        devices = "cpu"
        n_procs = 1
        print("gpu_slot: no CUDA device found: this job runs on the CPU", file=sys.stderr)
    else:
        ids, fds = claim(args.gpus, count, args.lock_dir)
        devices = ",".join(map(str, ids))
        n_procs = len(ids)
        env["CUDA_VISIBLE_DEVICES"] = devices
        print(f"gpu_slot: claimed GPU {devices}", file=sys.stderr)

    trace("start", devices)
    try:
        code = subprocess.run(launcher(n_procs) + command, env=env, pass_fds=fds).returncode
    finally:
        trace("end", devices)
        for fd in fds:
            os.close(fd)
    sys.exit(code)


if __name__ == "__main__":
    run_cli(main)
