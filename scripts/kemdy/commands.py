"""The command-line arguments the rules hand their steps, built from the config and each
variant's plan: the one place that knows how a setting reaches a script (rules/*.smk call
these; tests/test_commands.py holds them). Values reach the shell only through shlex, never
as shell text."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from kemdy import layout
from kemdy.layout import fill
from kemdy.protocol import Plan
from kemdy.spec import encoder_of, encoders
from kemdy.transfer.plan import TransferPlan

SEGMENTS = "results/data/segments.csv"  # dialogue context: the previous turns' transcripts
RATERS = "results/data/raters.csv"  # score_raters: each rater against the others' consensus


def dataset_args(datasets: list[dict]) -> str:
    """--dataset KIND ROOT for every dataset, quoted for the shell."""
    return " ".join(shlex.join(["--dataset", d["release"], d["root"]]) for d in datasets)


def lookalike_args(lookalikes: list[dict], synthetic: dict) -> str:
    """The generator's arguments: one --lookalike per synthetic dataset, shared settings."""
    args = []
    for d in lookalikes:
        args += ["--lookalike", d["release"], d["root"], d["truth"], d["seed"]]
    args += ["--n-sessions", synthetic["n_sessions"]]
    args += ["--segments-per-session", synthetic["segments_per_session"]]
    args += ["--prior", synthetic["prior"], "--single-modality-share"]
    args += [synthetic["single_modality_share"], "--wrong-prefix-sessions"]
    return shlex.join(map(str, args + synthetic["wrong_prefix_sessions"]))


class Unrecorded(str):
    """A shell argument with words that reach the step but not the job's identity. Snakemake
    records a param as repr() (for a str: this string alone, `recorded`) and reruns a job
    whose record changed, but writes it into the shell with format() (here: `recorded` and
    `extra`). For words that change no result, so that adding them reruns no finished job;
    tests/test_aftermath.py holds both behaviours to the pinned Snakemake version."""

    def __new__(cls, recorded: str, extra: str = ""):
        made = super().__new__(cls, recorded)
        made.extra = extra
        return made

    def __format__(self, spec: str) -> str:
        return " ".join(a for a in (format(str.__str__(self), spec), self.extra) if a)


def varying_keys(plan: Plan) -> list[str]:
    """The spec keys a variant's exported models differ in: seed (several seeds) and its
    sweep's keys (each fold and seed keeps its own choice); none when plain."""
    return (["seed"] if plan.multi_seed else []) + plan.sweep_keys


@dataclass
class Commands:
    """The arguments of every step, for one config and its plans."""

    config: dict
    plans: dict[str, Plan]
    folds: list[int]
    inputs_digest: str = ""
    transfer: TransferPlan | None = None  # the config's transfer: section

    @property
    def variants(self) -> list[str]:
        return list(self.plans)

    def selections(self) -> dict[str, str]:
        """results/sweeps/{variant}/selection.csv of every swept variant."""
        return {v: fill(layout.selection(), variant=v) for v, p in self.plans.items()
                if p.swept}

    def encoders(self, variant: str) -> str:
        """--text-encoder/--audio-encoder of the encoders a variant uses, quoted: another
        encoder's change reruns nothing."""
        spec = self.plans[variant].spec
        args = [[f"--{m}-encoder", encoder_of(self.config, spec, m)[0]] for m in encoders(spec)]
        return shlex.join(sum(args, []))

    def train_extra(self, variant: str, context_turns: int) -> str:
        """--segments for a job with dialogue context, and --varies for a variant with seeds
        or a sweep (model.json records it, for predict.py). --varies changes no result, so it
        is Unrecorded: a finished seeded or swept job keeps its identity (the shell command
        and the params Snakemake recorded) and does not rerun."""
        keys = varying_keys(self.plans[variant])
        segments = shlex.join(["--segments", SEGMENTS]) if context_turns else ""
        return Unrecorded(segments, shlex.join(["--varies", *keys]) if keys else "")

    def predict_vary(self, variant: str) -> str:
        """predict's --vary (model.json records the same as `varies`; this serves older
        exports)."""
        keys = varying_keys(self.plans[variant])
        return " --vary " + shlex.join(keys) if keys else ""

    def protocol(self, selection: bool = True) -> list[str]:
        """--seeds of every multi-seed variant (and --selection of every swept one)."""
        args = []
        for v, p in self.plans.items():
            if p.multi_seed:
                args += ["--seeds", f"{v}=" + ",".join(map(str, p.seeds))]
        for v, path in (self.selections().items() if selection else ()):
            args += ["--selection", f"{v}={path}"]
        return args

    def summarize(self, out: str, allow_missing: bool = False) -> list[str]:
        """summarize's arguments: the rule's and the partial report's."""
        args = ["--runs-dir", layout.RUNS, "--variants", ",".join(self.variants)]
        args += ["--folds", ",".join(map(str, self.folds)), "--out", out]
        args += self.protocol(selection=False)
        return args + (["--allow-missing"] if allow_missing else [])

    def render(self, summary: str, html: str, plots: str, allow_missing: bool = False
               ) -> list[str]:
        """render_report's arguments: the rule's and the partial report's."""
        settings = self.config["report"]
        args = ["--runs-dir", layout.RUNS, "--variants", ",".join(self.variants)]
        args += ["--folds", ",".join(map(str, self.folds)), "--data-dir", "results/data"]
        args += ["--summary", summary, "--config-json", "results/config.json"]
        args += ["--benchmarks", "benchmarks", "--reference", settings["reference"]]
        args += ["--bootstrap", str(settings["bootstrap"]), "--seed", str(settings["seed"])]
        args += ["--out", html, "--plots-dir", plots, "--inputs-digest", self.inputs_digest]
        args += self.protocol()
        # the raters' ceiling: a partial report shows it where score_raters has run
        if not allow_missing or os.path.exists(RATERS):
            args += ["--raters", RATERS]
        if self.transfer and (not allow_missing or os.path.exists(layout.TRANSFER_MATRIX)):
            args += ["--transfer", layout.TRANSFER_MATRIX]
        return args + (["--allow-missing"] if allow_missing else [])

    def transfer_split(self) -> list[str]:
        """transfer_split's arguments: the two datasets and the config's session counts."""
        t = self.transfer
        args = ["--new-data", "results/data/new_data.csv", "--datasets", ",".join(t.datasets)]
        args += ["--val-sessions", str(t.val_sessions), "--test-sessions", str(t.test_sessions)]
        args += ["--seed", str(t.seed), "--out-dir", layout.TRANSFER_DATA]
        return args + (["--sequential"] if t.sequential else [])

    def summarize_transfer(self) -> list[str]:
        """summarize_transfer's arguments."""
        args = ["--config-json", "results/config.json", "--data-dir", "results/data"]
        args += ["--runs-dir", layout.RUNS, "--transfer-dir", layout.TRANSFER]
        return args + ["--folds", ",".join(map(str, self.folds)), "--out",
                       layout.TRANSFER_MATRIX]

    def transfer_init(self, direction: str, init: str | None) -> str:
        """A sequential transfer run's --init-from (the source-only run's model), quoted."""
        sequential = self.transfer.direction(direction).sequential
        return shlex.join(["--init-from", init]) if sequential else ""
