"""Which look-alike roots the workflow wrote itself.

The generator leaves a marker in the root it writes, listing every file with its content
hash. A synthetic root may be (re)written only when it is absent, empty, or holds exactly
files its marker lists, with the content it records: anything else (a real KEMDy20 copy
named by mistake, a user's file, a user's recording copied over a generated one) stops the
workflow before any job, so no config can make it delete or overwrite a dataset it did not
generate.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from kemdy.atomic import write_atomic
from kemdy.errors import InputError
from kemdy.release.state import digest, file_digest, file_hashes, is_used

MARKER = ".kemdy-lookalike.json"


def write_marker(root, settings: dict) -> dict:
    """Record every file under root (the marker itself aside) with its content hash."""
    root = Path(root)
    files = {p.relative_to(root).as_posix(): file_digest(p) for p in sorted(root.rglob("*"))
             if p.is_file() and p.name != MARKER}
    marker = {"generator": "kemdy look-alike", "settings": settings, "files": files}
    write_atomic(root / MARKER, json.dumps(marker, indent=1, sort_keys=True) + "\n")
    return marker


def read_marker(root) -> dict | None:
    try:
        with open(Path(root) / MARKER, encoding="utf-8") as handle:
            marker = json.load(handle)
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("files"), dict) else None


def stray_file(root, cache=None) -> str | None:
    """A file under root the generator did not write, or None when every file is ours (an
    absent or empty root counts as ours: Snakemake may leave empty folders).

    Ours means listed in the marker with the content it records: a user's recording copied
    over a generated wav keeps the name but not the content. The dataset-state cache
    (kemdy.release.state, keyed by size and mtime) spares rehashing unchanged files.
    """
    root = Path(root)
    if not root.exists():
        return None
    if not root.is_dir():
        return str(root)
    listed = (read_marker(root) or {}).get("files", {})
    hashes = None
    for folder, _, names in os.walk(root):
        for name in names:
            rel = (Path(folder) / name).relative_to(root).as_posix()
            if rel == MARKER:
                if not listed:
                    return rel  # a marker we cannot read: not ours to overwrite
                continue
            if rel not in listed:
                return rel
            if hashes is None:
                hashes = file_hashes(root, cache)
            if (hashes.get(rel) if is_used(rel) else _digest(root / rel)) != listed[rel]:
                return rel
    return None


def _digest(path: Path) -> str | None:
    try:
        return file_digest(path)
    except OSError:
        return None  # unreadable or a dangling link: not what we wrote


def check_owned(root, key: str = "dataset.root", cache=None) -> None:
    """InputError unless the root is absent, empty or wholly the generator's own."""
    stray = stray_file(root, cache)
    if stray is not None:
        raise InputError(
            root, f"dataset.kind is synthetic, but this folder holds a file the look-alike "
            f"generator did not write, or whose content is not what it wrote ({stray}); the "
            "workflow writes and deletes look-alike "
            "roots, so it never uses one that holds anything else",
            "to read a real copy set dataset.kind to kemdy20 (or kemdy19); to generate the "
            "look-alike, point dataset.root at a new or empty folder", key=key)


def generated_state(root) -> str | None:
    """The state digest the marker records, or None without a readable marker."""
    marker = read_marker(root)
    return None if marker is None else digest(
        {rel: h for rel, h in marker["files"].items() if is_used(rel)})
