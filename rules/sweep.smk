# Sweeps (kemdy/protocol.py): every candidate of a variant trains for every fold and seed, as
# its own job under results/sweeps/; select_candidate keeps the best by validation macro-F1
# (read from the candidates' history.csv, never from test rows) and copies that run (and its
# model) to where a plain run would be; the other candidates' test predictions stay unread.


use rule train as train_candidate with:
    output:
        metrics="results/sweeps/{variant}/fold{fold}/seed{seed}/{candidate}/metrics.json",
        predictions="results/sweeps/{variant}/fold{fold}/seed{seed}/{candidate}/predictions.csv",
        history="results/sweeps/{variant}/fold{fold}/seed{seed}/{candidate}/history.csv",
        model=directory(
            "results/sweeps/{variant}/fold{fold}/seed{seed}/{candidate}/model"
        ),
    log:
        "logs/train/{variant}/fold{fold}.seed{seed}.{candidate}.log",
    benchmark:
        "benchmarks/train/{variant}/fold{fold}.seed{seed}.{candidate}.tsv"
    wildcard_constraints:
        variant=alternation(SWEPT),


rule select_candidate:
    input:
        unpack(candidate_files),
    output:
        metrics="results/runs/{variant}/fold{fold}/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/predictions.csv",
        history="results/runs/{variant}/fold{fold}/history.csv",
        model=directory("results/models/{variant}/fold{fold}"),
        part="results/sweeps/{variant}/fold{fold}/selection.csv",
    log:
        "logs/select_candidate/{variant}/fold{fold}.log",
    benchmark:
        "benchmarks/select_candidate/{variant}/fold{fold}.tsv"
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
        metrics="results/runs/{variant}/fold{fold}/seed{seed}/metrics.json",
        predictions="results/runs/{variant}/fold{fold}/seed{seed}/predictions.csv",
        history="results/runs/{variant}/fold{fold}/seed{seed}/history.csv",
        model=directory("results/models/{variant}/fold{fold}/seed{seed}"),
        part="results/sweeps/{variant}/fold{fold}/seed{seed}/selection.csv",
    log:
        "logs/select_candidate/{variant}/fold{fold}.seed{seed}.log",
    benchmark:
        "benchmarks/select_candidate/{variant}/fold{fold}.seed{seed}.tsv"
    wildcard_constraints:
        variant=alternation([v for v in SWEPT if PLANS[v].multi_seed]),


rule gather_selection:
    input:
        lambda w: selection_parts(w.variant),
    output:
        "results/sweeps/{variant}/selection.csv",
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
