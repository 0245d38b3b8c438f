# Training fans out over variants x folds; a two-stage variant trains each stage as its own
# job, then combine_stages scores it. Checkpoints live in results/checkpoints/, outside the
# declared outputs, so a killed job resumes instead of starting again.

TRAIN_SHELL = (
    # Offline: the encoders were found locally before any job ran (kemdy/config.py).
    "HF_HUB_OFFLINE=1 python {params.launcher:q} --gpus {resources.gpu}"
    " -- {params.script:q} --variant {wildcards.variant} --fold {wildcards.fold}"
    " {params.stage} --spec {params.spec:q} --data {input.data:q} --folds {input.folds:q}"
    " {params.context}"
    " --audio results/data/audio {params.encoders} --out-dir {params.out_dir:q}"
    " --model-dir {output.model:q}"
    " --checkpoint-dir {params.checkpoint_dir:q} --cache-dir results/cache/embeddings"
    " --threads {resources.cpus} --checkpoint-minutes {resources.checkpoint_minutes}"
    " > {log:q} 2>&1"
)


rule train:
    input:
        unpack(train_inputs),
    output:
        metrics="results/runs/{variant}/fold{fold}/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/predictions.csv",
        history="results/runs/{variant}/fold{fold}/history.csv",
        model=directory("results/models/{variant}/fold{fold}"),
    log:
        "logs/train/{variant}/fold{fold}.log",
    benchmark:
        "benchmarks/train/{variant}/fold{fold}.tsv"
    wildcard_constraints:
        variant=alternation(ONE_STAGE),
    conda:
        "../envs/train.yaml"
    threads: lambda w: claimed(train_threads(w.variant))
    resources:
        gpu=lambda w: gpus(w.variant),
        cpus=lambda w: train_threads(w.variant),
        mem_mb=RES["train"]["mem_mb"],
        runtime=RES["train"]["runtime"],
        # a resource, not a param: changing it must not rerun a job
        checkpoint_minutes=RES["train"]["checkpoint_minutes"],
    params:
        **train_params(),
    shell:
        TRAIN_SHELL


use rule train as train_stage1 with:
    output:
        metrics="results/runs/{variant}/fold{fold}/stage1/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/stage1/predictions.csv",
        history="results/runs/{variant}/fold{fold}/stage1/history.csv",
        model=directory("results/models/{variant}/fold{fold}/stage1"),
    log:
        "logs/train/{variant}/fold{fold}.stage1.log",
    benchmark:
        "benchmarks/train/{variant}/fold{fold}.stage1.tsv"
    wildcard_constraints:
        variant=alternation(TWO_STAGE),
    params:
        **train_params(stage=1),


use rule train as train_stage2 with:
    output:
        metrics="results/runs/{variant}/fold{fold}/stage2/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/stage2/predictions.csv",
        history="results/runs/{variant}/fold{fold}/stage2/history.csv",
        model=directory("results/models/{variant}/fold{fold}/stage2"),
    log:
        "logs/train/{variant}/fold{fold}.stage2.log",
    benchmark:
        "benchmarks/train/{variant}/fold{fold}.stage2.tsv"
    wildcard_constraints:
        variant=alternation(TWO_STAGE),
    params:
        **train_params(stage=2),


rule combine_stages:
    input:
        stage1="results/runs/{variant}/fold{fold}/stage1/predictions.csv",
        stage2="results/runs/{variant}/fold{fold}/stage2/predictions.csv",
    output:
        metrics="results/runs/{variant}/fold{fold}/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/predictions.csv",
        history="results/runs/{variant}/fold{fold}/history.csv",
    log:
        "logs/combine_stages/{variant}/fold{fold}.log",
    benchmark:
        "benchmarks/combine_stages/{variant}/fold{fold}.tsv"
    wildcard_constraints:
        variant=alternation(TWO_STAGE),
    conda:
        "../envs/train.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/combine_stages.py"),
        threshold=lambda w: SPECS[w.variant]["neutral_threshold"],
        stage1=lambda w, input: os.path.dirname(input.stage1),
        stage2=lambda w, input: os.path.dirname(input.stage2),
        out_dir=lambda w, output: os.path.dirname(output.metrics),
    shell:
        "python {params.script:q} --stage1 {params.stage1:q}"
        " --stage2 {params.stage2:q} --threshold {params.threshold}"
        " --variant {wildcards.variant} --fold {wildcards.fold}"
        " --out-dir {params.out_dir:q} > {log:q} 2>&1"


# Several seeds (kemdy/protocol.py): one job per variant x fold x seed, under seed{seed}/.
use rule train as train_seed with:
    output:
        metrics="results/runs/{variant}/fold{fold}/seed{seed}/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/seed{seed}/predictions.csv",
        history="results/runs/{variant}/fold{fold}/seed{seed}/history.csv",
        model=directory("results/models/{variant}/fold{fold}/seed{seed}"),
    log:
        "logs/train/{variant}/fold{fold}.seed{seed}.log",
    benchmark:
        "benchmarks/train/{variant}/fold{fold}.seed{seed}.tsv"
    wildcard_constraints:
        variant=alternation(SEEDED_ONE),


use rule train as train_seed_stage with:
    output:
        metrics="results/runs/{variant}/fold{fold}/seed{seed}/stage{stage}/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/seed{seed}/stage{stage}/predictions.csv",
        history="results/runs/{variant}/fold{fold}/seed{seed}/stage{stage}/history.csv",
        model=directory("results/models/{variant}/fold{fold}/seed{seed}/stage{stage}"),
    log:
        "logs/train/{variant}/fold{fold}.seed{seed}.stage{stage}.log",
    benchmark:
        "benchmarks/train/{variant}/fold{fold}.seed{seed}.stage{stage}.tsv"
    wildcard_constraints:
        variant=alternation(SEEDED_TWO),
    params:
        **train_params(stage="{stage}"),


use rule combine_stages as combine_stages_seed with:
    input:
        stage1="results/runs/{variant}/fold{fold}/seed{seed}/stage1/predictions.csv",
        stage2="results/runs/{variant}/fold{fold}/seed{seed}/stage2/predictions.csv",
    output:
        metrics="results/runs/{variant}/fold{fold}/seed{seed}/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/seed{seed}/predictions.csv",
        history="results/runs/{variant}/fold{fold}/seed{seed}/history.csv",
    log:
        "logs/combine_stages/{variant}/fold{fold}.seed{seed}.log",
    benchmark:
        "benchmarks/combine_stages/{variant}/fold{fold}.seed{seed}.tsv"
    wildcard_constraints:
        variant=alternation(SEEDED_TWO),
