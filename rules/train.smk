# Training fans out over variants x folds; a two-stage variant trains each stage as its own
# job, then combine_stages scores it. Checkpoints live in results/checkpoints/, outside the
# declared outputs, so a killed job resumes instead of starting again.

TRAIN_SHELL = (
    # Offline: the encoders were found locally before any job ran (kemdy/encoder_checks.py).
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


# The settings that change a model: a change reruns exactly the runs it affects.
TRAIN_PARAMS = dict(
    launcher=step("scripts/gpu_slot.py"),
    script=step("scripts/train.py"),
    # the job's identity: a key added since, at its default, reruns nothing (kemdy/spec.py)
    spec=lambda w: json.dumps(identity(job_spec(w)), sort_keys=True),
    stage="",
    encoders=lambda w: COMMANDS.encoders(w.variant),
    # --segments (dialogue context) and --varies (seeds, sweeps)
    context=lambda w: COMMANDS.train_extra(w.variant, job_spec(w)["context_turns"]),
    out_dir=lambda w, output: os.path.dirname(output.metrics),
    # Outside the outputs, which Snakemake deletes when a job fails: a rerun resumes.
    checkpoint_dir=lambda w, output: layout.checkpoint_dir(
        os.path.dirname(output.metrics)
    ),
)
# "{stage}": Snakemake fills in the job's wildcard
STAGE_PARAMS = {**TRAIN_PARAMS, "stage": "--stage {stage}"}


rule train:
    input:
        unpack(train_inputs),
    output:
        **trained(layout.run_dir(), layout.model_dir()),
    log:
        f"logs/train/{layout.job_stem()}.log",
    benchmark:
        f"benchmarks/train/{layout.job_stem()}.tsv"
    wildcard_constraints:
        variant=alternation(PLAIN_ONE_STAGE),
    conda:
        "../envs/train.yaml"
    # one set of threads per GPU process; the train slot count times the variant's GPUs
    threads: lambda w: claimed(train_cpus(w))
    resources:
        gpu=lambda w: RES["train"]["gpu"] * SPECS[w.variant]["gpus"],
        cpus=train_cpus,
        mem_mb=RES["train"]["mem_mb"],
        runtime=RES["train"]["runtime"],
        # a resource, not a param: changing it must not rerun a job
        checkpoint_minutes=RES["train"]["checkpoint_minutes"],
    params:
        **TRAIN_PARAMS,
    shell:
        TRAIN_SHELL


# Two-stage: one job per stage ({stage}: 1 neutral vs rest, 2 which emotion), then combined.
use rule train as train_stage with:
    output:
        **trained(layout.run_dir(staged=True), layout.model_dir(staged=True)),
    log:
        f"logs/train/{layout.job_stem(staged=True)}.log",
    benchmark:
        f"benchmarks/train/{layout.job_stem(staged=True)}.tsv"
    wildcard_constraints:
        variant=alternation(PLAIN_TWO_STAGE),
    params:
        **STAGE_PARAMS,


rule combine_stages:
    input:
        stage1=layout.stage_predictions(1),
        stage2=layout.stage_predictions(2),
    output:
        **layout.run_files(layout.run_dir()),
    log:
        f"logs/combine_stages/{layout.job_stem()}.log",
    benchmark:
        f"benchmarks/combine_stages/{layout.job_stem()}.tsv"
    wildcard_constraints:
        variant=alternation(PLAIN_TWO_STAGE),
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
        **trained(layout.run_dir(seeded=True), layout.model_dir(seeded=True)),
    log:
        f"logs/train/{layout.job_stem(seeded=True)}.log",
    benchmark:
        f"benchmarks/train/{layout.job_stem(seeded=True)}.tsv"
    wildcard_constraints:
        variant=alternation(SEEDED_ONE_STAGE),


use rule train as train_seed_stage with:
    output:
        **trained(
            layout.run_dir(seeded=True, staged=True),
            layout.model_dir(seeded=True, staged=True),
        ),
    log:
        f"logs/train/{layout.job_stem(seeded=True, staged=True)}.log",
    benchmark:
        f"benchmarks/train/{layout.job_stem(seeded=True, staged=True)}.tsv"
    wildcard_constraints:
        variant=alternation(SEEDED_TWO_STAGE),
    params:
        **STAGE_PARAMS,


use rule combine_stages as combine_stages_seed with:
    input:
        stage1=layout.stage_predictions(1, seeded=True),
        stage2=layout.stage_predictions(2, seeded=True),
    output:
        **layout.run_files(layout.run_dir(seeded=True)),
    log:
        f"logs/combine_stages/{layout.job_stem(seeded=True)}.log",
    benchmark:
        f"benchmarks/combine_stages/{layout.job_stem(seeded=True)}.tsv"
    wildcard_constraints:
        variant=alternation(SEEDED_TWO_STAGE),
