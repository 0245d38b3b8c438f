"""The results tree: where every run, exported model, sweep candidate, selection and resume
state lives. The one owner of these paths: kemdy.protocol fills them for one job, the rules
take their output patterns from here (tests/test_workflow_static.py holds them equal), and
docs/contracts.md describes them.

Patterns carry Snakemake's wildcards ({variant}, {fold}, {seed}, {stage}, {candidate});
`fill` gives one job's path.

    results/runs/{variant}/fold{k}[/seed{s}][/stage{t}]       a run (the chosen one, if swept)
    results/models/{variant}/fold{k}[/seed{s}][/stage{t}]     its exported model
    results/sweeps/{variant}/fold{k}/seed{s}/{candidate}/     a sweep candidate's run (+ model/)
    results/sweeps/{variant}/fold{k}[/seed{s}]/selection.csv  one fold (x seed)'s choice
    results/sweeps/{variant}/selection.csv                    every fold's
    results/checkpoints/...                                   resume states, outside the outputs

Transfer between releases (config `transfer:`, kemdy/transfer/): {direction} is
SOURCE-to-TARGET (trained on the source release only) or SOURCE-then-TARGET (that model
fine-tuned on the target release); fold0 is the one test fold of the direction's folds file.

    results/data/transfer/sessions.csv                        each session's role (train/val/test)
    results/data/transfer/{direction}/new_data.csv, folds.csv what a transfer run reads
    results/transfer/runs/{variant}/{direction}/fold0         a transfer run
    results/transfer/models/{variant}/{direction}/fold0       its exported model
    results/transfer/matrix.csv                               the report's transfer matrix

seed{s} appears where a variant has several seeds; stage{t} for each stage of a two-stage
variant. Logs and benchmarks of a training job are named by `job_stem`.
"""

from __future__ import annotations

RUNS, MODELS, SWEEPS = "results/runs", "results/models", "results/sweeps"
CHECKPOINTS = "results/checkpoints"
TRANSFER, TRANSFER_DATA = "results/transfer", "results/data/transfer"
TRANSFER_SESSIONS = f"{TRANSFER_DATA}/sessions.csv"
TRANSFER_MATRIX = f"{TRANSFER}/matrix.csv"
RUN_FILES = ("metrics.json", "predictions.csv", "history.csv")  # what every run folder holds
BASE = "{variant}/fold{fold}"


def _nested(root: str, seeded: bool, staged: bool) -> str:
    return f"{root}/{BASE}" + ("/seed{seed}" if seeded else "") + ("/stage{stage}" if staged else "")


def run_dir(seeded: bool = False, staged: bool = False) -> str:
    """A (chosen) run's folder: its metrics.json, predictions.csv, history.csv, config.json."""
    return _nested(RUNS, seeded, staged)


def model_dir(seeded: bool = False, staged: bool = False) -> str:
    """The exported model of the run at run_dir(seeded, staged)."""
    return _nested(MODELS, seeded, staged)


def candidate_dir() -> str:
    """A sweep candidate's run folder (every candidate has its seed in the path)."""
    return f"{SWEEPS}/{BASE}/seed{{seed}}/{{candidate}}"


def candidate_model_dir() -> str:
    return f"{candidate_dir()}/model"


def selection_part(seeded: bool = False) -> str:
    """One fold's (x seed's) rows of a sweep's selection."""
    return f"{SWEEPS}/{BASE}" + ("/seed{seed}" if seeded else "") + "/selection.csv"


def selection() -> str:
    return f"{SWEEPS}/{{variant}}/selection.csv"


def run_files(folder: str) -> dict[str, str]:
    """{metrics, predictions, history}: the files of a run folder (or pattern)."""
    return {name.split(".")[0]: f"{folder}/{name}" for name in RUN_FILES}


def stage_predictions(stage: int, seeded: bool = False) -> str:
    """predictions.csv of one stage of a two-stage run (what combine_stages reads)."""
    return run_files(run_dir(seeded, staged=True))["predictions"].replace("{stage}", str(stage))


def checkpoint_dir(out_dir: str) -> str:
    """Resume state of the run written to out_dir, outside the outputs (which Snakemake
    deletes when a job fails): results/checkpoints/{the run's path under runs/ or sweeps/}."""
    for root, under in ((SWEEPS, f"{CHECKPOINTS}/sweeps"), (RUNS, CHECKPOINTS),
                        (TRANSFER, f"{CHECKPOINTS}/transfer")):
        if out_dir.startswith(f"{root}/"):
            return under + out_dir[len(root):]
    raise ValueError(f"{out_dir} is not a run folder under {RUNS}/, {SWEEPS}/ or {TRANSFER}/")


def run_of_model(model: str) -> str:
    """The run folder written with an exported model (its metrics.json marks it done)."""
    if not model.startswith(f"{MODELS}/"):
        raise ValueError(f"{model} is not an exported model under {MODELS}/")
    return RUNS + model[len(MODELS):]


def job_stem(seeded: bool = False, staged: bool = False, candidate: bool = False) -> str:
    """A training job's log and benchmark name (without the extension)."""
    return (BASE + (".seed{seed}" if seeded or candidate else "")
            + (".stage{stage}" if staged else "") + (".{candidate}" if candidate else ""))


def transfer_run_dir() -> str:
    """A transfer run (wildcards {variant}, {direction}, {fold}: always 0)."""
    return f"{TRANSFER}/runs/{{variant}}/{{direction}}/fold{{fold}}"


def transfer_model_dir() -> str:
    return f"{TRANSFER}/models/{{variant}}/{{direction}}/fold{{fold}}"


def transfer_table(name: str) -> str:
    """new_data.csv or folds.csv of one direction (wildcard {direction})."""
    return f"{TRANSFER_DATA}/{{direction}}/{name}"


def fill(pattern: str, **wildcards) -> str:
    """One job's path from a pattern."""
    return pattern.format(**wildcards)
