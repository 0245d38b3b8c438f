# Re-labelling by evaluator reliability, then session folds.

# How the labels are aggregated: score_raters reruns the same aggregation without each
# rater, and kemdy.labels.raters refuses settings that differ from new_data.csv's.
LABEL_PARAMS = dict(
    method=config["labels"]["method"],
    min_votes=config["labels"]["min_votes"],
    tol=config["labels"]["dawid_skene"]["tol"],
    max_iter=config["labels"]["dawid_skene"]["max_iter"],
)


rule aggregate_labels:
    input:
        segments="results/data/segments.csv",
        ingest="results/data/ingest.json",
    output:
        new_data="results/data/new_data.csv",
        evaluators="results/data/evaluators.csv",
        agreement="results/data/agreement.json",
    log:
        "logs/aggregate_labels.log",
    benchmark:
        "benchmarks/aggregate_labels.tsv"
    conda:
        "../envs/data.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        **LABEL_PARAMS,
        script=step("scripts/aggregate_labels.py"),
    shell:
        "python {params.script:q} --segments {input.segments:q}"
        " --ingest {input.ingest:q} --method {params.method}"
        " --min-votes {params.min_votes} --ds-tol {params.tol} --ds-max-iter {params.max_iter}"
        " --out {output.new_data:q} --evaluators {output.evaluators:q}"
        " --agreement {output.agreement:q} > {log:q} 2>&1"


rule make_folds:
    input:
        "results/data/new_data.csv",
    output:
        "results/data/folds.csv",
    log:
        "logs/make_folds.log",
    benchmark:
        "benchmarks/make_folds.tsv"
    conda:
        "../envs/data.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/make_folds.py"),
        method=config["folds"]["method"],
        n_folds=config["folds"]["n_folds"],
        group_by=config["folds"]["group_by"],
        val_sessions=config["folds"]["val_sessions"],
        seed=config["folds"]["seed"],
    shell:
        "python {params.script:q} --new-data {input:q} --out {output:q}"
        " --method {params.method} --n-folds {params.n_folds} --group-by {params.group_by}"
        " --val-sessions {params.val_sessions} --seed {params.seed} > {log:q} 2>&1"


rule score_raters:
    input:
        segments="results/data/segments.csv",
        ingest="results/data/ingest.json",
        new_data="results/data/new_data.csv",
    output:
        raters="results/data/raters.csv",
        consensus="results/data/raters_consensus.csv",
    log:
        "logs/score_raters.log",
    benchmark:
        "benchmarks/score_raters.tsv"
    conda:
        "../envs/data.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        **LABEL_PARAMS,
        script=step("scripts/score_raters.py"),
        min_segments=config["raters"]["min_segments"],
    shell:
        "python {params.script:q} --segments {input.segments:q} --new-data {input.new_data:q}"
        " --ingest {input.ingest:q} --method {params.method} --min-votes {params.min_votes}"
        " --ds-tol {params.tol} --ds-max-iter {params.max_iter}"
        " --min-segments {params.min_segments} --out {output.raters:q}"
        " --consensus {output.consensus:q} > {log:q} 2>&1"
