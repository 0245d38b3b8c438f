"""The real Snakefile on the tiny config, end to end.

One session-scoped run builds everything once (dataset mounted read-only, two simulated
GPUs; tests/conftest.py tiny_run); the tests then check its outputs and what a rerun would
do, mostly with dry runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pandas as pd
import pytest

from kemdy.metrics import CALIBRATED, CALIBRATION, HEADLINE, VA_METRICS, score_predictions
from kemdy.protocol import plan
from kemdy.selection import select, validation_score
from kemdy.runs import read_history
from kemdy.selection import read_selection
from workflow_utils import BIN, env, replay_gpu_trace, run_results, snakemake, tiny_config, tree_digest

pytestmark = pytest.mark.workflow

ROOT = "results/lookalike/KEMDy20_v1_1"
SWEPT = "text_soft_bce"  # configs/tiny.yaml: two seeds and a two-value lr sweep


def run_dirs(variant: str, config: dict) -> list[str]:
    """The (chosen) run folders of a variant: one per fold, or per fold x seed."""
    p = plan(config, variant)
    return [p.run_dir(k, s) for k in range(config["folds"]["n_folds"]) for s in p.seeds]


@pytest.fixture(scope="module")
def run(tiny_run):
    """The session's tiny run (tests/conftest.py): test_slurm.py also compares with it."""
    return tiny_run


def test_report_and_every_run_exist(run):
    work = run["work"]
    assert (work / "reports/summary.html").stat().st_size > 10_000
    # the report's own consistency checks stay silent on a clean run (issue 25.1)
    html = (work / "reports/summary.html").read_text()
    assert 'id="checks"' not in html
    assert '<meta name="kemdy-inputs" content="' in html  # config + dataset state (25.4)
    config = tiny_config()
    for variant in config["variants"]:
        for run_dir in run_dirs(variant, config):
            for name in ("metrics.json", "predictions.csv", "history.csv"):
                assert (work / run_dir / name).exists()


def test_the_report_shows_breakdowns_valence_arousal_and_layer_weights(run):
    work = run["work"]
    html = (work / "reports/summary.html").read_text()
    for section in ("breakdowns", "breakdown-gender", "breakdown-session", "valence-arousal",
                    "layer-weights", "plot-va", "plot-layers"):
        assert f'id="{section}"' in html, section
    metrics = json.loads((work / "results/runs/mm_va/fold0/metrics.json").read_text())
    assert -1 <= metrics["ccc_valence"] <= 1 and metrics["mae_arousal"] >= 0
    assert sum(metrics["layer_weights"]) == pytest.approx(1.0)
    predictions = pd.read_csv(work / "results/runs/mm_va/fold0/predictions.csv")
    assert {"valence", "arousal", "pred_valence", "pred_arousal"} <= set(predictions.columns)
    model = json.loads((work / "results/models/mm_va/fold0/model.json").read_text())
    assert model["spec"]["va_weight"] == 0.5 and model["shape"]["audio_dim"] > 0


def test_fusions_context_and_sharpened_targets_run_through_the_workflow(run):
    """The tiny grid's recipes (issue 23): tensor_mixer in both stages of mm_two_stage (PeakL
    targets), cross_attention on mm_va (the frozen audio encoder live, weighted layers, MSE
    valence/arousal, warm-up), dialogue context on text_two_stage; every run counts its
    parameters, and the report says what each variant is."""
    work = run["work"]
    html = (work / "reports/summary.html").read_text()
    for variant, fusion in (("mm_ce", "concat"), ("mm_two_stage", "tensor_mixer"),
                            ("mm_va", "cross_attention"), ("text_ce", "–")):
        row = re.search(rf'<tr data-variant="{variant}"><th scope="row">{variant}</th>.*?</tr>',
                        html[html.index('id="variants-explained"'):])
        assert row and f'data-fusion="{fusion}"' in row.group(0), (variant, row)
    for stage in ("stage1", "stage2"):
        card = json.loads((work / f"results/models/mm_two_stage/fold0/{stage}/model.json").read_text())
        assert card["spec"]["fusion"] == "tensor_mixer" and card["spec"]["target_sharpening"] == "peakl"
    card = json.loads((work / "results/models/mm_va/fold0/model.json").read_text())
    assert (card["spec"]["fusion"], card["spec"]["va_loss"]) == ("cross_attention", "mse")
    log = (work / "logs/train/text_two_stage/fold0.stage1.log").read_text()
    assert "dialogue context: up to 2 previous turns" in log, log[-2000:]
    for path in (work / "results/runs").rglob("metrics.json"):
        counts = json.loads(path.read_text())["parameters"]
        assert counts["trainable"] > 0 and counts["frozen"] >= 0, path
    frozen = json.loads((work / "results/runs/mm_va/fold0/metrics.json").read_text())["parameters"]
    assert frozen["frozen"] > 0  # the live, frozen audio encoder


def test_calibrate_temperature_runs_through_the_workflow(run):
    """mm_va (configs/tiny.yaml) has calibrate: temperature: each fold's T, fitted on its
    validation session, in metrics.json and model.json; summary.csv and the report show its
    figures before and after; the other variants have no temperature."""
    work = run["work"]
    summary = pd.read_csv(work / "results/summary.csv").set_index(["variant", "metric"])
    for k in range(3):
        metrics = json.loads((work / f"results/runs/mm_va/fold{k}/metrics.json").read_text())
        card = json.loads((work / f"results/models/mm_va/fold{k}/model.json").read_text())
        assert card["temperature"] == metrics["temperature"] > 0
        assert metrics["temperature_fit"]["val_segments"] > 0
        assert summary.loc[("mm_va", "nll_calibrated"), f"fold{k}"] == \
            pytest.approx(metrics["nll_calibrated"])
        log = (work / f"logs/train/mm_va/fold{k}.log").read_text()
        assert "calibration: temperature" in log, log[-2000:]
    ce = json.loads((work / "results/runs/text_ce/fold0/metrics.json").read_text())
    assert "temperature" not in ce and ce["ece"] >= 0
    assert ("text_ce", "ece") in summary.index and ("text_ce", "ece_calibrated") not in summary.index
    html = (work / "reports/summary.html").read_text()
    for when in ("before", "after"):
        assert f'data-variant="mm_va" data-calibration="nll" data-when="{when}"' in html
    assert 'id="plot-reliability"' in html


def test_dataset_bytes_unchanged_after_a_read_only_run(run):
    assert tree_digest(run["work"] / ROOT) == run["before"]


def test_metrics_are_recomputable_from_predictions(run):
    runs = run["work"] / "results/runs"
    for path in [*runs.glob("*/fold*/metrics.json"), *runs.glob("*/fold*/seed*/metrics.json")]:
        saved = json.loads(path.read_text())
        recomputed = score_predictions(pd.read_csv(path.parent / "predictions.csv"),
                                       temperature=saved.get("temperature"))
        calibration = [m for m in CALIBRATION + CALIBRATED if m in recomputed]
        assert set(calibration) == {m for m in CALIBRATION + CALIBRATED if m in saved}, path
        for key in HEADLINE + [m for m in VA_METRICS if m in recomputed] + calibration + ["n_test"]:
            assert saved[key] == pytest.approx(recomputed[key]), f"{path}: {key}"
        assert saved["confusion"] == recomputed["confusion"], path
        for c, figures in recomputed["per_class"].items():
            assert saved["per_class"][c] == pytest.approx(figures), f"{path}: {c}"


def test_the_sweep_chose_on_validation_only_and_seeds_are_averaged(run, tmp_path):
    work, config = run["work"], tiny_config()
    p = plan(config, SWEPT)
    table = read_selection(work / f"results/sweeps/{SWEPT}/selection.csv")
    assert len(table) == 3 * len(p.seeds) * len(p.candidates)
    for (k, s), rows in table.groupby(["fold", "seed"]):
        assert rows["candidate"].tolist() == [c.id for c in p.candidates]  # grid order
        scores = [validation_score(read_history(work / p.candidate_dir(k, s, c.id) / "history.csv"))
                  for c in p.candidates]
        assert rows["val_f1_macro"].tolist() == pytest.approx(scores)
        assert rows["selected"].tolist() == [i == select(scores) for i in range(len(scores))]
        chosen = p.candidates[select(scores)]
        assert (work / p.run_dir(k, s) / "predictions.csv").read_bytes() == \
            (work / p.candidate_dir(k, s, chosen.id) / "predictions.csv").read_bytes()
    # changing every test label of the candidates' files changes no selection
    k, s = 0, p.seeds[0]
    moved = [shutil.copytree(work / p.candidate_dir(k, s, c.id), tmp_path / c.id) for c in p.candidates]
    for d in moved:
        pred = pd.read_csv(d / "predictions.csv")
        pred["label"] = pred["label"].iloc[::-1].to_numpy()
        pred.to_csv(d / "predictions.csv", index=False)
    subprocess.run([str(BIN / "python"), "scripts/select_candidate.py", "--variant", SWEPT, "--fold", str(k),
                    "--seed", str(s), "--candidates", json.dumps([[c.id, c.params] for c in p.candidates]),
                    "--candidate-dirs", *map(str, moved), "--out-dir", str(tmp_path / "run"),
                    "--model-dir", str(tmp_path / "model"), "--selection", str(tmp_path / "sel.csv")],
                   cwd=work, env=env(), check=True, capture_output=True)
    again = read_selection(tmp_path / "sel.csv")
    before = table[(table["fold"] == k) & (table["seed"] == s)].reset_index(drop=True)
    assert again["selected"].tolist() == before["selected"].tolist()
    # summary.csv: n_seeds, and each fold the mean over its seeds
    summary = pd.read_csv(work / "results/summary.csv")
    assert set(summary.loc[summary.variant == SWEPT, "n_seeds"]) == {2}
    assert set(summary.loc[summary.variant != SWEPT, "n_seeds"]) == {1}
    row = summary[(summary.variant == SWEPT) & (summary.metric == "f1_macro")].iloc[0]
    for k in range(3):
        seeds = [json.loads((work / p.run_dir(k, s) / "metrics.json").read_text())["f1_macro"] for s in p.seeds]
        assert row[f"fold{k}"] == pytest.approx(sum(seeds) / len(seeds))
    html = (work / "reports/summary.html").read_text()
    for section in ('id="seeds"', 'id="sweeps"', 'id="plot-seeds"', f'data-variant="{SWEPT}" data-n-seeds="2"'):
        assert section in html, section


def test_summary_matches_the_runs(run):
    summary = pd.read_csv(run["work"] / "results/summary.csv")
    row = summary[(summary.variant == "text_ce") & (summary.metric == "f1_macro")].iloc[0]
    folds = [json.loads((run["work"] / f"results/runs/text_ce/fold{k}/metrics.json").read_text())["f1_macro"] for k in range(3)]
    assert row["mean"] == pytest.approx(sum(folds) / 3)


def test_gpu_jobs_never_exceed_two_nor_share_a_device(run):
    events = [line.split() for line in run["trace"].read_text().splitlines()]
    n_train = 9 + 12 + 12  # single-stage runs + two stages of the two-stage runs + the sweep's
    assert sum(e[0] == "start" for e in events) == n_train
    peak = replay_gpu_trace(run["trace"])
    assert 1 <= peak <= 2


def planned(work, *args) -> set[str]:
    proc = snakemake(work, "-n", *args)
    return set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout, flags=re.M)), proc.stdout


def test_second_run_does_nothing(run):
    rules, out = planned(run["work"])
    assert not rules, out[-2000:]


def test_a_new_spec_key_at_its_default_reruns_no_finished_job(run):
    """Upgrading never retrains a finished grid for nothing: a key added to the spec with a
    default leaves every job's identity (its params) as it was."""
    spec_py = run["work"] / "scripts/kemdy/spec.py"
    original = spec_py.read_text()
    assert '    "fusion": "concat",\n' in original
    try:
        spec_py.write_text(original.replace('    "fusion": "concat",\n',
                                            '    "fusion": "concat",\n    "new_key": 0.5,\n', 1))
        rules, out = planned(run["work"])
        assert not rules, out[-2000:]
    finally:
        spec_py.write_text(original)


def test_an_older_segments_csv_without_turn_reruns_ingest_for_dialogue_context(run):
    """A results/ written before segments.csv had `turn`: the context variant's jobs need it,
    so ingest reruns by itself (a dry run plans it), with no advice to follow by hand."""
    work = run["work"]
    segments, stamp = work / "results/data/segments.csv", work / ".snakemake/kemdy/segments_turn.stamp"
    original, mtime = segments.read_bytes(), segments.stat().st_mtime_ns
    try:
        pd.read_csv(segments, dtype=str, keep_default_na=False).drop(columns="turn").to_csv(
            segments, index=False)
        os.utime(segments, ns=(mtime, mtime))
        rules, out = planned(work)
        assert "ingest" in rules, out[-2000:]
    finally:
        segments.write_bytes(original)
        os.utime(segments, ns=(mtime, mtime))
        stamp.unlink(missing_ok=True)
    assert not planned(work)[0]


def test_the_generic_cluster_profile_submits_exactly_the_training_jobs(run):
    """profiles/cluster-generic submits the training jobs through its submit script (every
    other rule is a local rule: on a cluster it would wait in the queue for seconds of work);
    with the `local` scheduler they run in the background here. A forced rerun of one run
    goes through it, the workflow carries on to the report, and the run equals the first."""
    work = run["work"]
    report = (work / "reports/summary.html").stat().st_mtime_ns
    # (test-only: Snakemake looks for finished jobs every second, not every 10 s)
    snakemake(work, "--profile", "profiles/cluster-generic", "--jobs", "2", "--forcerun",
              "results/runs/text_ce/fold0/metrics.json", "--seconds-between-status-checks", "1",
              KEMDY_SCHEDULER="local")
    submitted = sorted(p.name.split("-")[0] for p in (work / "logs/cluster").glob("*.out"))
    assert submitted == ["train"], submitted
    assert (work / "reports/summary.html").stat().st_mtime_ns > report  # on to the report
    assert run_results(work)[("text_ce", 0)] == run["results"][("text_ce", 0)]


def test_changing_one_learning_rate_reruns_only_that_variant(run):
    config = tiny_config()
    config["variants"]["mm_ce"]["lr"] = 5e-4
    (run["work"] / "changed.yaml").write_text(json.dumps(config))
    rules, out = planned(run["work"], "--configfile", "changed.yaml")
    assert rules == {"train", "summarize", "render_report", "snapshot_config", "all"}, rules
    trained = set(re.findall(r"output: results/runs/(\w+)/fold\d/metrics.json", out))
    assert trained == {"mm_ce"}, trained


def test_a_new_sweep_value_trains_only_its_candidate_and_selects_again(run):
    config = tiny_config()
    config["variants"][SWEPT]["sweep"]["lr"][1] = 5e-4
    (run["work"] / "changed.yaml").write_text(json.dumps(config))
    rules, out = planned(run["work"], "--configfile", "changed.yaml")
    assert rules == {"train_candidate", "select_candidate_seed", "gather_selection", "summarize",
                     "render_report", "snapshot_config", "all"}, rules
    new = plan(config, SWEPT).candidates[1].id
    trained = re.findall(r"output: results/sweeps/\w+/fold(\d)/seed(\d+)/(\w+)/metrics.json", out)
    assert sorted(trained) == sorted((str(k), str(s), new) for k in range(3) for s in (42, 43))


def test_changing_the_aggregation_reruns_labels_and_what_follows_only(run):
    config = tiny_config(**{"labels.method": "majority"})
    (run["work"] / "changed.yaml").write_text(json.dumps(config))
    rules, _ = planned(run["work"], "--configfile", "changed.yaml")
    assert "aggregate_labels" in rules and "train" in rules
    assert not rules & {"generate_lookalike", "ingest", "decode_audio", "build_demo_text_encoder",
                     "build_demo_audio_encoder"}


def test_every_rater_is_scored_and_shown_beside_the_variants(run):
    """score_raters (the raters' ceiling): the ten KEMDy20 raters on the labelled segments
    they voted on, the median and best rater in the report, in seconds; a new threshold
    reruns only it and the report."""
    work = run["work"]
    table = pd.read_csv(work / "results/data/raters.csv")
    new = pd.read_csv(work / "results/data/new_data.csv", dtype={"segment_id": str})
    assert len(table) == 10 and set(table["dataset"]) == {"KEMDy20"}
    assert table["included"].all() and table["n"].between(20, len(new)).all()
    consensus = pd.read_csv(work / "results/data/raters_consensus.csv", dtype=str)
    assert sorted(consensus["segment_id"]) == sorted(new["segment_id"])
    html = (work / "reports/summary.html").read_text()
    for mark in ('id="raters"', 'id="raters-shares"', 'data-rater-role="median"',
                 'data-rater-role="best"'):
        assert mark in html, mark
    assert pd.read_csv(work / "benchmarks/score_raters.tsv", sep="\t")["s"].iloc[0] < 30
    config = tiny_config(**{"raters.min_segments": 50})
    (work / "changed.yaml").write_text(json.dumps(config))
    rules, _ = planned(work, "--configfile", "changed.yaml")
    assert rules == {"score_raters", "render_report", "snapshot_config", "all"}, rules


def test_a_changed_look_alike_file_is_refused_and_the_restored_one_runs(run):
    """A file of the look-alike whose bytes are no longer what the generator wrote is the
    user's: the workflow, which writes and deletes look-alike roots, refuses the root before
    any job, naming the file (issue 26.5). A changed file of a real copy reruns ingest and
    what follows instead (tests/test_safety.py)."""
    annotation = run["work"] / ROOT / "annotation/Sess01_eval.csv"
    original, stat = annotation.read_bytes(), annotation.stat()
    annotation.write_bytes(original + b"\r\n")  # same name, other content
    try:
        proc = snakemake(run["work"], "-n", check=False)
    finally:
        annotation.write_bytes(original)
        os.utime(annotation, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "dataset.root" in said and "annotation/Sess01_eval.csv" in said, said[-3000:]
    assert planned(run["work"])[0] == set()  # restored: as generated, nothing to do


def test_snakemake_report_collects_the_plots_with_captions(run):
    snakemake(run["work"], "--report", "smk_report.html")
    html = (run["work"] / "smk_report.html").read_text(errors="replace")
    assert "learning_curves.png" in html and "out-of-fold predictions" in html


def test_sigterm_to_snakemake_says_no_job_failed(run):
    # Snakemake lets the running job finish on SIGTERM and stops before the rest: the run
    # ends unfinished, but no job failed, and the message must say so.
    work = run["work"]
    log = work / "logs/train/mm_ce/fold0.log"
    log.unlink()
    proc = subprocess.Popen(
        [str(BIN / "snakemake"), "--cores", "1", "--forcerun",
         "results/runs/mm_ce/fold0/metrics.json"], cwd=work, env=env(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (log.exists() and "train," in log.read_text()):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    proc.terminate()
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0
    assert "no job failed" in out and "Some jobs failed" not in out, out[-3000:]


def test_keep_going_reports_missing_runs_and_sets_the_old_report_aside(run):
    """One failing run of a changed config shows both: --keep-going keeps the other folds and
    writes a partial report naming the missing run, and the report of the previous config
    is moved aside so it cannot pass for current; the next run redoes only what failed.
    Last in the file: it also redoes what the SIGTERM test above left undone, and checks
    that rerun against the first."""
    work = run["work"]
    config = tiny_config()
    config["variants"]["text_ce"]["lr"] = 1e-3
    (work / "changed.yaml").write_text(json.dumps(config))
    for k in (0, 1, 2):
        shutil.rmtree(work / f"results/checkpoints/text_ce/fold{k}", ignore_errors=True)
    blocker = work / "results/checkpoints/text_ce/fold1"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the checkpoint folder should be: this job fails")
    try:
        proc = snakemake(work, "--keep-going", "--configfile", "changed.yaml", check=False)
        assert proc.returncode != 0
        assert (work / "results/runs/text_ce/fold2/metrics.json").exists(), "the other fold was lost"
        assert not (work / "results/runs/text_ce/fold1/metrics.json").exists()
        html = (work / "reports/summary.partial.html").read_text()
        assert re.search(r"missing", html, flags=re.I) and "text_ce" in html
        summary = pd.read_csv(work / "results/summary.partial.csv")
        row = summary[(summary.variant == "text_ce") & (summary.metric == "f1_macro")].iloc[0]
        assert row["n_folds"] == 2, "averaged over fewer folds without saying so"
        assert not (work / "reports/summary.html").exists(), "an old report still looks current"
        assert (work / "reports/summary.stale.html").exists()
        assert "rendered under another config" in proc.stdout + proc.stderr
        # the old summary.csv fed that report: aside too, not left to pass for current
        assert not (work / "results/summary.csv").exists()
        assert (work / "results/summary.stale.csv").exists()
    finally:
        blocker.unlink()
    # only the failed run is redone; the complete report replaces the partial and stale ones
    trained = lambda: {p: p.stat().st_mtime_ns for p in (work / "results/runs").rglob("metrics.json")}  # noqa: E731
    before = trained()
    snakemake(work, "--configfile", "changed.yaml")
    after = trained()
    assert [p for p in after if after[p] != before.get(p)] == [
        work / "results/runs/text_ce/fold1/metrics.json"]
    summary = pd.read_csv(work / "results/summary.csv")
    assert (summary.loc[summary.variant == "text_ce", "n_folds"] == 3).all()
    assert (work / "reports/summary.html").exists()
    assert not (work / "reports/summary.partial.html").exists()
    assert not (work / "reports/summary.stale.html").exists()
    assert not (work / "results/summary.stale.csv").exists()
    # A rerun gives identical results: the SIGTERM test's forced rerun retrained mm_ce fold0
    # (finished there, or resumed here), to the first run's metrics and predictions.
    assert "train," in (work / "logs/train/mm_ce/fold0.log").read_text()
    assert run_results(work)[("mm_ce", 0)] == run["results"][("mm_ce", 0)]
