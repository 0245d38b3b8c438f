"""The CPUs a job may really use: affinity and the cgroup's quota, whichever is smaller."""

import os

from kemdy.cpus import available_cpus

AFFINITY = len(os.sched_getaffinity(0))


def cgroup(tmp_path, v2=None, v1=None):
    if v2 is not None:
        (tmp_path / "cpu.max").write_text(v2)
    if v1 is not None:
        (tmp_path / "cpu").mkdir()
        (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(str(v1[0]))
        (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(str(v1[1]))
    return str(tmp_path)


def test_no_quota_means_the_affinity(tmp_path):
    assert available_cpus(cgroup(tmp_path)) == AFFINITY


def test_a_cgroup_v2_quota_caps_it_rounded_up(tmp_path):
    assert available_cpus(cgroup(tmp_path, v2="150000 100000\n")) == min(AFFINITY, 2)
    assert available_cpus(cgroup(tmp_path, v2="max 100000\n")) == AFFINITY


def test_a_cgroup_v1_quota_caps_it_and_minus_one_is_unlimited(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert available_cpus(cgroup(tmp_path / "a", v1=(50000, 100000))) == 1
    assert available_cpus(cgroup(tmp_path / "b", v1=(-1, 100000))) == AFFINITY


def test_garbage_is_ignored_and_at_least_one_cpu_is_left(tmp_path):
    assert available_cpus(cgroup(tmp_path, v2="nonsense")) == AFFINITY
    (tmp_path / "cpu.max").write_text("1000 100000")  # a tenth of a CPU
    assert available_cpus(str(tmp_path)) == 1


def test_claimed_threads_scale_only_where_cores_exceed_the_cpus():
    from kemdy.cpus import claimed

    assert claimed(2, None, 4) == 2  # a cluster job, a job's own process, --lint
    assert claimed(2, 4, 4) == 2 and claimed(2, 3, 4) == 2
    assert claimed(1, 16, 2) == 8  # --cores 16 on 2 CPUs: a 1-thread job holds 8 of 16
    assert claimed(3, 16, 2) == 16  # never more than --cores
