"""The report's sections beyond the classes: valence and arousal (per fold, mean ± std, and
the pooled predictions against the targets), and the audio layer weights that layer-weighted
runs learnt. Valence/arousal figures are recomputed from predictions.csv (kemdy.metrics);
the layer weights are the ones each run's metrics.json records."""

from __future__ import annotations

import math

import numpy as np

from kemdy.metrics import VA_METRICS
from kemdy.report.summary import Runs


def _mean_std(values: list[float]) -> dict:
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return {"mean": float(np.mean(values)) if values else math.nan,
            "std": float(np.std(values, ddof=1)) if len(values) > 1 else math.nan}


def va_section(found: Runs) -> list[dict]:
    """Per variant with valence/arousal outputs: per-fold figures, their mean ± std, and the
    pooled (true, predicted) pairs for the scatter plot."""
    out = []
    for variant in found.variants:
        runs = [r for r in found.of(variant) if "ccc_valence" in r.scores]
        if not runs:
            continue
        pooled = found.pooled(variant)
        out.append({
            "variant": variant,
            "per_fold": {r.fold: {m: r.scores[m] for m in VA_METRICS} for r in runs},
            "summary": {m: _mean_std([r.scores[m] for r in runs]) for m in VA_METRICS},
            "points": {d: (pooled[d].to_numpy(float), pooled[f"pred_{d}"].to_numpy(float))
                       for d in ("valence", "arousal")},
        })
    return out


def layer_section(found: Runs) -> list[dict]:
    """Per variant whose runs learnt audio layer weights: each fold's and their mean."""
    out = []
    for variant in found.variants:
        per_fold = {r.fold: r.metrics["layer_weights"] for r in found.of(variant)
                    if isinstance(r.metrics.get("layer_weights"), list)}
        if per_fold:
            out.append({"variant": variant, "per_fold": per_fold,
                        "mean": np.mean(list(per_fold.values()), axis=0).tolist()})
    return out
