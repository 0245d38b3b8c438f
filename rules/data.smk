# Dataset: the look-alike (default config only) and the reader every later step trusts.

if SYNTHETIC:

    rule generate_lookalike:
        output:
            annotations=dataset_files(None)["annotations"],
            wav=directory(f"{ROOT}/wav"),
            truth=config["synthetic"]["truth"],
        log:
            "logs/generate_lookalike.log",
        benchmark:
            "benchmarks/generate_lookalike.tsv"
        conda:
            "../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=RES["data"]["mem_mb"],
            runtime=RES["data"]["runtime"],
        params:
            root=lambda w, output: os.path.dirname(output.wav),
            seed=config["synthetic"]["seed"],
            n_sessions=config["synthetic"]["n_sessions"],
            per_session=config["synthetic"]["segments_per_session"],
            prior=config["synthetic"]["prior"],
            single_share=config["synthetic"]["single_modality_share"],
            wrong_prefix=" ".join(
                map(str, config["synthetic"]["wrong_prefix_sessions"])
            ),
        shell:
            "python scripts/generate_lookalike.py --root {params.root} --truth {output.truth}"
            " --seed {params.seed} --n-sessions {params.n_sessions}"
            " --segments-per-session {params.per_session} --prior {params.prior}"
            " --single-modality-share {params.single_share}"
            " --wrong-prefix-sessions {params.wrong_prefix} > {log} 2>&1"


rule ingest:
    input:
        unpack(dataset_files),
    output:
        segments="results/data/segments.csv",
        report="results/data/ingest.json",
        skipped="results/data/skipped.csv",
    log:
        "logs/ingest.log",
    benchmark:
        "benchmarks/ingest.tsv"
    conda:
        "../envs/data.yaml"
    threads: RES["data"]["threads"]
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        root=lambda w, input: os.path.dirname(input.wav),
        skip="--skip-missing" if DATASET["skip_missing"] else "",
    shell:
        "python scripts/ingest.py --root {params.root} --out {output.segments}"
        " --report {output.report} --skipped {output.skipped} {params.skip} > {log} 2>&1"
