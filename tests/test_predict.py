"""predict.py: an exported model classifies a recording as it did in training, from any
directory, folds average, two-stage models predict through both stages; a stage alone, models
that must not be averaged, another encoder and bad input get the project's clear errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from torch import no_grad as torch_no_grad

import predict
import train
from kemdy.classes import CLASSES
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.errors import InputError, run_cli
from kemdy.train.encoders import encoder_fingerprint, load_audio_encoder, load_text_encoder
from kemdy.train.export import read_weights, write_export
from kemdy.train.two_stage import combine

BASE = {"epochs": 2, "lr": 3e-3, "batch_size": 8, "max_len": 32, "patience": 5, "seed": 3,
        "audio_seconds": 0.6, "freeze_feature_encoder": False}
MM = {**BASE, "modality": "text+audio", "loss": "ce", "va_weight": 0.5}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return toy_workspace(tmp_path_factory.mktemp("ws"), n_sessions=3, per_session=12)


def relative_encoders(ws) -> tuple[Path, dict]:
    """(the workspace folder, its paths with the encoders relative to it), as a config names
    them relative to the run directory (results/encoders/text)."""
    home = Path(ws["text"]).parents[1]
    return home, {**ws, "text": os.path.relpath(ws["text"], home),
                  "audio_encoder": os.path.relpath(ws["audio_encoder"], home)}


def train_in(home, argv) -> None:
    """train.py run from `home` (the run directory); the tests predict from elsewhere."""
    cwd = os.getcwd()
    os.chdir(home)
    try:
        train.main(argv)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def trained(ws, tmp_path_factory):
    """mm (with valence/arousal, frozen audio) on folds 0 and 1, and a two-stage text model,
    trained with the encoders named relative to the workspace, predicted from elsewhere."""
    base = tmp_path_factory.mktemp("runs")
    home, paths = relative_encoders(ws)
    out = {}
    for fold in (0, 1):
        spec = {**MM, "freeze_audio": True}
        train_in(home, train_args(paths, base / f"mm{fold}", "mm", spec, fold=fold))
        out[f"mm{fold}"] = base / f"mm{fold}"
    two = {**BASE, "modality": "text", "loss": "soft_bce", "two_stage": True}
    for stage in (1, 2):
        train_in(home, train_args(paths, base / f"two{stage}", "two", two, stage=stage))
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


def refused(capsys, *args) -> str:
    """The ERROR line of a predict.py call that must be refused (exit 2, no traceback)."""
    with pytest.raises(SystemExit) as exit_:
        run_cli(predict.main, list(map(str, args)))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and "Fix:" in err
    return err


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
    """A wav ingest refuses: another rate, stereo, 32-bit float, or cut off mid-data."""
    path = tmp_path / f"{kind}.wav"
    rate, channels = (22050, 1) if kind == "rate" else (16000, 2 if kind == "stereo" else 1)
    subtype = "FLOAT" if kind == "float" else "PCM_16"
    sf.write(path, np.full((8000, channels), 0.1, np.float32), rate, subtype=subtype)
    if kind == "truncated":
        path.write_bytes(path.read_bytes()[:-4000])
    return str(path)


@pytest.mark.parametrize("case, message", [
    ("rate", "sample rate 22050 Hz, expected 16000 Hz"),
    ("stereo", "2 channels, expected mono"),
    ("float", "sample format FLOAT, expected 16-bit PCM"),
    ("truncated", "truncated wav: the data chunk declares 16000 bytes, the file holds 12000"),
    ("empty_text", "empty transcript"),
    ("not_utf8", "--text: not UTF-8 text"),
    ("not_a_model", "not an exported model"),
    ("damaged_card", "model.json: missing ['spec']"),
])
def test_bad_input_is_a_clear_error(ws, trained, capsys, tmp_path, case, message):
    model = tmp_path if case == "not_a_model" else trained["mm0"] / "model"
    if case == "damaged_card":
        model = edited_copy(model, tmp_path / "damaged")
        card = json.loads((model / "model.json").read_text())
        (model / "model.json").write_text(json.dumps({k: v for k, v in card.items()
                                                      if k != "spec"}))
    _, wav, text = segment(ws, trained["mm0"])
    if case in ("rate", "stereo", "float", "truncated"):
        wav = bad_wav(tmp_path, case)
    # argv bytes that are not UTF-8 reach Python as surrogate escapes
    text = {"empty_text": " ", "not_utf8": text + b"\xb3\xbb".decode("utf-8", "surrogateescape")
            }.get(case, text)
    err = refused(capsys, "--model", model, "--wav", wav, "--text", text)
    assert message in err
    if case == "not_a_model":  # the fold folder, also of a two-stage variant, not a stage
        assert "stage1/stage2" not in err and "fold<k>" in err


@pytest.mark.parametrize("stage", [1, 2])
def test_a_stage_folder_alone_is_refused_naming_the_folder_to_pass(ws, trained, capsys, stage):
    # stage 2 alone was scored as seven classes shifted by one; stage 1 as if two were seven
    _, _, text = segment(ws, trained["two"] / "two1")
    err = refused(capsys, "--model", trained["two"] / "two" / f"stage{stage}", "--text", text)
    assert f"stage {stage} of the two-stage variant two alone" in err
    assert f"pass the folder that holds both stages: {trained['two'] / 'two'}" in err


def edited_copy(model: Path, to: Path, exported: bool = True, **changes) -> Path:
    """A copy of an exported model whose model.json has other top-level or spec values:
    `exported` as such (its weights' digest matches, as a real export of those values'
    would), else edited by hand after export."""
    card = json.loads((model / "model.json").read_text())
    card["spec"].update(changes.pop("spec", {}))
    card.update(changes)
    if exported:
        write_export(to, read_weights(model), {k: v for k, v in card.items() if k != "format"})
    else:
        shutil.copytree(model, to)
        (to / "model.json").write_text(json.dumps(card))
    return to


@pytest.mark.parametrize("case, message", [
    ("two_stages_as_two_models", "stage 1 of the two-stage variant two alone"),
    ("two_stage_and_one_stage", "cannot be averaged with {first}: a one-stage model and a "
                                "two-stage one"),
    ("other_variant", "cannot be averaged with {first}: variant text_ce, not mm"),
    ("other_spec", "cannot be averaged with {first}: spec key lr is 0.1, not 0.003"),
    ("same_fold_twice", "given twice"),
])
def test_models_that_must_not_be_averaged_are_refused(ws, trained, capsys, tmp_path, case,
                                                      message):
    two, mm0, mm1 = trained["two"] / "two", trained["mm0"] / "model", trained["mm1"] / "model"
    models = {"two_stages_as_two_models": lambda: [two / "stage1", two / "stage2"],
              "two_stage_and_one_stage": lambda: [two, mm0],
              "other_variant": lambda: [mm0, edited_copy(mm1, tmp_path / "m", variant="text_ce")],
              "other_spec": lambda: [mm0, edited_copy(mm1, tmp_path / "m", spec={"lr": 0.1})],
              "same_fold_twice": lambda: [mm0, mm0]}[case]()
    _, wav, text = segment(ws, trained["mm0"])
    err = refused(capsys, "--model", *models, "--wav", wav, "--text", text)
    assert message.format(first=models[0]) in err


def test_model_json_names_its_encoders_for_any_directory(ws, trained, capsys, tmp_path,
                                                         monkeypatch):
    card = json.loads((trained["mm0"] / "model" / "model.json").read_text())
    home, paths = relative_encoders(ws)
    extractor, encoder = load_audio_encoder(ws["audio_encoder"])
    assert card["encoders"]["audio"] == {
        "name": paths["audio_encoder"], "path": os.path.abspath(ws["audio_encoder"]),
        "fingerprint": encoder_fingerprint(ws["audio_encoder"], encoder, extractor)}
    assert card["encoders"]["text"]["name"] == paths["text"] and not os.path.isabs(paths["text"])
    monkeypatch.chdir(tmp_path)  # neither the training directory nor the repository
    sid, wav, text = segment(ws, trained["mm0"])
    out = cli(capsys, "--model", trained["mm0"] / "model", "--wav", wav, "--text", text)
    want = pd.read_csv(trained["mm0"] / "out" / "predictions.csv").set_index("segment_id")
    assert out["probabilities"]["happy"] == pytest.approx(want.loc[sid, "prob_happy"], abs=1e-5)


def test_an_encoders_fingerprint_is_not_where_or_how_it_was_loaded(ws, tmp_path):
    # training loads `results/encoders/text` under HF_HUB_OFFLINE=1; predict.py may load the
    # same encoder by its absolute path, online: model.json's fingerprint must match
    from transformers import AutoTokenizer

    shutil.copytree(ws["text"], tmp_path / "moved")
    tokenizer, encoder = load_text_encoder(ws["text"])
    offline = AutoTokenizer.from_pretrained(str(tmp_path / "moved"), local_files_only=True)
    _, moved = load_text_encoder(str(tmp_path / "moved"))
    assert (encoder_fingerprint(ws["text"], encoder, tokenizer)
            == encoder_fingerprint("moved", moved, offline))


def test_a_moved_or_other_encoder_is_refused_naming_the_model_and_what_to_do(ws, capsys,
                                                                             tmp_path):
    # a model of its own: its audio encoder is moved, then rebuilt with other weights
    home = tmp_path / "run"
    shutil.copytree(Path(ws["audio_encoder"]), home / "enc")
    spec = {**BASE, "modality": "audio", "loss": "ce", "epochs": 1, "freeze_audio": True}
    train_in(home, train_args({**ws, "audio_encoder": "enc"}, home, "audio_ce", spec))
    model = home / "model"
    sid, wav, _ = segment(ws, home)
    before = cli(capsys, "--model", model, "--wav", wav, "--text", "x")
    os.rename(home / "enc", home / "moved")
    err = refused(capsys, "--model", model, "--wav", wav, "--text", "x")
    assert f"{model}: its audio encoder {home / 'enc'} is missing (moved or deleted)" in err
    assert "--audio-encoder FOLDER" in err
    moved = cli(capsys, "--model", model, "--wav", wav, "--text", "x",
                "--audio-encoder", home / "moved")
    assert moved == before
    extractor, encoder = load_audio_encoder(str(home / "moved"))
    with torch_no_grad():  # same shapes, other weights, at the recorded place
        next(encoder.parameters()).add_(0.01)
    encoder.save_pretrained(home / "enc")
    extractor.save_pretrained(home / "enc")
    err = refused(capsys, "--model", model, "--wav", wav, "--text", "x")
    assert f"{model}: its audio encoder {home / 'enc'} is not the one it was trained with" in err
    assert "--audio-encoder FOLDER" in err and f"snakemake --cores 2 -f {model}" in err


def test_a_hub_encoder_missing_from_the_cache_is_refused_naming_it(ws, trained, capsys,
                                                                   tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as predict.py
    model = tmp_path / "fold0"
    shutil.copytree(trained["mm0"] / "model", model)
    card = json.loads((model / "model.json").read_text())
    card["encoders"]["text"].update(name="no-such-org/no-such-encoder", path=None)
    (model / "model.json").write_text(json.dumps(card))
    _, wav, text = segment(ws, trained["mm0"])
    err = refused(capsys, "--model", model, "--wav", wav, "--text", text)
    assert f"{model}: cannot load its text encoder no-such-org/no-such-encoder" in err
    assert "--text-encoder FOLDER" in err and "HF_HUB_OFFLINE=0" in err


def test_a_truncated_export_is_the_projects_error_in_the_rules_command(trained, capsys,
                                                                      tmp_path):
    model = tmp_path / "fold0"
    shutil.copytree(trained["mm0"] / "model", model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    (tmp_path / "new.csv").write_text("wav,text\na.wav,안녕\n", encoding="utf-8")
    # the `predict` rule's command line (scripts/predict.py runs main through run_cli; a
    # subprocess would add only seconds of imports to the suite)
    err = refused(capsys, "--model", model, "--csv", tmp_path / "new.csv", "--out",
                  tmp_path / "out.csv", "--threads", 1)
    assert f"ERROR: {weights}: unreadable, truncated or damaged" in err
    assert "Fix: re-run the training job that exports it" in err
    assert not (tmp_path / "out.csv").exists()


# -- dialogue context ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_context(ws, tmp_path_factory):
    """A text+audio model trained with 3 turns of dialogue context (its card records it)."""
    run = tmp_path_factory.mktemp("ctx")
    home, paths = relative_encoders(ws)
    spec = {**MM, "freeze_audio": True, "context_turns": 3}
    train_in(home, train_args({**paths, "segments": os.path.abspath(ws["segments"])}, run,
                              "ctx", spec))
    return run


def turns_before(ws, sid, k=3) -> list[str]:
    seg = pd.read_csv(ws["segments"]).sort_values(["session", "script", "turn"])
    dialogue = seg[(seg["session"] == seg.set_index("segment_id").loc[sid, "session"])]
    at = dialogue["segment_id"].tolist().index(sid)
    return dialogue["text"].tolist()[max(0, at - k): at]


def test_a_context_model_scores_with_its_context_as_in_training(ws, with_context, capsys,
                                                                tmp_path):
    card = json.loads((with_context / "model" / "model.json").read_text())
    assert card["spec"]["context_turns"] == 3
    preds = pd.read_csv(with_context / "out" / "predictions.csv").set_index("segment_id")
    probs = [f"prob_{c}" for c in CLASSES]
    rows = []
    for k in (1, 4, 7):
        sid, wav, text = segment(ws, with_context, k)
        context = turns_before(ws, sid)
        assert context
        older = ["지난 말"] if len(context) == 3 else []  # beyond the 3 turns: not read
        extra = [a for turn in [*older, *context] for a in ("--context", turn)]
        out = cli(capsys, "--model", with_context / "model", "--wav", wav, "--text", text, *extra)
        got = np.array([out["probabilities"][c] for c in CLASSES])
        assert got == pytest.approx(preds.loc[sid, probs].to_numpy(dtype=float), abs=1e-5)
        rows.append({"wav": wav, "text": text, "context": json.dumps(context, ensure_ascii=False),
                     "want": got})
    assert max(len(json.loads(r["context"])) for r in rows) == 3  # an older turn was dropped
    table = tmp_path / "dialogue.csv"
    pd.DataFrame(rows).drop(columns="want").to_csv(table, index=False)
    predict.main(["--model", str(with_context / "model"), "--csv", str(table), "--out",
                  str(tmp_path / "out.csv")])
    out = pd.read_csv(tmp_path / "out.csv")
    assert "context" in out.columns
    assert np.abs(out[probs].to_numpy() - np.stack([r["want"] for r in rows])).max() < 1e-6


def test_context_missing_warns_and_context_for_a_model_without_it_is_refused(
        ws, trained, with_context, capsys, tmp_path):
    sid, wav, text = segment(ws, with_context, 4)
    alone = cli(capsys, "--model", with_context / "model", "--wav", wav, "--text", text)
    predict.main(["--model", str(with_context / "model"), "--wav", wav, "--text", text])
    assert "scored as the first turn of a dialogue" in capsys.readouterr().err
    first = cli(capsys, "--model", with_context / "model", "--wav", wav, "--text", text,
                "--context", " ")  # empty turns are no turns
    assert first["probabilities"] == alone["probabilities"]
    err = refused(capsys, "--model", trained["mm0"] / "model", "--wav", wav, "--text", text,
                  "--context", "앞의 말")
    assert "--context" in err and "without dialogue context" in err
    table = tmp_path / "bad.csv"
    pd.DataFrame({"wav": [wav], "text": [text], "context": ["앞의 말"]}).to_csv(table, index=False)
    err = refused(capsys, "--model", with_context / "model", "--csv", table)
    assert "not a JSON list of strings" in err and "row 2" in err


# -- issue 30: what a new user meets ------------------------------------------------------


def test_a_repeated_model_flag_takes_every_folder(ws, trained, capsys, tmp_path):
    # `--model A --model B` kept only B: now both, averaged and checked as one ensemble
    mm0, mm1 = trained["mm0"] / "model", trained["mm1"] / "model"
    _, wav, text = segment(ws, trained["mm0"])
    both = cli(capsys, "--model", mm0, mm1, "--wav", wav, "--text", text)
    assert cli(capsys, "--model", mm0, "--model", mm1, "--wav", wav, "--text", text) == both
    other = edited_copy(mm1, tmp_path / "other", variant="text_ce")
    err = refused(capsys, "--model", mm0, "--model", other, "--wav", wav, "--text", text)
    assert f"cannot be averaged with {mm0}: variant text_ce, not mm" in err


@pytest.fixture(scope="module")
def audio_only(ws, tmp_path_factory):
    run = tmp_path_factory.mktemp("audio")
    home, paths = relative_encoders(ws)
    spec = {**BASE, "modality": "audio", "loss": "ce", "epochs": 1, "freeze_audio": True}
    train_in(home, train_args(paths, run, "audio_ce", spec))
    return run


def test_an_audio_only_model_needs_no_transcript_and_a_text_model_names_it(
        ws, trained, audio_only, capsys, tmp_path):
    preds = pd.read_csv(audio_only / "out" / "predictions.csv").set_index("segment_id")
    sid, wav, _ = segment(ws, audio_only)
    out = cli(capsys, "--model", audio_only / "model", "--wav", wav)
    got = np.array([out["probabilities"][c] for c in CLASSES])
    assert got == pytest.approx(preds.loc[sid, [f"prob_{c}" for c in CLASSES]].to_numpy(float),
                                abs=1e-5)
    table = tmp_path / "wavs.csv"  # a table of recordings alone
    pd.DataFrame({"wav": [wav]}).to_csv(table, index=False)
    predict.main(["--model", str(audio_only / "model"), "--csv", str(table),
                  "--out", str(tmp_path / "out.csv")])
    assert pd.read_csv(tmp_path / "out.csv")["prob_happy"][0] == pytest.approx(
        out["probabilities"]["happy"])
    err = refused(capsys, "--model", trained["mm0"] / "model", "--wav", wav)
    assert "--text: this model reads the transcript" in err
    err = refused(capsys, "--model", trained["mm0"] / "model", "--csv", table)
    assert "text" in err and "column" in err


@pytest.fixture(scope="module")
def seeded(ws, tmp_path_factory):
    """A text variant's fold 0 trained with seeds 1 and 2 as the workflow lays them out
    (models/seeded/fold0/seed{s}), each told that its variant varies in seed."""
    base = tmp_path_factory.mktemp("seeded")
    home, paths = relative_encoders(ws)
    fold = base / "seeded" / "fold0"
    fold.mkdir(parents=True)
    for seed in (1, 2):
        spec = {**BASE, "modality": "text", "loss": "ce", "epochs": 1, "seed": seed}
        train_in(home, train_args(paths, base / f"s{seed}", "seeded", spec)
                 + ["--varies", "seed"])
        os.rename(base / f"s{seed}" / "model", fold / f"seed{seed}")
    return fold


def test_a_several_seed_fold_folder_averages_its_seeds_without_vary(ws, seeded, capsys,
                                                                    tmp_path):
    # was refused as "not an exported model" with that very folder as the fix
    card = json.loads((seeded / "seed1" / "model.json").read_text())
    assert card["varies"] == ["seed"] and card["spec"]["seed"] == 1
    _, _, text = segment(ws, seeded.parents[1] / "s1")
    fold = cli(capsys, "--model", seeded, "--text", text)
    singles = [cli(capsys, "--model", seeded / f"seed{s}", "--text", text) for s in (1, 2)]
    assert cli(capsys, "--model", seeded / "seed1", seeded / "seed2", "--text", text) == fold
    for c in CLASSES:
        mean = (singles[0]["probabilities"][c] + singles[1]["probabilities"][c]) / 2
        assert fold["probabilities"][c] == pytest.approx(mean, rel=1e-6)
    err = refused(capsys, "--model", seeded.parent, "--text", text)  # the variant's folder
    assert "a variant's folder, not one model" in err and f"{seeded.parent}/fold*" in err
    stale = tmp_path / "fold0"  # a plain model left beside seed folders (seeds changed)
    shutil.copytree(seeded / "seed1", stale)
    shutil.copytree(seeded, stale, dirs_exist_ok=True)
    err = refused(capsys, "--model", stale, "--text", text)
    assert f"{stale}: holds a model and the models of seeds seed1, seed2" in err
    assert f"{stale}/seed*" in err


def test_a_swept_variants_folds_average_as_their_model_json_says(ws, trained, capsys,
                                                                 tmp_path):
    # the folds of a sweep chose other lr values: refused unless --vary lr, although passed
    # exactly as exported; model.json's `varies` now says lr may differ
    mm0, mm1 = trained["mm0"] / "model", trained["mm1"] / "model"
    _, wav, text = segment(ws, trained["mm0"])
    a = edited_copy(mm0, tmp_path / "sw" / "fold0", varies=["lr"])
    b = edited_copy(mm1, tmp_path / "sw" / "fold1", varies=["lr"], spec={"lr": 0.002})
    swept = cli(capsys, "--model", a, b, "--wav", wav, "--text", text)
    # exported before `varies`: refused, saying how to pass them; --vary still works
    old = edited_copy(mm1, tmp_path / "old", spec={"lr": 0.002})
    err = refused(capsys, "--model", mm0, old, "--wav", wav, "--text", text)
    assert "spec key lr is 0.002, not 0.003" in err and "add --vary lr" in err
    assert cli(capsys, "--model", mm0, old, "--wav", wav, "--text", text,
               "--vary", "lr") == swept
    # a key the cards do not record as varying is still refused
    c = edited_copy(mm1, tmp_path / "sw" / "fold2", varies=["lr"], spec={"dropout": 0.5})
    err = refused(capsys, "--model", a, c, "--wav", wav, "--text", text)
    assert "spec key dropout is 0.5" in err


@pytest.mark.parametrize("key", ["not_a_key", "modality"])
def test_vary_names_only_keys_a_variants_models_may_differ_in(ws, trained, capsys, key):
    _, wav, text = segment(ws, trained["mm0"])
    err = refused(capsys, "--model", trained["mm0"] / "model", "--wav", wav, "--text", text,
                  "--vary", "seed", key)
    assert f"--vary: {key}: not a key a variant's models may differ in" in err
    assert "give seed" in err


def test_an_edited_model_json_is_refused_and_an_older_export_noted(ws, trained, capsys,
                                                                  tmp_path):
    # loss ce -> soft_bce by hand: the same logits read as other probabilities, silently
    _, wav, text = segment(ws, trained["mm0"])
    model = trained["mm0"] / "model"
    edited = edited_copy(model, tmp_path / "edited", exported=False, spec={"loss": "soft_bce"})
    err = refused(capsys, "--model", edited, "--wav", wav, "--text", text)
    assert f"{edited / 'model.json'}: edited after export" in err
    assert "restore the model.json exported with these weights" in err
    # an export from before the digest: predicted as before, with a note
    old = tmp_path / "old"
    shutil.copytree(model, old)
    from safetensors.torch import save_file
    save_file(read_weights(model), str(old / "model.safetensors"))  # no metadata
    assert cli(capsys, "--model", old, "--wav", wav, "--text", text) == \
        cli(capsys, "--model", model, "--wav", wav, "--text", text)
    predict.main(["--model", str(old), "--wav", wav, "--text", text])
    assert "exported before model.json's digest" in capsys.readouterr().err


def test_context_beyond_what_the_model_reads_is_noted(ws, with_context, capsys, tmp_path):
    sid, wav, text = segment(ws, with_context, 4)
    six = [f"말 {i}" for i in range(6)]
    predict.main(["--model", str(with_context / "model"), "--wav", wav, "--text", text,
                  *[a for t in six for a in ("--context", t)]])
    assert ("note: these models read the last 3 previous turns; 6 were given: the oldest 3 "
            "are not read") in capsys.readouterr().err
    table = tmp_path / "ctx.csv"
    pd.DataFrame({"wav": [wav, wav], "text": [text, text],
                  "context": [json.dumps(six, ensure_ascii=False), "[]"]}).to_csv(table,
                                                                               index=False)
    predict.main(["--model", str(with_context / "model"), "--csv", str(table),
                  "--out", str(tmp_path / "out.csv")])
    assert "1 of 2 rows give more (up to 6)" in capsys.readouterr().err


def test_train_refuses_a_varies_key_that_is_not_in_the_spec_before_training(ws, tmp_path):
    spec = {**BASE, "modality": "text", "loss": "ce"}
    with pytest.raises(InputError, match="not_a_key: not a spec key"):
        train.main(train_args(ws, tmp_path, "v", spec) + ["--varies", "seed", "not_a_key"])
    assert not (tmp_path / "model").exists() and not (tmp_path / "ckpt").exists()


@pytest.fixture(scope="module")
def calibrated(ws, tmp_path_factory):
    """A text model trained with calibrate: temperature (its model.json records T)."""
    run = tmp_path_factory.mktemp("cal")
    home, paths = relative_encoders(ws)
    spec = {**BASE, "modality": "text", "loss": "ce", "calibrate": "temperature"}
    train_in(home, train_args(paths, run, "cal", spec))
    return run


def test_predict_gives_a_calibrated_models_calibrated_probabilities(ws, calibrated, capsys,
                                                                    tmp_path):
    """softmax(logits / T) with the model.json's T: predictions.csv's raw probabilities
    scaled as the report scales them; the emotion unchanged."""
    from kemdy.metrics import temperature_scaled
    from kemdy.predict import batch_for, load_stage
    from kemdy.train.export import read_card

    folder = calibrated / "model"
    card = read_card(folder)
    t = card["temperature"]
    assert t > 0 and abs(t - 1.0) > 1e-3  # a temperature that moves the probabilities
    preds = pd.read_csv(calibrated / "out" / "predictions.csv").set_index("segment_id")
    stage = load_stage(folder, card)
    for k in range(3):
        sid, _, text = segment(ws, calibrated, k)
        out = cli(capsys, "--model", folder, "--text", text)
        got = np.array([out["probabilities"][c] for c in CLASSES])
        raw = preds.loc[sid, [f"prob_{c}" for c in CLASSES]].to_numpy(dtype=float)
        assert got == pytest.approx(temperature_scaled(raw, t), abs=1e-5)
        assert not np.allclose(got, raw, atol=1e-4)
        with torch_no_grad():
            logits, _ = stage.model(batch_for(stage, text, None, "cpu")[0])
        scaled = (logits[0].double() / t).softmax(-1).numpy()
        assert got == pytest.approx(scaled, abs=1e-6)
        assert out["emotion"] == preds.loc[sid, "pred"]
    # an edited temperature is refused (model.json's digest covers it); a bad one named
    _, _, text = segment(ws, calibrated)
    edited = edited_copy(folder, tmp_path / "edited", exported=False, temperature=2 * t)
    assert "edited after export" in refused(capsys, "--model", edited, "--text", text)
    bad = edited_copy(folder, tmp_path / "bad", temperature=-1.0)
    assert "temperature -1.0 is not a positive number" in refused(capsys, "--model", bad,
                                                                  "--text", text)
