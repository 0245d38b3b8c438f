"""The training loop's parts: the learning-rate schedule, one epoch, batched prediction, and
the table of a model's predictions."""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from kemdy.metrics import headline
from kemdy.train.batches import Inputs, eval_batches
from kemdy.train.data import Task
from kemdy.train.distributed import Dist
from kemdy.train.losses import probabilities


def cosine_with_warmup(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up to the base rate, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


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
