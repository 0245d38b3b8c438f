# Every run aggregated into results/summary.csv and reports/summary.html (after a failure:
# the Snakefile's onerror, scripts/kemdy/report/aftermath.py).


rule snapshot_config:
    output:
        "results/config.json",
    log:
        "logs/snapshot_config.log",
    benchmark:
        "benchmarks/snapshot_config.tsv"
    conda:
        "../envs/report.yaml"
    threads: claimed(1)
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        script=step("scripts/snapshot_config.py"),
        config=json.dumps(config, sort_keys=True),
    shell:
        "python {params.script:q} --config-json {params.config:q}"
        " --out {output:q} > {log:q} 2>&1"


rule summarize:
    input:
        NEEDS.run_files("predictions.csv"),
        NEEDS.run_files("metrics.json"),
    output:
        "results/summary.csv",
    log:
        "logs/summarize.log",
    benchmark:
        "benchmarks/summarize.tsv"
    conda:
        "../envs/report.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/summarize.py"),
        args=shlex.join(COMMANDS.summarize("results/summary.csv")),
    shell:
        "python {params.script:q} {params.args} > {log:q} 2>&1"


rule render_report:
    input:
        summary="results/summary.csv",
        config="results/config.json",
        runs=NEEDS.run_files("history.csv"),
        selections=list(COMMANDS.selections().values()),
        transfer=NEEDS.transfer_report(),
        data=expand(
            "results/data/{name}",
            name=[
                "segments.csv",
                "ingest.json",
                "skipped.csv",
                "new_data.csv",
                "evaluators.csv",
                "agreement.json",
                "folds.csv",
                "raters.csv",
                "raters_consensus.csv",
            ],
        ),
    output:
        html=report(
            REPORT,
            caption="captions/summary.rst",
            category="Report",
        ),
        plots=report(
            directory("results/report"),
            patterns=["{name}.png"],
            caption="captions/plots.rst",
            category="Plots",
        ),
    log:
        "logs/render_report.log",
    benchmark:
        "benchmarks/render_report.tsv"
    conda:
        "../envs/report.yaml"
    threads: claimed(1)
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        script=step("scripts/render_report.py"),
        args=shlex.join(
            COMMANDS.render("results/summary.csv", REPORT, "results/report")
        ),
    shell:
        "python {params.script:q} {params.args} > {log:q} 2>&1"
