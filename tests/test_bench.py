"""Tests of the benchmarks themselves: the aggregation benchmark on a small input, the
workflow benchmark's accounting on hand-written benchmark files and its quality check on
hand-written predictions, and tiny runs of the training, GPU and checkpoint benchmarks."""

import json

import numpy as np
import pandas as pd
import pytest

from bench.aggregate import run as run_aggregate
from bench.workflow import job_times, summarise
from kemdy.metrics import score_predictions


def test_job_times_and_efficiency(tmp_path):
    files = {"ingest.tsv": 2.0, "train/text_ce/fold0.tsv": 10.0, "train/mm/fold0.stage1.tsv": 6.0}
    for rel, seconds in files.items():
        path = tmp_path / "benchmarks" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"s": [seconds], "h:m:s": ["0:00:01"], "max_rss": [1.0]}).to_csv(path, sep="\t", index=False)
    jobs = job_times(tmp_path)
    assert sorted(jobs.rule) == ["ingest", "train", "train_stage"]
    result = summarise(jobs, wall=10.0, cores=2)
    assert result["job_seconds"] == pytest.approx(18.0)
    assert result["parallel_efficiency"] == pytest.approx(0.9)
    assert result["slowest_rules"][0]["rule"] == "train"


def test_bench_runs_and_writes_json(tmp_path, capsys):
    result = run_aggregate(tmp_path, n=600, subset=50, growth=(600, 1200))
    saved = json.loads((tmp_path / "aggregate.json").read_text())
    assert saved["same_labels_on_subset"] and saved["machine"]["cores"] >= 1
    assert [g["n_segments"] for g in saved["growth"]] == [600, 1200]
    assert result["implementations"][0]["scaled"]  # timed on 50, scaled to 600
    assert "speed-up" in capsys.readouterr().out


# The benchmarks that train run on tiny shapes here, so that a change to the loop they
# drive cannot leave them broken until someone has a GPU (their figures are not checked).

def test_train_benchmarks_run_on_a_tiny_corpus(tmp_path):
    from bench.train import run as run_train

    text = run_train("train-text", out_dir=tmp_path, n_segments=24, reps=1)
    audio = run_train("train-audio", out_dir=tmp_path, n_segments=12, reps=1)
    assert text["train_samples_per_s"]["ours"] > 0 and audio["epoch_seconds"]["ours"] > 0
    assert {p.name for p in tmp_path.iterdir()} == {"train-text.json", "train-audio.json"}


def test_gpu_benchmark_small_runs_on_cpu(tmp_path):
    from bench.gpu import run as run_gpu

    result = run_gpu(tmp_path, small=True, steps=1, batch_size=4)
    runs = {(r["model"], r["precision"], r["workers"]): r for r in result["runs"]}
    assert set(runs) == {("text", "float32", 1), ("mm", "float32", 1), ("mm", "float32", 0),
                         ("mm+wavlm-large", "float32", 1), ("mm+whisper-small", "float32", 1),
                         ("mm+whisper-large-v3", "float32", 1)}
    assert all(r["train_samples"] == 4 and r["train_samples_per_s"] > 0 for r in runs.values())
    # the workload is what is timed: no rows decoded for batches that never run
    assert all(r["eval_samples"] == 4 for r in runs.values())
    # wav2vec2-base (group norm, no mask): batched as alone, timed against one length each
    assert not runs[("mm", "float32", 1)]["eval_unpadded"]
    assert runs[("mm", "float32", 1)]["eval_one_length_samples_per_s"] > 0
    assert "eval_one_length_samples_per_s" not in runs[("mm+wavlm-large", "float32", 1)]
    # the text model's evaluation at 2x, 4x and 8x the training batch, the workflow's first
    assert list(runs[("text", "float32", 1)]["eval_samples_per_s_by_batch"]) == [8, 16, 32]
    # wavlm-large: layer-norm front end and an attention mask, padding-insensitive
    assert not runs[("mm+wavlm-large", "float32", 1)]["eval_unpadded"]
    assert not runs[("mm+whisper-small", "float32", 1)]["eval_unpadded"]  # own 30-s windows
    parameters = json.loads((tmp_path / "gpu.json").read_text())["parameters"]
    assert parameters["text"] > 0 and parameters["wavlm-large"] > 0


def test_the_shared_model_builder_keeps_a_frozen_encoder_out_as_the_workflow_does():
    """bench gpu, fusion, checkpoints and train-* build their models with geometry.model:
    an encoder is in the model while it trains, or frozen under a sequence fusion; else its
    vectors come in the batch (the embedding cache)."""
    from bench import geometry

    parts = geometry.encoders(small=True)
    text = geometry.model("text", parts)
    assert text.text_encoder is not None and text.audio_encoder is None and text.audio_dim == 0
    concat = geometry.model("mm", parts, {"freeze_text": True, "freeze_audio": True})
    assert concat.text_encoder is None and concat.audio_encoder is None and concat.audio_dim == 32
    seq = geometry.model("mm", parts, {"fusion": "cross_attention", "freeze_text": True,
                                       "freeze_audio": True, "attention_dim": 32,
                                       "attention_heads": 2})
    assert not any(p.requires_grad for p in seq.text_encoder.parameters())
    text_trained = geometry.model("mm", parts, {"freeze_audio": True})
    assert text_trained.audio_encoder is None
    assert all(p.requires_grad for p in text_trained.text_encoder.encoder.parameters())
    mm = geometry.model("mm", parts)  # wav2vec2's front end frozen, as configs/kemdy20.yaml
    assert not any(p.requires_grad for p in mm.audio_encoder.feature_extractor.parameters())
    assert all(p.requires_grad for p in mm.audio_encoder.encoder.parameters())


def test_checkpoint_benchmark_measures_real_files(tmp_path):
    from bench.checkpoints import run as run_checkpoints

    result = run_checkpoints(tmp_path, small=True)
    for kind, job in result["jobs"].items():
        before, after = job["before"], job["after"]
        # resume state: what trains + two moments; before: that plus the whole model again
        assert after["per_write"] < before["per_epoch"]
        assert after["per_write"] < after["per_write_new_best"] <= before["per_epoch"]
        # left: the exported weights, about a third of the resume state
        assert after["left_after_job"] < after["per_write"] / 2
    mm = result["jobs"]["mm"]
    assert mm["trainable"] < mm["parameters"]  # wav2vec2's front end is frozen, not saved
    grid = result["grid"]
    assert grid["after"]["left_after_grid"] < grid["before"]["left_after_grid"] / 3


def fake_run(root, preds: dict) -> None:
    """A finished run's results/: new_data.csv (sessions) and one fold's predictions per variant."""
    (root / "results/data").mkdir(parents=True)
    n = len(next(iter(preds.values()))[0])
    pd.DataFrame({"segment_id": [f"s{i}" for i in range(n)],
                  "session": [i % 6 + 1 for i in range(n)]}).to_csv(
        root / "results/data/new_data.csv", index=False)
    for variant, (label, pred) in preds.items():
        run = root / "results/runs" / variant / "fold0"
        run.mkdir(parents=True)
        frame = pd.DataFrame({"segment_id": [f"s{i}" for i in range(n)], "label": label, "pred": pred})
        frame.to_csv(run / "predictions.csv", index=False)
        metrics = {"variant": variant, "fold": 0, **score_predictions(frame)}
        (run / "metrics.json").write_text(json.dumps(metrics))


def test_quality_check_uses_pooled_macro_f1_and_session_intervals(tmp_path):
    from sklearn.metrics import f1_score

    from bench.quality import compare, pooled_intervals

    rng = np.random.default_rng(0)
    classes = np.array(["neutral", "happy", "angry", "sad"])
    label = classes[rng.integers(0, 4, 120)]
    good = np.where(rng.random(120) < 0.8, label, classes[rng.integers(0, 4, 120)])
    bad = classes[rng.integers(0, 4, 120)]
    fake_run(tmp_path / "ref", {"v": (label, good)})
    fake_run(tmp_path / "same", {"v": (label, good)})
    fake_run(tmp_path / "worse", {"v": (label, bad)})
    ref = pooled_intervals(tmp_path / "ref", n_boot=500)
    assert ref["v"]["value"] == pytest.approx(f1_score(label, good, average="macro"))
    assert ref["v"]["lo"] < ref["v"]["value"] < ref["v"]["hi"]
    assert compare(ref, pooled_intervals(tmp_path / "same", n_boot=500))["v"]["inside"]
    assert not compare(ref, pooled_intervals(tmp_path / "worse", n_boot=500))["v"]["inside"]


def test_fusion_benchmark_measures_every_fusion_against_concat(tmp_path):
    from bench.fusion import run as run_fusion
    from kemdy.fusion_spec import FUSIONS

    result = run_fusion(tmp_path, small=True, batch_size=2, steps=1, seconds=(0.5,))
    runs = {(r["fusion"], r["encoders"]): r for r in result["runs"]}
    assert set(runs) == {(f, e) for f in FUSIONS for e in ("trained", "frozen")}
    assert all(r["train_samples_per_s"] > 0 and r["peak_gib"] >= 0 for r in runs.values())
    assert runs[("concat", "trained")]["speed_vs_concat"] == 1.0
    # frozen: concat trains only its head; cross_attention's frozen encoders run live, untrained
    assert runs[("concat", "frozen")]["trainable"] < runs[("gated", "frozen")]["trainable"]
    assert runs[("cross_attention", "frozen")]["trainable"] < runs[("cross_attention", "trained")]["trainable"]
    cache = {r["what"]: r for r in result["sequence_cache"]}
    # 7 s of 16-kHz audio is 349 wav2vec2 frames: 13,462 x 349 x 768 x 2 bytes
    assert cache["wav2vec2-base 7 s (349 frames)"]["fp16_gb"] == pytest.approx(13462 * 349 * 768 * 2 / 1e9)
    assert (tmp_path / "fusion.json").exists()


def test_the_readme_peakl_figures_are_what_bench_peakl_computes(tmp_path):
    """The README's PeakL sentence quotes `python -m bench peakl`: recomputed here, so the
    sentence cannot outlive a change to peakl, the look-alike or the re-labelling."""
    import re
    from pathlib import Path

    from bench.peakl import run as run_peakl

    result = run_peakl(tmp_path, methods=("wawa", "dawid_skene"))
    wawa, ds = result["methods"]["wawa"], result["methods"]["dawid_skene"]
    assert result["n_segments"] == 360 and wawa["argmax_kept"] and ds["argmax_kept"]
    readme = re.sub(r"\s+", " ", (Path(__file__).parents[1] / "README.md").read_text())
    (top0, top1), (ent0, ent1) = wawa["top_score"], wawa["entropy_nats"]
    assert (f"On a 360-segment look-alike re-labelled by `wawa`, PeakL raises the mean top score "
            f"from {top0:.2f} to {top1:.2f} and lowers the mean entropy from {ent0:.2f} to "
            f"{ent1:.2f} nats") in readme
    assert f"it changes little ({ds['top_score'][0]:.3f} to {ds['top_score'][1]:.3f})" in readme
    assert "python -m bench peakl" in readme
    assert (tmp_path / "peakl.json").exists()
