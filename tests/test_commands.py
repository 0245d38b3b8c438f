"""The command lines the rules hand their steps (kemdy/commands.py) and the files each job
reads (kemdy/needs.py), from a config's plans, without Snakemake."""

import shlex

import pytest
import yaml

from kemdy import commands, layout
from kemdy.commands import Commands, dataset_args, lookalike_args
from kemdy.needs import Needs
from kemdy.protocol import plan
from workflow_utils import REPO


def tiny(**variants) -> dict:
    config = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    config["variants"].update(variants)
    return config


def plans_of(config) -> dict:
    return {v: plan(config, v) for v in config["variants"]}


def test_odd_paths_reach_the_shell_as_one_word_each():
    odd = [{"release": "kemdy20", "root": "/data/my KEMDy20 $HOME; rm -rf x"},
           {"release": "kemdy19", "root": "/data/it's"}]
    assert shlex.split(dataset_args(odd)) == ["--dataset", "kemdy20", odd[0]["root"],
                                             "--dataset", "kemdy19", odd[1]["root"]]
    synthetic = {"n_sessions": 4, "segments_per_session": 6, "prior": "demo",
                 "single_modality_share": 0.4, "wrong_prefix_sessions": [2, 3]}
    lookalike = [{"release": "kemdy20", "root": "a b", "truth": "t;x", "seed": 7}]
    words = shlex.split(lookalike_args(lookalike, synthetic))
    assert words[:5] == ["--lookalike", "kemdy20", "a b", "t;x", "7"]
    assert words[-3:] == ["--wrong-prefix-sessions", "2", "3"]


def test_a_plain_variants_training_arguments_are_empty_and_protocol_ones_named():
    config = tiny(seeded={"modality": "text", "loss": "ce", "seeds": [1, 2]},
                  swept={"modality": "text", "loss": "ce", "sweep": {"lr": [1.0e-3, 2.0e-3]}})
    c = Commands(config, plans_of(config), [0, 1])
    assert f"{c.train_extra('text_ce', 0)}" == ""  # a plain job's command line is unchanged
    assert f"{c.train_extra('text_ce', 2)}" == f"--segments {commands.SEGMENTS}"
    # --varies reaches the shell but not the job's recorded identity (repr: what Snakemake
    # records), so a finished seeded or swept job does not rerun for it
    assert f"{c.train_extra('seeded', 0)}" == "--varies seed"
    assert f"{c.train_extra('swept', 2)}" == f"--segments {commands.SEGMENTS} --varies lr"
    assert repr(c.train_extra("seeded", 0)) == repr("")
    assert repr(c.train_extra("swept", 2)) == repr(f"--segments {commands.SEGMENTS}")
    assert c.predict_vary("seeded") == " --vary seed" and c.predict_vary("text_ce") == ""
    seeds = [a for v, q in c.plans.items() if q.multi_seed
             for a in ("--seeds", f"{v}=" + ",".join(map(str, q.seeds)))]
    chosen = [a for v, q in c.plans.items() if q.swept
              for a in ("--selection", f"{v}=results/sweeps/{v}/selection.csv")]
    assert "seeded=1,2" in seeds and "swept=results/sweeps/swept/selection.csv" in chosen
    assert c.protocol() == seeds + chosen and c.protocol(selection=False) == seeds


def test_the_partial_report_shows_the_raters_only_where_they_were_scored(tmp_path, monkeypatch):
    config = tiny()
    c = Commands(config, plans_of(config), [0, 1], "digest")
    full = c.render("s.csv", "r.html", "plots")
    assert full[full.index("--raters") + 1] == commands.RATERS
    assert full[full.index("--inputs-digest") + 1] == "digest"
    monkeypatch.chdir(tmp_path)  # no results/data/raters.csv here
    assert "--raters" not in c.render("s.csv", "r.html", "plots", allow_missing=True)
    (tmp_path / "results" / "data").mkdir(parents=True)
    (tmp_path / commands.RATERS).write_text("dataset\n")
    assert "--raters" in c.render("s.csv", "r.html", "plots", allow_missing=True)


def test_a_jobs_inputs_follow_its_own_spec():
    config = tiny(ctx={"modality": "text+audio", "loss": "ce", "sweep": {"context_turns": [0, 2]}})
    p = plans_of(config)
    needs = Needs(config, p, [0, 1])
    no_ctx, ctx = (c.id for c in p["ctx"].candidates)
    assert "segments" not in needs.train("ctx", None, no_ctx)
    assert needs.train("ctx", None, ctx)["segments"] == commands.SEGMENTS
    assert needs.train("ctx")["audio"] == "results/data/audio/audio_index.csv"
    assert {"text_encoder", "audio_encoder"} <= set(needs.train("ctx"))
    two = [v for v, q in p.items() if q.spec["two_stage"] and q.plain][0]
    assert needs.exported_models(two)[:2] == [f"results/models/{two}/fold0/stage1",
                                              f"results/models/{two}/fold0/stage2"]
    assert needs.exported_runs(two)[0] == f"results/runs/{two}/fold0/stage1/metrics.json"
    assert len(needs.run_files("metrics.json")) == sum(2 * len(q.seeds) for q in p.values())


@pytest.mark.parametrize("out_dir, resume", [
    ("results/runs/v/fold0", "results/checkpoints/v/fold0"),
    ("results/runs/v/fold0/seed2/stage1", "results/checkpoints/v/fold0/seed2/stage1"),
    ("results/sweeps/v/fold0/seed2/c12", "results/checkpoints/sweeps/v/fold0/seed2/c12"),
])
def test_resume_state_lies_outside_the_outputs_where_it_always_did(out_dir, resume):
    assert layout.checkpoint_dir(out_dir) == resume
    with pytest.raises(ValueError):
        layout.checkpoint_dir("elsewhere/v/fold0")


def test_an_older_segments_csv_reruns_ingest_once_and_only_for_context(tmp_path):
    from kemdy.prerun import segments_refresh

    segments, stamp = tmp_path / "segments.csv", str(tmp_path / "k" / "turn.stamp")
    assert segments_refresh(str(segments), True, stamp) == []  # no results yet
    segments.write_text("dataset,segment_id,text\nKEMDy20,a,x\n")  # written before `turn`
    assert segments_refresh(str(segments), False, stamp) == []  # no context: nothing reruns
    assert segments_refresh(str(segments), True, stamp) == [stamp]  # touched: ingest reruns
    segments.write_text("dataset,segment_id,turn,text\nKEMDy20,a,1,x\n")  # ingest ran
    assert segments_refresh(str(segments), True, stamp) == [stamp]  # the same inputs since


def test_context_is_read_where_any_job_of_any_plan_reads_it():
    from kemdy.protocol import reads_context

    config = tiny(swept={"modality": "text", "loss": "ce", "sweep": {"context_turns": [0, 1]}})
    plans = plans_of(config)
    assert reads_context([plans["swept"]]) and not reads_context([plans["text_ce"]])
