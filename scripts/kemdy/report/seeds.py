"""The report's research-protocol sections: each several-seed variant's figures per fold and
seed, and each swept variant's selection (every candidate's validation score, the choice of
every fold and seed), checked against the runs the rest of the report reads."""

from __future__ import annotations

import json
from pathlib import Path

from kemdy.errors import InputError
from kemdy.metrics import HEADLINE
from kemdy.report.options import parse_variant_values
from kemdy.report.summary import Runs, fold_stats, seed_average, seed_spread
from kemdy.selection import read_selection, select
from kemdy.tables import read_json


def seeds_section(found: Runs) -> list[dict]:
    """Per variant of several seeds: every fold's per-seed macro-F1, its seed mean and std,
    the mean ± std over folds of the seed means and the spread across seeds."""
    out = []
    for variant, seeds in found.seeds.items():
        runs = found.of(variant)
        if variant not in found.variants or not runs:
            continue
        per_fold = {r.fold: {m.seed: m.scores["f1_macro"] for m in r.members} for r in runs}
        rows = [{"fold": k, "by_seed": s, **dict(zip(("mean", "std"), seed_average(s)))}
                for k, s in per_fold.items()]
        summary = {}
        for metric in HEADLINE:
            by = {r.fold: {m.seed: m.scores[metric] for m in r.members} for r in runs}
            mean, std = fold_stats([seed_average(s)[0] for s in by.values()])
            summary[metric] = {"mean": mean, "std": std, "seed_spread": seed_spread(by)}
        out.append({"variant": variant, "seeds": seeds, "rows": rows, "summary": summary,
                    "per_fold": per_fold})
    return out


def parse_selections(items: list[str] | None) -> dict[str, Path]:
    """--selection VARIANT=CSV (repeated)."""
    return parse_variant_values(items, "--selection", "VARIANT=CSV",
                                "text_lr=results/sweeps/text_lr/selection.csv", Path)


def check_choice(path: Path, table, found: Runs, variant: str, notes: list[str]) -> None:
    """Every fold and seed of the variant chose exactly one candidate, the validation argmax
    (first of equal scores, in the file's grid order), and the run the report reads is
    that candidate (its config.json has the candidate's values). A run present without its
    config.json cannot be checked: it is noted (the report's consistency checks), not
    passed over in silence."""
    for (fold, seed), rows in table.groupby(["fold", "seed"], sort=False):
        chosen = rows.index[rows["selected"]].tolist()
        best = rows.index[select(rows["val_f1_macro"].astype(float).tolist())]
        if chosen != [best]:
            raise InputError(path, f"fold {fold} seed {seed}: the selected candidate is not the "
                             "best validation macro-F1", "re-run the sweep's select_candidate step")
        run = found.runs.get((variant, int(fold)))
        if run is None:
            continue
        member = next((m for m in run.members if m.seed == int(seed)), None) if run.members \
            else run
        candidate = rows.loc[best, "candidate"]
        if member is None:
            notes.append(f"{variant}/fold{fold}: {path} chose candidate {candidate} for seed "
                         f"{seed}, a seed the report has no run of; not checked")
            continue
        if not (member.path / "config.json").is_file():
            notes.append(f"{member.path / 'config.json'} is missing: whether this run is the "
                         f"selected candidate {candidate} of {path} was not checked (re-run "
                         "its training to restore the file)")
            continue
        spec = read_json(member.path / "config.json")
        params = json.loads(rows.loc[best, "params"])
        differs = [k for k, v in params.items() if spec.get(k) != v]
        if differs or int(spec.get("seed", seed)) != int(seed):
            raise InputError(member.path / "config.json", f"is not the selected candidate "
                             f"{rows.loc[best, 'candidate']} of {path} ({differs or 'seed'})",
                             "re-run the sweep's select_candidate step (the run is stale)")


def sweeps_section(selections: dict[str, Path], found: Runs, allow_missing: bool = False,
                   notes: list[str] | None = None) -> list[dict]:
    """Per swept variant: every candidate's validation score per fold and seed, the choice
    marked; refused where selection.csv and the runs disagree, and a choice that could not
    be checked added to `notes`. With `allow_missing` (a partial report) a selection.csv not
    yet written is left out."""
    notes = [] if notes is None else notes
    out = []
    for variant, path in selections.items():
        if variant not in found.variants or (allow_missing and not Path(path).is_file()):
            continue
        table = read_selection(path)
        check_choice(path, table, found, variant, notes)
        params = dict(zip(table["candidate"], table["params"]))
        candidates = list(dict.fromkeys(table["candidate"]))
        groups = []
        for (fold, seed), rows in table.groupby(["fold", "seed"], sort=False):
            scores = dict(zip(rows["candidate"], rows["val_f1_macro"].astype(float)))
            chosen = rows.loc[rows["selected"], "candidate"].iloc[0]
            groups.append({"fold": int(fold), "seed": int(seed), "scores": scores,
                           "chosen": chosen, "chosen_params": params[chosen]})
        wins = {c: sum(g["chosen"] == c for g in groups) for c in candidates}
        out.append({"variant": variant, "candidates": candidates, "params": params,
                    "groups": groups, "wins": wins, "path": str(path)})
    return out
