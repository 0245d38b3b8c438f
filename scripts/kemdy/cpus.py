"""How many CPUs this process may really use: its CPU affinity (taskset, SLURM's task
binding) and its cgroup's CPU quota (containers, systemd slices), whichever is smaller.
os.cpu_count() sees neither."""

from __future__ import annotations

import math
import os


def _cgroup_quota(root: str = "/sys/fs/cgroup") -> float | None:
    """CPUs allowed by the cgroup's quota (v2 cpu.max, else v1 cfs), or None if unlimited."""
    try:
        quota, period = open(os.path.join(root, "cpu.max")).read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int(open(os.path.join(root, "cpu", "cpu.cfs_quota_us")).read())
        period = int(open(os.path.join(root, "cpu", "cpu.cfs_period_us")).read())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cpus(cgroup_root: str = "/sys/fs/cgroup") -> int:
    """The CPUs this process can run on at once (at least 1)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def claimed(threads: int, cores: int | None, cpus: int) -> int:
    """Threads a local job claims from Snakemake's --cores: its own, scaled up where --cores
    counts more cores than this machine really has (affinity, cgroup quota), so that the jobs
    Snakemake runs at once never need more CPUs than there are. `cores` None: no scaling (a
    cluster job gets its own node; a job's own process; no --cores, as under --lint)."""
    if cores is None or cores <= cpus:
        return threads
    return min(cores, math.ceil(threads * cores / cpus))
