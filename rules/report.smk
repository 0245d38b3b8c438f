# Every run aggregated into results/summary.csv and reports/summary.html.


rule snapshot_config:
    output:
        "results/config.json",
    log:
        "logs/snapshot_config.log",
    benchmark:
        "benchmarks/snapshot_config.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        config=json.dumps(config, sort_keys=True),
    shell:
        "python scripts/snapshot_config.py --config-json {params.config:q} --out {output} > {log} 2>&1"


rule summarize:
    input:
        run_files("predictions.csv"),
        run_files("metrics.json"),
    output:
        "results/summary.csv",
    log:
        "logs/summarize.log",
    benchmark:
        "benchmarks/summarize.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        command=summarize_command("results/summary.csv"),
    shell:
        "{params.command} > {log} 2>&1"


rule render_report:
    input:
        summary="results/summary.csv",
        config="results/config.json",
        runs=run_files("history.csv"),
        data=expand(
            "results/data/{name}",
            name=[
                "segments.csv",
                "new_data.csv",
                "evaluators.csv",
                "agreement.json",
                "folds.csv",
            ],
        ),
    output:
        html=report(
            "reports/summary.html",
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
    threads: 1
    resources:
        mem_mb=RES["data"]["mem_mb"],
        runtime=RES["data"]["runtime"],
    params:
        command=render_command(
            "results/summary.csv", "reports/summary.html", "results/report"
        ),
    shell:
        "{params.command} > {log} 2>&1"
