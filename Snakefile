# KEMDy20 (and KEMDy19) multimodal emotion recognition: data -> labels -> folds x variants
# -> report. Run: snakemake --cores 8 --resources gpu=2   (README: SLURM, conda, real data)
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, os.path.join(workflow.basedir, "scripts"))
from kemdy.config import check_duplicate_keys, type_overrides  # noqa: E402

# A --configfile replaces config.yaml instead of merging into it, so a real-data config never
# inherits demo settings; --config KEY=VALUE still overrides either.
CONFIG_FILES = workflow.config_settings.configfiles or [
    os.path.join(workflow.basedir, "config.yaml")
]
for path in CONFIG_FILES:
    check_duplicate_keys(path)  # YAML would keep the last of two `variants:` silently
if not workflow.config_settings.configfiles:

    configfile: CONFIG_FILES[0]


# Snakemake reads nested --config values as text: type them as the schema says.
type_overrides(
    config,
    workflow.config_settings.config,
    os.path.join(workflow.basedir, "schemas/config.schema.yaml"),
)
validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/data.smk"
include: "rules/labels.smk"
include: "rules/train.smk"
include: "rules/sweep.smk"
include: "rules/transfer.smk"
include: "rules/report.smk"
include: "rules/predict.smk"
include: "rules/aftermath.smk"


# Every step but training runs where Snakemake runs: on a cluster only training jobs queue.
localrules:
    ingest,
    decode_audio,
    aggregate_labels,
    score_raters,
    make_folds,
    combine_stages,
    combine_stages_seed,
    select_candidate,
    select_candidate_seed,
    gather_selection,
    transfer_split,
    summarize_transfer,
    snapshot_config,
    summarize,
    render_report,
    predict,


rule all:
    default_target: True
    input:
        REPORT,
