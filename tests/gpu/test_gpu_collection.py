"""The `gpu` marker itself (no GPU needed): registered, selected by `-m gpu`, and without
CUDA every such test is skipped with the one reason, never an error."""

import os
import subprocess
import sys

from workflow_utils import REPO


def test_gpu_tests_are_collected_and_skip_cleanly_without_cuda():
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/gpu", "-m", "gpu", "-q", "-rs",
         "-p", "no:cacheprovider", "-k", "loss-ce-cuda or nccl or wavlm"],
        cwd=REPO, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 skipped" in proc.stdout and "passed" not in proc.stdout, proc.stdout[-2000:]
    assert proc.stdout.count("no CUDA device: these run on a GPU machine") == 3
