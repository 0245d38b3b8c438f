"""Benchmarks: each part prints a small table of ratios against a baseline measured in the
same run, with the machine beside them, and writes results/bench/<part>.json.

    python scripts/bench.py aggregate      # vectorised re-labelling vs the original's loops
    python scripts/bench.py train-text     # our training/eval loop vs pad-to-256, batch-1 eval
    python scripts/bench.py train-audio    # multimodal epoch: decode-every-step vs caches
    python scripts/bench.py workflow       # wall time, job-time sum, parallel efficiency
"""

from __future__ import annotations

import argparse
import importlib

from errors import run_cli

PARTS = {
    "aggregate": ("bench_aggregate", "run", ()),
    "train-text": ("bench_train", "run", ("train-text",)),
    "train-audio": ("bench_train", "run", ("train-audio",)),
    "workflow": ("bench_workflow", "run", ()),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=[*PARTS, "all"])
    parser.add_argument("--out-dir", default="results/bench")
    parser.add_argument("--config", help="workflow: a config file instead of config.yaml")
    parser.add_argument("--cores", type=int, default=2, help="workflow: snakemake --cores")
    args = parser.parse_args(argv)
    for part in PARTS if "all" in args.parts else args.parts:
        module, func, extra = PARTS[part]
        kwargs = {"config": args.config, "cores": args.cores} if part == "workflow" else {}
        getattr(importlib.import_module(module), func)(*extra, out_dir=args.out_dir, **kwargs)


if __name__ == "__main__":
    run_cli(main)
