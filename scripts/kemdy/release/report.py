"""What ingest tells about what it read (ingest.json), and the check that stops it when the
skipped files cost too much data to go on."""

from __future__ import annotations

from collections import Counter

import pandas as pd

from kemdy.classes import CLASSES
from kemdy.errors import InputError


def session_name(dataset: str, session: int) -> str:
    return f"{dataset} Sess{session:02d}"


def lost_data_error(parts, problems: list[dict], n_segments: int,
                    max_share: float) -> InputError | None:
    """An error when skipping lost every segment, a whole session, or more than max_share of
    the annotated segments; it names the cause (the commonest reason and its files)."""
    annotated = sum(len(release.rows) for *_, release, _, _ in parts)
    skipped = {(p["dataset"], p["segment_id"]) for p in problems}
    if not problems and n_segments:
        return None
    reasons = Counter(p["reason"] for p in problems)
    cause = (f"the commonest reason: {reasons.most_common(1)[0][0]} "
             f"({reasons.most_common(1)[0][1]} files, e.g. {problems[0]['file']})"
             if problems else "no annotated segment")
    fix = ("restore the files listed in the log (or in skipped.csv of a run with a higher "
           "dataset.max_skipped_share) from the release")
    where = parts[0][1]
    if n_segments == 0:
        return InputError(where, f"no segment left: {len(skipped)} of {annotated} skipped; {cause}",
                          fix, key="dataset.skip_missing")
    for name, root, _, release, found, _ in parts:
        sessions = Counter(row.session for row in release.rows)
        kept = Counter(row.session for row in release.rows if row.segment_id in found)
        lost = [s for s in sorted(sessions) if not kept[s]]
        if lost:
            return InputError(root, f"every segment of {', '.join(session_name(name, s) for s in lost)} "
                              f"was skipped ({sum(sessions[s] for s in lost)} segments); {cause}",
                              fix + ", or remove the session's annotation file to leave it out",
                              key="dataset.skip_missing")
    # The files a release is known to lack are skipped every time: not a sign of lost data.
    lost = {(p["dataset"], p["segment_id"]) for p in problems if p["kind"] != "known"}
    share = len(lost) / max(annotated, 1)
    if share > max_share:
        return InputError(where, f"{len(lost)} of {annotated} segments skipped "
                          f"({100 * share:.1f} %, more than dataset.max_skipped_share "
                          f"{100 * max_share:g} %); {cause}",
                          fix + ", or raise dataset.max_skipped_share", key="dataset.max_skipped_share")
    return None


def _dataset_report(root, stats: dict, release, found: dict, problems: list[dict]) -> dict:
    annotated = {row.wav for row in release.rows}
    unannotated = sorted(f for f in release.files if f.endswith(".wav") and f not in annotated)
    return {
        "root": str(root),
        "annotation_files": stats["annotation_files"],
        "sessions": stats["sessions"],
        "annotated_segments": len(release.rows),
        "segments": len(found),
        "prefix_fixes": stats["prefix_fixes"],
        "disqust_normalised": stats["disqust_normalised"],
        "multi_label_totals": stats["multi_label_totals"],
        "empty_totals": stats["empty_totals"],
        "missing_votes": stats["missing_votes"],
        "unannotated_wavs": len(unannotated),
        "skipped_segments": len({p["segment_id"] for p in problems}),
        "evaluators": list(release.evaluators),
    }


def report(parts, segments: pd.DataFrame, skipped: pd.DataFrame, problems: list[dict],
           evaluators: dict[str, str], sample_rate: int) -> dict:
    """ingest.json: counts of what was read, fixed and skipped, over every dataset and per
    dataset (`datasets`); `evaluators` names the segments.csv slots."""
    per = {name: _dataset_report(root, stats, release, found,
                                 [p for p in problems if p["dataset"] == name])
           for name, root, stats, release, found, _ in parts}
    single = len(parts) == 1
    fixes = {(f if single else f"{name}/{f}"): n for name, d in per.items()
             for f, n in d["prefix_fixes"].items()}
    reasons = Counter(p["kind"] for p in problems)
    by_session = Counter(session_name(p["dataset"], p["session"])
                         for p in {(p["dataset"], p["segment_id"]): p for p in problems}.values())
    encodings = pd.Series([f["encoding"] for *_, found, _ in parts for f in found.values()])
    encodings = encodings.value_counts()
    total = {key: sum(d[key] for d in per.values())
             for key in ("annotation_files", "annotated_segments", "disqust_normalised",
                         "multi_label_totals", "empty_totals", "missing_votes", "unannotated_wavs")}
    return {
        **({"root": per[parts[0][0]]["root"], "sessions": per[parts[0][0]]["sessions"]}
           if single else {}),
        **total,
        "segments": len(segments),
        "prefix_fixes": fixes,
        "prefix_fixes_total": sum(fixes.values()),
        "total_counts": {c: int((segments["total_emotion"] == c).sum()) for c in CLASSES},
        "skipped_segments": skipped[["dataset", "segment_id"]].drop_duplicates().shape[0],
        "skipped_by_reason": dict(sorted(reasons.items())),
        "skipped_by_session": dict(sorted(by_session.items())),
        "transcripts_utf8": int(encodings.get("utf-8", 0)),
        "empty_clean_text": int((segments["text"] == "").sum()),
        "sample_rate": sample_rate,
        "duration_seconds": {
            "total": round(float(segments["duration"].sum()), 2),
            "min": float(segments["duration"].min()) if len(segments) else None,
            "max": float(segments["duration"].max()) if len(segments) else None,
        },
        "evaluators": evaluators,
        "datasets": per,
    }
