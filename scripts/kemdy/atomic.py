"""Atomic writes: every output is written to a temporary name beside its target and renamed
over it only when complete, so a failed or killed step never leaves an output that looks
finished. The one place the workflow writes files from."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_outputs(*paths):
    """Yield one temporary path per target; all replace their targets only if the block
    succeeds (so several outputs of one step appear together or not at all)."""
    temps = []
    try:
        for path in map(Path, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            temps.append(tmp)
        yield temps
        for tmp, path in zip(temps, paths):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.remove(tmp)


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    with atomic_outputs(path) as (tmp,):
        yield tmp


def write_atomic(path, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes to `path` atomically."""
    with atomic_output(path) as tmp:
        if isinstance(data, bytes):
            Path(tmp).write_bytes(data)
        else:
            Path(tmp).write_text(data, encoding="utf-8")


def write_json(path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2) + "\n")


def write_csv(path, frame) -> None:
    """A pandas DataFrame as CSV, without its index."""
    write_atomic(path, frame.to_csv(index=False))


@contextlib.contextmanager
def atomic_dir(path):
    """Yield an empty temporary folder beside `path`; it replaces `path` (an earlier folder
    there is removed) only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
