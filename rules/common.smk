# Config lists, input functions, wildcard constraints and the command lines shared by every
# rules file. The checks that need the library live in scripts/kemdy/config.py.
import functools
import json
import math
import re
import shlex

from kemdy.config import check_encoders, datasets  # noqa: E402
from kemdy.cpus import available_cpus  # noqa: E402
from kemdy.demo.owned import check_owned, generated_state  # noqa: E402
from kemdy.errors import InputError  # noqa: E402
from kemdy.release.kinds import check_kind  # noqa: E402
from kemdy.release.state import root_state  # noqa: E402
from kemdy.protocol import plan, sweep_warning  # noqa: E402
from kemdy.sweep_schema import schema_check  # noqa: E402
from kemdy.spec import encoder_of, encoders, fingerprint  # noqa: E402


def step(path):
    """A file of this workflow by its path in the repository, wherever Snakemake runs from
    (-s, --directory); relative, so that a rule's `script` parameter only changes when the
    way the workflow is called does."""
    return os.path.relpath(os.path.join(workflow.basedir, path))


DATASETS = datasets(config)
LOOKALIKES = [d for d in DATASETS if d["synthetic"]]
OPTIONS = config["dataset"]
VARIANTS = list(config["variants"])
FOLDS = list(range(config["folds"]["n_folds"]))
# Each variant's fan-out over seeds and sweep candidates (kemdy/protocol.py), checked here.
SWEPT_VALUE = schema_check(os.path.join(workflow.basedir, "schemas/config.schema.yaml"))
PLANS = {name: plan(config, name, "config.yaml", SWEPT_VALUE) for name in VARIANTS}
SPECS = {name: PLANS[name].spec for name in VARIANTS}
if workflow.is_main_process and sweep_warning(config, PLANS):
    print(sweep_warning(config, PLANS), file=sys.stderr)
# Which rules train a variant: plain (one seed, no sweep) keeps today's layout and jobs.
TWO_STAGE = [v for v in VARIANTS if SPECS[v]["two_stage"] and PLANS[v].plain]
ONE_STAGE = [v for v in VARIANTS if not SPECS[v]["two_stage"] and PLANS[v].plain]
SEEDED_TWO = [v for v in VARIANTS if SPECS[v]["two_stage"] and PLANS[v].multi_seed]
SWEPT = [v for v in VARIANTS if PLANS[v].swept]
SEEDED_ONE = [
    v
    for v in VARIANTS
    if not SPECS[v]["two_stage"] and PLANS[v].multi_seed and v not in SWEPT
]
RES = config["resources"]
CPUS = available_cpus()
PARTIAL = {
    "html": "reports/summary.partial.html",
    "summary": "results/summary.partial.csv",
    "plots": "results/report.partial",
}
REPORT, STALE = "reports/summary.html", "reports/summary.stale.html"
# dialogue context: the previous turns' transcripts
SEGMENTS = "results/data/segments.csv"


def state_cache(d):
    """The cache of a dataset's file hashes (kemdy.release.state), outside the dataset."""
    return (
        f".snakemake/kemdy/dataset_state/{fingerprint(os.path.abspath(d['root']))}.json"
    )


def check_config():
    """Cross-key checks a JSON schema cannot express, made before any job runs."""
    if config["report"]["reference"] not in VARIANTS:
        raise InputError(
            "config", f"reference variant '{config['report']['reference']}' is not among the variants",
            f"set report.reference to one of {VARIANTS}", key="report.reference",
        )  # fmt: skip
    if LOOKALIKES:
        n = config["synthetic"]["n_sessions"]
        if len(FOLDS) > n:
            raise InputError(
                "config", f"{len(FOLDS)} folds but the look-alike has {n} sessions",
                "lower folds.n_folds or raise synthetic.n_sessions", key="folds.n_folds",
            )  # fmt: skip
        if any(s > n for s in config["synthetic"]["wrong_prefix_sessions"]):
            raise InputError(
                "config", f"a wrong-prefix session is beyond the {n} sessions",
                "list sessions within synthetic.n_sessions", key="synthetic.wrong_prefix_sessions",
            )  # fmt: skip
    for d in DATASETS:
        if d["synthetic"]:
            check_owned(
                d["root"], key=f"{d['key']}.root", cache=state_cache(d)
            )  # never write over a user's data
        elif not os.path.isdir(os.path.join(d["root"], "annotation")):
            raise InputError(
                d["root"], "no annotation/ folder here",
                "set the dataset's root to the folder that holds annotation/ and wav/",
                key=f"{d['key']}.root",
            )  # fmt: skip
        else:
            check_kind(d["release"], d["root"], key=f"{d['key']}.kind")


check_config()


@functools.cache
def checked_encoders():
    """The encoders exist and fit (kemdy/config.py check_encoders), checked once, when the
    DAG is built, by the first job that loads one (training, predict): a target that only
    needs data steps (new_data.csv, folds.csv) runs without them, and nothing runs before
    the check either way."""
    check_encoders(
        config, SPECS, {v: [c.params for c in PLANS[v].candidates] for v in SWEPT}
    )


def alternation(names):
    """A wildcard regex matching exactly these names (never matches if there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


wildcard_constraints:
    fold=r"\d+",
    stage="1|2",
    seed=r"\d+",
    candidate=r"c[0-9a-f]+",


def claimed(threads):
    """Threads a local job claims from --cores: its own, scaled up where --cores counts more
    cores than this machine really has (affinity, cgroup quota), so that the jobs Snakemake
    runs at once never need more CPUs than there are (a cluster job gets its own node).
    """
    if workflow.nodes is not None or not workflow.is_main_process:
        return threads
    try:
        cores = workflow.cores
    except Exception:  # no --cores (e.g. --lint): nothing to scale against
        return threads
    if cores <= CPUS:
        return threads
    return min(cores, math.ceil(threads * cores / CPUS))


def dataset_state(d):
    """What a change of the dataset's files changes: ingest and decode_audio rerun on it.
    A look-alike that is absent or exactly as generated is 'as generated', so the first
    run's generation itself does not count as a change."""
    state = root_state(d["root"], state_cache(d))
    if d["synthetic"] and state in ("absent", generated_state(d["root"])):
        return "as generated"
    return state


STATES = {d["name"]: dataset_state(d) for d in DATASETS}
# What a report was rendered from: a failed rerun on other inputs moves it aside.
INPUTS_DIGEST = fingerprint(
    {"config": json.loads(json.dumps(config)), "datasets": STATES}
)


def dataset_args():
    """--dataset KIND ROOT for every dataset, quoted for the shell."""
    return " ".join(
        shlex.join(["--dataset", d["release"], d["root"]]) for d in DATASETS
    )


def lookalike_truths(wildcards=None):
    return [d["truth"] for d in LOOKALIKES]


def lookalike_args():
    """The generator's arguments: one --lookalike per synthetic dataset, shared settings."""
    syn = config["synthetic"]
    args = []
    for d in LOOKALIKES:
        args += ["--lookalike", d["release"], d["root"], d["truth"], d["seed"]]
    args += ["--n-sessions", syn["n_sessions"]]
    args += ["--segments-per-session", syn["segments_per_session"]]
    args += ["--prior", syn["prior"], "--single-modality-share"]
    args += [syn["single_modality_share"], "--wrong-prefix-sessions"]
    return shlex.join(map(str, args + syn["wrong_prefix_sessions"]))


def encoder_inputs(spec):
    """Demo encoders are built by a rule; hub names or local folders (a variant's own
    text_encoder/audio_encoder too) are used as given."""
    if not config["encoders"]["build_demo"]:
        return {}
    used = {m: encoder_of(config, spec, m) for m in encoders(spec)}
    return {
        f"{m}_encoder": name
        for m, (name, key) in used.items()
        if key == f"encoders.{m}"
    }


def demo_size(*keys):
    """The demo encoder sizes one build rule uses."""
    return {k: config["encoders"]["demo_size"][k] for k in keys}


def encoder_args(wildcards):
    """--text-encoder/--audio-encoder of the encoders a variant uses, quoted: another
    encoder's change reruns nothing."""
    spec = SPECS[wildcards.variant]
    args = [[f"--{m}-encoder", encoder_of(config, spec, m)[0]] for m in encoders(spec)]
    return shlex.join(sum(args, []))


def train_inputs(wildcards):
    checked_encoders()
    spec = SPECS[wildcards.variant]
    inputs = {
        "data": "results/data/new_data.csv",
        "folds": "results/data/folds.csv",
        **encoder_inputs(spec),
    }
    if "audio" in spec["modality"]:
        inputs["audio"] = "results/data/audio/audio_index.csv"
    # dialogue context: the previous turns' transcripts (a sweep may set context_turns)
    if job_spec(wildcards)["context_turns"]:
        inputs["segments"] = SEGMENTS
    return inputs


def context_args(wildcards):
    """--segments for a variant with dialogue context; nothing for the others."""
    if not job_spec(wildcards)["context_turns"]:
        return ""
    return shlex.join(["--segments", SEGMENTS])


def gpus(variant):
    """GPU slots of one training job: the train slot count times the variant's GPUs."""
    return RES["train"]["gpu"] * SPECS[variant]["gpus"]


def train_threads(variant):
    """CPU threads of one training job: one set per GPU process."""
    return RES["train"]["threads"] * SPECS[variant]["gpus"]


def model_dirs(variant):
    """The exported (chosen) model of every fold x seed of a variant: predict's ensemble."""
    p = PLANS[variant]
    return [p.model_dir(k, s) for k in FOLDS for s in p.seeds]


def varying_keys(variant):
    """The spec keys a variant's exported models differ in: seed (several seeds) and its
    sweep's keys (each fold and seed keeps its own choice); none when plain."""
    p = PLANS[variant]
    return (["seed"] if p.multi_seed else []) + p.sweep_keys


def predict_vary(variant):
    """predict's --vary (model.json records the same as `varies`; this serves older exports)."""
    keys = varying_keys(variant)
    return " --vary " + " ".join(keys) if keys else ""


def train_extra_args(wildcards):
    """The `context` param of a training job: --segments (context_args), and --varies for a
    variant with seeds or a sweep (recorded in model.json). One param, so a plain variant's
    params and command line stay byte-identical: no finished job reruns."""
    keys = varying_keys(wildcards.variant)
    varies = shlex.join(["--varies", *keys]) if keys else ""
    return " ".join(a for a in (context_args(wildcards), varies) if a)


def exported_models(variant):
    """The exported model folders of every fold x seed of a variant (each stage's, if two)."""
    checked_encoders()  # predict loads the encoders these models name
    folders = model_dirs(variant)
    if not SPECS[variant]["two_stage"]:
        return folders
    return [os.path.join(f, stage) for f in folders for stage in ("stage1", "stage2")]


def exported_runs(variant):
    """The metrics.json written with each of those models: a model folder left from another
    layout (seed folders inside, after `seeds: [1, 2]` became `[1]`) still exists, so only
    these files tell Snakemake the model must be trained again."""
    return [
        os.path.join(f.replace("results/models/", "results/runs/", 1), "metrics.json")
        for f in exported_models(variant)
    ]


def run_files(name):
    """A file of every (chosen) run: variant x fold, x seed where there are several."""
    p = PLANS
    return [
        f"{p[v].run_dir(k, s)}/{name}"
        for v in VARIANTS
        for k in FOLDS
        for s in p[v].seeds
    ]


def selections():
    """results/sweeps/{variant}/selection.csv of every swept variant."""
    return [f"results/sweeps/{v}/selection.csv" for v in SWEPT]


def selection_parts(variant):
    """select_candidate's selection rows of every fold (x seed, where there are several)."""
    p = PLANS[variant]
    if not p.multi_seed:
        return [f"results/sweeps/{variant}/fold{k}/selection.csv" for k in FOLDS]
    return [
        f"results/sweeps/{variant}/fold{k}/seed{s}/selection.csv"
        for k in FOLDS
        for s in p.seeds
    ]


def job_spec(wildcards):
    """The spec of one training job: the variant's, with its seed and sweep candidate."""
    p = PLANS[wildcards.variant]
    seed = int(wildcards.get("seed", p.seeds[0]))
    return p.job_spec(seed, wildcards.get("candidate"))


def candidate_files(wildcards):
    """Every candidate run of one variant, fold and seed: the selection's inputs."""
    p = PLANS[wildcards.variant]
    seed = wildcards.get("seed", p.seeds[0])
    dirs = [p.candidate_dir(wildcards.fold, seed, c.id) for c in p.candidates]
    return {
        "histories": [f"{d}/history.csv" for d in dirs],
        "metrics": [f"{d}/metrics.json" for d in dirs],
        "models": [f"{d}/model" for d in dirs],
    }


def checkpoint_dir(out_dir):
    """Resume state outside the outputs: results/checkpoints/{the run's path}."""
    if out_dir.startswith("results/sweeps/"):
        return out_dir.replace("results/", "results/checkpoints/", 1)
    return out_dir.replace("results/runs", "results/checkpoints", 1)


def protocol_args(selection=True):
    """--seeds of every multi-seed variant (and --selection of every swept one)."""
    args = []
    for v in VARIANTS:
        if PLANS[v].multi_seed:
            args += ["--seeds", f"{v}=" + ",".join(map(str, PLANS[v].seeds))]
    for v, path in zip(SWEPT, selections() if selection else []):
        args += ["--selection", f"{v}={path}"]
    return args


def train_params(stage=None):
    """The settings that change a model: a change reruns exactly the runs it affects."""
    return dict(
        launcher=step("scripts/gpu_slot.py"),
        script=step("scripts/train.py"),
        spec=lambda w: json.dumps(job_spec(w), sort_keys=True),
        # "{stage}" (the seeded two-stage rule): Snakemake fills in the job's wildcard
        stage=f"--stage {stage}" if stage else "",
        encoders=encoder_args,
        context=train_extra_args,  # --segments, and --varies
        out_dir=lambda w, output: os.path.dirname(output.metrics),
        # Outside the outputs, which Snakemake deletes when a job fails: a rerun resumes.
        checkpoint_dir=lambda w, output: checkpoint_dir(
            os.path.dirname(output.metrics)
        ),
    )


def summarize_args(out, allow_missing=False):
    """summarize's arguments: the rule's and the partial report's."""
    args = ["--runs-dir", "results/runs", "--variants", ",".join(VARIANTS)]
    args += ["--folds", ",".join(map(str, FOLDS)), "--out", out]
    args += protocol_args(selection=False)
    return args + (["--allow-missing"] if allow_missing else [])


def render_args(summary, html, plots, allow_missing=False):
    """render_report's arguments: the rule's and the partial report's."""
    settings = config["report"]
    args = ["--runs-dir", "results/runs", "--variants", ",".join(VARIANTS)]
    args += ["--folds", ",".join(map(str, FOLDS)), "--data-dir", "results/data"]
    args += ["--summary", summary, "--config-json", "results/config.json"]
    args += ["--benchmarks", "benchmarks", "--reference", settings["reference"]]
    args += ["--bootstrap", str(settings["bootstrap"]), "--seed", str(settings["seed"])]
    args += ["--out", html, "--plots-dir", plots, "--inputs-digest", INPUTS_DIGEST]
    args += protocol_args()
    return args + (["--allow-missing"] if allow_missing else [])


def report_aftermath(failed):
    """onerror / onsuccess: the partial and stale reports (scripts/kemdy/report/aftermath.py)."""
    from kemdy.report import aftermath

    if not failed:
        aftermath.remove_superseded(REPORT, PARTIAL, STALE, "results/summary.csv")
        return
    moved = aftermath.set_stale_report_aside(
        REPORT, STALE, json.loads(json.dumps(config)), INPUTS_DIGEST
    )
    # summarize runs only once every run is there: the old summary.csv is left otherwise
    aftermath.set_stale_summary_aside(
        "results/summary.csv",
        run_files("predictions.csv") + run_files("metrics.json"),
        STALE if moved else None,
    )
    steps = [
        ("summarize", summarize_args(PARTIAL["summary"], allow_missing=True)),
        (
            "render_report",
            render_args(
                PARTIAL["summary"],
                PARTIAL["html"],
                PARTIAL["plots"],
                allow_missing=True,
            ),
        ),
    ]
    commands = [["python", step(f"scripts/{s}.py"), *a] for s, a in steps]
    needed = ["results/config.json"] + [
        f"results/data/{n}" for n in ("new_data.csv", "folds.csv", "agreement.json")
    ]
    # Stopped by SIGTERM (Snakemake then waits for the running jobs): nothing failed.
    scheduler = getattr(workflow, "scheduler", None)
    stopped = getattr(scheduler, "_user_kill", None) and not getattr(
        scheduler, "_errors", True
    )
    if stopped:
        aftermath.say_stopped(remaining_jobs(scheduler))
    else:  # jobs a signal stopped (Ctrl-C, SIGTERM to the group) saved and exited 128+sig
        failed = getattr(scheduler, "failed", ())
        stopped = aftermath.say_interrupted({job_name(j): list(j.log) for j in failed})
    aftermath.partial_report(commands, needed, PARTIAL["html"], stopped=bool(stopped))


def job_name(job):
    """'train (variant=text_ce, fold=0)': a job as Snakemake's error lines name it."""
    wildcards = ", ".join(f"{k}={v}" for k, v in job.wildcards_dict.items())
    return f"{job.rule.name} ({wildcards})" if wildcards else job.rule.name


def remaining_jobs(scheduler):
    """How many jobs Snakemake had still to run (None if it cannot say)."""
    try:
        return len(scheduler.remaining_jobs)
    except Exception:  # Snakemake's internals: the message only loses its precision
        return None
