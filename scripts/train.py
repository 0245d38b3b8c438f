"""Train one model (one variant, one fold, one stage) and score it once on its test fold.

    python scripts/train.py --variant text_ce --fold 0 --config config.yaml \
        --data results/data/new_data.csv --folds results/data/folds.csv \
        --audio results/data/audio --text-encoder results/encoders/text \
        --audio-encoder results/encoders/audio --out-dir results/runs/text_ce/fold0 \
        --model-dir results/models/text_ce/fold0 \
        --checkpoint-dir results/checkpoints/text_ce/fold0 \
        --cache-dir results/cache/embeddings --threads 2 [--stage 1|2] [--max-epochs N]
        [--segments results/data/segments.csv]   (context_turns > 0: the dialogues' transcripts)

The workflow passes the resolved spec as `--spec JSON` instead of `--config`. Writes the run
folder (kemdy/runs.py) and the best model (kemdy/train/export.py); several GPUs: torchrun (DDP;
rank 0 writes). SIGTERM/SIGINT: saves where it stands, writes no output, exits 128 + the signal.

Steps: 1. the spec; 2. the fold's split and this stage's targets; 3. encoders and inputs
(a frozen encoder's vectors come from the embedding cache); 4. model, AdamW, cosine schedule
with warm-up; 5. resume from a matching checkpoint; 6. epochs: train, validate, keep the best
by validation macro-F1, stop early; 7. with the best weights: fit the temperature on the
validation rows (calibrate: temperature), test once, export the model, drop the resume state.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from kemdy import spec as specs
from kemdy.cpus import available_cpus
from kemdy.errors import InputError, run_cli
from kemdy.runs import history_frame, write_run
from kemdy.train import calibration, checkpoints as ckpt, init as init_from
from kemdy.train.batches import training_batches
from kemdy.train.data import load_split, make_task
from kemdy.train.distributed import Dist, init_distributed, log
from kemdy.train.export import card, check_varies, write_export
from kemdy.train.inputs import prepare_inputs
from kemdy.train.loop import (cosine_with_warmup, predict, predictions_frame, run_epoch,
                              runtime_for, val_scores)
from kemdy.train.losses import make_criterion
from kemdy.train.models import apply_freezing, build_model, parameter_counts
from kemdy.train.optim import make_optimizer
from kemdy.train.stopping import Stopped, stop_on_signals


def fit(job: dict, state: dict, best_state, stop) -> tuple[dict, dict]:
    """6. Epochs until the last or early stopping; the test fold plays no part in any choice
    made here. Returns the final state and the best epoch's trainable weights."""
    spec, model, rt, dist = job["spec"], job["model"], job["runtime"], job["dist"]
    train_rows, val_rows = job["rows"][:2]
    patience, warmup, epochs = spec["patience"], int(spec["text_warmup_epochs"]), int(spec["epochs"])
    asked = lambda: stop.requested(dist, rt.device)  # noqa: E731
    while not state["done"] and state["epoch"] < epochs:
        epoch = state["epoch"] + 1
        partial = state.pop("partial", None) or {"batches": 0, "loss": 0.0, "seconds": 0.0}
        start = time.time() - partial["seconds"]
        # Text-only warm-up: trained jointly from the start, the model leans on the audio
        # vector and its text encoder learns less than alone (README); those epochs are not
        # candidates for the best checkpoint, nor count towards patience.
        model.mute_audio = warming = epoch <= warmup
        batches = job["batches"](epoch)
        total, done = run_epoch(job["net"], job["inputs"], batches, job["criterion"],
                                job["optimizer"], job["scheduler"], float(spec["grad_clip"]), rt,
                                epoch, int(spec["accumulate"]), f"epoch {epoch}/{epochs}",
                                partial["batches"], partial["loss"], asked)
        if done < len(batches):  # stopped mid-epoch: save exactly where it stands, then go
            state["partial"] = {"batches": done, "loss": total, "seconds": time.time() - start}
            job["save"](state, best_state, now=True)
            raise Stopped(stop.signum)
        loss = total / max(sum(len(b) for b in batches), 1)
        if dist.world > 1:
            loss = float(np.mean(dist.gather(loss)))
        if len(val_rows):
            probs, _, val_loss = predict(model, job["inputs"], val_rows, spec["loss"],
                                         2 * int(spec["batch_size"]), rt, job["criterion"], dist,
                                         job["windows"], job["cap"])
            scores = val_scores(job["task"], val_rows, probs)
        else:
            val_loss, scores = math.nan, {"f1_macro": math.nan, "accuracy": math.nan}
        state["history"].append({"epoch": epoch, "train_loss": loss, "val_loss": val_loss,
                                 "val_f1_macro": scores["f1_macro"],
                                 "val_accuracy": scores["accuracy"],
                                 "seconds": time.time() - start, "selectable": not warming})
        improved = not warming and (not len(val_rows) or scores["f1_macro"] > state["best_score"])
        if improved:
            state.update(best_score=scores["f1_macro"] if len(val_rows) else -1.0,
                         best_epoch=epoch, bad_epochs=0)
            best_state = ckpt.trainable_state(model)
        elif not warming:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["done"] = bool(patience) and state["bad_epochs"] >= int(patience)
        log(f"epoch {epoch}: train loss {loss:.4f}, val loss {val_loss:.4f}, "
            f"val macro-F1 {scores['f1_macro']:.4f}{' (best)' if improved else ''}"
            f"{' (text-only warm-up)' if warming else ''}", dist)
        stopping = asked() and not state["done"] and epoch < epochs
        job["save"](state, best_state, now=stopping)
        if state["done"] and epoch < epochs:
            log(f"early stop: no better validation macro-F1 for {patience} epochs", dist)
        if stopping:
            raise Stopped(stop.signum)
    return state, best_state


def finish(job: dict, state: dict, best_state: dict, args) -> dict:
    """7. Test once with the best epoch's weights; write the run and export its model."""
    spec, model, task, dist = job["spec"], job["model"], job["task"], job["dist"]
    ckpt.load_trainable(model, best_state)
    test_rows = job["rows"][2]
    probs, va, _ = predict(model, job["inputs"], test_rows, spec["loss"],
                           2 * int(spec["batch_size"]), job["runtime"], dist=dist,
                           windows=job["windows"], max_samples=job["cap"])
    predictions = predictions_frame(task, test_rows, probs, va)
    metrics = {"variant": args.variant or spec["name"], "fold": args.fold,
               **calibration.test_scores(job, predictions),  # calibrate: fitted on validation
               "best_epoch": state["best_epoch"],
               "train_seconds": round(sum(h["seconds"] for h in state["history"]), 3),
               "device": job["device_name"]}
    if task.stage is not None:
        metrics["stage"] = task.stage
    if model.layer_weights is not None:
        metrics["layer_weights"] = model.learnt_layer_weights()
    metrics["parameters"] = parameter_counts(model, job["inputs"])
    if dist.main:
        write_export(args.model_dir, best_state,
                     card(metrics, spec, task, args, job["shape"], job["fps"]))
        write_run(args.out_dir, metrics, predictions, history_frame(state["history"]), spec)
        ckpt.remove(args.checkpoint_dir)  # succeeded: the resume state has done its work
    dist.barrier()
    return metrics


def train(spec: dict, args, dist: Dist, stop) -> dict:
    """Steps 2-7 for a job's spec; writes the outputs (rank 0) and returns the metrics."""
    runtime, device_name = runtime_for(dist, args.workers)
    seed = int(spec["seed"])
    ckpt.seed_all(seed)

    # 2. the fold's split and this stage's targets
    task = make_task(load_split(args.data, args.folds, args.fold), spec["stage"],
                     spec["target_sharpening"])
    rows = task.rows("train"), task.rows("val"), task.rows("test")
    log(f"{spec['name']} fold {args.fold} stage {spec['stage']}: {len(rows[0])} train, "
        f"{len(rows[1])} validation, {len(rows[2])} test; device {device_name}", dist)
    if len(rows[0]) == 0:
        raise InputError(args.folds, f"fold {args.fold} has no training segments for stage "
                         f"{task.stage}", "use more sessions or fewer folds")

    # 3. encoders and inputs
    inputs, encoders, fps, shape = prepare_inputs(spec, task, args, runtime.device, dist,
                                                  runtime.amp)
    apply_freezing(encoders.get("text"), encoders.get("audio"), spec, dist)

    # 4. model, optimiser, schedule (seeded here so the head's init never depends on
    # whether the encoders' vectors came from the cache)
    ckpt.seed_all(seed)
    model, net = build_model(spec, task, encoders, shape, runtime.device, dist)
    criterion = make_criterion(spec, task.y[rows[0]], task.soft[rows[0]])
    optimizer = make_optimizer(model, spec, lambda line: log(line, dist))
    cap = inputs.batch_cap(spec["max_batch_seconds"])
    epoch_batches = training_batches(inputs, rows[0], int(spec["batch_size"]), seed, cap, dist)
    steps = len(epoch_batches(1)) * int(spec["epochs"])
    scheduler = cosine_with_warmup(optimizer, int(float(spec["warmup_ratio"]) * steps), steps)

    # 5. resume from a checkpoint of this very spec, data and fold
    data = [args.data, args.folds] + ([args.segments] if spec["context_turns"] else [])
    data += init_from.load(model, args.init_from, spec, task, shape, fps, dist)  # sequential
    fp = specs.fingerprint({"spec": calibration.training_spec(spec), "fold": args.fold,
                            "world": dist.world, "data": ckpt.file_hash(*data), "encoders": fps})
    parts = (model, optimizer, scheduler, runtime.scaler)
    state, best_state = ckpt.resume(*parts, args.checkpoint_dir, fp, dist)

    save = ckpt.Saver(args.checkpoint_dir, fp, parts, dist, args.checkpoint_minutes,
                      int(spec["epochs"]), state["best_epoch"])

    # 6. epochs
    if len(rows[1]) == 0:  # e.g. stage 2 on a tiny corpus whose validation is all neutral
        log("WARNING: no validation segments for this model: keeping the last epoch, "
            "without early stopping", dist)
    job = {"spec": spec, "model": model, "net": net, "inputs": inputs, "task": task,
           "rows": rows, "criterion": criterion, "optimizer": optimizer, "scheduler": scheduler,
           "batches": epoch_batches, "runtime": runtime, "dist": dist, "save": save, "cap": cap,
           "windows": spec["audio_eval"] == "windows", "shape": shape, "fps": fps,
           "device_name": device_name}
    state, best_state = fit(job, state, best_state, stop)

    # 7. test once, with the weights of the best validation epoch
    return finish(job, state, best_state, args)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", required=True, help="variant name (a key of config variants:)")
    p.add_argument("--fold", type=int, required=True, help="test fold")
    p.add_argument("--stage", type=int, choices=[1, 2], help="two-stage variants: which stage")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", help="the variant's resolved spec as JSON (the workflow)")
    src.add_argument("--config", help="config.yaml; the variant is resolved from it (by hand)")
    p.add_argument("--data", default="results/data/new_data.csv")
    p.add_argument("--folds", default="results/data/folds.csv")
    p.add_argument("--segments", help="segments.csv: the dialogues' transcripts, read for "
                   "context_turns > 0 (its labels never are)")
    p.add_argument("--audio", default="results/data/audio", help="decode_audio's folder")
    p.add_argument("--text-encoder", default="results/encoders/text")
    p.add_argument("--audio-encoder", default="results/encoders/audio")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--init-from", help="an exported model to start from (kemdy/train/init.py)")
    p.add_argument("--model-dir", help="where the best model is exported (default: out-dir/model)")
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--cache-dir", default="results/cache/embeddings")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (at most the CPUs "
                   "this process may use)")
    p.add_argument("--workers", default="auto", help="DataLoader workers (auto: 0 on the CPU)")
    p.add_argument("--max-epochs", type=int, help="cap the spec's epochs (quick runs)")
    p.add_argument("--varies", nargs="+", default=[], metavar="KEY", help="spec keys this "
                   "variant's models differ in (seed, a sweep's keys): model.json records them")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="write the resume state at the end of an epoch at most this often "
                   "(0: every epoch); SIGTERM/SIGINT always save")
    args = p.parse_args(argv)
    args.model_dir = args.model_dir or f"{args.out_dir}/model"
    return args


def main(argv=None) -> dict:
    # 1. the spec: resolved by the workflow (--spec), or here from a config file (--config)
    args = parse_args(argv)
    torch.set_num_threads(max(1, min(args.threads, available_cpus())))
    spec = specs.job_spec(args.spec, args.config, args.variant, args.stage, args.max_epochs)
    args.varies = check_varies(args.varies, spec)
    dist = init_distributed()
    try:
        with stop_on_signals() as stop:
            return train(spec, args, dist, stop)
    except Stopped as err:
        log(f"{err}: saved where training stood in {args.checkpoint_dir}; no output written",
            dist)
        sys.exit(128 + err.signum)
    finally:
        if dist.world > 1:
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    run_cli(main)
