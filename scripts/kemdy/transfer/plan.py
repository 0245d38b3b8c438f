"""The config's `transfer:` section, planned when the workflow builds the DAG.

    transfer:
      variants: [text_ce]   # each trained per direction below
      sequential: true      # also: trained on one release, then fine-tuned on the other
      val_sessions: 1       # validation sessions of each release (model selection)
      test_sessions: 2      # held-out test sessions of each release

With datasets A and B (config order) the directions are A-to-B and B-to-A (trained on the
source release only, validated on its val sessions, tested on its test sessions and on every
session of the target) and, with `sequential`, A-then-B and B-then-A (the X-to-Y model
fine-tuned on Y's train sessions, validated on Y's val sessions, tested on the test sessions
of both). Everything is checked here, before any job, naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from kemdy.errors import InputError

DEFAULTS = {"sequential": True, "val_sessions": 1, "test_sessions": 2}


@dataclass(frozen=True)
class Direction:
    source: str  # a dataset name (KEMDy19, KEMDy20)
    target: str
    sequential: bool = False

    @property
    def name(self) -> str:
        return f"{self.source}-{'then' if self.sequential else 'to'}-{self.target}"

    @property
    def init(self) -> "Direction | None":
        """The direction whose model a sequential run starts from."""
        return Direction(self.source, self.target) if self.sequential else None

    @property
    def trained_on(self) -> str:
        """The matrix row it fills: the source release, or `A then B`."""
        return f"{self.source} then {self.target}" if self.sequential else self.source


@dataclass(frozen=True)
class TransferPlan:
    variants: tuple[str, ...]
    datasets: tuple[str, str]
    sequential: bool
    val_sessions: int
    test_sessions: int
    seed: int

    @property
    def directions(self) -> list[Direction]:
        a, b = self.datasets
        kinds = (False, True) if self.sequential else (False,)
        return [Direction(s, t, q) for q in kinds for s, t in ((a, b), (b, a))]

    def direction(self, name: str) -> Direction:
        for d in self.directions:
            if d.name == name:
                return d
        raise KeyError(f"no transfer direction {name}")


def refuse(problem: str, fix: str, key: str):
    raise InputError("config", problem, fix, key=key)


def check_variant(name: str, plan, config: dict) -> None:
    """A transfer run is one job per direction: a variant with seeds, a sweep or two stages
    would need the whole protocol again per direction."""
    if plan.spec["two_stage"]:
        refuse(f"transfer.variants: {name} is two-stage (variants.{name}.two_stage), which "
               "transfer runs do not train", f"drop {name} from transfer.variants",
               f"variants.{name}.two_stage")
    if plan.swept:
        refuse(f"transfer.variants: {name} has a sweep (variants.{name}.sweep), chosen per "
               "fold; a transfer run has no folds to choose it on",
               f"drop {name} from transfer.variants, or give it fixed values",
               f"variants.{name}.sweep")
    if plan.multi_seed:
        key = f"variants.{name}.seeds" if "seeds" in config["variants"][name] else "train.seeds"
        refuse(f"transfer.variants: {name} trains over several seeds ({key}); transfer runs "
               "train one seed", f"drop {name} from transfer.variants, or {key}", key)


def check_sessions(section: dict, datasets: list[dict], config: dict) -> None:
    """A look-alike's session count is known now: it must leave training sessions."""
    need = section["val_sessions"] + section["test_sessions"] + 1
    n = (config.get("synthetic") or {}).get("n_sessions")
    if n is not None and any(d["synthetic"] for d in datasets) and n < need:
        refuse(f"transfer.test_sessions {section['test_sessions']} + transfer.val_sessions "
               f"{section['val_sessions']} leave no training session of the look-alikes' {n}",
               "lower them or raise synthetic.n_sessions", "transfer.test_sessions")


def plan_transfer(config: dict, plans: dict, datasets: list[dict]) -> TransferPlan | None:
    """The config's transfer section as a plan (None without one), checked."""
    section = config.get("transfer")
    if section is None:
        return None
    section = {**DEFAULTS, **section}
    names = [d["name"] for d in datasets]
    if len(names) != 2:
        refuse(f"transfer: needs two datasets (one release to train on, the other to test "
               f"on), the config has {len(names)} ({', '.join(names)})",
               "list KEMDy19 and KEMDy20 under datasets: (configs/kemdy19-20.yaml), or drop "
               "transfer:", "transfer")
    variants = list(section.get("variants") or [])
    if not variants:
        refuse("transfer.variants is empty", "name one or more variants to transfer",
               "transfer.variants")
    if len(set(variants)) != len(variants):
        refuse("transfer.variants names a variant twice", "name each once", "transfer.variants")
    for name in variants:
        if name not in plans:
            refuse(f"transfer.variants names {name}, not a variant of this config",
                   f"use some of {', '.join(plans)}", "transfer.variants")
        check_variant(name, plans[name], config)
    check_sessions(section, datasets, config)
    return from_config(config)


def from_config(config: dict) -> TransferPlan | None:
    """The plan of a config the workflow already checked (results/config.json: the report
    and the transfer summary read it back)."""
    from kemdy.config import datasets

    if config.get("transfer") is None:
        return None
    section = {**DEFAULTS, **config["transfer"]}
    names = [d["name"] for d in datasets(config)]
    if len(names) != 2:
        raise InputError("config.json", f"transfer: with {len(names)} datasets",
                         "rerun the workflow: it refuses that config", key="transfer")
    return TransferPlan(tuple(section["variants"]), (names[0], names[1]),
                        bool(section["sequential"]), int(section["val_sessions"]),
                        int(section["test_sessions"]),
                        int(config.get("folds", {}).get("seed", 0)))
