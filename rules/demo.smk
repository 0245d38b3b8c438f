# What a real run never executes: the KEMDy20 look-alike and the small demo encoders of the
# default config (a real config reads a KEMDy20 copy and loads pretrained encoders).


if LOOKALIKES:

    workflow.localrules("generate_lookalike")  # quick, and it runs before anything else

    rule generate_lookalike:
        output:
            truth=lookalike_truths(),
        log:
            "logs/generate_lookalike.log",
        benchmark:
            "benchmarks/generate_lookalike.tsv"
        conda:
            "../envs/data.yaml"
        threads: claimed(1)
        resources:
            mem_mb=RES["data"]["mem_mb"],
            runtime=RES["data"]["runtime"],
        params:
            script=step("scripts/generate_lookalike.py"),
            args=lookalike_args(LOOKALIKES, config["synthetic"]),
        shell:
            # Nothing under a root is a declared output, so Snakemake never deletes a
            # dataset folder; the generator replaces only a root its marker says it wrote.
            "python {params.script:q} {params.args} > {log:q} 2>&1"


if config["encoders"]["build_demo"]:

    workflow.localrules("build_demo_text_encoder", "build_demo_audio_encoder")

    # Two rules, so the text variants train while the audio encoder is pre-trained.
    rule build_demo_text_encoder:
        input:
            segments="results/data/segments.csv",
        output:
            text=directory(config["encoders"]["text"]),
        log:
            "logs/build_demo_encoders/text.log",
        benchmark:
            "benchmarks/build_demo_encoders/text.tsv"
        conda:
            "../envs/train.yaml"
        threads: claimed(1)
        resources:
            mem_mb=RES["data"]["mem_mb"],
            runtime=RES["data"]["runtime"],
        params:
            script=step("scripts/build_demo_encoders.py"),
            # only what shapes this encoder: another size key reruns nothing here
            size=demo_size("hidden", "layers", "heads", "vocab"),
        shell:
            "python {params.script:q} --segments {input.segments:q}"
            " --text-out {output.text:q} --hidden {params.size[hidden]}"
            " --layers {params.size[layers]} --heads {params.size[heads]}"
            " --vocab {params.size[vocab]} --threads 1 > {log:q} 2>&1"

    rule build_demo_audio_encoder:
        input:
            audio="results/data/audio/audio_index.csv",
            wave="results/data/audio/audio.npy",
        output:
            audio=directory(config["encoders"]["audio"]),
        log:
            "logs/build_demo_encoders/audio.log",
        benchmark:
            "benchmarks/build_demo_encoders/audio.tsv"
        conda:
            "../envs/train.yaml"
        threads: claimed(RES["train"]["threads"])
        resources:
            cpus=RES["train"]["threads"],
            mem_mb=RES["data"]["mem_mb"],
            runtime=RES["data"]["runtime"],
        params:
            script=step("scripts/build_demo_encoders.py"),
            size=demo_size("hidden", "layers", "heads", "audio_pretrain_epochs"),
            audio=lambda w, input: os.path.dirname(input.audio),
        shell:
            "python {params.script:q} --audio {params.audio:q}"
            " --audio-out {output.audio:q} --hidden {params.size[hidden]}"
            " --layers {params.size[layers]} --heads {params.size[heads]}"
            " --pretrain-epochs {params.size[audio_pretrain_epochs]}"
            " --threads {resources.cpus} > {log:q} 2>&1"
