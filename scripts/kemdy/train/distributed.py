"""This process's place in a torchrun launch (DistributedDataParallel); rank 0 of 1 without
one. Every rank trains on its share of each batch; rank 0 alone logs and writes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            torch.distributed.barrier()

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out


def init_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    torch.distributed.init_process_group(backend)
    return Dist(torch.distributed.get_rank(), world, local_rank)


def log(message: str, dist: Dist | None = None) -> None:
    """A line in the job's log, from rank 0 only."""
    if dist is None or dist.main:
        print(message, file=sys.stderr, flush=True)
