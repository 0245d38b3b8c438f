"""python -m bench PART [PART ...]: run benchmarks, each printing ratios against its baseline
and writing results/bench/<part>.json.

    aggregate     vectorised re-labelling vs the original's loops
    train-text    our training/eval loop vs pad-to-256 and batch-1 evaluation
    train-audio   multimodal epoch: decode-every-step vs the audio and embedding caches
    workflow      the default run from nothing: wall time, job-time sum, parallel efficiency
"""

from __future__ import annotations

import argparse
import importlib

from kemdy.errors import run_cli

PARTS = {  # part -> (module, positional arguments of its run())
    "aggregate": ("bench.aggregate", ()),
    "train-text": ("bench.train", ("train-text",)),
    "train-audio": ("bench.train", ("train-audio",)),
    "workflow": ("bench.workflow", ()),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=[*PARTS, "all"])
    parser.add_argument("--out-dir", default="results/bench")
    parser.add_argument("--config", help="workflow: a config file instead of config.yaml")
    parser.add_argument("--cores", type=int, default=2, help="workflow: snakemake --cores")
    parser.add_argument("--threads", type=int, help="train-*: torch CPU threads")
    args = parser.parse_args(argv)
    for part in PARTS if "all" in args.parts else args.parts:
        module, extra = PARTS[part]
        kwargs = {}
        if part == "workflow":
            kwargs = {"config": args.config, "cores": args.cores}
        elif part.startswith("train") and args.threads:
            import torch

            torch.set_num_threads(args.threads)
        importlib.import_module(module).run(*extra, out_dir=args.out_dir, **kwargs)


if __name__ == "__main__":
    run_cli(main)
