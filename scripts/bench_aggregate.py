"""Benchmark: vectorised Wawa re-labelling against the original's row-by-row loops.

    python scripts/bench.py aggregate        # or: python scripts/bench_aggregate.py [--out-dir D]

On random votes of KEMDy20's size (13,462 segments x 10 evaluators; hidden classes drawn
from KEMDy20's label distribution, evaluators of varying accuracy, 2 % missing votes) it
times, in one run:
- `rowwise_loc`: the original project's nested Python loops (segment x class x evaluator,
  reading cells with DataFrame.loc), with its defects removed so that it gives our labels;
- `rowwise_lists`: the same loops over plain Python lists (no pandas overhead per cell);
- `vectorised`: scripts/aggregate_labels.wawa on the one-hot vote tensor (codes in, scores
  out) and the same preceded by encoding the string table (`vectorised+encode`).
The row-by-row versions are timed on the first SUBSET segments and scaled per segment to
the full size (stated in the table). Then the vectorised version is timed at 13k, 100k
and 1M segments to show how its time grows. Prints a table, writes results/bench/aggregate.json.

`wawa_rowwise` is also the independent reference of tests/test_aggregate_labels.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from aggregate_labels import VOTE_COLUMNS, encode_votes, wawa
from atomic import write_atomic
from errors import run_cli
from kemdy20 import CLASSES

KEMDY20_SEGMENTS = 13_462
# KEMDy20's single-label totals (docs: kemdy20-format.md), in CLASSES order.
KEMDY20_COUNTS = np.array([11_120, 1_183, 156, 144, 121, 61, 43], dtype=float)
SUBSET = 1_000  # segments the row-by-row loops are timed on
GROWTH = (KEMDY20_SEGMENTS, 100_000, 1_000_000)


def random_votes(n: int, n_eval: int = 10, seed: int = 0, missing: float = 0.02) -> np.ndarray:
    """Class codes (n, n_eval), -1 = missing: hidden class from KEMDy20's prior, each
    evaluator right with its own probability (0.55-0.95), otherwise a draw from the prior."""
    rng = np.random.default_rng(seed)
    prior = KEMDY20_COUNTS / KEMDY20_COUNTS.sum()
    truth = rng.choice(len(prior), size=n, p=prior)
    skill = rng.uniform(0.55, 0.95, size=n_eval)
    right = rng.random((n, n_eval)) < skill
    noise = rng.choice(len(prior), size=(n, n_eval), p=prior)
    codes = np.where(right, truth[:, None], noise).astype(np.int8)
    codes[rng.random((n, n_eval)) < missing] = -1
    return codes


def votes_frame(codes: np.ndarray) -> pd.DataFrame:
    """Codes -> the emotion columns of segments.csv (strings; NaN = missing vote)."""
    names = np.asarray(CLASSES + [np.nan], dtype=object)
    return pd.DataFrame(names[codes], columns=VOTE_COLUMNS[: codes.shape[1]])


def wawa_rowwise(frame: pd.DataFrame, use_loc: bool = True) -> dict:
    """The original's loops, one segment at a time, without its defects.

    Exact label matching, every label spelt as CLASSES (disgust included), strict majority
    over the evaluators present, scores normalised over the evaluators present, first
    class in CLASSES order among np.isclose ties, the same fallbacks as the vectorised code.
    Returns {"labels", "scores" (list of dicts), "accuracy", "weight"}.
    """
    columns = [c for c in VOTE_COLUMNS if c in frame.columns]
    index = list(frame.index)
    if use_loc:

        def cell(i, j):
            return frame.loc[index[i], columns[j]]
    else:
        rows = frame[columns].to_numpy().tolist()

        def cell(i, j):
            return rows[i][j]

    def voted(value):
        return isinstance(value, str) and value != ""

    n_eval = len(columns)
    hits, seen = [0] * n_eval, [0] * n_eval
    # 1. Evaluator reliability on the strict-majority segments.
    for i in range(len(index)):
        counts = {c: 0 for c in CLASSES}
        n_votes = 0
        for j in range(n_eval):
            value = cell(i, j)
            if voted(value):
                counts[value] += 1
                n_votes += 1
        top = max(counts, key=lambda c: counts[c])
        if 2 * counts[top] > n_votes:
            for j in range(n_eval):
                value = cell(i, j)
                if voted(value):
                    seen[j] += 1
                    hits[j] += value == top
    accuracy = [h / s if s else 0.0 for h, s in zip(hits, seen)]
    total_a = sum(accuracy)
    weight = [a / total_a for a in accuracy] if total_a > 0 else [1.0 / n_eval] * n_eval
    # 2. Re-vote: each class's score is the weight of the evaluators who chose it.
    labels, scores = [], []
    for i in range(len(index)):
        denom = sum(weight[j] for j in range(n_eval) if voted(cell(i, j)))
        n_present = sum(1 for j in range(n_eval) if voted(cell(i, j)))
        row = {}
        for c in CLASSES:
            s, k = 0.0, 0
            for j in range(n_eval):
                if cell(i, j) == c:
                    s += weight[j]
                    k += 1
            row[c] = s / denom if denom > 0 else k / n_present
        best = max(row.values())
        labels.append(next(c for c in CLASSES if abs(row[c] - best) <= 1e-8 + 1e-5 * best))
        scores.append(row)
    return {"labels": labels, "scores": scores, "accuracy": accuracy, "weight": weight}


def _best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "numpy": np.__version__, "pandas": pd.__version__}


def run(out_dir="results/bench", n: int = KEMDY20_SEGMENTS, subset: int = SUBSET,
        growth=GROWTH, seed: int = 0) -> dict:
    """Time the three implementations, print a table, write {out_dir}/aggregate.json."""
    codes = random_votes(n, seed=seed)
    frame = votes_frame(codes)
    sub = frame.iloc[:subset]
    n_sub = len(sub)

    rows = []
    reference = None
    for name, use_loc in (("rowwise_loc", True), ("rowwise_lists", False)):
        start = time.perf_counter()
        reference = wawa_rowwise(sub, use_loc=use_loc)
        seconds = time.perf_counter() - start
        rows.append({"name": name, "timed_segments": n_sub, "seconds_measured": seconds,
                     "seconds": seconds * n / n_sub, "scaled": n_sub < n})
    vec = _best_time(lambda: wawa(codes), repeat=5)
    vec_enc = _best_time(lambda: wawa(encode_votes(frame)), repeat=3)
    rows.append({"name": "vectorised", "timed_segments": n, "seconds_measured": vec,
                 "seconds": vec, "scaled": False})
    rows.append({"name": "vectorised+encode", "timed_segments": n,
                 "seconds_measured": vec_enc, "seconds": vec_enc, "scaled": False})
    # Same labels on the subset: the reference's weights come from the subset alone.
    same = wawa(codes[:n_sub]).label.tolist() == [CLASSES.index(c) for c in reference["labels"]]

    growth_rows = []
    for size in growth:
        big = codes if size == n else random_votes(size, seed=seed + 1)
        seconds = _best_time(lambda: wawa(big), repeat=3 if size <= 100_000 else 1)
        growth_rows.append({"n_segments": size, "seconds": seconds,
                            "us_per_segment": 1e6 * seconds / size})
        del big

    result = {
        "machine": machine(),
        "n_segments": n,
        "n_evaluators": int(codes.shape[1]),
        "implementations": rows,
        "speedup_vs_rowwise_loc": rows[0]["seconds"] / vec,
        "speedup_vs_rowwise_lists": rows[1]["seconds"] / vec,
        "same_labels_on_subset": bool(same),
        "growth": growth_rows,
    }
    m = result["machine"]
    print(f"Wawa re-labelling, {n:,} segments x {codes.shape[1]} evaluators "
          f"(machine: {m['cores']} cores, {m['cpu']})")
    print(f"{'implementation':<20}{'seconds':>12}  note")
    for r in rows:
        note = (f"timed on {r['timed_segments']:,} segments ({r['seconds_measured']:.2f} s), "
                "scaled per segment" if r["scaled"] else "measured, best of repeats")
        print(f"{r['name']:<20}{r['seconds']:>12.4f}  {note}")
    print(f"speed-up: {result['speedup_vs_rowwise_loc']:,.0f}x vs .loc loops, "
          f"{result['speedup_vs_rowwise_lists']:,.0f}x vs plain-list loops (target >= 100x); "
          f"same labels on the subset: {same}")
    print(f"{'segments':>12}{'seconds':>12}{'us/segment':>12}")
    for g in growth_rows:
        print(f"{g['n_segments']:>12,}{g['seconds']:>12.4f}{g['us_per_segment']:>12.3f}")
    out = Path(out_dir) / "aggregate.json"
    write_atomic(out, json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="results/bench")
    parser.add_argument("--subset", type=int, default=SUBSET,
                        help="segments the row-by-row loops are timed on")
    args = parser.parse_args(argv)
    run(args.out_dir, subset=args.subset)


if __name__ == "__main__":
    run_cli(main)
