# The config's globals and the input functions every rules file shares. Checks, command
# lines and paths live in the library: kemdy/prerun.py, kemdy/commands.py, kemdy/layout.py.
import functools
import json
import re
import shlex

from kemdy import layout  # noqa: E402
from kemdy.commands import (
    SEGMENTS,
    Commands,
    dataset_args,
    lookalike_args,
)  # noqa: E402
from kemdy.config import datasets  # noqa: E402
from kemdy.encoder_checks import check_encoders  # noqa: E402
from kemdy.cpus import available_cpus, claimed as claimed_cpus  # noqa: E402
from kemdy.needs import Needs  # noqa: E402
from kemdy.prerun import check_config, dataset_state, segments_refresh  # noqa: E402
from kemdy.protocol import plan, reads_context, sweep_warning  # noqa: E402
from kemdy.spec import fingerprint, identity  # noqa: E402
from kemdy.sweep_schema import schema_check  # noqa: E402
from kemdy.transfer.plan import plan_transfer  # noqa: E402
from kemdy.workflow_state import local_cores  # noqa: E402


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
validate_swept_value = schema_check(
    os.path.join(workflow.basedir, "schemas/config.schema.yaml")
)
PLANS = {v: plan(config, v, "config.yaml", validate_swept_value) for v in VARIANTS}
SPECS = {v: PLANS[v].spec for v in VARIANTS}
if workflow.is_main_process and sweep_warning(config, PLANS):
    print(sweep_warning(config, PLANS), file=sys.stderr)
# Which rules train a variant: the plain ones (one seed, no sweep) keep today's layout.
STAGES = {v: SPECS[v]["two_stage"] for v in VARIANTS}
PLAIN_ONE_STAGE = [v for v in VARIANTS if not STAGES[v] and PLANS[v].plain]
PLAIN_TWO_STAGE = [v for v in VARIANTS if STAGES[v] and PLANS[v].plain]
SWEPT = [v for v in VARIANTS if PLANS[v].swept]
SEEDED_ONE_STAGE = [
    v for v in VARIANTS if not STAGES[v] and PLANS[v].multi_seed and v not in SWEPT
]
SEEDED_TWO_STAGE = [v for v in VARIANTS if STAGES[v] and PLANS[v].multi_seed]
RES = config["resources"]
CPUS, CORES = available_cpus(), local_cores(workflow)
PARTIAL = {
    "html": "reports/summary.partial.html",
    "summary": "results/summary.partial.csv",
    "plots": "results/report.partial",
}
REPORT, STALE = "reports/summary.html", "reports/summary.stale.html"

check_config(config, DATASETS, len(FOLDS))
STATES = {d["name"]: dataset_state(d) for d in DATASETS}
# What a report was rendered from: a failed rerun on other inputs moves it aside.
INPUTS_DIGEST = fingerprint(
    {"config": json.loads(json.dumps(config)), "datasets": STATES}
)
# an older segments.csv without `turn` reruns ingest when dialogue context needs it
CONTEXT = reads_context(PLANS.values())
# transfer between releases (kemdy/transfer/): None without a transfer: section
TRANSFER = plan_transfer(config, PLANS, DATASETS)
DIRECTIONS = [d.name for d in TRANSFER.directions] if TRANSFER else []
# the steps' arguments
COMMANDS = Commands(config, PLANS, FOLDS, INPUTS_DIGEST, TRANSFER)
NEEDS = Needs(config, PLANS, FOLDS, TRANSFER)  # the jobs' inputs


@functools.cache
def checked_encoders():
    """The encoders exist and fit (kemdy/encoder_checks.py), checked once, when the
    DAG is built, by the first job that loads one (training, predict): a target that only
    needs data steps (new_data.csv, folds.csv) runs without them, and nothing runs before
    the check either way."""
    sweeps = {v: [c.params for c in PLANS[v].candidates] for v in SWEPT}
    check_encoders(config, SPECS, sweeps)


def alternation(names):
    """A wildcard regex matching exactly these names (never matches if there are none)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


def claimed(threads):
    """Threads a local job claims from --cores (kemdy/cpus.py)."""
    return claimed_cpus(threads, CORES, CPUS)


def train_cpus(w):
    """A training job's CPUs: one set of threads per GPU process."""
    return RES["train"]["threads"] * SPECS[w.variant]["gpus"]


wildcard_constraints:
    fold=r"\d+",
    stage="1|2",
    seed=r"\d+",
    candidate=r"c[0-9a-f]+",


def lookalike_truths(wildcards=None):
    return [d["truth"] for d in LOOKALIKES]


def demo_size(*keys):
    """The demo encoder sizes one build rule uses."""
    return {k: config["encoders"]["demo_size"][k] for k in keys}


def job_spec(w):
    """The spec of one training job: the variant's, with its seed and sweep candidate."""
    return NEEDS.job_spec(w.variant, w.get("seed"), w.get("candidate"))


def train_inputs(w):
    checked_encoders()
    return NEEDS.train(w.variant, w.get("seed"), w.get("candidate"))


def trained(run_dir, model_dir):
    """A training rule's outputs: the run's files and the exported model's folder."""
    return {**layout.run_files(run_dir), "model": directory(model_dir)}


def exported_models(w):
    checked_encoders()  # predict loads the encoders these models name
    return NEEDS.exported_models(w.variant)


def transfer_inputs(w):
    checked_encoders()
    return NEEDS.transfer_train(w.variant, w.direction)


def transfer_extra(w, input):
    """A transfer run's --segments and, sequential, --init-from (kemdy/commands.py)."""
    extra = COMMANDS.train_extra(w.variant, job_spec(w)["context_turns"])
    init = COMMANDS.transfer_init(w.direction, input.get("init"))
    return " ".join(f"{a}" for a in (extra, init) if f"{a}")
