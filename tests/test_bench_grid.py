"""bench grid: the jobs come from Snakemake's dry run of a config, the cost from a card table
(constructed here, so every figure is checked by hand), and bench gpu writes such a table."""

import json

import pytest
import yaml

from bench import cards, grid
from bench.__main__ import main as bench_main
from kemdy.errors import InputError
from kemdy.spec import resolve
from workflow_utils import REPO, env

CARD = {"card": "Test GPU", "precision": "bfloat16", "source": "constructed",
        "jobs": [{"text": "768x12", "audio": None, "audio_seconds": None, "batch_size": 64,
                  "fusion": None, "encoders": "trained", "precision": "bfloat16",
                  "train_samples_per_s": 1000.0, "eval_samples_per_s": 2000.0, "peak_gib": 4.0},
                 {"text": "768x12", "audio": "768x12", "audio_seconds": 4.0, "batch_size": 64,
                  "fusion": "concat", "encoders": "trained", "precision": "bfloat16",
                  "train_samples_per_s": 400.0, "eval_samples_per_s": None, "peak_gib": 20.0}],
        "fusion": [{"text": "768x12", "audio": "768x12", "audio_seconds": 4.0, "batch_size": 64,
                    "encoders": "trained", "precision": "bfloat16", "fusion": f,
                    "train_samples_per_s": s, "peak_gib": m}
                   for f, s, m in (("concat", 300.0, 10.0), ("gated", 150.0, 15.0))]}
CONFIG = {"folds": {"n_folds": 5, "val_sessions": 1},
          "dataset": {"kind": "synthetic", "root": "x"},
          "synthetic": {"n_sessions": 10, "segments_per_session": 100}}  # 1,000 segments


def job(variant: dict, stage=None, fold=0, **kw) -> dict:
    spec = resolve({"variants": {"v": {"epochs": 10, "batch_size": 64, **variant}}}, "v")
    return {"variant": "v", "fold": fold, "stage": stage, "candidate": None, "gpus": 1,
            "spec": spec, "text_encoder": "klue/roberta-base",
            "audio_encoder": "facebook/wav2vec2-base", **kw}


def test_the_real_configs_jobs_come_from_snakemakes_plan(tmp_path):
    config, jobs = grid.dag_jobs(str(REPO / "configs" / "kemdy20.yaml"), env=env())
    assert config["dataset"]["root"] == "/path/to/KEMDy20_v1_1"  # planned without the data
    assert len(jobs) == 35
    by = {(j["variant"], j["fold"], j["stage"]) for j in jobs}
    assert len(by) == 35 and {j["stage"] for j in jobs if "two_stage" in j["variant"]} == {1, 2}
    mm = next(j for j in jobs if j["variant"] == "mm_ce")
    assert mm["audio_encoder"] == "facebook/wav2vec2-base" and mm["spec"]["lr"] == 1e-5
    # seeds x sweep candidates fan out in Snakemake's plan, and the planner sees each job
    real = yaml.safe_load((REPO / "configs" / "kemdy20.yaml").read_text())
    real["train"]["seeds"] = [42, 43]
    del real["train"]["seed"]
    real["variants"]["mm_ce"]["sweep"] = {"lr": [1e-5, 3e-5]}
    (tmp_path / "seeded.yaml").write_text(yaml.safe_dump(real))
    _, jobs = grid.dag_jobs(str(tmp_path / "seeded.yaml"), env=env())
    assert len(jobs) == 2 * 35 + 5 * 2 * 1  # mm_ce: 5 folds x 2 seeds x 2 candidates
    swept = [j for j in jobs if j["variant"] == "mm_ce"]
    assert len({(j["fold"], j["spec"]["seed"], j["candidate"]) for j in swept}) == 20
    assert {j["spec"]["lr"] for j in swept} == {1e-5, 3e-5}


def test_costs_from_a_constructed_card_table():
    text, mm = job({"modality": "text", "loss": "ce"}), \
        job({"modality": "text+audio", "loss": "ce"})
    gated = job({"modality": "text+audio", "loss": "ce", "fusion": "gated"})
    stage2 = job({"modality": "text", "loss": "soft_bce", "two_stage": True}, stage=2)
    context = job({"modality": "text", "loss": "ce", "context_turns": 2})
    big = job({"modality": "text+audio", "loss": "ce"}, audio_encoder="openai/whisper-small")
    result = grid.plan(CONFIG, [text, mm, gated, stage2, context, big], CARD, n_gpus=2,
                       gpu_mem=16.0)
    rows = result["jobs"]
    # a fold: 200 test, 100 validation (one of 10 sessions), 700 training segments
    assert result["sizes"]["train"] == 700 and result["sizes"]["val"] == 100
    assert rows[0]["how"] == "measured"
    assert rows[0]["upper_s"] == pytest.approx(10 * (700 / 1000 + 100 / 2000) + 200 / 2000)
    # no evaluation figure: evaluated at the training rate
    assert rows[1]["upper_s"] == pytest.approx(10 * 800 / 400 + 200 / 400)
    assert rows[1]["fits"] is False  # 20 GiB on 16 GiB cards
    # gated: concat's measured row scaled by the fusion table's ratio to its concat row
    assert rows[2]["how"].startswith("derived") and rows[2]["peak_gib"] == pytest.approx(30.0)
    assert rows[2]["upper_s"] == pytest.approx(10 * 800 / 200 + 200 / 200)
    # stage 2: the emotional share of training and validation, every test segment
    share = grid.EMOTIONAL_SHARE
    assert rows[3]["upper_s"] == pytest.approx(10 * (700 * share / 1000 + 100 * share / 2000)
                                               + 200 / 2000)
    assert rows[4]["how"] == "not measured" and rows[4]["unmodelled"] == ["context_turns 2"]
    assert rows[5]["how"] == "not measured" and "whisper-768x12" in rows[5]["geometry"]
    timed = [r for r in rows if "upper_s" in r]
    assert result["n_timed"] == 4 and result["n_fit"] == 2
    assert result["upper_gpu_hours"] == pytest.approx(sum(r["upper_s"] for r in timed) / 3600)
    # only what fits 16 GiB runs: text and stage 2, one per GPU
    assert result["upper_wall_hours"] == pytest.approx(rows[0]["upper_s"] / 3600)
    why = grid.holding_back(result, goal_hours=1.0)
    assert any("needs 20.0 GiB" in w for w in why) and any("context_turns 2" in w for w in why)


def test_wall_time_puts_the_longest_jobs_first_one_per_gpu():
    # 5 | 4, then each 3 where a GPU frees first: 5+3 | 4+3+3 (as Snakemake would start them)
    assert grid.wall_seconds([5, 4, 3, 3, 3], 2) == 10
    assert grid.wall_seconds([1, 1], 4) == 1 and grid.wall_seconds([], 2) == 0


def test_expected_figures_use_the_stopping_epochs_of_finished_runs(tmp_path):
    for name, modality, ran in (("a", "text", 5), ("b", "text", 10), ("c", "text+audio", 2)):
        folder = tmp_path / "runs" / name / "fold0"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"modality": modality, "epochs": 10}))
        (folder / "history.csv").write_text("epoch\n" + "".join(f"{e}\n" for e in range(ran)))
    shares = grid.stopping(str(tmp_path / "runs"))
    assert shares[("text", None)] == pytest.approx(0.75) and shares["runs"] == 3
    result = grid.plan(CONFIG, [job({"modality": "text", "loss": "ce"})], CARD, shares)
    assert result["jobs"][0]["expected_s"] == pytest.approx(7.5 * 0.75 + 0.1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no finished run"):
        grid.stopping(str(tmp_path / "empty"))


def test_bench_gpu_writes_the_card_table_bench_grid_reads(tmp_path):
    result = {"machine": {"device": "NVIDIA Test", "torch": "2"}, "small": False,
              "batch_size": 64, "steps": 20, "audio_seconds": 4.0, "date": "2026-12-07",
              "runs": [{"model": "text", "precision": "bfloat16", "workers": 4,
                        "train_samples_per_s": 9.0, "eval_samples_per_s": 8.0, "peak_gib": 1.0},
                       {"model": "mm", "precision": "bfloat16", "workers": 4,
                        "train_samples_per_s": 3.0, "eval_samples_per_s": 2.0, "peak_gib": 5.0},
                       {"model": "mm", "precision": "bfloat16", "workers": 0,  # collated
                        "train_samples_per_s": 1.0, "eval_samples_per_s": 1.0, "peak_gib": 5.0},
                       {"model": "mm+whisper-small", "precision": "bfloat16", "workers": 4,
                        "error": "out of GPU memory"}]}
    from bench.cards import card_shapes

    path = cards.write(tmp_path, cards.from_gpu(result, card_shapes(small=False)))
    table = cards.load(path)
    assert path.endswith("card-nvidia-test.json") and len(table["jobs"]) == 2
    key = grid.geometry(job({"modality": "text+audio", "loss": "ce"}), table["precision"])["key"]
    assert grid.rate(table, key) == {"train": 3.0, "eval": 2.0, "peak": 5.0, "how": "measured"}
    (tmp_path / "bad.json").write_text(json.dumps({"card": "x", "precision": "bfloat16",
                                                   "jobs": [{"text": "768x12"}]}))
    with pytest.raises(InputError, match="job row 0 lacks"):
        cards.load(tmp_path / "bad.json")


def test_the_committed_h200_table_gives_the_readme_figures():
    table = cards.load(grid.DEFAULT_CARDS)
    key = grid.geometry(job({"modality": "text+audio", "loss": "ce"}), "bfloat16")["key"]
    assert grid.rate(table, key)["train"] == 469 and grid.rate(table, key)["peak"] == 10.5


def test_the_cli_prints_and_writes_the_plan(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", env()["PATH"])  # no SLURM client probe for the dry run
    (tmp_path / "card.json").write_text(json.dumps(CARD))
    bench_main(["grid", "--configfile", str(REPO / "configs" / "kemdy20.yaml"), "--cards",
                str(tmp_path / "card.json"), "--gpus", "2", "--gpu-mem", "24",
                "--goal-hours", "0.5", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "35 training jobs planned by Snakemake" in out and "goal 0.5 h: not met" in out
    saved = json.loads((tmp_path / "grid-kemdy20.json").read_text())
    assert saved["n_jobs"] == 35 and saved["card"] == "Test GPU" and saved["holding_back"]


def test_bench_fusion_gives_the_fusion_rows():
    # bench fusion's result, as tests/test_bench.py runs it: trained and frozen runs
    fusion = {"encoders": "tiny", "batch_size": 2, "runs": [
        {"fusion": f, "audio_seconds": 0.5, "encoders": e, "train_samples_per_s": 1.0,
         "peak_gib": 0.1} for f in ("concat", "gated") for e in ("trained", "frozen")]}
    rows = cards.from_fusion(fusion, "float32")
    assert [r["fusion"] for r in rows] == ["concat", "gated"]
    assert all(r["encoders"] == "trained" and r["text"] == "32x1" and r["batch_size"] == 2
               for r in rows)
