"""calibrate: temperature (kemdy/train/calibration.py): the fit finds the NLL's minimum, uses
the validation rows only, and the spec refuses it where one temperature cannot apply."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kemdy.errors import InputError
from kemdy.metrics import nll, temperature_scaled
from kemdy.protocol import check_sweep
from kemdy.spec import CALIBRATIONS, DEFAULTS, IDENTITY_KEYS, identity, resolve
from kemdy.train import calibration
from kemdy.temperature import BOUNDS, fit_temperature


def overconfident(n: int, sharpen: float, seed: int = 0, k: int = 5):
    """(model probabilities, labels): labels drawn from softmax(z), the model says
    softmax(sharpen x z), so the temperature that undoes it is `sharpen`."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, k))
    true = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=p) for p in true])
    model = np.exp(sharpen * z) / np.exp(sharpen * z).sum(1, keepdims=True)
    return model, y


def test_the_fitted_temperature_undoes_over_and_under_confidence():
    for sharpen in (3.0, 0.5):
        probs, y = overconfident(6000, sharpen)
        t = fit_temperature(probs, y)
        assert t == pytest.approx(sharpen, rel=0.08)
        # the minimum of the validation NLL, to the search's tolerance
        at = nll(temperature_scaled(probs, t), y)
        for step in (1.01, 1 / 1.01):
            assert at <= nll(temperature_scaled(probs, t * step), y) + 1e-12
        assert at < nll(probs, y)
        assert fit_temperature(probs, y) == t  # deterministic


def test_a_fit_beyond_the_bounds_stops_at_the_bound():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]] * 10)
    y = np.array([0, 1] * 10)  # always right: the sharper the better
    assert fit_temperature(probs, y) == pytest.approx(BOUNDS[0], rel=1e-5)


def fake_job(probs_by_row: np.ndarray, y: np.ndarray, parts: list[str], calibrate="temperature"):
    """What calibration.fit reads of a training job; `predict` is replaced by a lookup."""
    parts = np.asarray(parts)
    rows = tuple(np.flatnonzero(parts == p) for p in ("train", "val", "test"))
    task = SimpleNamespace(y=y, classes=[f"c{j}" for j in range(probs_by_row.shape[1])],
                           stage=None, frame=pd.DataFrame(
                               {"segment_id": [f"Sess01_script01_{i:03d}" for i in range(len(y))]}))
    spec = {"calibrate": calibrate, "loss": "ce", "batch_size": 4}
    return {"spec": spec, "task": task, "dist": SimpleNamespace(main=True, rank=0, world=1),
            "rows": rows, "model": None, "inputs": None, "runtime": None, "windows": False,
            "cap": None}


def test_the_temperature_is_fitted_on_validation_rows_only(monkeypatch):
    probs, y = overconfident(900, 2.0, seed=1)
    parts = ["train"] * 300 + ["val"] * 300 + ["test"] * 300
    asked = []

    def predict(model, inputs, rows, *args, **kwargs):
        asked.append(np.asarray(rows))
        return probs[rows], None, 0.0

    monkeypatch.setattr(calibration, "predict", predict)
    job = fake_job(probs, y.copy(), parts)
    got = calibration.fit(job)
    assert [r.tolist() for r in asked] == [list(range(300, 600))]  # the validation rows
    assert got["temperature"] == fit_temperature(probs[300:600], y[300:600])
    assert got["temperature_fit"]["val_segments"] == 300
    # every test label changed: the same temperature
    changed = y.copy()
    changed[600:] = (changed[600:] + 1) % probs.shape[1]
    assert calibration.fit(fake_job(probs, changed, parts))["temperature"] == got["temperature"]
    # and a validation label changed does change it
    moved = y.copy()
    moved[300:400] = (moved[300:400] + 1) % probs.shape[1]
    assert calibration.fit(fake_job(probs, moved, parts))["temperature"] != got["temperature"]
    assert calibration.fit(fake_job(probs, y, parts, calibrate="none")) == {}


def test_the_report_refits_each_temperature_from_what_metrics_json_keeps(monkeypatch):
    from kemdy.report.calibration import check_temperature

    probs, y = overconfident(900, 2.0, seed=1)
    parts = ["train"] * 300 + ["val"] * 300 + ["test"] * 300
    monkeypatch.setattr(calibration, "predict", lambda m, i, rows, *a, **k: (probs[rows], None, 0))
    job = fake_job(probs, y, parts)
    got = json.loads(json.dumps(calibration.fit(job)))  # as metrics.json holds it
    kept = got["temperature_fit"]["validation"]
    assert kept["segment_id"] == list(job["task"].frame["segment_id"][300:600])
    assert kept["y"] == y[300:600].tolist() and np.array_equal(kept["probabilities"], probs[300:600])
    test_ids = job["task"].frame["segment_id"][600:]
    run = SimpleNamespace(metrics=got, fold=3, seed=None,
                          predictions=pd.DataFrame({"segment_id": test_ids}))
    notes = []
    check_temperature(run, "v", notes)
    assert notes == []  # refitted to the bit
    run.metrics = {**got, "temperature": got["temperature"] * (1 + 1e-3)}
    check_temperature(run, "v", notes)
    assert len(notes) == 1 and "v fold3: metrics.json's temperature" in notes[0]
    # a validation segment that is also a test segment: said, with one of them named
    run.metrics, notes = got, []
    run.predictions = pd.DataFrame({"segment_id": list(test_ids) + [kept["segment_id"][5]]})
    check_temperature(run, "v", notes)
    assert notes == [f"v fold3: its temperature was fitted on 1 test segments (e.g. "
                     f"{kept['segment_id'][5]}): rerun the job."]
    # a metrics.json written before the probabilities were kept: nothing to check, no note
    run.metrics = {"temperature": 1.5, "temperature_fit": {"val_segments": 300}}
    notes = []
    check_temperature(run, "v", notes)
    assert notes == []


def test_no_validation_rows_falls_back_to_1_with_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(calibration, "predict", lambda *a, **k: pytest.fail("nothing to score"))
    probs, y = overconfident(20, 2.0)
    got = calibration.fit(fake_job(probs, y, ["train"] * 10 + ["test"] * 10))
    assert got == {"temperature": 1.0, "temperature_fit": {"val_segments": 0}}
    assert "WARNING: calibrate temperature without validation segments" in capsys.readouterr().err


def test_the_schema_lists_the_calibrations():
    import yaml
    from pathlib import Path

    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "schemas/config.schema.yaml")
                            .read_text())
    assert tuple(schema["$defs"]["training"]["properties"]["calibrate"]["enum"]) == CALIBRATIONS


def test_the_spec_key_defaults_off_and_stays_out_of_a_jobs_identity():
    assert DEFAULTS["calibrate"] == "none" and "calibrate" not in IDENTITY_KEYS
    spec = resolve({"variants": {"v": {"modality": "text", "loss": "ce"}}}, "v")
    assert "calibrate" not in identity(spec)  # adding the key reruns no finished job
    on = resolve({"variants": {"v": {"modality": "text", "loss": "ce",
                                     "calibrate": "temperature"}}}, "v")
    assert identity(on)["calibrate"] == "temperature"
    # the resume state does not depend on it: training is the same either way
    assert calibration.training_spec(on) == calibration.training_spec(spec)


@pytest.mark.parametrize("keys, message", [
    ({"two_stage": True, "calibrate": "temperature"}, "calibrate temperature with two_stage true"),
    ({"calibrate": "platt"}, "calibrate 'platt'"),
])
def test_the_spec_refuses_what_one_temperature_cannot_do(keys, message):
    config = {"variants": {"v": {"modality": "text", "loss": "soft_bce", **keys}}}
    with pytest.raises(InputError, match=message) as err:
        resolve(config, "v")
    assert err.value.key == "variants.v.calibrate"


def test_a_sweep_over_calibrate_is_refused():
    spec = resolve({"variants": {"v": {"modality": "text", "loss": "ce"}}}, "v")
    with pytest.raises(InputError, match="never reads calibrate"):
        check_sweep("v", spec, {"calibrate": ["none", "temperature"]})


def test_temperature_1_changes_nothing():
    probs, _ = overconfident(30, 1.0)
    assert temperature_scaled(probs, 1.0) == pytest.approx(probs, abs=1e-12)
    assert math.isclose(temperature_scaled(probs, 1e3).max(), 1 / probs.shape[1], rel_tol=1e-2)
