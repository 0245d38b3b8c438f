"""GPU slots: each job gets its own device, locks die with the job, schedulers are obeyed."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import gpu_slot
from kemdy import gpu_slots
from workflow_utils import replay_gpu_trace

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_slot.py"


def run_slot(tmp_path, gpus, child_code, **env):
    child = tmp_path / "child.py"
    child.write_text(child_code)
    e = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    e.update(KEMDY_GPU_TRACE=str(tmp_path / "trace"), **env)
    cmd = [sys.executable, str(SCRIPT), "--gpus", str(gpus), "--lock-dir", str(tmp_path / "locks"), "--", str(child)]
    return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


PRINT_DEVICES = "import os, time; time.sleep({sleep}); print(os.environ.get('CUDA_VISIBLE_DEVICES', 'none'))"


def test_concurrent_jobs_get_distinct_devices(tmp_path):
    procs = [run_slot(tmp_path, 1, PRINT_DEVICES.format(sleep=1.0), KEMDY_GPU_COUNT="2") for _ in range(2)]
    devices = sorted(p.communicate()[0].strip() for p in procs)
    assert devices == ["0", "1"]


def test_third_job_waits_for_a_free_device(tmp_path):
    procs = [run_slot(tmp_path, 1, PRINT_DEVICES.format(sleep=1.5), KEMDY_GPU_COUNT="2") for _ in range(3)]
    for p in procs:
        p.communicate()
    assert replay_gpu_trace(tmp_path / "trace") == 2  # never two jobs on one device


def test_lock_is_released_when_the_job_is_killed(tmp_path):
    first = run_slot(tmp_path, 1, PRINT_DEVICES.format(sleep=60), KEMDY_GPU_COUNT="1")
    time.sleep(1.0)
    first.kill()  # SIGKILL the wrapper ...
    subprocess.run(["pkill", "-KILL", "-f", str(tmp_path / "child.py")])  # ... and its job
    first.communicate()
    second = run_slot(tmp_path, 1, PRINT_DEVICES.format(sleep=0), KEMDY_GPU_COUNT="1")
    out, _ = second.communicate(timeout=20)
    assert out.strip() == "0"


def test_scheduler_devices_are_kept(tmp_path):
    p = run_slot(tmp_path, 1, PRINT_DEVICES.format(sleep=0), KEMDY_GPU_COUNT="4", CUDA_VISIBLE_DEVICES="3")
    out, err = p.communicate()
    assert out.strip() == "3" and "listed in CUDA_VISIBLE_DEVICES" in err


@pytest.mark.parametrize("listed", ["5", "2,7", "0,1,2,3"])
def test_jobs_take_exactly_their_count_of_the_listed_devices(tmp_path, listed):
    # CUDA_VISIBLE_DEVICES exported by a user or salloc: each 1-GPU job takes one of them, and
    # as many jobs as devices run at once, each on its own (the trace shows no sharing).
    devices = listed.split(",")
    procs = [run_slot(tmp_path, 1, PRINT_DEVICES.format(sleep=1.0), CUDA_VISIBLE_DEVICES=listed)
             for _ in range(len(devices) + 1)]
    got = [p.communicate()[0].strip() for p in procs]
    assert all("," not in g for g in got) and set(got) == set(devices)
    assert replay_gpu_trace(tmp_path / "trace") == len(devices)
    if len(devices) >= 2:  # a 2-GPU job: two of them, two torchrun processes
        rank0 = "import os\nif os.environ['LOCAL_RANK'] == '0': print(os.environ['CUDA_VISIBLE_DEVICES'])"
        p = run_slot(tmp_path, 2, rank0, CUDA_VISIBLE_DEVICES=listed)
        two = p.communicate()[0].strip().split(",")
        assert len(two) == 2 and set(two) <= set(devices)


def test_a_slurm_allocation_has_its_own_locks(tmp_path):
    # Two SLURM jobs on one node both see their own device as "0": they must not wait for
    # each other, while two jobs of one allocation (salloc) must.
    timed = ("import os, time; start = time.time(); time.sleep(1.0); "
             "print(os.environ['CUDA_VISIBLE_DEVICES'], start, time.time())")
    procs = [run_slot(tmp_path, 1, timed, CUDA_VISIBLE_DEVICES="0", SLURM_JOB_ID=job)
             for job in ("101", "102")]
    out = [p.communicate()[0].split() for p in procs]
    assert [o[0] for o in out] == ["0", "0"]
    starts, ends = [float(o[1]) for o in out], [float(o[2]) for o in out]
    assert max(starts) < min(ends)  # side by side: neither waited for the other's lock
    assert sorted(os.listdir(tmp_path / "locks")) == ["slurm-101", "slurm-102"]


SIGNALLED = """
import signal, sys, time
def stop(signum, frame):
    open(sys.argv[1], "w").write(signal.Signals(signum).name)
    time.sleep(0.5)  # saving a checkpoint takes a moment: the launcher must wait for it
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""


def test_sigterm_reaches_the_job_and_the_launcher_waits_for_it(tmp_path):
    child = tmp_path / "child.py"
    child.write_text(SIGNALLED)
    cmd = [sys.executable, str(SCRIPT), "--gpus", "1", "--lock-dir", str(tmp_path / "locks"), "--",
           str(child), str(tmp_path / "got")]
    p = subprocess.Popen(cmd, env={**os.environ, "KEMDY_GPU_COUNT": "1"}, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.terminate()  # SIGTERM to the launcher only, as `kill <pid>` or a scheduler sends it
    try:
        code = p.wait(timeout=20)
    except subprocess.TimeoutExpired:  # say where it stuck (seen once, in a loaded full run)
        status = Path(f"/proc/{p.pid}/status").read_text()
        p.kill()
        pytest.fail(f"the launcher did not exit; job answered: {(tmp_path / 'got').exists()}; "
                    + "; ".join(line for line in status.splitlines() if line.startswith(("State", "Sig", "Shd"))))
    assert code == 143
    assert (tmp_path / "got").read_text() == "SIGTERM"
    assert subprocess.run(["pgrep", "-f", str(child)], capture_output=True).returncode == 1


def test_a_signal_while_the_job_starts_reaches_it(tmp_path):
    # SIGTERM lands while the launcher is starting the job (a scancel right at the start):
    # the launcher must not die and leave the job running on, unlocked and unseen.
    harness = tmp_path / "harness.py"
    harness.write_text(f"""
import os, signal, subprocess, sys
sys.path.insert(0, {str(SCRIPT.parent)!r})
import gpu_slot
real = subprocess.Popen
def popen(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    return real(*args, **kwargs)
subprocess.Popen = popen
print(gpu_slot.run_forwarding([sys.executable, "-c", "import time; time.sleep(30)"], dict(os.environ), []))
""")
    done = subprocess.run([sys.executable, str(harness)], capture_output=True, text=True, timeout=25)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(-15)  # the job was stopped by the signal, at once


def test_no_gpu_runs_on_cpu_with_a_notice(tmp_path):
    p = run_slot(tmp_path, 1, PRINT_DEVICES.format(sleep=0), KEMDY_GPU_COUNT="0")
    out, err = p.communicate()
    assert p.returncode == 0 and out.strip() == "none" and "CPU" in err


def test_child_exit_code_is_passed_on(tmp_path):
    p = run_slot(tmp_path, 1, "import sys; sys.exit(3)", KEMDY_GPU_COUNT="0")
    p.communicate()
    assert p.returncode == 3


def test_asking_for_more_gpus_than_exist_is_an_input_error(tmp_path):
    with pytest.raises(gpu_slots.InputError, match="asks for 3 GPUs"):
        gpu_slots.claim(3, 2, str(tmp_path))


def test_multi_gpu_jobs_are_launched_with_torchrun():
    assert gpu_slots.launcher(2)[1:3] == ["-m", "torch.distributed.run"]
    assert gpu_slots.launcher(1) == [sys.executable]
