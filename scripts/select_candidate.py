"""A sweep's selection: keep the candidate with the best validation macro-F1 of one fold and
seed (ties: the first in grid order), or gather every fold x seed's rows.

    python scripts/select_candidate.py --variant text_lr --fold 0 --seed 42 \
        --candidates '[["c1a2...", {"lr": 0.001}], ...]' --candidate-dirs DIR ... \
        --out-dir results/runs/text_lr/fold0 --model-dir results/models/text_lr/fold0 \
        --selection results/sweeps/text_lr/fold0/selection.csv
    python scripts/select_candidate.py --gather PART ... --selection results/sweeps/text_lr/selection.csv

Only the candidates' history.csv is read to choose (scripts/kemdy/selection.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kemdy.errors import InputError, run_cli
from kemdy.protocol import Candidate
from kemdy.selection import choose, gather


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant")
    parser.add_argument("--fold", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--candidates", help="JSON list of [id, params], in grid order")
    parser.add_argument("--candidate-dirs", nargs="+", type=Path, help="their run folders")
    parser.add_argument("--out-dir", type=Path, help="where the chosen run is copied")
    parser.add_argument("--model-dir", type=Path, help="where its exported model is copied")
    parser.add_argument("--gather", nargs="+", type=Path, help="selection parts to concatenate")
    parser.add_argument("--selection", required=True, type=Path, help="the rows written")
    args = parser.parse_args(argv)
    if args.gather:
        gather(args.gather, args.selection)
        return
    try:
        candidates = [Candidate(cid, params) for cid, params in json.loads(args.candidates)]
    except (TypeError, ValueError):
        raise InputError("--candidates", "not a JSON list of [id, params]",
                         "pass the candidates as the workflow does") from None
    row = choose(args.fold, args.seed, candidates, args.candidate_dirs, args.out_dir,
                 args.model_dir, args.selection)
    print(f"{args.variant} fold {args.fold} seed {args.seed}: chose {row['candidate']} "
          f"{row['params']} (validation macro-F1 {row['val_f1_macro']:.4f})")


if __name__ == "__main__":
    run_cli(main)
