"""The state of a dataset root: one digest of the contents of every file the readers use
(annotation/ and the wavs and transcripts under wav/).

The workflow hands it to ingest and decode_audio as a parameter, so a restored, corrected or
added file reruns them (and what follows), and a mere `touch` or a copy with new times
reruns nothing. Contents are hashed once: a cache keyed by (size, mtime) keeps each file's
hash, so later runs only stat the files. The cache lives outside the root, which is only
ever read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from kemdy.atomic import write_atomic

USED = (".wav", ".txt")  # the files of wav/ a reader opens
SKIP_DIRS = {"converted"}  # KEMDy19's empty sub-folders


def is_used(rel: str) -> bool:
    """Whether a root-relative path is one a reader may open."""
    parts = rel.split("/")
    if parts[0] == "annotation":
        return len(parts) == 2
    return parts[0] == "wav" and rel.endswith(USED) and not SKIP_DIRS & set(parts[1:-1])


def used_files(root) -> list[str]:
    """Root-relative paths of the files a reader may open, sorted."""
    root = Path(root)
    found = []
    annotation = root / "annotation"
    if annotation.is_dir():
        found += [f"annotation/{e.name}" for e in os.scandir(annotation) if e.is_file()]
    for folder, dirs, files in os.walk(root / "wav"):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        rel = Path(folder).relative_to(root).as_posix()
        found += [f"{rel}/{name}" for name in files if name.endswith(USED)]
    return sorted(found)


def file_digest(path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(cache) -> dict:
    try:
        with open(cache, encoding="utf-8") as handle:
            table = json.load(handle)
        return table if isinstance(table, dict) else {}
    except (OSError, ValueError):
        return {}


def file_hashes(root, cache=None) -> dict[str, str]:
    """{relative path: content hash} of the used files, hashing only what the cache (keyed by
    size and mtime) does not already know."""
    root = Path(root)
    known = _load(cache) if cache else {}
    table, fresh = {}, {}
    for rel in used_files(root):
        try:
            stat = os.stat(root / rel)
        except FileNotFoundError:  # a dangling symlink: missing, as ingest will report
            continue
        key = f"{rel}\t{stat.st_size}\t{stat.st_mtime_ns}"
        try:
            table[rel] = known.get(key) or file_digest(root / rel)
        except OSError as err:  # unreadable: ingest names it; its state is that it is
            table[rel] = f"unreadable: {err.strerror}"
            continue
        fresh[key] = table[rel]
    if cache and fresh != known:
        write_atomic(cache, json.dumps(fresh, sort_keys=True))
    return table


def digest(hashes: dict[str, str]) -> str:
    """One digest of a {relative path: content hash} table."""
    text = "\n".join(f"{rel}\t{h}" for rel, h in sorted(hashes.items()))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def root_state(root, cache=None) -> str:
    """The digest of a root's used files ('absent' when the root does not exist)."""
    if not Path(root).is_dir():
        return "absent"
    return digest(file_hashes(root, cache))
