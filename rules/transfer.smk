# Transfer between releases (config transfer:, kemdy/transfer/): each listed variant trained
# on one release's sessions only and scored on every session of the other, and (sequential)
# that model fine-tuned on the other release; the matrix beside the in-corpus folds.


rule transfer_split:
    input:
        "results/data/new_data.csv",
    output:
        sessions=layout.TRANSFER_SESSIONS,
        tables=expand(
            layout.transfer_table("{name}"),
            direction=DIRECTIONS,
            name=["new_data.csv", "folds.csv"],
        ),
    log:
        "logs/transfer_split.log",
    benchmark:
        "benchmarks/transfer_split.tsv"
    conda:
        "../envs/data.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/transfer_split.py"),
        args=lambda w: shlex.join(COMMANDS.transfer_split()),
    shell:
        "python {params.script:q} {params.args} > {log:q} 2>&1"


# A training job on its direction's new_data.csv and folds.csv (test fold 0).
use rule train as train_transfer with:
    input:
        unpack(transfer_inputs),
    output:
        **trained(layout.transfer_run_dir(), layout.transfer_model_dir()),
    log:
        "logs/transfer/{variant}/{direction}/fold{fold}.log",
    benchmark:
        "benchmarks/transfer/{variant}/{direction}/fold{fold}.tsv"
    wildcard_constraints:
        variant=alternation(TRANSFER.variants if TRANSFER else []),
        direction=alternation(DIRECTIONS),
        fold="0",
    params:
        context=transfer_extra,


rule summarize_transfer:
    input:
        config="results/config.json",
        new_data="results/data/new_data.csv",
        sessions=layout.TRANSFER_SESSIONS,
        runs=NEEDS.transfer_matrix(),
    output:
        layout.TRANSFER_MATRIX,
    log:
        "logs/summarize_transfer.log",
    benchmark:
        "benchmarks/summarize_transfer.tsv"
    conda:
        "../envs/report.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/summarize_transfer.py"),
        args=lambda w: shlex.join(COMMANDS.summarize_transfer()),
    shell:
        "python {params.script:q} {params.args} > {log:q} 2>&1"
