"""Train one model (one variant, one fold, one stage) and score it once on its test fold.

    python scripts/train.py --variant text_ce --fold 0 --config config.yaml \
        --data results/data/new_data.csv --folds results/data/folds.csv \
        --audio results/data/audio --text-encoder results/encoders/text \
        --audio-encoder results/encoders/audio --out-dir results/runs/text_ce/fold0 \
        --checkpoint-dir results/checkpoints/text_ce/fold0 \
        --cache-dir results/cache/embeddings --threads 2 [--stage 1|2] [--max-epochs N]

The workflow passes the resolved variant as `--spec JSON` instead of `--config`. Writes
metrics.json, predictions.csv, history.csv and config.json (the effective spec) into
--out-dir. Several GPUs: launch with torchrun (DistributedDataParallel; rank 0 writes).

Steps: 1. the spec; 2. the fold's split and this stage's targets; 3. encoders and inputs
(a frozen encoder's vectors come from the embedding cache); 4. model, AdamW, cosine
schedule with warm-up; 5. resume from a matching checkpoint; 6. epochs: train, validate,
keep the best by validation macro-F1, stop early; 7. test once with the best weights.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from datasets import (AudioStore, Inputs, Task, atomic_output, eval_batches, length_grouped_batches,
                      load_split, make_task, shard_batches, tokenize, write_csv, write_text)
from embedding_cache import audio_embeddings, cache_path, input_key, lookup, text_embeddings
from errors import InputError, run_cli
from kemdy20 import EMOTIONS
from losses import make_criterion, probabilities
from metrics import headline, score_predictions
from models import (EmotionModel, apply_freezing, encoder_fingerprint, load_audio_encoder,
                    load_text_encoder)
from variants import DEFAULTS, LOSSES, MODALITIES, fingerprint, resolve

HISTORY_COLUMNS = ["epoch", "train_loss", "val_loss", "val_f1_macro", "val_accuracy", "seconds"]


# ---------------------------------------------------------------- 1. the spec


def effective_spec(spec: dict, stage: int | None = None, max_epochs: int | None = None,
                   source: str = "--spec") -> dict:
    """Defaults (variants.DEFAULTS: the original's settings) filled in, checked, with the
    stage and an epoch cap applied."""
    spec = {**DEFAULTS, **spec}
    if spec.get("modality") not in MODALITIES:
        raise InputError(source, f"modality {spec.get('modality')!r}", f"use one of {MODALITIES}",
                         key="modality")
    if spec.get("loss") not in LOSSES:
        raise InputError(source, f"loss {spec.get('loss')!r}", f"use one of {LOSSES}", key="loss")
    if spec["two_stage"] and stage is None:
        raise InputError(source, "a two-stage variant trains one stage per run",
                         "pass --stage 1 or --stage 2", key="two_stage")
    if stage is not None and not spec["two_stage"]:
        raise InputError(source, f"--stage {stage} given for a one-stage variant",
                         "drop --stage or set two_stage: true", key="two_stage")
    if max_epochs is not None:
        spec["epochs"] = min(int(spec["epochs"]), max_epochs)
    if int(spec["epochs"]) < 1:
        raise InputError(source, "epochs must be at least 1", "set epochs: 1 or more", key="epochs")
    warmup = int(spec["text_warmup_epochs"])
    if warmup and spec["modality"] != "text+audio":
        raise InputError(source, f"text_warmup_epochs {warmup} for a {spec['modality']} model",
                         "use it with modality text+audio only", key="text_warmup_epochs")
    if warmup >= int(spec["epochs"]):
        raise InputError(source, f"text_warmup_epochs {warmup} leaves no fused epoch of "
                         f"{spec['epochs']}", "make it smaller than epochs", key="text_warmup_epochs")
    spec["stage"] = stage
    return spec


# ---------------------------------------------------------------- helpers


@dataclass
class Dist:
    """This process's place in a torchrun launch (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            torch.distributed.barrier()

    def gather(self, obj) -> list:
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out


def init_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Dist()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    torch.distributed.init_process_group(backend)
    return Dist(torch.distributed.get_rank(), world, local_rank)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cosine_with_warmup(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to the base rate, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def file_hash(*paths) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for path in paths:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def log(message: str, dist: Dist | None = None) -> None:
    if dist is None or dist.main:
        print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(obj: dict, path) -> None:
    """torch.save to a temporary file, fsync, then rename: a kill never leaves half a file."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())


def load_checkpoint(path, fp: str) -> dict | None:
    """The checkpoint at `path` if it is readable and carries fingerprint `fp`, else None."""
    if not os.path.exists(path):
        return None
    try:
        # Our own file (RNG states hold numpy arrays): the full unpickler is needed.
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        log(f"checkpoint {path} is unreadable ({type(err).__name__}: {err}); ignoring it")
        return None
    if not isinstance(ckpt, dict) or ckpt.get("fingerprint") != fp:
        log(f"checkpoint {path} belongs to another spec, data or fold; ignoring it")
        return None
    return ckpt


# ---------------------------------------------------------------- 3. inputs


def prepare_inputs(spec: dict, task: Task, args, device, dist: Dist):
    """Inputs of every row of the task, the encoders that train, and their fingerprints."""
    use_text, use_audio = "text" in spec["modality"], "audio" in spec["modality"]
    kw, encoders, fps, dims = {}, {}, {}, {"text": 0, "audio": 0}
    if use_text:
        tokenizer, encoder = load_text_encoder(args.text_encoder)
        fps["text"] = encoder_fingerprint(args.text_encoder, encoder, tokenizer)
        dims["text"] = encoder.config.hidden_size
        token_ids = tokenize(tokenizer, task.frame["text"], int(spec["max_len"]))
        kw["pad_id"] = tokenizer.pad_token_id
        if spec["freeze_text"]:
            path = cache_path(args.cache_dir, "text", fps["text"], {
                "path": args.text_encoder, "max_len": int(spec["max_len"]),
                "pooling": spec["text_pooling"]})
            encoder.to(device)
            keys = [input_key(t) for t in token_ids]
            kw["text_emb"] = cached(path, keys, lambda pos: text_embeddings(
                encoder, token_ids, kw["pad_id"], spec["text_pooling"], pos, device=device), dist)
        else:
            kw["token_ids"], encoders["text"] = token_ids, encoder
    if use_audio:
        extractor, encoder = load_audio_encoder(args.audio_encoder)
        fps["audio"] = encoder_fingerprint(args.audio_encoder, encoder, extractor)
        dims["audio"] = encoder.config.hidden_size
        store = AudioStore(args.audio)
        rate = int(extractor.sampling_rate)
        if store.sample_rate is not None and store.sample_rate != rate:
            raise InputError(store.path, f"audio cached at {store.sample_rate} Hz, the encoder "
                             f"expects {rate} Hz", "set audio.sample_rate to the encoder's rate")
        max_samples = int(round(float(spec["audio_seconds"]) * rate))
        fps["audio_index"] = file_hash(store.path)
        pass_mask = bool(getattr(extractor, "return_attention_mask", True))
        kw.update(feature_extractor=extractor, max_samples=max_samples, sample_rate=rate)
        if spec["freeze_audio"]:
            ids = task.frame["segment_id"].to_numpy()
            path = cache_path(args.cache_dir, "audio", fps["audio"], {
                "path": args.audio_encoder, "audio_seconds": float(spec["audio_seconds"]),
                "sample_rate": rate, "pass_mask": pass_mask})
            keys = [input_key(store.raw(s, max_samples)) for s in ids]
            encoder.to(device)
            kw["audio_emb"] = cached(path, keys, lambda pos: audio_embeddings(
                encoder, store, ids, extractor, max_samples, rate, pos, device=device,
                pass_mask=pass_mask), dist)
        else:
            kw["audio"], encoders["audio"] = store, encoder
        encoders["pass_audio_mask"] = pass_mask
    return Inputs(task, **kw), encoders, fps, dims


def cached(path, keys, compute, dist: Dist) -> torch.Tensor:
    """Rank 0 fills the embedding cache; the other ranks read it once it is written."""
    if not dist.main:
        dist.barrier()
    start = time.time()
    emb = lookup(path, keys, compute, write=dist.main)
    log(f"embeddings {os.path.basename(path)}: {len(keys)} rows in {time.time() - start:.1f} s",
        dist)
    if dist.main:
        dist.barrier()
    return emb


# ---------------------------------------------------------------- 6. epochs


def autocast(device):
    """bf16 autocast on CUDA; full precision on CPU (and bit-identical reruns there)."""
    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def run_epoch(model, inputs: Inputs, batches, criterion, optimizer, scheduler, grad_clip: float,
              device, desc: str = "train", show: bool = True) -> float:
    """One pass over the training batches; returns this process's mean loss per item."""
    model.train()
    total, count = 0.0, 0
    bar = tqdm(batches, desc=desc, file=sys.stderr, disable=not show, mininterval=2.0)
    for idx in bar:
        batch = inputs.collate(idx, device)
        with autocast(device):
            logits = model(batch)
        loss = criterion(logits, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        total += float(loss.detach()) * len(idx)
        count += len(idx)
        bar.set_postfix(loss=f"{total / count:.4f}", refresh=False)
    return total / max(count, 1)


@torch.no_grad()
def predict(model, inputs: Inputs, rows, kind: str, batch_size: int, device, criterion=None,
            dist: Dist = Dist()):
    """Probabilities of `rows` (in that order) and, with a criterion, their mean loss.

    Batched and length-sorted; under DDP each rank scores a share and all gather it.
    """
    model.eval()
    rows = np.asarray(rows)
    batches = eval_batches(inputs.lengths, rows, batch_size)[dist.rank::dist.world]
    done, probs, loss_sum = [], [], 0.0
    for idx in batches:
        batch = inputs.collate(idx, device)
        with autocast(device):
            logits = model(batch)
        if criterion is not None:
            loss_sum += float(criterion(logits, batch)) * len(idx)
        done.append(idx)
        probs.append(probabilities(kind, logits).cpu().numpy())
    parts = dist.gather((done, probs, loss_sum))
    where = {r: i for i, r in enumerate(rows)}
    out = np.zeros((len(rows), len(inputs.task.classes)), dtype=np.float64)
    for part_idx, part_probs, _ in parts:
        for idx, p in zip(part_idx, part_probs):
            out[[where[i] for i in idx]] = p
    loss = sum(p[2] for p in parts) / max(len(rows), 1)
    return out, loss


def predictions_frame(task: Task, rows, probs: np.ndarray) -> pd.DataFrame:
    """segment_id, label, pred, prob_<class>. Stage 1's label is neutral / not_neutral;
    otherwise the segment's own label (stage 2 predicts every test segment)."""
    frame = task.frame.iloc[rows]
    labels = [task.classes[task.y[i]] for i in rows] if task.stage == 1 else frame["label"].tolist()
    df = pd.DataFrame({"segment_id": frame["segment_id"].to_numpy(), "label": labels,
                       "pred": [task.classes[j] for j in probs.argmax(axis=1)]})
    for j, c in enumerate(task.classes):
        df[f"prob_{c}"] = probs[:, j]
    return df


def val_scores(task: Task, rows, probs) -> dict:
    df = predictions_frame(task, rows, probs)
    with warnings.catch_warnings():  # an early model predicts classes absent from the labels
        warnings.simplefilter("ignore", UserWarning)
        return headline(df["label"], df["pred"])


# ---------------------------------------------------------------- the run


def train(spec: dict, args, dist: Dist = Dist()) -> dict:
    """Steps 2-7 for an effective spec; writes the outputs (rank 0) and returns metrics."""
    if torch.cuda.is_available():
        device = torch.device("cuda", dist.local_rank)
        device_name = torch.cuda.get_device_name(device)
    else:
        threads = torch.get_num_threads()
        device, device_name = torch.device("cpu"), f"cpu ({threads} thread{'s' * (threads > 1)})"
    if dist.world > 1:
        device_name += f" x{dist.world} (DDP)"
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
    model = EmotionModel(len(task.classes), dims["text"], dims["audio"], encoders.get("text"),
                         encoders.get("audio"), spec["text_pooling"],
                         encoders.get("pass_audio_mask", True), float(spec["dropout"])).to(device)
    net = model
    if dist.world > 1:
        # wav2vec2's LayerDrop skips whole layers in some steps: DDP must look for them.
        audio = encoders.get("audio")
        layerdrop = audio is not None and getattr(audio.config, "layerdrop", 0.0) > 0
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=layerdrop)
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
    data_files = [args.data, args.folds]
    fp = fingerprint({"spec": spec, "fold": args.fold, "world": dist.world,
                      "data": file_hash(*data_files), "encoders": fps})
    if dist.main and os.path.isdir(args.checkpoint_dir):  # leftovers of a write cut short
        for name in os.listdir(args.checkpoint_dir):
            if name.startswith((".last.pt.", ".best.pt.")) and name.endswith(".tmp"):
                os.remove(os.path.join(args.checkpoint_dir, name))
    last_path = os.path.join(args.checkpoint_dir, "last.pt")
    best_path = os.path.join(args.checkpoint_dir, "best.pt")
    state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [],
             "done": False}
    best_state = None
    ckpt = load_checkpoint(last_path, fp)
    if ckpt is not None and ckpt["best_epoch"]:
        best = load_checkpoint(best_path, fp)
        if best is None or best["epoch"] != ckpt["best_epoch"]:
            log(f"{best_path} does not match {last_path}; training from scratch", dist)
            ckpt = None
        else:
            best_state = best["model"]
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        state = {k: ckpt[k] for k in state}
        log(f"resuming after epoch {state['epoch']} from {last_path}", dist)

    # 6. epochs: the test fold plays no part in any choice made here
    patience, warmup = spec["patience"], int(spec["text_warmup_epochs"])
    if len(train_rows) == 0:
        raise InputError(args.folds, f"fold {args.fold} has no training segments for stage "
                         f"{task.stage}", "use more sessions or fewer folds")
    if len(val_rows) == 0:  # e.g. stage 2 on a tiny corpus whose validation is all neutral
        log("WARNING: no validation segments for this model: keeping the last epoch, "
            "without early stopping", dist)
    eval_bs = 2 * batch_size
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
        if dist.main:  # best.pt first: a kill between the two writes is caught on resume
            if improved:
                save_checkpoint({"fingerprint": fp, "epoch": epoch, "model": best_state}, best_path)
            save_checkpoint({"fingerprint": fp, **state, "model": model.state_dict(),
                             "optimizer": optimizer.state_dict(),
                             "scheduler": scheduler.state_dict(), "rng": rng_state()}, last_path)
        dist.barrier()
        if state["done"] and epoch < epochs:
            log(f"early stop: no better validation macro-F1 for {patience} epochs", dist)

    # 7. test once, with the weights of the best validation epoch
    model.load_state_dict(best_state)
    probs, _ = predict(model, inputs, test_rows, spec["loss"], eval_bs, device, dist=dist)
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
        write_outputs(args.out_dir, spec, metrics, predictions, state["history"])
    dist.barrier()
    return metrics


def write_outputs(out_dir, spec, metrics, predictions, history) -> None:
    os.makedirs(out_dir, exist_ok=True)
    write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n",
               os.path.join(out_dir, "config.json"))
    write_csv(pd.DataFrame(history, columns=HISTORY_COLUMNS), os.path.join(out_dir, "history.csv"))
    write_csv(predictions, os.path.join(out_dir, "predictions.csv"))
    write_text(json.dumps(metrics, indent=2) + "\n", os.path.join(out_dir, "metrics.json"))


# ---------------------------------------------------------------- CLI


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variant", required=True, help="variant name (a key of config variants:)")
    p.add_argument("--fold", type=int, required=True, help="test fold")
    p.add_argument("--stage", type=int, choices=[1, 2], help="two-stage variants: which stage")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--spec", help="the fully resolved variant spec as JSON (the workflow)")
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
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.spec is not None:
        try:
            spec = json.loads(args.spec)
        except json.JSONDecodeError as err:
            raise InputError("--spec", f"not valid JSON ({err})", "pass the resolved spec as JSON")
        source = "--spec"
    else:
        import yaml

        with open(args.config, encoding="utf-8") as handle:
            spec = resolve(yaml.safe_load(handle), args.variant, source=args.config)
        source = args.config
    spec.setdefault("name", args.variant)
    spec = effective_spec(spec, args.stage, args.max_epochs, source)
    dist = init_distributed()
    try:
        return train(spec, args, dist)
    finally:
        if dist.world > 1:
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    run_cli(main)
