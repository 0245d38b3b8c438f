"""Run a training script on its own GPU(s): claim free devices, set CUDA_VISIBLE_DEVICES, run.

    python scripts/gpu_slot.py --gpus 1 -- scripts/train.py --variant text_ce --fold 0 ...

How devices are claimed: scripts/kemdy/gpu_slots.py.
- A scheduler that has already set CUDA_VISIBLE_DEVICES (SLURM does) is obeyed as is.
- With more than one GPU the script is launched with torchrun (DistributedDataParallel).
- Without CUDA the job runs on the CPU, with a notice in its log.
- KEMDY_GPU_COUNT overrides device discovery (tests simulate GPUs with it);
  KEMDY_GPU_TRACE names a file that receives one line per claim and release.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from kemdy.errors import run_cli
from kemdy.gpu_slots import claim, device_count, launcher, trace


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
