# What a real run never executes: the KEMDy20 look-alike and the small demo encoders of the
# default config (a real config reads a KEMDy20 copy and loads pretrained encoders).

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
            "python scripts/generate_lookalike.py --root {params.root:q} --truth {output.truth:q}"
            " --seed {params.seed} --n-sessions {params.n_sessions}"
            " --segments-per-session {params.per_session} --prior {params.prior}"
            " --single-modality-share {params.single_share}"
            " --wrong-prefix-sessions {params.wrong_prefix} > {log} 2>&1"


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
