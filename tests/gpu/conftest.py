"""The GPU tests (`pytest -m gpu`, or bash tests/gpu/run.sh on a GPU machine): every test
marked `gpu` is skipped, with one reason, where torch sees no CUDA device, and collected
either way. Figures they measure go to $KEMDY_GPU_RESULTS (run.sh sets it) when set."""

from __future__ import annotations

import json
import os

import pytest
import torch

NO_CUDA = "no CUDA device: these run on a GPU machine (bash tests/gpu/run.sh)"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(pytest.mark.skip(reason=NO_CUDA))


@pytest.fixture(scope="session")
def record():
    """record(name, figures): figures saved as $KEMDY_GPU_RESULTS/<name>.json (if set)."""
    folder = os.environ.get("KEMDY_GPU_RESULTS")

    def save(name: str, figures: dict) -> None:
        if folder:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{name}.json"), "w") as fh:
                json.dump(figures, fh, indent=2, default=str)

    return save
