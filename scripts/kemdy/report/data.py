"""The data section of the report: class counts before and after re-labelling, evaluators,
agreement, what ingest fixed and skipped, and the folds."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from kemdy.classes import CLASSES
from kemdy.labels.folds import read_folds
from kemdy.labels.relabel import read_agreement, read_evaluators, read_new_data
from kemdy.release.segments import read_ingest_report, read_segments, read_skipped
from kemdy.report.summary import Runs

AS_TEXT = {"dtype": str, "keep_default_na": False}  # cells as written: "" where empty


def flatten(obj, prefix: str = "") -> list[tuple[str, object]]:
    """Nested JSON -> (dotted key, scalar) pairs, for a table of ingest counts."""
    if isinstance(obj, dict) and not obj:
        return [(prefix[:-1], "none")] if prefix else []
    if isinstance(obj, dict):
        return [kv for k, v in obj.items() for kv in flatten(v, f"{prefix}{k}.")]
    if isinstance(obj, list) and not all(isinstance(x, (int, float, str)) for x in obj):
        return [kv for i, v in enumerate(obj) for kv in flatten(v, f"{prefix}{i}.")]
    return [(prefix[:-1], obj)]


def numeric_total(obj) -> int | None:
    if isinstance(obj, bool):
        return None
    if isinstance(obj, (int, float)):
        return int(obj)
    if isinstance(obj, dict):  # {file: count}; empty means no fixes
        parts = [numeric_total(v) for v in obj.values()]
        parts = [p for p in parts if p is not None]
        return sum(parts) if parts or not obj else None
    return None


def ingest_fixes(ingest: dict) -> list[dict]:
    """Top-level ingest entries that count Segment-ID prefix fixes or disqust fixes."""
    fixes = []
    for key, value in ingest.items():
        k = key.lower()
        if k.endswith("_total") and key[: -len("_total")] in ingest:
            continue  # the total of a per-file dict listed anyway
        if "prefix" in k or "disqust" in k:
            fixes.append({"key": key, "total": numeric_total(value),
                          "detail": flatten(value) if isinstance(value, dict) else []})
    return fixes


def folds_rows(fo: pd.DataFrame, found: Runs, notes: list[str]) -> list[dict]:
    """One row per test fold; a run whose predictions cover other segments is noted."""
    folds = []
    for k, g in fo.groupby("fold", sort=True):
        sessions = sorted(g["session"].unique()) if "session" in g else []
        folds.append({"fold": k, "n": len(g), "sessions": ", ".join(map(str, sessions))})
        test = set(g["segment_id"])
        for variant in found.variants:
            run = found.runs.get((variant, int(k)))
            if run is not None and set(run.predictions["segment_id"]) != test:
                notes.append(f"{variant}/fold{k}: predictions.csv covers "
                             f"{len(run.predictions)} segments, folds.csv puts {len(test)} "
                             "in this test fold (the sets differ).")
    return folds


def data_section(data_dir: Path, found: Runs) -> dict:
    segments = read_segments(data_dir / "segments.csv", ["segment_id", "total_emotion"], **AS_TEXT)
    new = read_new_data(data_dir / "new_data.csv", ["segment_id", "label", "total_emotion"],
                        **AS_TEXT)
    evaluators = read_evaluators(data_dir / "evaluators.csv", **AS_TEXT)
    agreement = read_agreement(data_dir / "agreement.json")
    notes, missing_files = [], []

    totals = segments["total_emotion"]
    multi = totals.str.contains(";")
    release_single = totals[~multi & (totals != "")].value_counts()
    in_tie = pd.Series([c for t in totals[multi] for c in t.split(";")]).value_counts() \
        if multi.any() else pd.Series(dtype=int)
    aggregated = new.loc[new["label"].isin(CLASSES), "label"].value_counts()
    classes = [{"class": c, "release": int(release_single.get(c, 0)),
                "in_tie": int(in_tie.get(c, 0)), "aggregated": int(aggregated.get(c, 0))}
               for c in CLASSES]
    new_multi = new["total_emotion"].str.contains(";")
    single = ~new_multi & new["total_emotion"].isin(CLASSES) & new["label"].isin(CLASSES)
    changed = int((new.loc[single, "label"] != new.loc[single, "total_emotion"]).sum())
    counts = {
        "segments": len(segments), "multi_label_totals": int(multi.sum()),
        "no_total": int((totals == "").sum()), "labelled": int(new["label"].isin(CLASSES).sum()),
        "multi_in_new": int(new_multi.sum()),
        # resolved = labelled without a tie: only the aggregation step knows (ties are broken)
        "resolved": agreement.get("multilabel_resolved"), "ties": agreement.get("n_ties"),
        "single_changed": changed, "n_single_in_new": int(single.sum()),
        "sessions": int(segments["session"].nunique()) if "session" in segments else None,
    }
    for key, mine, source in (("label_counts", aggregated, "new_data.csv labels"),
                              ("total_counts", release_single, "segments.csv totals")):
        stored = agreement.get(key)
        if isinstance(stored, dict):
            diff = [c for c in CLASSES if int(stored.get(c, 0)) != int(mine.get(c, 0))]
            if diff:
                notes.append(f"agreement.json {key} disagree with the {source} for {diff}.")

    evaluator_rows = evaluators.to_dict("records")
    for row in evaluator_rows:
        for col in ("accuracy_vs_majority", "accuracy_vs_final", "weight"):
            row[col] = float(row[col]) if row[col] != "" else math.nan

    ingest = None
    if (data_dir / "ingest.json").is_file():
        raw = read_ingest_report(data_dir / "ingest.json")
        ingest = {"rows": flatten(raw), "fixes": ingest_fixes(raw),
                  "by_session": raw.get("skipped_by_session") or {}}
    else:
        missing_files.append("ingest.json")
    skipped = None
    if (data_dir / "skipped.csv").is_file():
        sk = read_skipped(data_dir / "skipped.csv", **AS_TEXT)
        skipped = {"n": len(sk), "reasons": sk["reason"].value_counts().to_dict(),
                   "rows": sk.head(50).to_dict("records")}
    else:
        missing_files.append("skipped.csv")
    folds = None
    if (data_dir / "folds.csv").is_file():
        folds = folds_rows(read_folds(data_dir / "folds.csv", ["segment_id", "fold"], **AS_TEXT),
                           found, notes)
    else:
        missing_files.append("folds.csv")

    agreement_rows = []  # scalars as they are, lists (e.g. skipped_min_votes) as a count
    for k, v in agreement.items():
        if isinstance(v, list):
            shown = ", ".join(map(str, v[:3])) + (", …" if len(v) > 3 else "")
            agreement_rows.append((k, f"{len(v)}" + (f" ({shown})" if v else "")))
        elif not isinstance(v, dict):
            agreement_rows.append((k, v))
    return {"segments": segments, "classes": classes, "counts": counts,
            "evaluators": evaluator_rows,
            "agreement": agreement, "agreement_rows": agreement_rows, "ingest": ingest,
            "skipped": skipped, "folds": folds, "notes": notes, "missing_files": missing_files,
            "distribution": {
                "release totals (single-label)": {c["class"]: c["release"] for c in classes},
                "aggregated labels": {c["class"]: c["aggregated"] for c in classes}}}
