"""Stopping on request: SIGTERM or SIGINT (what a scheduler, Snakemake or a user's kill
sends) sets a flag the training loop reads after every optimiser step. The loop then saves
where it stands (mid-epoch included) and the job exits with 128 + the signal's number,
writing no output: a rerun resumes exactly there. Under DDP the ranks agree to stop at the
same step."""

from __future__ import annotations

import contextlib
import signal

import torch

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """Training stopped on a signal; its checkpoint is saved."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


class StopFlag:
    def __init__(self):
        self.signum = 0

    def __call__(self, signum, frame):
        self.signum = signum

    def requested(self, dist=None, device=None) -> bool:
        """Whether to stop now; every rank gets the same answer."""
        if dist is None or dist.world == 1:
            return bool(self.signum)
        flag = torch.tensor([self.signum], device=device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        self.signum = int(flag.item())
        return bool(self.signum)


@contextlib.contextmanager
def stop_on_signals():
    """A StopFlag set by SIGTERM / SIGINT while the block runs (handlers restored after)."""
    flag = StopFlag()
    previous = {s: signal.signal(s, flag) for s in SIGNALS}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
