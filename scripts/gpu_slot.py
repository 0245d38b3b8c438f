"""Run a training script on its own GPU(s): claim free devices, set CUDA_VISIBLE_DEVICES, run.

    python scripts/gpu_slot.py --gpus 1 -- scripts/train.py --variant text_ce --fold 0 ...

How devices are claimed: scripts/kemdy/gpu_slots.py.
- Devices already listed in CUDA_VISIBLE_DEVICES (by the user, salloc, SLURM) are the ones
  to choose from: the job takes exactly --gpus of them, under the same locks.
- With more than one GPU the script is launched with torchrun (DistributedDataParallel).
- Without CUDA the job runs on the CPU, with a notice in its log.
- SIGTERM, SIGINT and SIGHUP are passed on to the script (torchrun passes them to every
  worker), and this launcher waits for it to save and exit: nothing runs on unseen.
- KEMDY_GPU_COUNT overrides device discovery (tests simulate GPUs with it);
  KEMDY_GPU_TRACE names a file that receives one line per claim and release.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

from kemdy.errors import run_cli
from kemdy.gpu_slots import DEFAULT_LOCKS, claim, launcher, lock_dir, trace, visible_devices

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_forwarding(command: list[str], env: dict, fds: list[int]) -> int:
    """Run the command; the signals that stop a job reach it, and we wait for its exit.

    The handlers are in place before the child starts: a signal in between would otherwise
    stop this launcher and leave the job running on unseen, its GPU no longer locked."""
    pending, started = [], []

    def forward(signum, _frame):
        if started:
            started[0].send_signal(signum)
        else:
            pending.append(signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    started.append(subprocess.Popen(command, env=env, pass_fds=fds))
    child = started[0]
    for signum in pending:  # arrived while it was starting
        child.send_signal(signum)
    while True:
        try:
            return child.wait()
        except InterruptedError:  # pragma: no cover (PEP 475 retries, but be safe)
            continue


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=1, help="devices this job needs (0: CPU)")
    parser.add_argument("--lock-dir", default=os.environ.get("KEMDY_GPU_LOCKS", DEFAULT_LOCKS))
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- script.py [args]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no script to run")

    env, fds = dict(os.environ), []
    devices = visible_devices(env)
    if args.gpus == 0 or not devices:
        chosen, n_procs = "cpu", 1
        if args.gpus:
            print("gpu_slot: no CUDA device found: this job runs on the CPU", file=sys.stderr)
    else:
        ids, fds = claim(args.gpus, devices, lock_dir(args.lock_dir, env))
        chosen, n_procs = ",".join(ids), len(ids)
        env["CUDA_VISIBLE_DEVICES"] = chosen
        listed = f" of {','.join(devices)} listed in CUDA_VISIBLE_DEVICES" \
            if os.environ.get("CUDA_VISIBLE_DEVICES") else ""
        print(f"gpu_slot: claimed GPU {chosen}{listed}", file=sys.stderr)

    trace("start", chosen)
    try:
        code = run_forwarding(launcher(n_procs) + command, env, fds)
    finally:
        trace("end", chosen)
        for fd in fds:
            os.close(fd)
    sys.exit(code if code >= 0 else 128 - code)  # killed by a signal: the shell's convention


if __name__ == "__main__":
    run_cli(main)
