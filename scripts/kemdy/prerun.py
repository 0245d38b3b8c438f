"""What the workflow checks and reads when it builds the DAG, before any job: the config's
cross-key checks (a JSON schema checks each key alone), and each dataset's state, a digest
of its files' contents that ingest and decode_audio take as a parameter (a restored,
corrected or added file reruns them and what follows, and nothing else does)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from kemdy.demo.owned import check_owned, generated_state
from kemdy.errors import InputError
from kemdy.release.kinds import check_kind
from kemdy.release.state import root_state
from kemdy.spec import fingerprint


def state_cache(root: str) -> str:
    """The cache of a dataset's file hashes (kemdy.release.state), outside the dataset."""
    return f".snakemake/kemdy/dataset_state/{fingerprint(os.path.abspath(root))}.json"


def dataset_state(d: dict) -> str:
    """What a change of the dataset's files changes. A look-alike that is absent or exactly
    as generated is 'as generated', so the first run's generation itself does not count as
    a change."""
    state = root_state(d["root"], state_cache(d["root"]))
    if d["synthetic"] and state in ("absent", generated_state(d["root"])):
        return "as generated"
    return state


def check_config(config: dict, datasets: list[dict], n_folds: int) -> None:
    """Cross-key checks, made before any job runs; a synthetic root must be one the
    look-alike generator wrote (never a user's data), a real one must look like its kind."""
    variants = list(config["variants"])
    if config["report"]["reference"] not in variants:
        raise InputError("config", f"reference variant '{config['report']['reference']}' is "
                         "not among the variants", f"set report.reference to one of {variants}",
                         key="report.reference")
    if any(d["synthetic"] for d in datasets):
        n = config["synthetic"]["n_sessions"]
        if n_folds > n:
            raise InputError("config", f"{n_folds} folds but the look-alike has {n} sessions",
                             "lower folds.n_folds or raise synthetic.n_sessions",
                             key="folds.n_folds")
        if any(s > n for s in config["synthetic"]["wrong_prefix_sessions"]):
            raise InputError("config", "a wrong-prefix session is beyond the "
                             f"{n} sessions", "list sessions within synthetic.n_sessions",
                             key="synthetic.wrong_prefix_sessions")
    for d in datasets:
        if d["synthetic"]:  # never write over a user's data
            check_owned(d["root"], key=f"{d['key']}.root", cache=state_cache(d["root"]))
        elif not os.path.isdir(os.path.join(d["root"], "annotation")):
            raise InputError(d["root"], "no annotation/ folder here", "set the dataset's root "
                             "to the folder that holds annotation/ and wav/",
                             key=f"{d['key']}.root")
        else:
            check_kind(d["release"], d["root"], key=f"{d['key']}.kind")


def segments_refresh(segments: str, needs_turn: bool,
                     stamp: str = ".snakemake/kemdy/segments_turn.stamp") -> list[str]:
    """ingest's extra input that makes it rerun, once, when a dialogue-context job needs the
    `turn` column that a segments.csv written by an older version lacks.

    The stamp is touched when that is so (newer than segments.csv, it reruns ingest) and is
    an input from then on, whether or not it is needed, so that the input list ingest was
    run with stays the same and the rerun happens once; a results/ without that history
    never has the stamp, and nothing reruns."""
    if needs_turn and os.path.isfile(segments):
        with open(segments, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        if "turn" not in header:
            Path(stamp).parent.mkdir(parents=True, exist_ok=True)
            Path(stamp).touch()
    return [stamp] if os.path.exists(stamp) else []
