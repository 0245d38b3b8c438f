"""python -m bench PART [PART ...]: run benchmarks, each printing ratios against its baseline
and writing results/bench/<part>.json. (`python -m bench grid --configfile X`: the grid's
GPU cost from a card table, bench/grid.py.)

    aggregate     vectorised re-labelling vs the original's loops
    train-text    our training/eval loop vs pad-to-256 and batch-1 evaluation
    train-audio   multimodal epoch: decode-every-step vs the audio and embedding caches
    workflow      the default run from nothing, `--cores 2` and `--cores 8 --resources gpu=2`:
                  wall time, job-time sum, parallel efficiency, same results
    gpu           the real shapes (klue/roberta-base, wav2vec2-base) on this machine's GPU:
                  training and eval samples/s, peak memory, float32 vs mixed precision
    checkpoints   checkpoint bytes per epoch and left after the real grid, before and after
    fusion        each fusion's training samples/s and peak memory against concat (real
                  shapes on a GPU, tiny encoders on the CPU); a frozen encoder's sequence
                  cache size at KEMDy20's geometry
    peakl         what PeakL does to the look-alike's training targets (the README's figures;
                  deterministic, nothing timed)
"""

from __future__ import annotations

import argparse
import importlib
import sys

from kemdy.errors import run_cli

PARTS = {  # part -> (module, positional arguments of its run())
    "aggregate": ("bench.aggregate", ()),
    "train-text": ("bench.train", ("train-text",)),
    "train-audio": ("bench.train", ("train-audio",)),
    "workflow": ("bench.workflow", ()),
    "gpu": ("bench.gpu", ()),
    "checkpoints": ("bench.checkpoints", ()),
    "fusion": ("bench.fusion", ()),
    "peakl": ("bench.peakl", ()),
    "startup": ("bench.startup", ()),
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["grid"]:  # a planner, not a timing: its own options (bench/grid.py)
        importlib.import_module("bench.grid").main(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="+", choices=[*PARTS, "all"])
    parser.add_argument("--out-dir", default="results/bench")
    parser.add_argument("--config", help="workflow: a config file instead of config.yaml")
    parser.add_argument("--cores", type=int, help="workflow: time only `snakemake --cores N` "
                        "(default: --cores 2, then --cores 8 --resources gpu=2)")
    parser.add_argument("--reference", help="workflow: a finished run's working directory whose "
                        "results the new ones are checked against")
    parser.add_argument("--threads", type=int, help="train-*: torch CPU threads")
    parser.add_argument("--small", action="store_true",
                        help="gpu, checkpoints, fusion: tiny shapes (a smoke test that runs anywhere)")
    parser.add_argument("--batch-size", type=int, help="gpu, fusion: batch size (default 64 "
                        "on a GPU; 8 on the CPU or --small)")
    parser.add_argument("--steps", type=int, help="gpu: timed training steps (default 20); "
                        "fusion: batches per pass (10 on a GPU, else 3)")
    parser.add_argument("--accumulate", type=int, default=1,
                        help="gpu: micro-batches per batch, for a GPU the batch does not fit")
    args = parser.parse_args(argv)
    # all: every part that needs no GPU
    for part in [p for p in PARTS if p != "gpu"] if "all" in args.parts else args.parts:
        module, extra = PARTS[part]
        kwargs = {}
        if part == "workflow":
            kwargs = {"config": args.config, "cores": args.cores, "reference": args.reference}
        elif part == "gpu":
            kwargs = {"small": args.small, "batch_size": args.batch_size, "steps": args.steps,
                      "accumulate": args.accumulate}
        elif part == "checkpoints":
            kwargs = {"small": args.small}
        elif part == "fusion":
            kwargs = {"small": args.small, "batch_size": args.batch_size, "steps": args.steps}
        elif part.startswith("train") and args.threads:
            import torch

            torch.set_num_threads(args.threads)
        importlib.import_module(module).run(*extra, out_dir=args.out_dir, **kwargs)


if __name__ == "__main__":
    run_cli(main)
