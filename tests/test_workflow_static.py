"""The workflow's shape, checked without running jobs: lint, format, DAG, profiles, config errors."""

import os
import re
import subprocess

import pytest
import yaml

from workflow_utils import BIN, REPO, copy_workflow, snakemake, tiny_config


def test_snakemake_lint_is_clean():
    proc = snakemake(REPO, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_check_is_clean():
    import subprocess

    proc = subprocess.run([str(BIN / "snakefmt"), "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def planned_jobs(output: str) -> list[str]:
    """Every `rule X:` block's output line of a dry run, as 'rule path' strings."""
    return re.findall(r"rule (\w+):\n\s+(?:input: .*\n\s+)?output: (\S+)", output)


def test_default_dry_run_lists_every_variant_fold_and_stage(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    proc = snakemake(copy_workflow(tmp_path), "-n", "-p")
    out = proc.stdout
    folds = range(config["folds"]["n_folds"])
    for variant, spec in config["variants"].items():
        for k in folds:
            if spec.get("two_stage"):
                for stage in (1, 2):
                    assert f"results/runs/{variant}/fold{k}/stage{stage}/metrics.json" in out
                assert re.search(rf"rule combine_stages:\n(.*\n)*?\s+output: results/runs/{variant}/fold{k}/metrics.json", out)
            else:
                assert re.search(rf"rule train:\n(.*\n)*?\s+output: results/runs/{variant}/fold{k}/metrics.json", out)
    assert "reports/summary.html" in out


def test_slurm_profile_plans_the_grid(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["variants"]["text_ce"]["gpus"] = 2  # one job, two GPU processes
    proc = snakemake(copy_workflow(tmp_path, config), "--profile", "profiles/slurm", "-n")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))
    assert counts["train"] == "20" and counts["train_stage"] == "20" and counts["combine_stages"] == "10"
    # the plugin asks for --gpus from `gpu` and --cpus-per-task from threads: a 2-GPU job
    # gets both twice over, one set of threads per process
    jobs = re.findall(r"rule train:\n(?:.*\n)*?\s+wildcards: variant=(\w+), fold=\d\n"
                      r"(?:\s+threads: (\d+)\n)?\s+resources: .*?gpu=(\d+)", proc.stdout)
    jobs = [(v, t or "1", g) for v, t, g in jobs]  # a dry run omits `threads: 1`
    threads = config["resources"]["train"]["threads"]
    assert {(v, int(t), int(g)) for v, t, g in jobs} == {
        (v, threads * (2 if v == "text_ce" else 1), 2 if v == "text_ce" else 1)
        for v, spec in config["variants"].items() if not spec.get("two_stage")}


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"train.lr": "fast"}, "lr"),  # a key of the wrong type
        ({"variants.text_ce.lerning_rate": 1e-4}, "lerning_rate"),  # an unknown variant field
        ({"folds.n_folds": 9}, "folds.n_folds"),  # more folds than sessions
        ({"report.reference": "nope"}, "report.reference"),
        ({"dataset.kind": "kemdy21"}, "kind"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, overrides, key):
    work = copy_workflow(tmp_path, tiny_config(**overrides))
    proc = snakemake(work, "-n", check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert not (work / "results").exists()


def test_each_training_job_waits_for_the_encoders_its_modality_uses(tmp_path):
    # The demo encoders are two rules; a text+audio job that did not wait for the audio one
    # would start before its encoder exists (a race no single run need show).
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["variants"]["audio_ce"] = {"modality": "audio", "loss": "ce"}
    dot = snakemake(copy_workflow(tmp_path, config), "-n", "--forceall", "--dag").stdout
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, flags=re.M))
    parents = {}
    for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M):
        parents.setdefault(b, set()).add(labels[a].split("\\n")[0])
    jobs = {n: l for n, l in labels.items() if l.startswith("train")}
    assert len(jobs) == sum(10 if s.get("two_stage") else 5 for s in config["variants"].values())
    for node, label in jobs.items():
        variant = re.search(r"variant: (\w+)", label).group(1)
        modality = config["variants"][variant]["modality"]
        assert ("build_demo_text_encoder" in parents[node]) == ("text" in modality), label
        assert ("build_demo_audio_encoder" in parents[node]) == ("audio" in modality), label
    assert any("audio_ce" in label for label in jobs.values())


def test_claimed_cores_never_add_up_to_more_cpus_than_the_machine_has(tmp_path):
    # --cores counting more cores than there are (the GPU box's command on a laptop): each
    # job claims its threads scaled up, so the jobs Snakemake runs at once never need more
    # CPUs than this machine really has (affinity, cgroup quota).
    from kemdy.cpus import available_cpus

    cpus, cores = available_cpus(), 4 * available_cpus()
    out = snakemake(copy_workflow(tmp_path), "-n", "--forceall", "--cores", str(cores),
                    "--resources", "gpu=2").stdout
    jobs = []
    for block in re.split(r"\n(?=rule \w+:)", out)[1:]:  # one job each; no line: 1 thread
        threads = re.search(r"^\s+threads: (\d+)$", block, flags=re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        jobs.append((block.split(":")[0][5:], threads[1] if threads else "1",
                     resources[1] if resources else ""))
    assert {r for r, _, _ in jobs} >= {"train", "train_stage", "ingest", "build_demo_audio_encoder"}
    for rule, threads, resources in jobs:
        if rule == "all":  # the target: it runs nothing
            continue
        used = int((re.search(r"\bcpus=(\d+)", resources) or [None, 1])[1])  # torch threads
        # a job holding `threads` of `cores` leaves room for jobs using at most cpus in all
        assert int(threads) * cpus >= used * cores, (rule, threads, resources)


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")) + [REPO / "config.yaml"],
                         ids=lambda p: p.name)
def test_every_shipped_config_is_valid_and_every_variant_resolves(path):
    """The configs a user copies: no duplicate key, the schema holds, every variant's spec
    passes the cross-key checks (a real config's roots need a real copy for a dry run)."""
    from snakemake.utils import validate

    from kemdy.config import check_duplicate_keys
    from kemdy.protocol import plan
    from kemdy.sweep_schema import schema_check
    from kemdy.spec import resolve

    check_duplicate_keys(path)
    config = yaml.safe_load(path.read_text())
    validate(config, str(REPO / "schemas/config.schema.yaml"))
    specs = {name: resolve(config, name, str(path)) for name in config["variants"]}
    check = schema_check(REPO / "schemas/config.schema.yaml")  # and their seeds and sweeps
    plans = {name: plan(config, name, str(path), check) for name in specs}
    assert all(p.spec == {**specs[n], "seed": p.seeds[0]} for n, p in plans.items())
    assert config["report"]["reference"] in specs


def test_a_dry_run_counts_the_jobs_of_seeds_and_sweeps_and_each_is_its_own_slurm_job(tmp_path):
    # the cost before running: jobs = folds x seeds x candidates (x 2 stages)
    config = tiny_config()
    config["folds"]["n_folds"] = 2
    config["variants"] = {
        "plain": {"modality": "text", "loss": "ce"},
        "seeded": {"modality": "text", "loss": "ce", "seeds": [1, 2, 3]},
        "staged": {"modality": "text", "loss": "ce", "two_stage": True, "seeds": [1, 2]},
        "swept": {"modality": "text", "loss": "ce", "seeds": [5, 6],
                  "sweep": {"lr": [1.0e-3, 2.0e-3], "dropout": [0.0, 0.1, 0.2]}},
    }
    config["report"]["reference"] = "plain"
    proc = snakemake(copy_workflow(tmp_path, config), "--profile", "profiles/slurm", "-n", "-p")
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M)}
    # each job resumes from its own state, outside its outputs
    resume = set(re.findall(r"--checkpoint-dir (\S+)", proc.stdout))
    assert "results/checkpoints/seeded/fold1/seed3" in resume
    assert "results/checkpoints/staged/fold0/seed2/stage2" in resume
    assert sum(d.startswith("results/checkpoints/sweeps/swept/fold") for d in resume) == 2 * 2 * 6
    assert len(resume) == sum(counts[r] for r in ("train", "train_seed", "train_seed_stage",
                                                  "train_candidate"))
    assert counts["train"] == 2 and counts["train_seed"] == 2 * 3
    assert counts["train_seed_stage"] == 2 * 2 * 2 and counts["combine_stages_seed"] == 2 * 2
    assert counts["train_candidate"] == 2 * 2 * 6 and counts["select_candidate_seed"] == 2 * 2
    assert counts["gather_selection"] == 1
    # on a cluster only training jobs queue: every other protocol step is a localrule
    block = re.search(r"^localrules:\n((?:\s+\w+,\n)+)", (REPO / "Snakefile").read_text(), flags=re.M)
    local = set(re.findall(r"\w+", block.group(1)))
    protocol_steps = {"select_candidate", "select_candidate_seed", "gather_selection",
                      "combine_stages_seed"}
    assert protocol_steps <= local
    assert not local & {"train", "train_seed", "train_seed_stage", "train_candidate"}


@pytest.mark.parametrize("variant, key", [
    ({"two_stage": True, "sweep": {"lr": [1.0e-3]}}, "variants.text_ce.sweep"),
    ({"sweep": {"lr": [0.0]}}, "variants.text_ce.sweep.lr"),
    ({"sweep": {"modality": ["audio"]}}, "variants.text_ce.sweep.modality"),
    ({"seeds": [1, 1]}, "seeds"),
])
def test_a_bad_seed_or_sweep_fails_before_any_job_naming_the_key(tmp_path, variant, key):
    config = tiny_config()
    config["variants"]["text_ce"].update(variant)
    work = copy_workflow(tmp_path, config)
    proc = snakemake(work, "-n", check=False)
    assert proc.returncode != 0 and key in proc.stdout + proc.stderr
    assert not (work / "results").exists()


def test_seeded_and_swept_jobs_record_what_varies_and_plain_jobs_are_unchanged(tmp_path):
    # model.json records the keys a variant's models differ in (issue 30.8), passed as
    # --varies in the one param a plain job leaves empty: its command is what it was (no rerun)
    config = tiny_config()
    config["variants"] = {
        "plain": {"modality": "text", "loss": "ce"},
        "seeded": {"modality": "text", "loss": "ce", "seeds": [1, 2]},
        "swept": {"modality": "text", "loss": "ce", "sweep": {"lr": [1.0e-3, 2.0e-3]}},
    }
    config["report"]["reference"] = "plain"
    proc = snakemake(copy_workflow(tmp_path, config), "-n", "-p")
    commands = re.findall(r"^Shell command: (.*scripts/train\.py.*)$", proc.stdout, flags=re.M)
    by_variant = {v: [c for c in commands if f"--variant {v} " in c] for v in config["variants"]}
    assert all(by_variant.values()), commands
    for command in by_variant["plain"]:
        assert "--varies" not in command
        assert "--folds results/data/folds.csv  --audio results/data/audio" in command
    assert all(" --varies seed --audio " in c for c in by_variant["seeded"])
    assert all(" --varies lr --audio " in c for c in by_variant["swept"])


def test_predict_after_seeds_shrink_plans_the_training_and_shows_its_warnings(tmp_path):
    # `seeds: [1, 2]` became `[1]`: results/models/seeded/fold{k} still exists (it holds
    # seed1/, seed2/), so only the predict job was planned and it failed on that layout
    config = tiny_config()
    config["variants"] = {"seeded": {"modality": "text", "loss": "ce", "seeds": [1]}}
    config["report"]["reference"] = "seeded"
    work = copy_workflow(tmp_path, config)
    (work / "predict").mkdir()
    (work / "predict/new.csv").write_text("wav,text\na.wav,안녕\n", encoding="utf-8")
    for k in range(config["folds"]["n_folds"]):
        for s in (1, 2):
            model, run = (work / f"results/{d}/seeded/fold{k}/seed{s}" for d in ("models", "runs"))
            model.mkdir(parents=True)
            run.mkdir(parents=True)
            (model / "model.json").write_text("{}")
            for name in ("metrics.json", "predictions.csv", "history.csv"):
                (run / name).write_text("")
    proc = snakemake(work, "-n", "-p", "results/predict/seeded/new.csv")
    trained = {out.rstrip(",") for rule, out in planned_jobs(proc.stdout) if rule == "train"}
    assert trained == {f"results/runs/seeded/fold{k}/metrics.json"
                       for k in range(config["folds"]["n_folds"])}, proc.stdout[-3000:]
    # the rule's warnings and notes reach the console, not only its log
    command = re.search(r"^Shell command: (HF_HUB_OFFLINE=1 python .*predict\.py.*)$",
                        proc.stdout, flags=re.M).group(1)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").write_text("#!/bin/sh\necho 'loading models' >&2\n"
                                 "echo 'warning: no context given' >&2\n")
    (fake / "python").chmod(0o755)
    (work / "logs/predict/seeded").mkdir(parents=True)
    ran = subprocess.run(["bash", "-c", f"set -euo pipefail; {command}"], cwd=work,
                         capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"})
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr == "warning: no context given\n"
    assert "loading models" in (work / "logs/predict/seeded/new.log").read_text()


def test_every_training_and_selection_rule_writes_where_the_layout_says(tmp_path):
    """kemdy/layout.py owns the results tree: each rule's outputs, in a dry run that plans
    every job shape (plain, two-stage, seeds, seeded two-stage, a sweep over seeds), are
    that module's patterns filled with the job's wildcards."""
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from kemdy import layout

    config = tiny_config()
    config["variants"]["text_ce"]["seeds"] = [1, 2]
    config["variants"]["text_two_stage"]["seeds"] = [1, 2]
    out = snakemake(copy_workflow(tmp_path, config), "-n", "--forceall").stdout
    seeded, staged = dict(seeded=True), dict(staged=True)
    both = dict(seeded=True, staged=True)
    runs = {"train": ({}, False), "train_stage": (staged, False), "train_seed": (seeded, False),
            "train_seed_stage": (both, False), "combine_stages": ({}, None),
            "combine_stages_seed": (seeded, None), "select_candidate_seed": (seeded, True)}
    seen = set()
    for block in re.split(r"\n(?=rule \w+:)", out)[1:]:
        rule = block.split(":")[0][5:]
        wildcards = dict(re.findall(r"(\w+)=([\w.]+)", (re.search(r"wildcards: (.*)", block)
                                                        or [None, ""])[1]))
        outputs = set(re.search(r"output: (.*)", block)[1].split(", ")) if "output:" in block \
            else set()
        if rule in runs:
            kind, model = runs[rule]
            want = set(layout.run_files(layout.fill(layout.run_dir(**kind), **wildcards)).values())
            if model is not None:
                want.add(layout.fill(layout.model_dir(**kind), **wildcards))
            if model:  # a selection also writes its part
                want.add(layout.fill(layout.selection_part(kind.get("seeded", False)), **wildcards))
        elif rule == "train_candidate":
            want = {*layout.run_files(layout.fill(layout.candidate_dir(), **wildcards)).values(),
                    layout.fill(layout.candidate_model_dir(), **wildcards)}
        elif rule == "gather_selection":
            want = {layout.fill(layout.selection(), **wildcards)}
        else:
            continue
        assert outputs == want, (rule, wildcards)
        seen.add(rule)
    assert seen == {*runs, "train_candidate", "gather_selection"}
