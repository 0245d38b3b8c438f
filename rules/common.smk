# Config lists, input functions, wildcard constraints and the command lines shared by every
# rules file.
import glob
import json
import re
import shlex

sys.path.insert(0, os.path.join(workflow.basedir, "scripts"))
from kemdy.errors import InputError  # noqa: E402
from kemdy.spec import resolve  # noqa: E402

DATASET = config["dataset"]
ROOT = DATASET["root"].rstrip("/")
SYNTHETIC = DATASET["kind"] == "synthetic"
VARIANTS = list(config["variants"])
FOLDS = list(range(config["folds"]["n_folds"]))
SPECS = {name: resolve(config, name, source="config.yaml") for name in VARIANTS}
TWO_STAGE = [v for v in VARIANTS if SPECS[v]["two_stage"]]
ONE_STAGE = [v for v in VARIANTS if not SPECS[v]["two_stage"]]
RES = config["resources"]
PARTIAL = {
    "html": "reports/summary.partial.html",
    "summary": "results/summary.partial.csv",
    "plots": "results/report.partial",
}


def check_config():
    """Cross-key checks a JSON schema cannot express, made before any job runs."""
    if config["report"]["reference"] not in VARIANTS:
        raise InputError(
            "config", f"reference variant '{config['report']['reference']}' is not among the variants",
            f"set report.reference to one of {VARIANTS}", key="report.reference",
        )  # fmt: skip
    if SYNTHETIC:
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


check_config()


def alternation(names):
    """A wildcard regex matching exactly these names (never matches if there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


wildcard_constraints:
    fold=r"\d+",
    stage="1|2",


def python(step, *args):
    """The command line of a step script, every argument quoted for the shell."""
    return shlex.join(["python", f"scripts/{step}.py", *map(str, args)])


def dataset_files(wildcards):
    """The raw files ingest depends on: touching one reruns ingest and what follows."""
    if SYNTHETIC:
        n = config["synthetic"]["n_sessions"]
        annotations = [
            f"{ROOT}/annotation/Sess{s:02d}_eval.csv" for s in range(1, n + 1)
        ]
    else:
        annotations = sorted(glob.glob(f"{ROOT}/annotation/Sess*_eval.csv"))
        if not annotations:
            raise InputError(
                f"{ROOT}/annotation",
                "no SessNN_eval.csv annotation files found",
                "set dataset.root to the folder that holds annotation/ and wav/",
                key="dataset.root",
            )
    return {"annotations": annotations, "wav": f"{ROOT}/wav"}


def encoder_inputs(spec):
    """Demo encoders are built by a rule; hub names or local folders are used as given."""
    if not config["encoders"]["build_demo"]:
        return {}
    paths = {"text": config["encoders"]["text"]}
    if "audio" in spec["modality"]:
        paths["audio"] = config["encoders"]["audio"]
    return paths


def train_inputs(wildcards):
    spec = SPECS[wildcards.variant]
    inputs = {
        "data": "results/data/new_data.csv",
        "folds": "results/data/folds.csv",
        **encoder_inputs(spec),
    }
    if "audio" in spec["modality"]:
        inputs["audio"] = "results/data/audio/audio_index.csv"
    return inputs


def gpus(variant):
    """GPU slots of one training job: the train slot count times the variant's GPUs."""
    return RES["train"]["gpu"] * SPECS[variant]["gpus"]


def run_files(name):
    return expand(
        f"results/runs/{{variant}}/fold{{fold}}/{name}", variant=VARIANTS, fold=FOLDS
    )


def train_params(stage=None):
    """The settings that change a model: a change reruns exactly the runs it affects."""
    return dict(
        spec=lambda w: json.dumps(SPECS[w.variant], sort_keys=True),
        stage=f"--stage {stage}" if stage else "",
        text_encoder=config["encoders"]["text"],
        audio_encoder=config["encoders"]["audio"],
        out_dir=lambda w, output: os.path.dirname(output.metrics),
        # Outside the outputs, which Snakemake deletes when a job fails: a rerun resumes.
        checkpoint_dir=lambda w, output: os.path.dirname(output.metrics).replace(
            "results/runs", "results/checkpoints", 1
        ),
    )


def summarize_command(out, allow_missing=False):
    """summarize's command line: the rule's and the partial report's."""
    args = ["--runs-dir", "results/runs", "--variants", ",".join(VARIANTS)]
    args += ["--folds", ",".join(map(str, FOLDS)), "--out", out]
    return python("summarize", *args, *(["--allow-missing"] if allow_missing else []))


def render_command(summary, html, plots, allow_missing=False):
    """render_report's command line: the rule's and the partial report's."""
    args = ["--runs-dir", "results/runs", "--variants", ",".join(VARIANTS)]
    args += ["--folds", ",".join(map(str, FOLDS)), "--data-dir", "results/data"]
    args += ["--summary", summary, "--config-json", "results/config.json"]
    args += ["--benchmarks", "benchmarks", "--reference", config["report"]["reference"]]
    args += [
        "--bootstrap",
        config["report"]["bootstrap"],
        "--seed",
        config["report"]["seed"],
    ]
    args += ["--out", html, "--plots-dir", plots]
    return python(
        "render_report", *args, *(["--allow-missing"] if allow_missing else [])
    )


def partial_report():
    """After a failure (e.g. under --keep-going), report what finished and name what is missing.

    It goes to reports/summary.partial.html, not the target: Snakemake does not redo a
    deleted or failed intermediate while the target exists, so a partial report written as
    reports/summary.html would stop the next run from redoing the failed jobs.
    """
    import subprocess

    needed = ["results/config.json"] + [
        f"results/data/{n}" for n in ("new_data.csv", "folds.csv", "agreement.json")
    ]
    if not all(os.path.exists(p) for p in needed):
        print("No partial report: the data steps did not finish.", file=sys.stderr)
        return
    os.makedirs("logs", exist_ok=True)
    with open("logs/partial_report.log", "w") as log:
        for cmd in (
            summarize_command(PARTIAL["summary"], allow_missing=True),
            render_command(
                PARTIAL["summary"],
                PARTIAL["html"],
                PARTIAL["plots"],
                allow_missing=True,
            ),
        ):
            if subprocess.run(shlex.split(cmd), stdout=log, stderr=log).returncode != 0:
                print(
                    "Partial report failed: see logs/partial_report.log",
                    file=sys.stderr,
                )
                return
    print(
        f"Some jobs failed: {PARTIAL['html']} reports what finished and names the missing runs;"
        " fix the cause and rerun to redo only the failed jobs.",
        file=sys.stderr,
    )


def remove_partial_report():
    """A complete report supersedes the partial report of an earlier failed run."""
    import shutil

    html = "reports/summary.html"
    if not os.path.exists(PARTIAL["html"]) or not os.path.exists(html):
        return
    if os.path.getmtime(html) < os.path.getmtime(PARTIAL["html"]):
        return  # this run did not render the report (e.g. a single target was asked for)
    for path in PARTIAL.values():
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
