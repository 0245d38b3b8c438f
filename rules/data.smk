# The dataset read once: the reader every later step trusts, and the decoded audio cache.


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


rule decode_audio:
    input:
        segments="results/data/segments.csv",
        wav=f"{ROOT}/wav",
    output:
        wave="results/data/audio/audio.npy",
        index="results/data/audio/audio_index.csv",
    log:
        "logs/decode_audio.log",
    benchmark:
        "benchmarks/decode_audio.tsv"
    conda:
        "../envs/data.yaml"
    threads: RES["data"]["threads"]
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        root=lambda w, input: os.path.dirname(input.wav),
        sample_rate=config["audio"]["sample_rate"],
        max_seconds=config["audio"]["max_seconds"],
        out_dir=lambda w, output: os.path.dirname(output.index),
    shell:
        "python scripts/decode_audio.py --segments {input.segments} --root {params.root}"
        " --sample-rate {params.sample_rate} --max-seconds {params.max_seconds}"
        " --out {params.out_dir} > {log} 2>&1"
