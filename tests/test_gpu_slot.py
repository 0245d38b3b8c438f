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
    assert out.strip() == "3" and "scheduler" in err


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
