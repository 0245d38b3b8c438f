"""The report's calibration section: do a variant's probabilities mean what they say?

Per variant, from its out-of-fold predictions (every test fold pooled; a segment once per
seed): ECE, Brier score and NLL of the prob_<class> columns (kemdy.metrics; lower is
better, so none of them enters the headline's best marks, the verdict or the bootstrap), and
for a variant trained with calibrate: temperature the same figures after temperature scaling,
each run's probabilities scaled by the temperature its own metrics.json records; per fold
the figures summary.csv holds; the reliability diagram's bins before and after. ECE and the
diagram score each segment's `pred` (its confidence p[pred]; kemdy.metrics.reliability_bins),
as summary.csv's ece does: a two-stage variant's pred follows its neutral_threshold rule.
Each temperature is refitted from the validation probabilities its metrics.json keeps
(check_temperature): a different T, or a test segment among them, is a consistency note.
"""

from __future__ import annotations

import numpy as np

from kemdy.classes import CLASSES
from kemdy.metrics import (CALIBRATED, CALIBRATION, ECE_BINS, calibration_scores, label_indices,
                           pred_indices, probabilities, reliability_bins, temperature_scaled)
from kemdy.report.summary import Run, Runs
from kemdy.temperature import TOLERANCE, fit_temperature


def members(found: Runs, variant: str) -> list[Run]:
    """The runs that hold predictions.csv and metrics.json: a several-seed fold's seeds."""
    return [m for run in found.of(variant) for m in (run.members or [run])]


def pooled(runs: list[Run]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """(probabilities, calibrated probabilities or None, label columns, pred columns) of the
    runs stacked; None unless every run has a temperature."""
    before, after, labels, preds = [], [], [], []
    for run in runs:
        keep, y = label_indices(run.predictions, CLASSES)
        p = probabilities(run.predictions, CLASSES)[keep]
        t = run.metrics.get("temperature")
        before.append(p)
        after.append(None if t is None else temperature_scaled(p, t))
        labels.append(y)
        preds.append(pred_indices(run.predictions, CLASSES)[keep])
    calibrated = None if any(a is None for a in after) else np.concatenate(after)
    return np.concatenate(before), calibrated, np.concatenate(labels), np.concatenate(preds)


def check_temperature(run: Run, variant: str, notes: list[str]) -> None:
    """Refit the run's T from the validation probabilities metrics.json keeps; a metrics.json
    written before they were kept (no `validation`) cannot be checked and is left alone."""
    fitted = (run.metrics.get("temperature_fit") or {}).get("validation")
    if fitted is None:
        return
    where = f"{variant} fold{run.fold}" + ("" if run.seed is None else f" seed{run.seed}")
    leaked = set(fitted["segment_id"]) & set(run.predictions["segment_id"].astype(str))
    if leaked:
        notes.append(f"{where}: its temperature was fitted on {len(leaked)} test segments "
                     f"(e.g. {sorted(leaked)[0]}): rerun the job.")
    t, again = float(run.metrics["temperature"]), fit_temperature(
        np.asarray(fitted["probabilities"], dtype=float), np.asarray(fitted["y"]))
    # the same search on the same float64 probabilities; another CPU's vectorised log/exp
    # may move a comparison, and so the result by up to the search's final bracket in log T
    if not abs(np.log(again / t)) <= TOLERANCE:
        notes.append(f"{where}: metrics.json's temperature {t:.6g} is not what its validation "
                     f"probabilities give ({again:.6g}).")


def has_probabilities(run: Run) -> bool:
    return all(f"prob_{c}" in run.predictions for c in CLASSES)


def variant_row(found: Runs, variant: str, notes: list[str]) -> dict | None:
    runs = members(found, variant)
    if not runs or not all(has_probabilities(r) for r in runs):
        return None
    with_t = [r for r in runs if r.metrics.get("temperature") is not None]
    if with_t and len(with_t) < len(runs):
        lacking = ", ".join(f"fold{r.fold}" + ("" if r.seed is None else f"/seed{r.seed}")
                            for r in runs if r not in with_t)
        notes.append(f"{variant}: {lacking} has no temperature in metrics.json while its other "
                     "runs have one: its figures after calibration are left out.")
    before, after, y, pred = pooled(runs)
    temperatures = {}
    for r in with_t:
        temperatures.setdefault(r.fold, []).append(float(r.metrics["temperature"]))
        check_temperature(r, variant, notes)
    return {
        "variant": variant, "n": int(len(y)),
        "before": calibration_scores(before, y, pred),
        "after": None if after is None else calibration_scores(after, y, pred),
        "temperatures": {k: float(np.mean(v)) for k, v in sorted(temperatures.items())},
        "bins_before": reliability_bins(before, y, pred=pred),
        "bins_after": None if after is None else reliability_bins(after, y, pred=pred),
        "per_fold": {run.fold: {m: run.scores.get(m) for m in
                                CALIBRATION + CALIBRATED + ["temperature"]}
                     for run in found.of(variant)},
    }


def calibration_section(found: Runs, notes: list[str]) -> dict:
    """{"rows": one per variant with probabilities, "bins": ECE_BINS, "any_after": whether a
    variant was calibrated}."""
    rows = [row for v in found.variants if (row := variant_row(found, v, notes))]
    return {"rows": rows, "bins": ECE_BINS, "any_after": any(r["after"] for r in rows)}
