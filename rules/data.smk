# The datasets read once: the reader every later step trusts, and the decoded audio cache.
# Both take each dataset's state (a digest of its files' contents) as a parameter, so a
# restored, corrected or added file reruns them and what follows, and nothing else does.


rule ingest:
    input:
        lookalikes=lookalike_truths(),
        refresh=segments_refresh(SEGMENTS, CONTEXT),
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
    threads: claimed(RES["data"]["threads"])
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/ingest.py"),
        state=STATES,
        datasets=dataset_args(DATASETS),
        skip="--skip-missing" if OPTIONS["skip_missing"] else "",
        share=OPTIONS["max_skipped_share"],
        sample_rate=config["audio"]["sample_rate"],
    shell:
        "python {params.script:q} {params.datasets} --out {output.segments:q}"
        " --report {output.report:q} --skipped {output.skipped:q} {params.skip}"
        " --max-skipped-share {params.share} > {log:q} 2>&1"


rule decode_audio:
    input:
        segments="results/data/segments.csv",
    output:
        wave="results/data/audio/audio.npy",
        index="results/data/audio/audio_index.csv",
    log:
        "logs/decode_audio.log",
    benchmark:
        "benchmarks/decode_audio.tsv"
    conda:
        "../envs/data.yaml"
    threads: claimed(RES["data"]["threads"])
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/decode_audio.py"),
        state=STATES,
        datasets=dataset_args(DATASETS),
        sample_rate=config["audio"]["sample_rate"],
        max_seconds=config["audio"]["max_seconds"],
        out_dir=lambda w, output: os.path.dirname(output.index),
    shell:
        "python {params.script:q} --segments {input.segments:q} {params.datasets}"
        " --sample-rate {params.sample_rate} --max-seconds {params.max_seconds}"
        " --out {params.out_dir:q} > {log:q} 2>&1"
