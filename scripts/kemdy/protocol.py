"""The research protocol: repeats over seeds and hyper-parameter sweeps chosen on validation.

A variant fans out into training jobs: one per fold x seed x candidate.

- `seeds: [s1, s2, ...]` (in `train:` or on a variant): each seed is a job whose spec sets
  `seed`. One seed (the default: the spec's own `seed`) keeps today's layout and bytes.
- `sweep: {key: [values], ...}` (on a variant): the grid of every combination, in grid order
  (the keys as written, the last key varying fastest), each candidate with a stable id (a
  hash of its values: adding a value leaves the other candidates' jobs alone). For every
  fold and seed, every candidate trains; kemdy.selection keeps the one with the best validation
  macro-F1 (ties: the first in grid order), read from its history.csv, never from test rows.

`plan` resolves a variant into its Plan once, when the workflow builds the DAG; the rules
only ask it for specs and for its jobs' paths, which kemdy/layout.py lays out.

This module plans at DAG time only: scoring a sweep's candidates is the selection step's
(kemdy/selection.py), aggregating seeds the report's (kemdy/report/summary.py).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

from kemdy import layout
from kemdy.errors import InputError
from kemdy.layout import fill
from kemdy.spec import STRUCTURAL, SWEEPABLE, check, fingerprint, resolve, unread_keys


@dataclass(frozen=True)
class Candidate:
    id: str
    params: dict

    @property
    def params_json(self) -> str:
        return json.dumps(self.params, sort_keys=True)


@dataclass
class Plan:
    """How one variant fans out: its base spec, seeds and sweep candidates."""

    name: str
    spec: dict
    seeds: list[int]
    candidates: list[Candidate] = field(default_factory=list)

    @property
    def multi_seed(self) -> bool:
        return len(self.seeds) > 1

    @property
    def swept(self) -> bool:
        return bool(self.candidates)

    @property
    def plain(self) -> bool:
        return not self.multi_seed and not self.swept

    @property
    def sweep_keys(self) -> list[str]:
        return list(self.candidates[0].params) if self.candidates else []

    def job_spec(self, seed: int, candidate: str | None = None) -> dict:
        """The spec one training job gets: the base spec, the seed, the candidate's values."""
        spec = {**self.spec, "seed": int(seed)}
        if candidate is not None:
            spec.update(self.candidate(candidate).params)
        return spec

    def candidate(self, cid: str) -> Candidate:
        for c in self.candidates:
            if c.id == cid:
                return c
        raise KeyError(f"{self.name} has no sweep candidate {cid}")

    def run_dir(self, fold: int, seed: int, stage: int | None = None) -> str:
        """Where the (chosen) run of one fold and seed lives: the plain layout for one seed."""
        return fill(layout.run_dir(self.multi_seed, stage is not None), variant=self.name,
                    fold=fold, seed=seed, stage=stage)

    def model_dir(self, fold: int, seed: int, stage: int | None = None) -> str:
        return fill(layout.model_dir(self.multi_seed, stage is not None), variant=self.name,
                    fold=fold, seed=seed, stage=stage)

    def candidate_dir(self, fold: int, seed: int, cid: str) -> str:
        return fill(layout.candidate_dir(), variant=self.name, fold=fold, seed=seed,
                    candidate=cid)

    def selection_part(self, fold: int, seed: int) -> str:
        return fill(layout.selection_part(self.multi_seed), variant=self.name, fold=fold,
                    seed=seed)


def seeds_of(config: dict, name: str, spec: dict) -> list[int]:
    """The variant's seeds: its own `seeds`, else train's `seeds`, else [its `seed`]."""
    variant, train = config["variants"][name], config.get("train", {})
    if "seeds" in variant and "seed" in variant:
        raise InputError("config", f"variant {name} sets both seed and seeds",
                         f"keep one: variants.{name}.seeds: [{variant['seed']}, ...]",
                         key=f"variants.{name}.seeds")
    if "seeds" not in variant and "seed" in variant and "seeds" in train:
        raise InputError("config", f"variant {name} sets seed {variant['seed']} but "
                         f"train.seeds fans every variant out over {train['seeds']}",
                         f"use variants.{name}.seeds: [{variant['seed']}] instead",
                         key=f"variants.{name}.seed")
    seeds = variant.get("seeds", train.get("seeds"))
    if seeds is None:
        return [int(spec["seed"])]
    where = "variants.%s.seeds" % name if "seeds" in variant else "train.seeds"
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError("config", f"{where} {seeds}", "list one or more distinct seeds",
                         key=where)
    return [int(s) for s in seeds]


def grid(sweep: dict) -> list[dict]:
    """Every combination of the sweep's values, in grid order (keys as written, the last
    varying fastest)."""
    keys = list(sweep)
    return [dict(zip(keys, values)) for values in itertools.product(*(sweep[k] for k in keys))]


def candidate_id(params: dict) -> str:
    return "c" + fingerprint(params)[:10]


def canonical(value):
    """A value as a sweep compares it: numbers by value (0 and 0.0, 1 and 1.0 are one)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ("number", float(value))
    return ("json", json.dumps(value, sort_keys=True))


def check_sweep(name: str, spec: dict, sweep: dict, validate=None) -> list[Candidate]:
    """The sweep's candidates, every one checked before any job: keys that may be swept and
    that the variant reads, values the schema accepts (`validate(where, key, value)` raises
    on a bad one), no two values or candidates that train the same model, and every
    candidate's spec through spec.check."""
    where = f"variants.{name}.sweep"
    if not isinstance(sweep, dict) or not sweep:
        raise InputError("config", f"{where} is empty", "give at least one key: [values]",
                         key=where)
    if spec["two_stage"]:
        raise InputError("config", f"variant {name} has two_stage and sweep: a two-stage run "
                         "is scored only after both stages are combined, and neither stage's "
                         "validation score is the combined one",
                         f"drop variants.{name}.sweep or variants.{name}.two_stage",
                         key=where)
    for key, values in sweep.items():
        check_swept_key(name, key, values, validate)
    candidates = [Candidate(candidate_id(p), p) for p in grid(sweep)]
    unread = {}
    for c in candidates:
        try:
            unread[c.id] = unread_keys(check({**spec, **c.params}, "config",
                                             prefix=f"variants.{name}."))
        except InputError as err:
            raise swept_error(err, name, c) from None
    for key in sweep:
        whys = {unread[c.id].get(key) for c in candidates}
        if None not in whys:
            raise InputError("config", f"{where}.{key}: variant {name} never reads {key} "
                             f"({sorted(whys)[0]}), so every candidate would train the same "
                             "model", f"drop {key} from the sweep, or sweep a key {name} reads",
                             key=f"{where}.{key}")
    seen = {}
    for c in candidates:
        read = tuple((k, canonical(v)) for k, v in c.params.items() if k not in unread[c.id])
        if read in seen:
            first = seen[read]
            keys = [k for k in c.params if k in unread[c.id]]
            why = "; ".join(f"{k} is not read: {unread[c.id][k]}" for k in keys)
            raise InputError("config", f"{where}: candidates {first.params_json} and "
                             f"{c.params_json} train the same model ({why})",
                             "sweep those keys in a variant of their own where they are read",
                             key=f"{where}.{keys[0]}")
        seen[read] = c
    return candidates


def check_swept_key(name: str, key: str, values, validate=None) -> None:
    """One swept key: sweepable, a non-empty list of distinct values (as numbers: 0 and 0.0
    are one value) that the schema accepts."""
    where = f"variants.{name}.sweep.{key}"
    if key == "seed":
        raise InputError("config", f"{where}: seeds are repeats to average, not a setting to "
                         "choose on validation", f"list them as variants.{name}.seeds: "
                         f"{values if isinstance(values, list) else '[...]'} (or train.seeds)",
                         key=where)
    if key not in SWEEPABLE:
        why = "not a training key" if key not in STRUCTURAL else "structural, not a " \
            "hyper-parameter (make it a variant of its own)"
        raise InputError("config", f"{where}: {why}",
                         f"sweep only training keys: {', '.join(SWEEPABLE)}", key=where)
    if not isinstance(values, list) or not values:
        raise InputError("config", f"{where} is {values!r}", "give a list of one or more values",
                         key=where)
    for value in values:
        if validate is not None:
            validate(where, key, value)
    seen = {}
    for value in values:
        if canonical(value) in seen:
            first = seen[canonical(value)]
            same = ("lists a value twice" if json.dumps(first) == json.dumps(value) else
                    f"lists {first!r} and {value!r}, the same number")
            raise InputError("config", f"{where} {same}", "list each value once", key=where)
        seen[canonical(value)] = value


def swept_error(err: InputError, name: str, c: Candidate) -> InputError:
    """A candidate's spec error, naming the sweep key that made it (the check names the
    key it tested, which may be another: a swept mixer_projection fails on mixer_patch)."""
    key = (err.key or "").rsplit(".", 1)[-1]
    swept = [key] if key in c.params else list(c.params)
    return InputError("config", f"{err.problem} (sweep candidate {c.params_json})", err.fix,
                      key=" / ".join(f"variants.{name}.sweep.{k}" for k in swept))


def plan(config: dict, name: str, source: str = "config", validate=None) -> Plan:
    """Resolve variant `name` into its Plan (spec, seeds, candidates); everything is checked
    here, before any job."""
    spec = resolve(config, name, source)
    if "sweep" in config.get("train", {}):
        raise InputError(source, "train.sweep: a sweep belongs to a variant",
                         "move it under variants.<name>.sweep", key="train.sweep")
    seeds = seeds_of(config, name, spec)
    spec = {**spec, "seed": seeds[0]}
    sweep = config["variants"][name].get("sweep")
    candidates = check_sweep(name, spec, sweep, validate) if sweep is not None else []
    return Plan(name, spec, seeds, candidates)


def reads_context(plans) -> bool:
    """Whether any job of these plans (any seed, any sweep candidate) reads dialogue context."""
    return any(p.job_spec(s, c)["context_turns"] for p in plans for s in p.seeds
               for c in [None, *(c.id for c in p.candidates)])


def sweep_warning(config: dict, plans: dict[str, Plan]) -> str | None:
    """A warning where sweeps choose on fewer than two validation sessions per dataset."""
    swept = [name for name, p in plans.items() if p.swept]
    n = int(config.get("folds", {}).get("val_sessions", 1))
    if not swept or n >= 2:
        return None
    return (f"WARNING: the sweeps of {', '.join(swept)} choose on folds.val_sessions {n} "
            "validation session per dataset and fold: one session's macro-F1 (its speakers, "
            "its recording) is a noisy judge. Set folds.val_sessions: 2 or more for sweeps.")
