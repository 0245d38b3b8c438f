# KEMDy20 multimodal emotion recognition: data -> labels -> folds x variants -> report.
# Run: snakemake --cores 8 --resources gpu=2   (README: SLURM, conda, real data)
from snakemake.utils import min_version, validate

min_version("9.0")


# A --configfile replaces config.yaml instead of merging into it, so a real-data config never
# inherits demo settings; --config KEY=VALUE still overrides either.
if not workflow.config_settings.configfiles:

    configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/data.smk"
include: "rules/labels.smk"
include: "rules/train.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        "reports/summary.html",


onsuccess:
    remove_partial_report()


onerror:
    partial_report()
