"""Which files each job of the workflow reads, from the config and each variant's plan: the
rules' input functions (rules/common.smk) only call these. Paths come from kemdy/layout.py."""

from __future__ import annotations

from dataclasses import dataclass

from kemdy import layout
from kemdy.commands import SEGMENTS
from kemdy.layout import fill, run_of_model
from kemdy.protocol import Plan
from kemdy.spec import encoder_of, encoders
from kemdy.transfer.plan import TransferPlan

DATA, FOLDS = "results/data/new_data.csv", "results/data/folds.csv"
AUDIO_INDEX = "results/data/audio/audio_index.csv"


@dataclass
class Needs:
    config: dict
    plans: dict[str, Plan]
    folds: list[int]
    transfer: TransferPlan | None = None  # the config's transfer: section

    def job_spec(self, variant: str, seed=None, candidate: str | None = None) -> dict:
        """The spec of one training job: the variant's, with its seed and sweep candidate."""
        p = self.plans[variant]
        return p.job_spec(int(seed if seed is not None else p.seeds[0]), candidate)

    def encoder_inputs(self, spec: dict) -> dict[str, str]:
        """Demo encoders are built by a rule; hub names or local folders (a variant's own
        text_encoder/audio_encoder too) are used as given."""
        if not self.config["encoders"]["build_demo"]:
            return {}
        used = {m: encoder_of(self.config, spec, m) for m in encoders(spec)}
        return {f"{m}_encoder": name for m, (name, key) in used.items()
                if key == f"encoders.{m}"}

    def train(self, variant: str, seed=None, candidate: str | None = None) -> dict[str, str]:
        """A training job's inputs: the labels, the folds, the encoders it loads, the audio
        cache for an audio model, the transcripts for dialogue context."""
        spec = self.plans[variant].spec
        inputs = {"data": DATA, "folds": FOLDS, **self.encoder_inputs(spec)}
        if "audio" in spec["modality"]:
            inputs["audio"] = AUDIO_INDEX
        if self.job_spec(variant, seed, candidate)["context_turns"]:  # a sweep may set it
            inputs["segments"] = SEGMENTS
        return inputs

    def model_dirs(self, variant: str) -> list[str]:
        """The exported (chosen) model of every fold x seed of a variant: predict's ensemble."""
        p = self.plans[variant]
        return [p.model_dir(k, s) for k in self.folds for s in p.seeds]

    def exported_models(self, variant: str) -> list[str]:
        """The exported model folders of every fold x seed (each stage's, if two)."""
        p = self.plans[variant]
        if not p.spec["two_stage"]:
            return self.model_dirs(variant)
        return [p.model_dir(k, s, t) for k in self.folds for s in p.seeds for t in (1, 2)]

    def exported_runs(self, variant: str) -> list[str]:
        """The metrics.json written with each of those models: a model folder left from
        another layout (seed folders inside, after `seeds: [1, 2]` became `[1]`) still
        exists, so only these files tell Snakemake the model must be trained again."""
        return [f"{run_of_model(f)}/metrics.json" for f in self.exported_models(variant)]

    def run_files(self, name: str) -> list[str]:
        """A file of every (chosen) run: variant x fold, x seed where there are several."""
        return [f"{p.run_dir(k, s)}/{name}" for p in self.plans.values() for k in self.folds
                for s in p.seeds]

    def selection_parts(self, variant: str) -> list[str]:
        """select_candidate's selection rows of every fold (x seed, where there are several)."""
        p = self.plans[variant]
        return [p.selection_part(k, s) for k in self.folds for s in p.seeds]

    def candidates(self, variant: str, fold, seed=None) -> dict[str, list[str]]:
        """Every candidate run of one variant, fold and seed: the selection's inputs."""
        p = self.plans[variant]
        seed = seed if seed is not None else p.seeds[0]
        dirs = [p.candidate_dir(fold, seed, c.id) for c in p.candidates]
        return {"histories": [f"{d}/history.csv" for d in dirs],
                "metrics": [f"{d}/metrics.json" for d in dirs],
                "models": [f"{d}/model" for d in dirs]}

    def transfer_train(self, variant: str, direction: str) -> dict[str, str]:
        """A transfer run's inputs: a training job's, with its direction's new_data.csv and
        folds.csv; a sequential run's also the source-only run's model it starts from (and
        that run's metrics.json: a model folder alone may be left from another layout)."""
        d = self.transfer.direction(direction)
        inputs = {**self.train(variant),
                  "data": fill(layout.transfer_table("new_data.csv"), direction=direction),
                  "folds": fill(layout.transfer_table("folds.csv"), direction=direction)}
        if d.sequential:
            source = dict(variant=variant, direction=d.init.name, fold=0)
            inputs.update(init=fill(layout.transfer_model_dir(), **source),
                          init_run=fill(layout.transfer_run_dir(), **source) + "/metrics.json")
        return inputs

    def transfer_runs(self) -> list[str]:
        """predictions.csv and metrics.json of every transfer run (none without transfer:)."""
        if self.transfer is None:
            return []
        dirs = [fill(layout.transfer_run_dir(), variant=v, direction=d.name, fold=0)
                for v in self.transfer.variants for d in self.transfer.directions]
        return [f"{r}/{name}" for r in dirs for name in ("predictions.csv", "metrics.json")]

    def transfer_matrix(self) -> list[str]:
        """What summarize_transfer reads: the transfer runs, each transfer variant's folds."""
        if self.transfer is None:
            return []
        folds = [f"{p.run_dir(k, s)}/{name}" for v in self.transfer.variants
                 for p in [self.plans[v]] for k in self.folds for s in p.seeds
                 for name in ("predictions.csv", "metrics.json")]
        return self.transfer_runs() + folds

    def transfer_report(self) -> list[str]:
        """The report's transfer inputs (none without transfer:)."""
        return [layout.TRANSFER_MATRIX, layout.TRANSFER_SESSIONS, *self.transfer_runs()] \
            if self.transfer else []

