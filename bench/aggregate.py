"""Benchmark: vectorised Wawa re-labelling against the original's row-by-row loops.

    python -m bench aggregate

On random votes of KEMDy20's size (13,462 segments x 10 evaluators; hidden classes drawn
from KEMDy20's label distribution, evaluators of varying accuracy, 2 % missing votes) it
times, in one run:
- `rowwise_loc`: the original project's nested Python loops (segment x class x evaluator,
  reading cells with DataFrame.loc), with its defects removed so that it gives our labels;
- `rowwise_lists`: the same loops over plain Python lists (no pandas overhead per cell);
- `vectorised`: kemdy.labels.aggregate.wawa on the one-hot vote tensor (codes in, scores
  out) and the same preceded by encoding the string table (`vectorised+encode`).
The row-by-row versions are timed on the first SUBSET segments and scaled per segment to
the full size (stated in the table). Then the vectorised version is timed at 13k, 100k
and 1M segments to show how its time grows. Prints a table, writes results/bench/aggregate.json.

The row-by-row loops live in kemdy.labels.rowwise, the oracle of the tests too.
"""

from __future__ import annotations

import time

from bench.common import best_time, machine, write_result
from kemdy.labels.aggregate import encode_votes, wawa
from kemdy.classes import CLASSES
from kemdy.labels.rowwise import KEMDY20_SEGMENTS, random_votes, votes_frame, wawa_rowwise

SUBSET = 1_000  # segments the row-by-row loops are timed on
GROWTH = (KEMDY20_SEGMENTS, 100_000, 1_000_000)


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
    vec = best_time(lambda: wawa(codes), repeat=5)
    vec_enc = best_time(lambda: wawa(encode_votes(frame)), repeat=3)
    rows.append({"name": "vectorised", "timed_segments": n, "seconds_measured": vec,
                 "seconds": vec, "scaled": False})
    rows.append({"name": "vectorised+encode", "timed_segments": n,
                 "seconds_measured": vec_enc, "seconds": vec_enc, "scaled": False})
    # Same labels on the subset: the reference's weights come from the subset alone.
    same = wawa(codes[:n_sub]).label.tolist() == [CLASSES.index(c) for c in reference["labels"]]

    growth_rows = []
    for size in growth:
        big = codes if size == n else random_votes(size, seed=seed + 1)
        seconds = best_time(lambda: wawa(big), repeat=3 if size <= 100_000 else 1)
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
    write_result(out_dir, "aggregate", result)
    return result
