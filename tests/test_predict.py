"""predict.py: an exported model classifies a recording as it did in training, folds average,
two-stage models predict through both stages, bad input gets the project's clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import predict
import train
from kemdy.classes import CLASSES
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.errors import InputError, run_cli
from kemdy.train.two_stage import combine

BASE = {"epochs": 2, "lr": 3e-3, "batch_size": 8, "max_len": 32, "patience": 5, "seed": 3,
        "audio_seconds": 0.6, "freeze_feature_encoder": False}
MM = {**BASE, "modality": "text+audio", "loss": "ce", "va_weight": 0.5}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return toy_workspace(tmp_path_factory.mktemp("ws"), n_sessions=3, per_session=12)


@pytest.fixture(scope="module")
def trained(ws, tmp_path_factory):
    """mm (with valence/arousal, frozen audio) on folds 0 and 1, and a two-stage text model."""
    base = tmp_path_factory.mktemp("runs")
    out = {}
    for fold in (0, 1):
        spec = {**MM, "freeze_audio": True}
        train.main(train_args(ws, base / f"mm{fold}", "mm", spec, fold=fold))
        out[f"mm{fold}"] = base / f"mm{fold}"
    two = {**BASE, "modality": "text", "loss": "soft_bce", "two_stage": True}
    for stage in (1, 2):
        train.main(train_args(ws, base / f"two{stage}", "two", two, stage=stage))
    (base / "two").mkdir()
    for stage in (1, 2):
        os.rename(base / f"two{stage}" / "model", base / "two" / f"stage{stage}")
    out["two"] = base
    return out


def segment(ws, run_dir, k=0) -> tuple[str, str, str]:
    """(segment id, wav path, text) of the k-th test segment of a run."""
    sid = pd.read_csv(run_dir / "out" / "predictions.csv")["segment_id"].iloc[k]
    data = pd.read_csv(ws["data"]).set_index("segment_id")
    return sid, os.path.join(ws["root"], data.loc[sid, "wav_path"]), data.loc[sid, "text"]


def cli(capsys, *args) -> dict:
    predict.main(list(map(str, args)))
    return json.loads(capsys.readouterr().out)


def test_an_exported_model_scores_a_recording_as_it_did_in_training(ws, trained, capsys):
    run = trained["mm0"]
    preds = pd.read_csv(run / "out" / "predictions.csv").set_index("segment_id")
    for k in range(3):
        sid, wav, text = segment(ws, run, k)
        out = cli(capsys, "--model", run / "model", "--wav", wav, "--text", text)
        assert list(out["probabilities"]) == CLASSES
        assert sum(out["probabilities"].values()) == pytest.approx(1.0)
        got = np.array([out["probabilities"][c] for c in CLASSES])
        want = preds.loc[sid, [f"prob_{c}" for c in CLASSES]].to_numpy(dtype=float)
        assert got == pytest.approx(want, abs=1e-5)
        assert out["emotion"] == preds.loc[sid, "pred"]
        assert out["valence"] == pytest.approx(preds.loc[sid, "pred_valence"], abs=1e-4)
        assert out["arousal"] == pytest.approx(preds.loc[sid, "pred_arousal"], abs=1e-4)


def test_folds_average_and_a_table_gives_one_row_per_item(ws, trained, capsys, tmp_path):
    sid, wav, text = segment(ws, trained["mm0"])
    singles = [cli(capsys, "--model", trained[f"mm{k}"] / "model", "--wav", wav, "--text", text)
               for k in (0, 1)]
    both = cli(capsys, "--model", trained["mm0"] / "model", trained["mm1"] / "model",
               "--wav", wav, "--text", text)
    for c in CLASSES:
        mean = (singles[0]["probabilities"][c] + singles[1]["probabilities"][c]) / 2
        assert both["probabilities"][c] == pytest.approx(mean, rel=1e-6)
    table = tmp_path / "new.csv"
    pd.DataFrame({"wav": [wav, wav], "text": [text, "다른 문장이에요"]}).to_csv(table, index=False)
    predict.main(["--model", str(trained["mm0"] / "model"), "--csv", str(table), "--out",
                  str(tmp_path / "out.csv")])
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:3]) == ["wav", "text", "emotion"] and len(out) == 2
    assert np.allclose(out[[f"prob_{c}" for c in CLASSES]].sum(1), 1.0)
    assert out.loc[0, "prob_neutral"] == pytest.approx(singles[0]["probabilities"]["neutral"])


def test_a_two_stage_model_predicts_through_both_stages(ws, trained, capsys):
    base = trained["two"]
    p1 = pd.read_csv(base / "two1" / "out" / "predictions.csv")
    p2 = pd.read_csv(base / "two2" / "out" / "predictions.csv")
    combined = combine(p1, p2, 0.5).set_index("segment_id")
    for k in range(3):
        sid, wav, text = segment(ws, base / "two1", k)
        out = cli(capsys, "--model", base / "two", "--text", text)
        got = np.array([out["probabilities"][c] for c in CLASSES])
        want = combined.loc[sid, [f"prob_{c}" for c in CLASSES]].to_numpy(dtype=float)
        assert got == pytest.approx(want, abs=1e-5) and out["emotion"] == combined.loc[sid, "pred"]


def bad_wav(tmp_path, kind) -> str:
    path = tmp_path / f"{kind}.wav"
    rate, channels = (22050, 1) if kind == "rate" else (16000, 2)
    sf.write(path, np.zeros((8000, channels), np.float32), rate, subtype="PCM_16")
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("rate", "sample rate 22050 Hz, the model expects 16000 Hz"),
    ("stereo", "2 channels, expected mono"),
    ("empty_text", "empty transcript"),
    ("not_a_model", "not an exported model"),
])
def test_bad_input_is_a_clear_error(ws, trained, capsys, tmp_path, case, message):
    model = tmp_path if case == "not_a_model" else trained["mm0"] / "model"
    _, wav, text = segment(ws, trained["mm0"])
    if case in ("rate", "stereo"):
        wav = bad_wav(tmp_path, case)
    with pytest.raises(SystemExit) as exit_:
        run_cli(predict.main, ["--model", str(model), "--wav", wav,
                               "--text", " " if case == "empty_text" else text])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Fix:" in err
