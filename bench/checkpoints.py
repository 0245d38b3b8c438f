"""Checkpoint bytes of the real grid, before and after: klue/roberta-base and wav2vec2-base
shapes (random weights) trained as configs/kemdy20.yaml trains them.

    python -m bench checkpoints          # -> results/bench/checkpoints.json (~1 min, ~6 GB of scratch disk)
    python -m bench checkpoints --small  # tiny shapes

Before: every epoch rewrote last.pt (the whole float32 model and both AdamW moments) and
best.pt (the whole model), pickled, and kept both after the job. After: last.safetensors
holds what trains (weights, moments, RNG) and is written at most every checkpoint_minutes
(default 10; 0: every epoch but the last), best.safetensors only when the best epoch has
changed, both go once the job has succeeded, and the best model's trainable weights stay
as the exported model. The files are written for real and their sizes read
back; the grid is configs/kemdy20.yaml's (5 folds; a two-stage variant is two jobs).
"""

from __future__ import annotations

import os
import tempfile

import torch

from bench import geometry
from bench.common import machine, write_result
from kemdy.train import checkpoints as ckpt
from kemdy.train.checkpoints import trainable_state
from kemdy.train.export import write_export
from kemdy.train.loop import cosine_with_warmup

FOLDS, EPOCHS = 5, 30
DEFAULT_MINUTES = 10  # resources.train.checkpoint_minutes
JOBS_PER_FOLD = {"text": 4, "mm": 3}  # text_ce, text_soft_bce, text_two_stage x2; mm_ce, mm_two_stage x2


def _size(*paths) -> int:
    return sum(os.path.getsize(p) for p in paths)


def _trained_once(kind: str, parts: dict):
    """A model whose optimiser has taken a step (so both AdamW moments exist)."""
    model = geometry.model(kind, parts)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    opt.step()
    return model, opt, cosine_with_warmup(opt, 1, 10)


def job_bytes(kind: str, parts: dict, folder: str) -> dict:
    model, opt, sched = _trained_once(kind, parts)
    before = {"last": os.path.join(folder, "last.pt"), "best": os.path.join(folder, "best.pt")}
    # The original's files (pickled; written here to be measured, never read back).
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, before["last"])
    torch.save(model.state_dict(), before["best"])
    before_epoch = _size(*before.values())
    for path in before.values():
        os.remove(path)
    after_dir = os.path.join(folder, "after")
    best = trainable_state(model)
    ckpt.save_epoch(after_dir, "fp", ckpt.fresh_state(), model, opt, sched, None, best, True)
    last = _size(os.path.join(after_dir, ckpt.LAST))
    best_bytes = _size(os.path.join(after_dir, ckpt.BEST))
    ckpt.remove(after_dir)
    export_dir = os.path.join(folder, "export")
    write_export(export_dir, best, {"variant": kind})
    exported = _size(*(os.path.join(export_dir, f) for f in os.listdir(export_dir)))
    return {"parameters": geometry.n_parameters(model),
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "before": {"per_epoch": before_epoch, "left_after_job": before_epoch},
            "after": {"per_write_new_best": last + best_bytes, "per_write": last,
                      "left_after_job": exported}}


def run(out_dir: str = "results/bench", small: bool = False) -> dict:
    parts = geometry.encoders(small)
    result = {"part": "checkpoints", "machine": machine(), "small": small, "folds": FOLDS,
              "epochs": EPOCHS, "jobs_per_fold": JOBS_PER_FOLD, "jobs": {}}
    with tempfile.TemporaryDirectory(prefix="kemdy_bench_ckpt_") as tmp:
        for kind in JOBS_PER_FOLD:
            result["jobs"][kind] = job_bytes(kind, parts, tmp)
    grid = {"before": {}, "after": {}}
    jobs = {k: FOLDS * n for k, n in JOBS_PER_FOLD.items()}
    for arm, key, writes in (("before", "per_epoch", EPOCHS),
                             # upper bounds: a new best every epoch, and every epoch written
                             ("after", "per_write_new_best", EPOCHS - 1)):
        grid[arm] = {
            "left_after_grid": sum(jobs[k] * result["jobs"][k][arm]["left_after_job"] for k in jobs),
            "written_over_epochs": sum(jobs[k] * writes * result["jobs"][k][arm][key] for k in jobs)}
    # with the default interval a job writes at most 60 / DEFAULT_MINUTES times an hour
    grid["after"]["written_per_job_hour_max"] = {
        k: 60 // DEFAULT_MINUTES * result["jobs"][k]["after"]["per_write_new_best"] for k in jobs}
    result["grid"] = grid
    gb = 1e9
    for kind, job in result["jobs"].items():
        print(f"{kind:>4} job ({job['parameters'] / 1e6:.1f}M parameters, "
              f"{job['trainable'] / 1e6:.1f}M trained): per epoch "
              f"{job['before']['per_epoch'] / gb:.2f} GB before; after, "
              f"{job['after']['per_write'] / gb:.2f} GB a write "
              f"({job['after']['per_write_new_best'] / gb:.2f} GB with a new best), at most "
              f"{60 // DEFAULT_MINUTES} writes an hour; "
              f"left {job['before']['left_after_job'] / gb:.2f} GB before, "
              f"{job['after']['left_after_job'] / gb:.2f} GB after")
    b, a = grid["before"], grid["after"]
    print(f"grid ({sum(JOBS_PER_FOLD.values()) * FOLDS} jobs, {EPOCHS} epochs): left "
          f"{b['left_after_grid'] / gb:.1f} GB before, {a['left_after_grid'] / gb:.1f} GB after "
          f"({b['left_after_grid'] / a['left_after_grid']:.1f}x less); written "
          f"{b['written_over_epochs'] / 1e12:.2f} TB before, at most "
          f"{a['written_over_epochs'] / 1e12:.2f} TB after with checkpoint_minutes 0 "
          f"(every epoch), at most {DEFAULT_MINUTES} min apart by default")
    write_result(out_dir, "checkpoints", result)
    return result
