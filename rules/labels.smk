# Re-labelling by evaluator reliability, then session folds.


rule aggregate_labels:
    input:
        "results/data/segments.csv",
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
    threads: 1
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        method=config["labels"]["method"],
        min_votes=config["labels"]["min_votes"],
        tol=config["labels"]["dawid_skene"]["tol"],
        max_iter=config["labels"]["dawid_skene"]["max_iter"],
    shell:
        "python scripts/aggregate_labels.py --segments {input} --method {params.method}"
        " --min-votes {params.min_votes} --ds-tol {params.tol} --ds-max-iter {params.max_iter}"
        " --out {output.new_data} --evaluators {output.evaluators}"
        " --agreement {output.agreement} > {log} 2>&1"


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
    threads: 1
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        method=config["folds"]["method"],
        n_folds=config["folds"]["n_folds"],
        group_by=config["folds"]["group_by"],
        val_sessions=config["folds"]["val_sessions"],
        seed=config["folds"]["seed"],
    shell:
        "python scripts/make_folds.py --new-data {input} --out {output}"
        " --method {params.method} --n-folds {params.n_folds} --group-by {params.group_by}"
        " --val-sessions {params.val_sessions} --seed {params.seed} > {log} 2>&1"
