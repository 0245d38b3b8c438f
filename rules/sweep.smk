# Sweeps (kemdy/protocol.py): every candidate of a variant trains for every fold and seed, as
# its own job under results/sweeps/; select_candidate keeps the best by validation macro-F1
# (read from the candidates' history.csv, never from test rows) and copies that run (and its
# model) to where a plain run would be; the other candidates' test predictions stay unread.


use rule train as train_candidate with:
    output:
        **trained(layout.candidate_dir(), layout.candidate_model_dir()),
    log:
        f"logs/train/{layout.job_stem(candidate=True)}.log",
    benchmark:
        f"benchmarks/train/{layout.job_stem(candidate=True)}.tsv"
    wildcard_constraints:
        variant=alternation(SWEPT),


rule select_candidate:
    input:
        unpack(lambda w: NEEDS.candidates(w.variant, w.fold, w.get("seed"))),
    output:
        **trained(layout.run_dir(), layout.model_dir()),
        part=layout.selection_part(),
    log:
        f"logs/select_candidate/{layout.job_stem()}.log",
    benchmark:
        f"benchmarks/select_candidate/{layout.job_stem()}.tsv"
    wildcard_constraints:
        variant=alternation([v for v in SWEPT if not PLANS[v].multi_seed]),
    conda:
        "../envs/report.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/select_candidate.py"),
        seed=lambda w: w.get("seed", PLANS[w.variant].seeds[0]),
        candidates=lambda w: json.dumps(
            [[c.id, c.params] for c in PLANS[w.variant].candidates]
        ),
        dirs=lambda w, input: shlex.join(os.path.dirname(h) for h in input.histories),
        out_dir=lambda w, output: os.path.dirname(output.metrics),
    shell:
        "python {params.script:q} --variant {wildcards.variant} --fold {wildcards.fold}"
        " --seed {params.seed} --candidates {params.candidates:q}"
        " --candidate-dirs {params.dirs} --out-dir {params.out_dir:q}"
        " --model-dir {output.model:q} --selection {output.part:q} > {log:q} 2>&1"


use rule select_candidate as select_candidate_seed with:
    output:
        **trained(layout.run_dir(seeded=True), layout.model_dir(seeded=True)),
        part=layout.selection_part(seeded=True),
    log:
        f"logs/select_candidate/{layout.job_stem(seeded=True)}.log",
    benchmark:
        f"benchmarks/select_candidate/{layout.job_stem(seeded=True)}.tsv"
    wildcard_constraints:
        variant=alternation([v for v in SWEPT if PLANS[v].multi_seed]),


rule gather_selection:
    input:
        lambda w: NEEDS.selection_parts(w.variant),
    output:
        layout.selection(),
    log:
        "logs/gather_selection/{variant}.log",
    benchmark:
        "benchmarks/gather_selection/{variant}.tsv"
    wildcard_constraints:
        variant=alternation(SWEPT),
    conda:
        "../envs/report.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/select_candidate.py"),
    shell:
        "python {params.script:q} --gather {input:q} --selection {output:q} > {log:q} 2>&1"
