"""Temperature scaling (`calibrate: temperature`; Guo et al., 2017): after training, one
temperature T per job is fitted on the job's validation rows with the best epoch's weights,
never on its test rows. The calibrated probabilities are softmax(log p / T)
(kemdy.metrics.temperature_scaled): for a softmax model softmax(logits / T), Guo et al.'s
logit temperature; the argmax, so every prediction and headline figure, is unchanged.
For a soft_bce model p is the sigmoid outputs normalised to sum to 1, not a softmax of its
logits, so softmax(log p / T) is p^(1/T) renormalised: a power scaling of those
probabilities, not a temperature on the logits. Such a model, trained towards the raters'
vote shares, is under-confident partly by its target: a segment whose votes split 6 to 4
is meant to get 0.6, not 1. Valence/arousal outputs are untouched: T applies to the class
probabilities only.

T minimises the validation negative log-likelihood (kemdy.temperature.fit_temperature).
metrics.json keeps the validation probabilities it was fitted on, so the report refits T
from them (and checks that none is a test row). Without validation rows T is 1 (the
probabilities as the model gives them), with a warning in the job's log.
"""

from __future__ import annotations

import math

from kemdy.metrics import nll, temperature_scaled
from kemdy.temperature import BOUNDS, fit_temperature
from kemdy.train.distributed import log
from kemdy.train.loop import predict, score_test

POST_HOC = ("calibrate",)  # spec keys read after training only: not part of a resume state


def training_spec(spec: dict) -> dict:
    """The spec less what only acts after training: a resume state (its fingerprint) made
    with calibrate none serves calibrate temperature, and one made before the key existed
    is still found."""
    return {k: v for k, v in spec.items() if k not in POST_HOC}


def fit(job: dict) -> dict:
    """{} for calibrate none; else {"temperature": T, "temperature_fit": {val_segments,
    val_nll, val_nll_calibrated}} from the job's validation rows, scored with the weights
    loaded now (the best epoch's). The test rows play no part."""
    spec, task, dist = job["spec"], job["task"], job["dist"]
    if spec.get("calibrate", "none") == "none":
        return {}
    val_rows = job["rows"][1]
    if not len(val_rows):
        log("WARNING: calibrate temperature without validation segments: temperature 1 "
            "(the model's own probabilities)", dist)
        return {"temperature": 1.0, "temperature_fit": {"val_segments": 0}}
    probs, _, _ = predict(job["model"], job["inputs"], val_rows, spec["loss"],
                          2 * int(spec["batch_size"]), job["runtime"], dist=dist,
                          windows=job["windows"], max_samples=job["cap"])
    y = task.y[val_rows]
    temperature = fit_temperature(probs, y)
    before, after = nll(probs, y), nll(temperature_scaled(probs, temperature), y)
    at_bound = min(abs(math.log(temperature / b)) for b in BOUNDS) < 1e-3
    log(f"calibration: temperature {temperature:.4f} fitted on {len(val_rows)} validation "
        f"segments (validation NLL {before:.4f} -> {after:.4f})"
        f"{' at the bound of ' + str(BOUNDS) if at_bound else ''}", dist)
    return {"temperature": temperature,
            "temperature_fit": {"val_segments": int(len(val_rows)), "val_nll": before,
                                "val_nll_calibrated": after,
                                "validation": fitted_on(task, val_rows, probs)}}


def fitted_on(task, rows, probs) -> dict:
    """What T was fitted on, for the report to refit it: the rows' segment ids, label
    columns and probabilities (float64: JSON keeps every bit)."""
    return {"segment_id": [str(s) for s in task.frame["segment_id"].to_numpy()[rows]],
            "y": [int(v) for v in task.y[rows]], "probabilities": probs.tolist()}


def test_scores(job: dict, predictions) -> dict:
    """metrics.json's test figures (kemdy.train.loop.score_test); with calibrate: temperature
    the temperature is fitted first, on the validation rows (`fit`), and the calibrated
    probabilities' figures, the temperature and its fit join them."""
    cal = fit(job)
    return {**score_test(job["task"], predictions, cal.get("temperature")), **cal}
