"""Train one model (one variant, one fold, one stage) and score it once on its test fold.

    python scripts/train.py --variant text_ce --fold 0 --config config.yaml \
        --data results/data/new_data.csv --folds results/data/folds.csv \
        --audio results/data/audio --text-encoder results/encoders/text \
        --audio-encoder results/encoders/audio --out-dir results/runs/text_ce/fold0 \
        --checkpoint-dir results/checkpoints/text_ce/fold0 \
        --cache-dir results/cache/embeddings --threads 2 [--stage 1|2] [--max-epochs N]

The workflow passes the variant's resolved spec as `--spec JSON` instead of `--config`.
Writes metrics.json, predictions.csv, history.csv and config.json (the spec) into --out-dir
(scripts/kemdy/runs.py). Several GPUs: launch with torchrun (DistributedDataParallel; rank 0
writes).

Steps: 1. the spec; 2. the fold's split and this stage's targets; 3. encoders and inputs
(a frozen encoder's vectors come from the embedding cache); 4. model, AdamW, cosine
schedule with warm-up; 5. resume from a matching checkpoint; 6. epochs: train, validate,
keep the best by validation macro-F1, stop early; 7. test once with the best weights.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings

import numpy as np
import torch

from kemdy import spec as specs
from kemdy.classes import EMOTIONS
from kemdy.errors import InputError, run_cli
from kemdy.metrics import score_predictions
from kemdy.runs import history_frame, write_run
from kemdy.train.batches import length_grouped_batches, shard_batches
from kemdy.train.checkpoints import (clear_partial_writes, file_hash, resume, save_epoch,
                                     seed_all)
from kemdy.train.data import load_split, make_task
from kemdy.train.distributed import Dist, init_distributed, log
from kemdy.train.inputs import prepare_inputs
from kemdy.train.loop import cosine_with_warmup, predict, predictions_frame, run_epoch, val_scores
from kemdy.train.losses import make_criterion
from kemdy.train.models import EmotionModel, apply_freezing


def pick_device(dist: Dist) -> tuple[torch.device, str]:
    if torch.cuda.is_available():
        device = torch.device("cuda", dist.local_rank)
        name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        device, name = torch.device("cpu"), f"cpu ({threads} thread{'s' * (threads > 1)})"
    return device, name + (f" x{dist.world} (DDP)" if dist.world > 1 else "")


def build_model(spec: dict, task, encoders: dict, dims: dict, device, dist: Dist):
    """The model, and the module the loop trains (DDP-wrapped across several processes)."""
    model = EmotionModel(len(task.classes), dims["text"], dims["audio"], encoders.get("text"),
                         encoders.get("audio"), spec["text_pooling"],
                         encoders.get("pass_audio_mask", True), float(spec["dropout"])).to(device)
    if dist.world == 1:
        return model, model
    # wav2vec2's LayerDrop skips whole layers in some steps: DDP must look for them.
    audio = encoders.get("audio")
    layerdrop = audio is not None and getattr(audio.config, "layerdrop", 0.0) > 0
    return model, torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=layerdrop)


def fit(spec, model, net, inputs, task, rows, criterion, optimizer, scheduler, epoch_batches,
        state, best_state, ckpt: tuple[str, str], device, dist: Dist):
    """6. Epochs until the last or early stopping; the test fold plays no part in any choice
    made here. Returns the final state and the best epoch's weights."""
    train_rows, val_rows = rows
    patience, warmup, epochs = spec["patience"], int(spec["text_warmup_epochs"]), int(spec["epochs"])
    eval_bs = 2 * int(spec["batch_size"])
    while not state["done"] and state["epoch"] < epochs:
        epoch = state["epoch"] + 1
        start = time.time()
        # Text-only warm-up: trained jointly from the start, the model leans on the audio
        # vector and its text encoder learns less than alone (README); those epochs are not
        # candidates for the best checkpoint, nor count towards patience.
        model.mute_audio = warming = epoch <= warmup
        loss = run_epoch(net, inputs, epoch_batches(epoch), criterion, optimizer, scheduler,
                         float(spec["grad_clip"]), device, f"epoch {epoch}/{epochs}", dist.main)
        if dist.world > 1:
            loss = float(np.mean(dist.gather(loss)))
        if len(val_rows):
            probs, val_loss = predict(model, inputs, val_rows, spec["loss"], eval_bs, device,
                                      criterion, dist)
            scores = val_scores(task, val_rows, probs)
        else:
            val_loss, scores = math.nan, {"f1_macro": math.nan, "accuracy": math.nan}
        state["history"].append({"epoch": epoch, "train_loss": loss, "val_loss": val_loss,
                                 "val_f1_macro": scores["f1_macro"],
                                 "val_accuracy": scores["accuracy"],
                                 "seconds": time.time() - start})
        improved = not warming and (not len(val_rows) or scores["f1_macro"] > state["best_score"])
        if improved:
            state.update(best_score=scores["f1_macro"] if len(val_rows) else -1.0,
                         best_epoch=epoch, bad_epochs=0)
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif not warming:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["done"] = bool(patience) and state["bad_epochs"] >= int(patience)
        log(f"epoch {epoch}: train loss {loss:.4f}, val loss {val_loss:.4f}, "
            f"val macro-F1 {scores['f1_macro']:.4f}{' (best)' if improved else ''}"
            f"{' (text-only warm-up)' if warming else ''}", dist)
        if dist.main:
            save_epoch(ckpt[0], ckpt[1], state, model, optimizer, scheduler, best_state, improved)
        dist.barrier()
        if state["done"] and epoch < epochs:
            log(f"early stop: no better validation macro-F1 for {patience} epochs", dist)
    return state, best_state


def train(spec: dict, args, dist: Dist = Dist()) -> dict:
    """Steps 2-7 for a job's spec; writes the outputs (rank 0) and returns the metrics."""
    device, device_name = pick_device(dist)
    seed = int(spec["seed"])
    seed_all(seed)

    # 2. the fold's split and this stage's targets
    task = make_task(load_split(args.data, args.folds, args.fold), spec["stage"])
    train_rows, val_rows, test_rows = task.rows("train"), task.rows("val"), task.rows("test")
    log(f"{spec['name']} fold {args.fold} stage {spec['stage']}: {len(train_rows)} train, "
        f"{len(val_rows)} validation, {len(test_rows)} test; device {device_name}", dist)

    # 3. encoders and inputs
    inputs, encoders, fps, dims = prepare_inputs(spec, task, args, device, dist)
    apply_freezing(encoders.get("text"), encoders.get("audio"), spec)

    # 4. model, optimiser, schedule (seeded here so the head's init never depends on
    # whether the encoders' vectors came from the cache)
    seed_all(seed)
    model, net = build_model(spec, task, encoders, dims, device, dist)
    criterion = make_criterion(spec, task.y[train_rows], task.soft[train_rows])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=float(spec["lr"]), weight_decay=float(spec["weight_decay"]))
    batch_size, epochs = int(spec["batch_size"]), int(spec["epochs"])

    def epoch_batches(epoch):
        order = length_grouped_batches(inputs.lengths[train_rows], batch_size, seed, epoch)
        return shard_batches([train_rows[b] for b in order], dist.rank, dist.world)

    steps = len(epoch_batches(1))
    scheduler = cosine_with_warmup(optimizer, int(float(spec["warmup_ratio"]) * steps * epochs),
                                   steps * epochs)

    # 5. resume from a checkpoint of this very spec, data and fold
    fp = specs.fingerprint({"spec": spec, "fold": args.fold, "world": dist.world,
                            "data": file_hash(args.data, args.folds), "encoders": fps})
    if dist.main:
        clear_partial_writes(args.checkpoint_dir)
    state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [],
             "done": False}
    ckpt, best_state = resume(model, optimizer, scheduler, args.checkpoint_dir, fp, dist)
    if ckpt is not None:
        state = {k: ckpt[k] for k in state}

    # 6. epochs
    if len(train_rows) == 0:
        raise InputError(args.folds, f"fold {args.fold} has no training segments for stage "
                         f"{task.stage}", "use more sessions or fewer folds")
    if len(val_rows) == 0:  # e.g. stage 2 on a tiny corpus whose validation is all neutral
        log("WARNING: no validation segments for this model: keeping the last epoch, "
            "without early stopping", dist)
    state, best_state = fit(spec, model, net, inputs, task, (train_rows, val_rows), criterion,
                            optimizer, scheduler, epoch_batches, state, best_state,
                            (args.checkpoint_dir, fp), device, dist)

    # 7. test once, with the weights of the best validation epoch
    model.load_state_dict(best_state)
    probs, _ = predict(model, inputs, test_rows, spec["loss"], 2 * batch_size, device, dist=dist)
    predictions = predictions_frame(task, test_rows, probs)
    scored = predictions
    if task.stage == 2:  # stage 2 is judged on the segments it is meant for
        scored = predictions[predictions["label"].isin(EMOTIONS)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        figures = score_predictions(scored, task.classes)
    metrics = {"variant": args.variant or spec["name"], "fold": args.fold, **figures,
               "best_epoch": state["best_epoch"],
               "train_seconds": round(sum(h["seconds"] for h in state["history"]), 3),
               "device": device_name}
    if task.stage is not None:
        metrics["stage"] = task.stage
    if dist.main:
        write_run(args.out_dir, metrics, predictions, history_frame(state["history"]), spec)
    dist.barrier()
    return metrics


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
    p.add_argument("--audio", default="results/data/audio", help="decode_audio's folder")
    p.add_argument("--text-encoder", default="results/encoders/text")
    p.add_argument("--audio-encoder", default="results/encoders/audio")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--checkpoint-dir", required=True)
    p.add_argument("--cache-dir", default="results/cache/embeddings")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--max-epochs", type=int, help="cap the spec's epochs (quick runs)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    # 1. the spec: resolved by the workflow (--spec), or here from a config file (--config)
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.spec is not None:
        try:
            spec, source = json.loads(args.spec), "--spec"
        except json.JSONDecodeError as err:
            raise InputError("--spec", f"not valid JSON ({err})", "pass the resolved spec as JSON")
    else:
        import yaml

        with open(args.config, encoding="utf-8") as handle:
            spec = specs.resolve(yaml.safe_load(handle), args.variant, source=args.config)
        source = args.config
    spec.setdefault("name", args.variant)
    spec = specs.for_stage(spec, args.stage, args.max_epochs, source)
    dist = init_distributed()
    try:
        return train(spec, args, dist)
    finally:
        if dist.world > 1:
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    run_cli(main)
