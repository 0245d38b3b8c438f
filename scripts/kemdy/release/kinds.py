"""Which release a root looks like, from its annotation file names: a KEMDy20 root named as
kemdy19 (or the reverse) is told to fix dataset.kind, not asked for files its release never
had."""

from __future__ import annotations

import os
from pathlib import Path

from kemdy.errors import InputError
from kemdy.release import kemdy19, kemdy20

RELEASES = {"kemdy20": ("KEMDy20", kemdy20.ANNOTATION_FILE, "SessNN_eval.csv"),
            "kemdy19": ("KEMDy19", kemdy19.ANNOTATION_FILE, "SessionNN_F_res.csv, _M_res.csv")}


def check_kind(kind: str, root, key: str = "dataset.kind") -> None:
    """InputError when root's annotation/ holds none of kind's files but the other's."""
    folder = Path(root) / "annotation"
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return  # no annotation folder: the reader says so
    if kind not in RELEASES or any(RELEASES[kind][1].match(n) for n in names):
        return
    for other, (name, pattern, shape) in RELEASES.items():
        found = [n for n in names if pattern.match(n)]
        if other != kind and found:
            raise InputError(
                folder / found[0], f"this root looks like {name} (annotation/ holds "
                f"{len(found)} {shape} files and no {RELEASES[kind][2]}), but {key} is {kind}",
                f"set {key}: {other} to read it as {name} (ingest.py: --dataset {other} ROOT), "
                f"or point the root at a {RELEASES[kind][0]} copy", key=key)
