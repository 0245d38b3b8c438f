# Predictions for new recordings with every fold's model of a variant (an ensemble):
#   snakemake results/predict/mm_ce/new.csv   reads predict/new.csv (columns wav, text).
# Several seeds or a sweep: every fold x seed's (chosen) model, averaged alike.


rule predict:
    input:
        table="predict/{name}.csv",
        models=exported_models,
        runs=lambda w: NEEDS.exported_runs(w.variant),
    output:
        "results/predict/{variant}/{name}.csv",
    log:
        "logs/predict/{variant}/{name}.log",
    benchmark:
        "benchmarks/predict/{variant}/{name}.tsv"
    wildcard_constraints:
        variant=alternation(VARIANTS),
    conda:
        "../envs/train.yaml"
    threads: claimed(RES["train"]["threads"])
    resources:
        cpus=RES["train"]["threads"],
        mem_mb=RES["train"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/predict.py"),
        models=lambda w: shlex.join(NEEDS.model_dirs(w.variant)),
        vary=lambda w: COMMANDS.predict_vary(w.variant),
    shell:
        "HF_HUB_OFFLINE=1 python {params.script:q} --model {params.models}{params.vary}"
        " --csv {input.table:q} --out {output:q} --threads {resources.cpus} > {log:q} 2>&1;"
        # its warnings and notes (no context given, ...) on the console too, not only in the log
        " grep -E '^(warning|note): ' {log:q} >&2 || true"
