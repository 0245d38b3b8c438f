# Model inputs prepared once: demo encoders (default config) and the decoded audio cache.

if config["encoders"]["build_demo"]:

    rule build_demo_encoders:
        input:
            segments="results/data/segments.csv",
            audio="results/data/audio/audio_index.csv",
            wave="results/data/audio/audio.npy",
        output:
            text=directory(config["encoders"]["text"]),
            audio=directory(config["encoders"]["audio"]),
        log:
            "logs/build_demo_encoders.log",
        benchmark:
            "benchmarks/build_demo_encoders.tsv"
        conda:
            "../envs/train.yaml"
        threads: RES["train"]["threads"]
        resources:
            mem_mb=RES["data"]["mem_mb"],
            runtime=RES["data"]["runtime"],
        params:
            size=config["encoders"]["demo_size"],
            audio=lambda w, input: os.path.dirname(input.audio),
        shell:
            "python scripts/build_demo_encoders.py --segments {input.segments}"
            " --audio {params.audio} --text-out {output.text} --audio-out {output.audio}"
            " --hidden {params.size[hidden]} --layers {params.size[layers]}"
            " --heads {params.size[heads]} --vocab {params.size[vocab]}"
            " --pretrain-epochs {params.size[audio_pretrain_epochs]}"
            " --threads {threads} > {log} 2>&1"


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
